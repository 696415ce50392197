/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: recording the detail of a failure for mproc_last_error() and
 * the OS error code for mproc_last_os_error(). Below both layers: core/ and
 * platform/ depend on it, it depends on neither (docs/architecture.md).
 */
#ifndef MPROC_BASE_ERROR_H
#define MPROC_BASE_ERROR_H

#include "mproc.h"

/* Records a formatted detail for the calling thread and returns status, so
 * that a failing path reads: return mp_fail(MPROC_EINVAL, "pid: NULL out");
 * The failure had no OS error: mproc_last_os_error() says 0. */
mproc_status_t mp_fail(mproc_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like mp_fail for an OS error number: appends its text (strerror(err))
 * and keeps err for mproc_last_os_error() (errno on POSIX, GetLastError()
 * or WSAGetLastError() on Windows). */
mproc_status_t mp_fail_errno(mproc_status_t status, int err, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));

/* Empties the calling thread's detail (mproc_last_error() is "") without
 * formatting anything: before a user's function runs, so that a failure it
 * returns without a message can be told (mp_failure_detail). */
void mp_error_clear(void);
/* msg without the "<mproc_strerror(st)>: " that mp_fail puts first, so a
 * recorded message can be recorded again without the prefix twice. */
const char *mp_strip_status(mproc_status_t st, const char *msg);
/* The detail of st just returned, without its "<status text>: " prefix,
 * or fallback when nothing recorded one since mp_error_clear. */
const char *mp_failure_detail(mproc_status_t st, const char *fallback);

/* Returns MPROC_EINVAL with "<what>: NULL argument" when ptr is NULL. */
#define MP_REQUIRE(ptr, what)                                           \
  do {                                                                  \
    if ((ptr) == NULL) return mp_fail(MPROC_EINVAL, "%s: NULL argument", \
                                      (what));                          \
  } while (0)

#endif
