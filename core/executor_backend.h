/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the seam between the executor front (core/executor.c: futures,
 * wait, as_completed, map, shutdown) and what runs its tasks. The process
 * and thread executors run on the pool engine (core/pool_engine.c); an
 * optional component with its own dependencies (the MPI executor, mpi/)
 * brings its own backend and gets back the very same mproc_executor_t, so
 * every mproc_executor_* and mproc_future_* call works on it unchanged.
 *
 * A backend receives tasks as the engine does: slots [first, first + n)
 * of a job (core/pool_engine.h), and settles each one exactly once with
 * mp_job_finish or mp_job_finish_reply (taking the job reference it got
 * with mp_job_ref at submit), from any thread, with no lock of its own
 * held that a job callback could need.
 */
#ifndef MPROC_CORE_EXECUTOR_BACKEND_H
#define MPROC_CORE_EXECUTOR_BACKEND_H

#include <stddef.h>

#include "core/pool_engine.h"
#include "mproc.h"

typedef struct mp_executor_backend {
  /* MPROC_OK when fn can travel to the workers (MPROC_ENOTREGISTERED). */
  mproc_status_t (*check_function)(void *impl, mproc_function_fn fn,
                                   const char *call);
  /* mp_engine_submit's contract (MPROC_ESTATE once closed). */
  mproc_status_t (*submit)(void *impl, mp_job_t *job, mproc_function_fn fn,
                           const mproc_obj_t *items, size_t first, size_t n,
                           const mproc_obj_t *single, double timeout);
  /* 1 while a task of job waits for a worker. */
  int (*job_queued)(void *impl, const mp_job_t *job);
  /* Fails the waiting tasks of job (NULL: all) with st, msg; how many. */
  size_t (*cancel_pending)(void *impl, const mp_job_t *job,
                           mproc_status_t st, const char *msg);
  /* Stops the task of job a worker runs, if the backend can (or NULL). */
  void (*kill_job)(void *impl, mp_job_t *job);
  void (*close)(void *impl); /* no more submits; work goes on */
  /* Stop now, fail what is unfinished (gentle: terminate_workers, else
   * kill_workers; a backend that cannot tell them apart treats both
   * alike). */
  void (*stop)(void *impl, int gentle);
  /* After close or terminate: waits for the work and the workers to end.
   * Errors: MPROC_ESTATE, MPROC_ETIMEDOUT. */
  mproc_status_t (*join)(void *impl, double timeout);
  void (*release)(void *impl); /* terminates if needed and frees */
} mp_executor_backend_t;

/* An executor whose tasks go to impl through ops; takes impl (released
 * with ops->release on failure too). Errors: MPROC_ENOMEM. */
mproc_status_t mp_executor_create_with(mproc_executor_t **out,
                                       const mp_executor_backend_t *ops,
                                       void *impl, int max_workers,
                                       double task_timeout);

#endif
