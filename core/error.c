/* SPDX-License-Identifier: Apache-2.0 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512] = "no error";

static const char *const status_names[MPROC_ESTATUS_COUNT_] = {
    [MPROC_OK] = "success",
    [MPROC_EINVAL] = "invalid argument",
    [MPROC_ENOINIT] = "mproc_init() has not been called",
    [MPROC_ESTATE] = "the object is not in a state that allows this call",
    [MPROC_ENOMEM] = "out of memory",
    [MPROC_ETIMEDOUT] = "timed out",
    [MPROC_ENOTREGISTERED] = "the task is not registered (spawn needs MPROC_TASK)",
    [MPROC_ERUNNING] = "the process is still running",
    [MPROC_ENOTSUP] = "not supported on this platform",
    [MPROC_ESYS] = "an operating-system call failed",
    [MPROC_ESPAWN] = "the spawned child could not be started",
    [MPROC_EDAEMON] = "daemonic processes are not allowed to have children",
    /* Shared memory and synchronization. */
    [MPROC_EOWNERDEAD] =
        ("acquired, but the previous owner died holding it (what it guarded "
         "may be inconsistent)"),
    [MPROC_EBROKEN] = "the barrier is broken",
    [MPROC_EEXIST] = "a shared memory segment of that name already exists",
    [MPROC_ENOENT] = "no shared memory segment has that name",
    /* ipc */
    [MPROC_EOF] = "the other end of the connection is closed",
    [MPROC_EMSGSIZE] = "the message is larger than the limit or the buffer",
    [MPROC_EBADMSG] = "malformed message",
    [MPROC_EEMPTY] = "the queue is empty",
    [MPROC_EFULL] = "the queue is full",
    [MPROC_EAUTH] = "authentication failed",
};

const char *mproc_strerror(mproc_status_t status) {
  if ((int)status < 0 || status >= MPROC_ESTATUS_COUNT_) return "unknown status";
  return status_names[status];
}

const char *mproc_last_error(void) { return last_error; }

static void record(mproc_status_t status, const char *fmt, va_list ap) {
  int n = snprintf(last_error, sizeof last_error, "%s: ",
                   mproc_strerror(status));
  if (n < 0 || (size_t)n >= sizeof last_error) return;
  vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
}

mproc_status_t mp_fail(mproc_status_t status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(status, fmt, ap);
  va_end(ap);
  return status;
}

mproc_status_t mp_fail_errno(mproc_status_t status, int err, const char *fmt,
                             ...) {
  va_list ap;
  va_start(ap, fmt);
  record(status, fmt, ap);
  va_end(ap);
  size_t used = strlen(last_error);
  snprintf(last_error + used, sizeof last_error - used, " (%s)", strerror(err));
  return status;
}
