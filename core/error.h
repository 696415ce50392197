/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: recording the detail of a failure for mproc_last_error(). */
#ifndef MPROC_CORE_ERROR_H
#define MPROC_CORE_ERROR_H

#include "mproc.h"

/* Records a formatted detail for the calling thread and returns status, so
 * that a failing path reads: return mp_fail(MPROC_EINVAL, "pid: NULL out"); */
mproc_status_t mp_fail(mproc_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like mp_fail for an OS error number: appends strerror(err). */
mproc_status_t mp_fail_errno(mproc_status_t status, int err, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));

/* Returns MPROC_EINVAL with "<what>: NULL argument" when ptr is NULL. */
#define MP_REQUIRE(ptr, what)                                           \
  do {                                                                  \
    if ((ptr) == NULL) return mp_fail(MPROC_EINVAL, "%s: NULL argument", \
                                      (what));                          \
  } while (0)

#endif
