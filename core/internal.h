/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to core/: start-up state and helpers shared by the modules.
 * Contexts are in core/context.h, the task registry in
 * core/task_registry.h, the start methods in core/popen.h. */
#ifndef MPROC_CORE_INTERNAL_H
#define MPROC_CORE_INTERNAL_H

#include "core/error.h"
#include "core/locks.h"
#include "mproc.h"
#include "platform/platform.h"

/* MPROC_ENOINIT unless mproc_init() ran. */
mproc_status_t mp_require_init(void);

/* Process bookkeeping, process.c. */
void mp_process_module_init(void);
/* Turns this process into the spawned child described by blob; returns the
 * task's exit code (or a failure code). */
int mp_process_run_spawned(const void *blob, size_t len);
/* Whether a process sentinel's token (object_, serial_, os_) still names
 * the started, not closed process it was made for (mproc_wait). */
int mp_process_sentinel_live(const void *object, uint64_t serial,
                             intptr_t os);
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

/* mproc_process_kill for p and, if p leads a group (a pool worker, which
 * called mp_process_lead_group), the processes it started. */
mproc_status_t mp_process_kill_group(mproc_process_t *p);

/* Names the calling thread for mproc_thread_name (and, best effort, for
 * the OS). */
void mp_name_this_thread(const char *name);

#endif
