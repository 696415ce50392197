/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to core/: state shared between the runtime and the objects. */
#ifndef MPROC_CORE_INTERNAL_H
#define MPROC_CORE_INTERNAL_H

#include "core/error.h"
#include "core/locks.h"
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
/* MPROC_OK for NULL (the default) or a context of mproc_get_context, else
 * MPROC_EINVAL naming call. */
mproc_status_t mp_context_check(const mproc_context_t *ctx, const char *call);

/* Task registry: the entry of fn (an MPROC_TASK one if fn has both kinds),
 * or NULL. */
const mproc_task_entry_t *mp_task_by_fn(mproc_task_fn fn);
/* A string naming entry e apart from every other entry, in any process
 * running this program: a spawned child looks it up with mp_task_by_key.
 * malloc'd; NULL when out of memory. */
char *mp_task_key(const mproc_task_entry_t *e);
/* The entry a key names, or NULL (unknown or malformed key). */
const mproc_task_entry_t *mp_task_by_key(const char *key);
/* A readable form of a key for messages: "'worker' (MPROC_TASK in a.c, #0)". */
void mp_task_key_describe(const char *key, char *out, size_t size);

/* Process bookkeeping, process.c. */
void mp_process_module_init(void);
/* Turns this process into the spawned child described by blob; returns the
 * task's exit code (or a failure code). */
int mp_process_run_spawned(const void *blob, size_t len);
/* What a process does when it is about to exit (CPython's _exit_function):
 * terminate daemon children, join the others. */
void mp_process_exit_cleanup(void);

/* Exit duty of listener.c: removes the socket files this process bound
 * and did not close (a forked child's inherited ones are not its own). */
void mp_listener_exit_cleanup(void);

/* Timeouts (core/timeout.c). MPROC_EINVAL with a detail when NaN. */
mproc_status_t mp_check_timeout(double timeout, const char *what);
/* The deadline of a timeout starting now (-1: none). */
double mp_deadline(double timeout);
/* Seconds left until deadline, never negative (-1 for no deadline). */
double mp_time_left(double deadline);

/* Byte-string helpers. */
char *mp_strdup(const char *s);

#endif
