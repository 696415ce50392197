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
