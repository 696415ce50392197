/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to core/: state shared between the runtime and the objects. */
#ifndef MPROC_CORE_INTERNAL_H
#define MPROC_CORE_INTERNAL_H

#include "core/error.h"
#include "mproc.h"
#include "platform/platform.h"

struct mproc_context {
  const char *method; /* "fork" or "spawn" */
  int spawn;
};

/* MPROC_ENOINIT unless mproc_init() ran. */
mproc_status_t mp_require_init(void);

/* The context used when none is given. */
const mproc_context_t *mp_default_context(void);

/* Task registry: the entry of fn, or NULL. Sets *ambiguous when the name of
 * that entry is registered for another function too. */
const mproc_task_entry_t *mp_task_by_fn(mproc_task_fn fn, int *ambiguous);
const mproc_task_entry_t *mp_task_by_name(const char *name);

/* Process bookkeeping, process.c. */
void mp_process_module_init(void);
/* Turns this process into the spawned child described by blob; returns the
 * task's exit code (or a failure code). */
int mp_process_run_spawned(const void *blob, size_t len);
/* What a process does when it is about to exit (CPython's _exit_function):
 * terminate daemon children, join the others. */
void mp_process_exit_cleanup(void);

/* Timeouts (core/timeout.c). MPROC_EINVAL with a detail when NaN. */
mproc_status_t mp_check_timeout(double timeout, const char *what);
/* The deadline of a timeout starting now (-1: none). */
double mp_deadline(double timeout);
/* Seconds left until deadline, never negative (-1 for no deadline). */
double mp_time_left(double deadline);

/* Byte-string helpers. */
char *mp_strdup(const char *s);

#endif
