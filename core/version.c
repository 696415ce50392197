/* SPDX-License-Identifier: Apache-2.0 */
/* Version calls and symbolic status names (include/mproc.h). */
#include <stddef.h>

#include "mproc.h"

#define MP_STR_(x) #x
#define MP_STR(x) MP_STR_(x)

/* The header's string must agree with its numbers. */
_Static_assert(sizeof MPROC_VERSION_STRING ==
                   sizeof(MP_STR(MPROC_VERSION_MAJOR) "." MP_STR(
                       MPROC_VERSION_MINOR) "." MP_STR(MPROC_VERSION_PATCH)),
               "MPROC_VERSION_STRING disagrees with MPROC_VERSION_*");

unsigned mproc_version(void) { return MPROC_VERSION_HEX; }

const char *mproc_version_string(void) {
  return MP_STR(MPROC_VERSION_MAJOR) "." MP_STR(MPROC_VERSION_MINOR) "." MP_STR(
      MPROC_VERSION_PATCH);
}

static const char *const status_symbols[MPROC_ESTATUS_COUNT_] = {
    [MPROC_OK] = "MPROC_OK",
    [MPROC_EINVAL] = "MPROC_EINVAL",
    [MPROC_ENOINIT] = "MPROC_ENOINIT",
    [MPROC_ESTATE] = "MPROC_ESTATE",
    [MPROC_ENOMEM] = "MPROC_ENOMEM",
    [MPROC_ETIMEDOUT] = "MPROC_ETIMEDOUT",
    [MPROC_ENOTREGISTERED] = "MPROC_ENOTREGISTERED",
    [MPROC_ERUNNING] = "MPROC_ERUNNING",
    [MPROC_ENOTSUP] = "MPROC_ENOTSUP",
    [MPROC_ESYS] = "MPROC_ESYS",
    [MPROC_ESPAWN] = "MPROC_ESPAWN",
    [MPROC_EDAEMON] = "MPROC_EDAEMON",
    [MPROC_EOWNERDEAD] = "MPROC_EOWNERDEAD",
    [MPROC_EBROKEN] = "MPROC_EBROKEN",
    [MPROC_EEXIST] = "MPROC_EEXIST",
    [MPROC_ENOENT] = "MPROC_ENOENT",
    [MPROC_EOF] = "MPROC_EOF",
    [MPROC_EMSGSIZE] = "MPROC_EMSGSIZE",
    [MPROC_EBADMSG] = "MPROC_EBADMSG",
    [MPROC_EEMPTY] = "MPROC_EEMPTY",
    [MPROC_EFULL] = "MPROC_EFULL",
    [MPROC_EAUTH] = "MPROC_EAUTH",
};

const char *mproc_status_name(mproc_status_t status) {
  if ((unsigned)status >= (unsigned)MPROC_ESTATUS_COUNT_ ||
      status_symbols[status] == NULL)
    return "MPROC_UNKNOWN_STATUS";
  return status_symbols[status];
}
