/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: start methods as strategies (CPython's popen_fork, popen_spawn_posix
 * and popen_forkserver modules). A context (core/context.h) points at one;
 * mproc_process_start calls its start and knows nothing else about it.
 *
 *   fork        core/popen_fork.c        the child runs the parent's function
 *                                        pointer in a copy of its memory
 *   spawn       core/popen_spawn.c       a fresh copy of the program runs
 *                                        the registered task named in a
 *                                        bootstrap record
 *   forkserver  core/popen_forkserver.c  the same record, sent to a server
 *                                        process that forks the child
 *
 * A new method (Windows has only spawn; MPI could add one) is one more
 * strategy and one line in core/context.c's table.
 */
#ifndef MPROC_CORE_POPEN_H
#define MPROC_CORE_POPEN_H

#include <stddef.h>

#include "core/object.h"
#include "mproc.h"
#include "platform/platform.h"

typedef struct mp_start_method {
  const char *name; /* "fork", "spawn", "forkserver" */
  /* Nonzero where the platform has this method. */
  int (*available)(void);
  /* Starts p's child (on MPROC_OK *out is the platform's child). The
   * child side of fork is mp_process_fork_main; of spawn and forkserver
   * mp_process_run_spawned, reached through mproc_init. */
  mproc_status_t (*start)(mproc_process_t *p, mp_child_t **out);
} mp_start_method_t;

extern const mp_start_method_t mp_popen_fork;
extern const mp_start_method_t mp_popen_spawn;
extern const mp_start_method_t mp_popen_forkserver;

/* ---- what process.c gives the strategies ------------------------- */

/* The body of a forked child (mp_fork_main_fn; ctx is the process). */
int mp_process_fork_main(void *process);

/* Whether p's child must end when its parent dies (it is a daemon): the
 * die_with_parent flag of the platform's child creation calls. */
int mp_process_dies_with_parent(const mproc_process_t *p);

/* What a fresh program needs to become p's child: the bootstrap record
 * and the handles it must inherit. */
typedef struct {
  void *blob;
  size_t len;
  mp_handles_t handles;
} mp_spawn_record_t;

/* Errors: MPROC_ENOTREGISTERED (p's target has no registry entry; the
 * message names method), MPROC_ENOMEM, an export's error. On failure
 * nothing is left to free. */
mproc_status_t mp_process_spawn_record(const mproc_process_t *p,
                                       const char *method,
                                       mp_spawn_record_t *out);
void mp_spawn_record_free(mp_spawn_record_t *r);

#endif
