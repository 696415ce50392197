/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the pool's task engine (core/pool_engine.c), the one engine
 * behind Pool and ThreadPool (core/pool.c) and the executors
 * (core/executor.c). Jobs and task messages are also what other executor
 * backends (core/executor_backend.h; the MPI one, mpi/) fill and send.
 *
 * A job is what the caller waits on (an apply, a map, an imap): n item
 * slots filled by tasks (chunks of consecutive items). The caller's thread
 * builds the tasks and submits them; one result thread per engine hands
 * each task to an idle worker, receives its reply, fills the job's slots,
 * runs callbacks, and notices a worker's death (its process sentinel or the
 * end of its connection): the task the dead worker held fails with
 * MPROC_EWORKERDIED, the worker is replaced. docs/pool.md.
 */
#ifndef MPROC_CORE_POOL_ENGINE_H
#define MPROC_CORE_POOL_ENGINE_H

#include <stddef.h>

#include "core/object.h"
#include "mproc.h"
#include "platform/platform.h"

enum {
  MP_JOB_SINGLE,    /* apply: the result is slot 0 */
  MP_JOB_LIST,      /* map: the result is the list of the slots */
  MP_JOB_IMAP,      /* imap: slots taken in order */
  MP_JOB_UNORDERED  /* imap_unordered: slots taken as they complete */
};

typedef struct mp_job {
  mp_mutex_t mu;
  mp_cond_t cv;
  int refs;  /* the caller's handle + one per unfinished task (under mu) */
  int kind;
  size_t n;                 /* item slots */
  mproc_obj_t **results;    /* n: a slot's value once done */
  mproc_status_t *statuses; /* n: a slot's status once done */
  char **messages;          /* n: a failed slot's message (or NULL) */
  unsigned char *done;      /* n */
  size_t ndone;
  size_t *order; /* imap_unordered: slots in completion order */
  size_t norder;
  size_t next;   /* imap: the next slot (in order, or in order[]) to give */
  /* apply / map: the outcome once complete */
  int complete;
  mproc_status_t status;
  char *message;
  mproc_obj_t *value; /* the result list of a map, slot 0 of an apply */
  /* map, until complete: the result list-to-be, the parent of the values
   * in results (completion hands it results as its items) */
  mproc_obj_t *list;
  mproc_callback_fn callback;
  mproc_error_callback_fn error_callback;
  void *ctx;
  int kill_requested; /* executor: kill the worker running it (__atomic) */
  /* The direct lane (core/pool_engine.c): set by its front for an apply
   * without callbacks, whose waiters call mp_job_collect. */
  int direct;
  void *lane; /* the task lent to a worker for it (under mu), or NULL */
  /* The slots of a one-slot job that is not a map (an apply, a submit):
   * kept here, so the job is one allocation instead of six. */
  struct {
    mproc_obj_t *result;
    mproc_status_t status;
    char *message;
    unsigned char done;
    size_t order;
  } one;
} mp_job_t;

/* A new job of n slots with one reference (the caller's). NULL: no memory. */
mp_job_t *mp_job_new(int kind, size_t n);
/* One more reference (a task holds one until it is finished). */
void mp_job_ref(mp_job_t *job);
/* Drops a reference; the last one releases the job. */
void mp_job_unref(mp_job_t *job);

/* Fills the slots [first, first + n) of job: with the values of results
 * (a list of n, taken from it and destroyed; NULL: None) when st is
 * MPROC_OK, else with st and msg. Completes an apply/map job at its first
 * failure or its last slot and runs its callback. Drops one reference of
 * job (the one its task held). Called with no engine lock held. */
void mp_job_finish(mp_job_t *job, size_t first, size_t n, mproc_status_t st,
                   const char *msg, mproc_obj_t *results);
/* The same for a worker's reply [0, results] or [status, message] (a
 * failed function: MPROC_ETASK; anything else: MPROC_EBADMSG); reply is
 * destroyed. */
void mp_job_finish_reply(mp_job_t *job, size_t first, size_t n,
                         mproc_obj_t *reply);
/* A waiter's part in the direct lane: when job's task was sent straight
 * to a worker (job->lane) and no other thread reads its reply, reads it
 * here, waiting timeout seconds at most (MPROC_FOREVER: no limit), and
 * completes job. Returns 0 when there was nothing to read (no lane, or
 * another thread reads it: wait on job->cv), 1 when it waited (job may
 * still be unfinished: timed out, or the task went back to the result
 * thread). Called with no lock held. */
int mp_job_collect(mp_job_t *job, double timeout);

/* The message a worker runs: fn (by key; by address when forked) over the
 * items [first, n) of items (or single), encoded; *msg is malloc'd.
 * Errors: MPROC_ENOTREGISTERED, MPROC_ENOMEM, encoding errors. */
mproc_status_t mp_task_message(int forked, mproc_function_fn fn,
                               const mproc_obj_t *items, size_t first,
                               size_t n, const mproc_obj_t *single,
                               void **msg, size_t *len);
/* Runs an encoded task message [1, fnref, [items...]] in this process,
 * decoding each item as the function needs it, and encodes its reply
 * (for mp_job_finish_reply: [0, [results...]] or [status, message]) into
 * reply, emptied first. 0; -1: no memory; -2: not such a message. */
int mp_task_run_encoded(const void *msg, size_t len, mp_buf_t *reply);

typedef struct mp_engine mp_engine_t;

typedef struct {
  int processes;
  int threads; /* 1: workers are threads of this process */
  mproc_function_fn initializer;
  const mproc_obj_t *initargs; /* copied */
  unsigned long maxtasks;
  size_t max_memory; /* bytes of resident memory; 0: no limit */
  mproc_context_t *context; /* resolved (never NULL) */
  /* threads: worker i is named "<prefix>_<i>" (NULL: unnamed); the
   * caller keeps the string for the engine's life */
  const char *thread_name_prefix;
} mp_engine_config_t;

/* Starts the workers and the result thread.
 * Errors: MPROC_ENOTREGISTERED (initializer), MPROC_ENOMEM, the errors of
 * mproc_process_start and mp_thread_create. */
mproc_status_t mp_engine_create(mp_engine_t **out,
                                const mp_engine_config_t *config);

/* How fn travels to a worker: MPROC_OK, or MPROC_ENOTREGISTERED (a process
 * worker not forked needs a registered function). */
mproc_status_t mp_engine_check_function(mp_engine_t *e, mproc_function_fn fn,
                                        const char *call);

/* Submits the items [first, first + n) of items (a list; NULL with n == 1
 * and single: the one value single, which may be NULL for None) as one
 * task of job, with timeout seconds per task (negative: none).
 * Errors: MPROC_ESTATE (closed or terminated), MPROC_ENOMEM, encoding. */
mproc_status_t mp_engine_submit(mp_engine_t *e, mp_job_t *job,
                                mproc_function_fn fn, const mproc_obj_t *items,
                                size_t first, size_t n,
                                const mproc_obj_t *single, double timeout);

/* The same, the task filling slots [slot, slot + n) of job (a ring's). */
mproc_status_t mp_engine_submit_at(mp_engine_t *e, mp_job_t *job,
                                   mproc_function_fn fn,
                                   const mproc_obj_t *items, size_t first,
                                   size_t n, size_t slot, double timeout);

/* A task of the typed map: kernel over elements [first, first + n) of the
 * segments named in_name/out_name, filling slot of job.
 * Errors: MPROC_ENOTSUP (threads), MPROC_ENOTREGISTERED, MPROC_ESTATE,
 * MPROC_ENOMEM. */
mproc_status_t mp_engine_submit_kernel(mp_engine_t *e, mp_job_t *job,
                                       mproc_function_fn kernel,
                                       const char *in_name, size_t in_size,
                                       const char *out_name, size_t out_size,
                                       size_t first, size_t n, size_t slot,
                                       double timeout);

int mp_engine_processes(const mp_engine_t *e);
mproc_status_t mp_engine_worker_pids(mp_engine_t *e, long *out, size_t cap,
                                     size_t *count);
/* close: no more submits; the workers end once the work is done. */
void mp_engine_close(mp_engine_t *e);
/* Kills the workers, fails what is unfinished, ends the result thread. */
void mp_engine_terminate(mp_engine_t *e);
/* mp_engine_terminate, with gentle: each worker is sent a terminate
 * (SIGTERM; TerminateProcess where that is all there is) and killed if it
 * still runs a second later (ProcessPoolExecutor.terminate_workers). */
void mp_engine_stop(mp_engine_t *e, int gentle);
/* Errors: MPROC_ESTATE (neither closed nor terminated), MPROC_ETIMEDOUT. */
mproc_status_t mp_engine_join(mp_engine_t *e, double timeout);
/* Terminates if needed and releases everything. */
void mp_engine_free(mp_engine_t *e);

/* ---- for the executor (core/executor.c) ---- */
/* 1 while a task of job waits in the pending list (no worker has it). */
int mp_engine_job_queued(mp_engine_t *e, const mp_job_t *job);
/* Takes the pending tasks of job (job NULL: every pending task) out of the
 * list and fails them with st and msg; returns how many. */
size_t mp_engine_cancel_pending(mp_engine_t *e, const mp_job_t *job,
                                mproc_status_t st, const char *msg);
/* Asks the result thread to kill the process worker running a task of job
 * (if one does): the task fails with MPROC_ECANCELLED, the worker is
 * replaced. Returns at once. */
void mp_engine_kill_job(mp_engine_t *e, mp_job_t *job);

#endif
