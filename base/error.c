/* SPDX-License-Identifier: Apache-2.0 */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512] = "no error";
/* The OS error of the last failure (0: it had none). */
static _Thread_local int last_os_error;

/* Each status's symbol (mproc_status_name) and text (mproc_strerror), in
 * one table so a new status cannot get one and miss the other. */
#define STATUS(status, text) [status] = {#status, text}
static const struct {
  const char *symbol;
  const char *text;
} statuses[MPROC_ESTATUS_COUNT_] = {
    STATUS(MPROC_OK, "success"),
    STATUS(MPROC_EINVAL, "invalid argument"),
    STATUS(MPROC_ENOINIT, "mproc_init() has not been called"),
    STATUS(MPROC_ESTATE, "the object is not in a state that allows this call"),
    STATUS(MPROC_ENOMEM, "out of memory"),
    STATUS(MPROC_ETIMEDOUT, "timed out"),
    STATUS(MPROC_ENOTREGISTERED,
           "the task is not registered (spawn needs MPROC_TASK)"),
    STATUS(MPROC_ERUNNING, "the process is still running"),
    STATUS(MPROC_ENOTSUP, "not supported on this platform"),
    STATUS(MPROC_ESYS, "an operating-system call failed"),
    STATUS(MPROC_ESPAWN, "the spawned child could not be started"),
    STATUS(MPROC_EDAEMON,
           "daemonic processes are not allowed to have children"),
    /* Shared memory and synchronization. */
    STATUS(MPROC_EOWNERDEAD,
           "acquired, but the previous owner died holding it (what it "
           "guarded may be inconsistent)"),
    STATUS(MPROC_EBROKEN, "the barrier is broken"),
    STATUS(MPROC_EEXIST,
           "a shared memory segment of that name already exists"),
    STATUS(MPROC_ENOENT, "no shared memory segment has that name"),
    /* ipc */
    STATUS(MPROC_EOF, "the other end of the connection is closed"),
    STATUS(MPROC_EMSGSIZE,
           "the message is larger than the limit or the buffer"),
    STATUS(MPROC_EBADMSG, "malformed message"),
    STATUS(MPROC_EEMPTY, "the queue is empty"),
    STATUS(MPROC_EFULL, "the queue is full"),
    STATUS(MPROC_EAUTH, "authentication failed"),
    /* pools */
    STATUS(MPROC_ETASK, "the pool's function failed"),
    STATUS(MPROC_EWORKERDIED, "the pool worker running the task died"),
    /* executors */
    STATUS(MPROC_ECANCELLED, "the future was cancelled"),
    /* managers */
    STATUS(MPROC_EREMOTE, "the manager's object failed the call"),
    STATUS(MPROC_EMANAGER, "the manager is gone"),
};
#undef STATUS

static int known(mproc_status_t status) {
  return (unsigned)status < (unsigned)MPROC_ESTATUS_COUNT_ &&
         statuses[status].symbol != NULL;
}

const char *mproc_strerror(mproc_status_t status) {
  return known(status) ? statuses[status].text : "unknown status";
}

const char *mproc_status_name(mproc_status_t status) {
  return known(status) ? statuses[status].symbol : "MPROC_UNKNOWN_STATUS";
}

const char *mproc_last_error(void) { return last_error; }

int mproc_last_os_error(void) { return last_os_error; }

void mp_error_clear(void) {
  last_error[0] = '\0';
  last_os_error = 0;
}

const char *mp_strip_status(mproc_status_t st, const char *msg) {
  const char *prefix = mproc_strerror(st);
  size_t n = strlen(prefix);
  if (strncmp(msg, prefix, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
    return msg + n + 2;
  return msg;
}

const char *mp_failure_detail(mproc_status_t st, const char *fallback) {
  return last_error[0] == '\0' ? fallback : mp_strip_status(st, last_error);
}

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
  last_os_error = 0;
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
  last_os_error = err;
  return status;
}
