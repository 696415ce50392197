/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Executors, futures, wait, as_completed, the executor's map, and the
 * public threads: the second front of the task engine (core/pool_engine.c,
 * docs/executor.md). CPython's Lib/concurrent/futures/ is the reference.
 *
 * A future is a handle (the object the caller holds) on a state shared
 * with the engine: the engine's job (one slot) calls back into the state
 * when the task ends, holding a reference until then. Every future's state
 * is guarded by one mutex (g_mu) and one condition (g_cv), so wait and
 * as_completed can watch futures of any executors together.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/internal.h"
#include "core/object.h"
#include "core/payload.h"
#include "core/executor_backend.h"
#include "core/pool_engine.h"
#include "mproc.h"

enum { F_PENDING, F_CANCELLED, F_FINISHED };

typedef struct {
  mproc_done_callback_fn fn;
  void *ctx;
} done_cb_t;

/* One call waiting on many futures (wait, as_completed): registered on
 * each pending one with a wnode, told by settle without a scan. All under
 * g_mu. */
typedef struct waiter {
  mp_cond_t cv;
  int return_when; /* MPROC_FIRST_COMPLETED, ..., or AS_COMPLETED */
  size_t pending;  /* registered futures not settled yet */
  int failed;      /* one settled with an error (FIRST_EXCEPTION) */
  size_t *ready;   /* as_completed: indices as they settled */
  size_t nready;
} waiter_t;

#define AS_COMPLETED (-1)

typedef struct wnode {
  waiter_t *w;
  size_t index; /* of the future in the waiter's list */
  struct fstate *s; /* linked into s->waiters while s is pending */
  struct wnode *prev, *next;
} wnode_t;

typedef struct fstate {
  int refs; /* the handle + the engine until the task ends (g_mu) */
  wnode_t *waiters; /* while pending */
  int state;
  mproc_status_t status;
  char *message;
  mproc_obj_t *value;
  done_cb_t *cbs;
  size_t ncbs, capcbs;
  mp_job_t *job;
  mproc_executor_t *ex; /* its executor's backend (while it lives) */
  int cancel_running; /* the executor's option */
  mproc_future_t *handle; /* NULL once the handle is freed */
} fstate_t;

struct mproc_future {
  mp_object_t obj;
  fstate_t *s;
};

struct mproc_executor {
  mp_object_t obj;
  /* What runs the tasks: the pool engine (processes, threads) or another
   * backend (core/executor_backend.h). */
  const mp_executor_backend_t *ops;
  void *impl;
  int threads;
  int max_workers;
  double task_timeout;
  int cancel_running;
  char *prefix;
  mp_mutex_t mu;
  int shutdown, joined;
};

struct mproc_as_completed {
  mp_object_t obj;
  mproc_future_t **fs;
  size_t n, ngiven;
  waiter_t w;     /* w.ready: settled and not yet given, in order */
  wnode_t *nodes; /* one per future */
};

struct mproc_executor_map {
  mp_object_t obj;
  mproc_executor_t *ex;
  mproc_function_fn fn;
  mproc_item_source_fn source;
  void *ctx;
  const mproc_obj_t *list; /* a list source: a copy, taken in order */
  mproc_obj_t *owned;
  size_t list_next;
  size_t chunksize, buffersize;
  double deadline;
  /* Submitted chunks in order: a FIFO of jobs (MP_JOB_IMAP, n items). */
  mp_job_t **ring;
  size_t cap, head, count;
  size_t taken; /* items of the head chunk given */
  int exhausted;
  mproc_status_t source_status;
  char *source_message;
};

struct mproc_thread {
  mp_object_t obj;
  mp_thread_t *thread;
  void (*fn)(void *);
  void *arg;
  uint32_t tid;
  mp_mutex_t mu;
  mp_cond_t cv;
  int ended, joined;
};

static mproc_status_t free_executor_obj(void *p) {
  return mproc_executor_free(p);
}
static mproc_status_t free_future_obj(void *p) { return mproc_future_free(p); }
static mproc_status_t free_ac_obj(void *p) {
  return mproc_as_completed_free(p);
}
static mproc_status_t free_map_obj(void *p) {
  return mproc_executor_map_free(p);
}
static mproc_status_t free_thread_obj(void *p) { return mproc_thread_free(p); }

static mp_object_ops_t executor_ops = {.kind = "executor",
                                       .free = free_executor_obj};
static mp_object_ops_t future_ops = {.kind = "future", .free = free_future_obj};
static mp_object_ops_t as_completed_ops = {.kind = "as_completed_iterator",
                                           .free = free_ac_obj};
static mp_object_ops_t executor_map_ops = {.kind = "executor_map_iterator",
                                           .free = free_map_obj};
static mp_object_ops_t thread_ops = {.kind = "thread", .free = free_thread_obj};
MP_OBJECT_KIND(executor_ops)
MP_OBJECT_KIND(future_ops)
MP_OBJECT_KIND(as_completed_ops)
MP_OBJECT_KIND(executor_map_ops)
MP_OBJECT_KIND(thread_ops)

static mp_mutex_t g_mu = MP_MUTEX_INIT;
static mp_cond_t g_cv = MP_COND_INIT;
static mp_once_t g_hooks_once = MP_ONCE_INIT;

/* A fork never copies g_mu held (core/locks.c's pattern). */
static void futures_before_fork(void) { mp_mutex_lock(&g_mu); }
static void futures_after_fork(void) { mp_mutex_unlock(&g_mu); }
static void install_hooks(void) {
  (void)mp_atfork_register(futures_before_fork, futures_after_fork,
                           futures_after_fork);
}

static void futures_lock(void) {
  mp_once(&g_hooks_once, install_hooks);
  mp_mutex_lock(&g_mu);
}

/* ---- future states -------------------------------------------------- */

/* Drops a reference (g_mu held); returns the state to release, or NULL. */
static fstate_t *state_unref_locked(fstate_t *s) {
  return --s->refs == 0 ? s : NULL;
}

static void state_release(fstate_t *s) {
  if (s == NULL) return;
  mp_job_unref(s->job);
  mp_obj_destroy(s->value);
  free(s->message);
  free(s->cbs);
  free(s);
}

static void run_callback(mproc_done_callback_fn fn, mproc_future_t *f,
                         void *ctx) {
  mp_error_clear();
  mproc_status_t st = fn(f, ctx);
  if (st != MPROC_OK)
    fprintf(stderr, "mproc: a future's done callback failed (%s): %s\n",
            mproc_status_name(st),
            mp_failure_detail(st, "the callback failed without a message"));
}

/* Links node (for future i of w) into s's waiters (g_mu held). */
static void waiter_add(waiter_t *w, wnode_t *node, fstate_t *s, size_t i) {
  node->w = w;
  node->index = i;
  node->s = s;
  node->prev = NULL;
  node->next = s->waiters;
  if (s->waiters) s->waiters->prev = node;
  s->waiters = node;
  w->pending++;
}

/* Unlinks node if it is still linked (its future did not settle). */
static void waiter_remove(wnode_t *node) {
  if (node->s == NULL) return;
  if (node->prev)
    node->prev->next = node->next;
  else
    node->s->waiters = node->next;
  if (node->next) node->next->prev = node->prev;
  node->s = NULL;
}

static int waiter_satisfied(const waiter_t *w) {
  switch (w->return_when) {
    case MPROC_ALL_COMPLETED: return w->pending == 0;
    case MPROC_FIRST_EXCEPTION: return w->failed || w->pending == 0;
    default: return 1; /* FIRST_COMPLETED, AS_COMPLETED: any */
  }
}

/* s settled (g_mu held): tells each waiter once, and unlinks them all. */
static void notify_waiters(fstate_t *s) {
  wnode_t *node = s->waiters;
  s->waiters = NULL;
  while (node) {
    wnode_t *next = node->next;
    waiter_t *w = node->w;
    node->s = NULL;
    w->pending--;
    if (s->state == F_FINISHED && s->status != MPROC_OK) w->failed = 1;
    if (w->ready) w->ready[w->nready++] = node->index;
    if (waiter_satisfied(w)) mp_cond_signal(&w->cv);
    node = next;
  }
}

/* The task ended: records the outcome (value: the future's own, or
 * NULL), wakes the waiters, runs the callbacks, drops the engine's
 * reference. */
static void settle(fstate_t *s, mproc_status_t st, const char *msg,
                   mproc_obj_t *value) {
  futures_lock();
  s->state = st == MPROC_ECANCELLED ? F_CANCELLED : F_FINISHED;
  s->status = st;
  s->value = value;
  if (st != MPROC_OK) s->message = mp_strdup(msg ? msg : "");
  done_cb_t *cbs = s->cbs;
  size_t ncbs = s->ncbs;
  s->cbs = NULL;
  s->ncbs = s->capcbs = 0;
  mproc_future_t *handle = s->handle;
  notify_waiters(s);
  mp_cond_broadcast(&g_cv); /* result/exception waiters: one future each */
  mp_mutex_unlock(&g_mu);
  /* The handle is the caller's: freeing it while callbacks run is theirs
   * to avoid (as with any object in use). */
  for (size_t i = 0; handle && i < ncbs; i++)
    run_callback(cbs[i].fn, handle, cbs[i].ctx);
  free(cbs);
  futures_lock();
  fstate_t *dead = state_unref_locked(s);
  mp_mutex_unlock(&g_mu);
  state_release(dead);
}

/* The job's value, taken from it: the future is the job's only reader
 * (a copy per result cost an allocation and a walk of the value). A copy
 * if it is not the job's; NULL: no memory. */
static mproc_obj_t *take_result(mp_job_t *job, const mproc_obj_t *result) {
  mproc_obj_t *v = NULL;
  mp_mutex_lock(&job->mu);
  if (result != NULL && job->value == result) {
    v = job->value;
    job->value = NULL;
  }
  mp_mutex_unlock(&job->mu);
  if (v == NULL && result != NULL && mproc_obj_copy(&v, result) != MPROC_OK)
    return NULL;
  return v;
}

static void on_result(const mproc_obj_t *result, void *ctx) {
  fstate_t *s = ctx;
  mproc_obj_t *v = take_result(s->job, result);
  if (v == NULL && result != NULL)
    settle(s, MPROC_ENOMEM, "executor: no memory for the result", NULL);
  else
    settle(s, MPROC_OK, NULL, v);
}

static void on_error(mproc_status_t st, const char *message, void *ctx) {
  settle(ctx, st, message, NULL);
}

/* ---- executors ------------------------------------------------------ */

mproc_status_t mproc_executor_options_init(mproc_executor_options_t *opts) {
  MP_REQUIRE(opts, "executor_options_init");
  memset(opts, 0, sizeof *opts);
  opts->max_workers = MPROC_EXECUTOR_DEFAULT_WORKERS;
  opts->task_timeout = -1;
  return MPROC_OK;
}

/* The pool engine as a backend: its calls, typed for the seam. */
static mproc_status_t engine_check_function(void *impl, mproc_function_fn fn,
                                            const char *call) {
  return mp_engine_check_function(impl, fn, call);
}
static mproc_status_t engine_submit(void *impl, mp_job_t *job,
                                    mproc_function_fn fn,
                                    const mproc_obj_t *items, size_t first,
                                    size_t n, const mproc_obj_t *single,
                                    double timeout) {
  return mp_engine_submit(impl, job, fn, items, first, n, single, timeout);
}
static int engine_job_queued(void *impl, const mp_job_t *job) {
  return mp_engine_job_queued(impl, job);
}
static size_t engine_cancel_pending(void *impl, const mp_job_t *job,
                                    mproc_status_t st, const char *msg) {
  return mp_engine_cancel_pending(impl, job, st, msg);
}
static void engine_kill_job(void *impl, mp_job_t *job) {
  mp_engine_kill_job(impl, job);
}
static void engine_close(void *impl) { mp_engine_close(impl); }
static void engine_stop(void *impl, int gentle) {
  mp_engine_stop(impl, gentle);
}
static mproc_status_t engine_join(void *impl, double timeout) {
  return mp_engine_join(impl, timeout);
}
static void engine_release(void *impl) { mp_engine_free(impl); }

static const mp_executor_backend_t engine_backend = {
    .check_function = engine_check_function,
    .submit = engine_submit,
    .job_queued = engine_job_queued,
    .cancel_pending = engine_cancel_pending,
    .kill_job = engine_kill_job,
    .close = engine_close,
    .stop = engine_stop,
    .join = engine_join,
    .release = engine_release,
};

static mproc_executor_t *executor_alloc(const mp_executor_backend_t *ops,
                                        void *impl, int max_workers,
                                        double task_timeout) {
  mproc_executor_t *ex = mp_object_alloc(sizeof *ex);
  if (ex == NULL) return NULL;
  ex->ops = ops;
  ex->impl = impl;
  ex->max_workers = max_workers;
  ex->task_timeout = task_timeout < 0 ? -1 : task_timeout;
  return ex;
}

mproc_status_t mp_executor_create_with(mproc_executor_t **out,
                                       const mp_executor_backend_t *ops,
                                       void *impl, int max_workers,
                                       double task_timeout) {
  mproc_executor_t *ex = executor_alloc(ops, impl, max_workers, task_timeout);
  if (ex == NULL) {
    ops->release(impl);
    return mp_fail(MPROC_ENOMEM, "executor_create");
  }
  mp_object_init(&ex->obj, &executor_ops);
  *out = ex;
  return MPROC_OK;
}

/* The given prefix, or CPython's "ThreadPoolExecutor-<k>" with k counting
 * the thread executors created without one. NULL: no memory. */
static char *default_prefix(const char *given) {
  static unsigned long counter; /* __atomic */
  if (given) return mp_strdup(given);
  char name[64];
  snprintf(name, sizeof name, "ThreadPoolExecutor-%lu",
           __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
  return mp_strdup(name);
}

static mproc_status_t executor_create(mproc_executor_t **out,
                                      const mproc_executor_options_t *given,
                                      int threads, const char *call) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, call);
  mproc_executor_options_t opts;
  if (given)
    opts = *given;
  else
    mproc_executor_options_init(&opts);
  int n = opts.max_workers;
  int cpus = mp_usable_cpu_count();
  if (cpus < 1) cpus = 1;
  if (n == MPROC_EXECUTOR_DEFAULT_WORKERS) {
    n = threads ? (cpus + 4 < 32 ? cpus + 4 : 32) : cpus;
  } else if (n < 1) {
    return mp_fail(MPROC_EINVAL,
                   "%s: max_workers must be at least 1 (got %d; "
                   "MPROC_EXECUTOR_DEFAULT_WORKERS for the default)",
                   call, n);
  }
  if (isnan(opts.task_timeout))
    return mp_fail(MPROC_EINVAL, "%s: NaN task_timeout", call);
  if (threads && (opts.task_timeout >= 0 || opts.max_tasks_per_child ||
                  opts.cancel_running))
    return mp_fail(MPROC_EINVAL,
                   "%s: task_timeout, max_tasks_per_child and cancel_running "
                   "are process executor options (a thread cannot be killed "
                   "or replaced)",
                   call);
  if (opts.initargs) MP_CHECK_PAYLOAD(opts.initargs, call);
  mp_engine_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.processes = n;
  cfg.threads = threads;
  cfg.initializer = opts.initializer;
  cfg.initargs = opts.initargs;
  cfg.maxtasks = opts.max_tasks_per_child;
  cfg.context = opts.context;
  if (cfg.context == NULL) {
    st = mproc_get_context(NULL, &cfg.context);
    if (st != MPROC_OK) return st;
  }
  mproc_executor_t *ex =
      executor_alloc(&engine_backend, NULL, n, opts.task_timeout);
  if (ex == NULL) return mp_fail(MPROC_ENOMEM, "%s", call);
  if (threads) {
    ex->prefix = default_prefix(opts.thread_name_prefix);
    if (ex->prefix == NULL) {
      mp_object_release(ex);
      return mp_fail(MPROC_ENOMEM, "%s", call);
    }
    cfg.thread_name_prefix = ex->prefix;
  }
  mp_engine_t *engine = NULL;
  st = mp_engine_create(&engine, &cfg);
  ex->impl = engine;
  if (st != MPROC_OK) {
    free(ex->prefix);
    mp_object_release(ex);
    return st;
  }
  mp_object_init(&ex->obj, &executor_ops);
  ex->threads = threads;
  ex->cancel_running = opts.cancel_running != 0;
  *out = ex;
  return MPROC_OK;
}

mproc_status_t mproc_process_executor_create(
    mproc_executor_t **out, const mproc_executor_options_t *opts) {
  return executor_create(out, opts, 0, "process_executor_create");
}

mproc_status_t mproc_thread_executor_create(
    mproc_executor_t **out, const mproc_executor_options_t *opts) {
  return executor_create(out, opts, 1, "thread_executor_create");
}

mproc_status_t mproc_executor_max_workers(const mproc_executor_t *ex,
                                          int *out) {
  MP_CHECK_KIND(ex, &executor_ops, "executor_max_workers");
  MP_REQUIRE(out, "executor_max_workers: out");
  *out = ex->max_workers;
  return MPROC_OK;
}

mproc_status_t mproc_executor_thread_name_prefix(const mproc_executor_t *ex,
                                                 const char **out) {
  MP_CHECK_KIND(ex, &executor_ops, "executor_thread_name_prefix");
  MP_REQUIRE(out, "executor_thread_name_prefix: out");
  *out = ex->prefix;
  return MPROC_OK;
}

static mproc_status_t usable(mproc_executor_t *ex, const char *call) {
  mp_mutex_lock(&ex->mu);
  int down = ex->shutdown;
  mp_mutex_unlock(&ex->mu);
  if (down)
    return mp_fail(MPROC_ESTATE,
                   "%s: cannot schedule new futures after shutdown", call);
  return MPROC_OK;
}

mproc_status_t mproc_executor_submit(mproc_future_t **out,
                                     mproc_executor_t *ex,
                                     mproc_function_fn fn,
                                     const mproc_obj_t *arg) {
  MP_REQUIRE(out, "executor_submit: out");
  MP_CHECK_KIND(ex, &executor_ops, "executor_submit");
  if (fn == NULL) return mp_fail(MPROC_EINVAL, "executor_submit: NULL fn");
  if (arg) MP_CHECK_PAYLOAD(arg, "executor_submit: arg");
  mproc_status_t st = usable(ex, "executor_submit");
  if (st == MPROC_OK)
    st = ex->ops->check_function(ex->impl, fn, "executor_submit");
  if (st != MPROC_OK) return st;
  mproc_future_t *f = mp_object_alloc(sizeof *f);
  fstate_t *s = calloc(1, sizeof *s);
  mp_job_t *job = mp_job_new(MP_JOB_SINGLE, 1);
  if (f == NULL || s == NULL || job == NULL) {
    if (f) mp_object_release(f);
    free(s);
    mp_job_unref(job);
    return mp_fail(MPROC_ENOMEM, "executor_submit");
  }
  s->refs = 2; /* the handle and the engine */
  s->state = F_PENDING;
  s->job = job;
  s->ex = ex;
  s->cancel_running = ex->cancel_running;
  s->handle = f;
  job->callback = on_result;
  job->error_callback = on_error;
  job->ctx = s;
  f->s = s;
  st = ex->ops->submit(ex->impl, job, fn, NULL, 0, 1, arg, ex->task_timeout);
  if (st != MPROC_OK) {
    /* No task: no callback will come. */
    if (st == MPROC_ESTATE)
      st = mp_fail(MPROC_ESTATE,
                   "executor_submit: cannot schedule new futures after "
                   "shutdown");
    state_release(s);
    mp_object_release(f);
    return st;
  }
  mp_object_init(&f->obj, &future_ops);
  *out = f;
  return MPROC_OK;
}

mproc_status_t mproc_executor_shutdown(mproc_executor_t *ex, int wait,
                                       int cancel_futures) {
  MP_CHECK_KIND(ex, &executor_ops, "executor_shutdown");
  mp_mutex_lock(&ex->mu);
  ex->shutdown = 1;
  mp_mutex_unlock(&ex->mu);
  if (cancel_futures)
    ex->ops->cancel_pending(ex->impl, NULL, MPROC_ECANCELLED,
                            "executor: cancelled by shutdown");
  ex->ops->close(ex->impl);
  if (wait) {
    mproc_status_t st = ex->ops->join(ex->impl, MPROC_FOREVER);
    if (st != MPROC_OK) return st;
    mp_mutex_lock(&ex->mu);
    ex->joined = 1;
    mp_mutex_unlock(&ex->mu);
  }
  return MPROC_OK;
}

static mproc_status_t stop_workers(mproc_executor_t *ex, int gentle,
                                   const char *call) {
  MP_CHECK_KIND(ex, &executor_ops, call);
  mp_mutex_lock(&ex->mu);
  ex->shutdown = 1;
  mp_mutex_unlock(&ex->mu);
  ex->ops->cancel_pending(ex->impl, NULL, MPROC_ECANCELLED,
                          "executor: cancelled: the workers were stopped");
  ex->ops->stop(ex->impl, gentle);
  return MPROC_OK;
}

mproc_status_t mproc_executor_terminate_workers(mproc_executor_t *ex) {
  return stop_workers(ex, 1, "executor_terminate_workers");
}

mproc_status_t mproc_executor_kill_workers(mproc_executor_t *ex) {
  return stop_workers(ex, 0, "executor_kill_workers");
}

mproc_status_t mproc_executor_free(mproc_executor_t *ex) {
  if (ex == NULL) return MPROC_OK;
  MP_CHECK_KIND(ex, &executor_ops, "executor_free");
  mproc_status_t st = mproc_executor_shutdown(ex, 1, 0);
  mp_object_invalidate(&ex->obj);
  ex->ops->release(ex->impl);
  free(ex->prefix);
  mp_mutex_destroy(&ex->mu);
  mp_object_release(ex);
  return st;
}

/* ---- futures -------------------------------------------------------- */

/* Waits (g_mu held) until s is no longer pending, up to deadline. */
static mproc_status_t wait_settled(fstate_t *s, double deadline,
                                   const char *call) {
  while (s->state == F_PENDING) {
    double left = mp_time_left(deadline);
    if (deadline >= 0 && left <= 0)
      return mp_fail(MPROC_ETIMEDOUT, "%s: the future is not done", call);
    mp_cond_wait(&g_cv, &g_mu, left);
  }
  return MPROC_OK;
}

mproc_status_t mproc_future_result(mproc_future_t *f, mproc_obj_t **out,
                                   double timeout) {
  MP_CHECK_KIND(f, &future_ops, "future_result");
  MP_REQUIRE(out, "future_result: out");
  mproc_status_t st = mp_check_timeout(timeout, "future_result");
  if (st != MPROC_OK) return st;
  double deadline = mp_deadline(timeout);
  fstate_t *s = f->s;
  futures_lock();
  st = wait_settled(s, deadline, "future_result");
  if (st == MPROC_OK) {
    if (s->state == F_CANCELLED) {
      st = mp_fail(MPROC_ECANCELLED, "future_result: %s",
                   mp_strip_status(MPROC_ECANCELLED, s->message));
    } else if (s->status != MPROC_OK) {
      st = mp_fail(s->status, "%s",
                   mp_strip_status(s->status, s->message ? s->message : ""));
    } else {
      st = s->value ? mproc_obj_copy(out, s->value) : mproc_obj_none(out);
    }
  }
  mp_mutex_unlock(&g_mu);
  return st;
}

mproc_status_t mproc_future_exception(mproc_future_t *f,
                                      mproc_status_t *status,
                                      const char **message, double timeout) {
  MP_CHECK_KIND(f, &future_ops, "future_exception");
  MP_REQUIRE(status, "future_exception: status");
  mproc_status_t st = mp_check_timeout(timeout, "future_exception");
  if (st != MPROC_OK) return st;
  double deadline = mp_deadline(timeout);
  fstate_t *s = f->s;
  futures_lock();
  st = wait_settled(s, deadline, "future_exception");
  if (st == MPROC_OK) {
    if (s->state == F_CANCELLED) {
      st = mp_fail(MPROC_ECANCELLED, "future_exception: the future was "
                                     "cancelled");
    } else {
      *status = s->status;
      if (message)
        *message = s->message ? mp_strip_status(s->status, s->message) : NULL;
    }
  }
  mp_mutex_unlock(&g_mu);
  return st;
}

mproc_status_t mproc_future_cancel(mproc_future_t *f, int *out) {
  MP_CHECK_KIND(f, &future_ops, "future_cancel");
  fstate_t *s = f->s;
  futures_lock();
  int state = s->state;
  mp_mutex_unlock(&g_mu);
  /* The engine settles it (ECANCELLED) if no worker took it yet. */
  if (state == F_PENDING &&
      s->ex->ops->cancel_pending(s->ex->impl, s->job, MPROC_ECANCELLED,
                                 "executor: the future was cancelled") == 0 &&
      s->cancel_running && s->ex->ops->kill_job) {
    /* Running (or just finishing): the result thread kills its worker;
     * wait, bounded, for the future to settle either way. */
    s->ex->ops->kill_job(s->ex->impl, s->job);
    double deadline = mp_deadline(10.0);
    futures_lock();
    (void)wait_settled(s, deadline, "future_cancel");
    mp_mutex_unlock(&g_mu);
  }
  futures_lock();
  int cancelled = s->state == F_CANCELLED;
  mp_mutex_unlock(&g_mu);
  if (out) *out = cancelled;
  return MPROC_OK;
}

mproc_status_t mproc_future_cancelled(mproc_future_t *f, int *out) {
  MP_CHECK_KIND(f, &future_ops, "future_cancelled");
  MP_REQUIRE(out, "future_cancelled: out");
  futures_lock();
  *out = f->s->state == F_CANCELLED;
  mp_mutex_unlock(&g_mu);
  return MPROC_OK;
}

mproc_status_t mproc_future_done(mproc_future_t *f, int *out) {
  MP_CHECK_KIND(f, &future_ops, "future_done");
  MP_REQUIRE(out, "future_done: out");
  futures_lock();
  *out = f->s->state != F_PENDING;
  mp_mutex_unlock(&g_mu);
  return MPROC_OK;
}

mproc_status_t mproc_future_running(mproc_future_t *f, int *out) {
  MP_CHECK_KIND(f, &future_ops, "future_running");
  MP_REQUIRE(out, "future_running: out");
  fstate_t *s = f->s;
  futures_lock();
  int pending = s->state == F_PENDING;
  mp_mutex_unlock(&g_mu);
  /* Pending and no longer queued: a worker has it. */
  int queued = pending ? s->ex->ops->job_queued(s->ex->impl, s->job) : 0;
  futures_lock();
  *out = s->state == F_PENDING && !queued;
  mp_mutex_unlock(&g_mu);
  return MPROC_OK;
}

mproc_status_t mproc_future_add_done_callback(mproc_future_t *f,
                                              mproc_done_callback_fn fn,
                                              void *ctx) {
  MP_CHECK_KIND(f, &future_ops, "future_add_done_callback");
  if (fn == NULL)
    return mp_fail(MPROC_EINVAL, "future_add_done_callback: NULL fn");
  fstate_t *s = f->s;
  futures_lock();
  if (s->state != F_PENDING) {
    mp_mutex_unlock(&g_mu);
    run_callback(fn, f, ctx);
    return MPROC_OK;
  }
  if (s->ncbs == s->capcbs) {
    size_t cap = s->capcbs ? 2 * s->capcbs : 4;
    done_cb_t *grown = realloc(s->cbs, cap * sizeof *grown);
    if (grown == NULL) {
      mp_mutex_unlock(&g_mu);
      return mp_fail(MPROC_ENOMEM, "future_add_done_callback");
    }
    s->cbs = grown;
    s->capcbs = cap;
  }
  s->cbs[s->ncbs].fn = fn;
  s->cbs[s->ncbs].ctx = ctx;
  s->ncbs++;
  mp_mutex_unlock(&g_mu);
  return MPROC_OK;
}

mproc_status_t mproc_future_free(mproc_future_t *f) {
  if (f == NULL) return MPROC_OK;
  MP_CHECK_KIND(f, &future_ops, "future_free");
  mp_object_invalidate(&f->obj);
  futures_lock();
  fstate_t *s = f->s;
  s->handle = NULL;
  s->ncbs = 0; /* callbacks not run yet are dropped */
  fstate_t *dead = state_unref_locked(s);
  mp_mutex_unlock(&g_mu);
  state_release(dead);
  mp_object_release(f);
  return MPROC_OK;
}

/* ---- wait and as_completed ------------------------------------------ */

mproc_status_t mproc_futures_wait(mproc_future_t *const *fs, size_t n,
                                  int return_when, int *done, size_t *ndone,
                                  double timeout) {
  if (n > 0 && (fs == NULL || done == NULL))
    return mp_fail(MPROC_EINVAL, "futures_wait: NULL fs or done");
  for (size_t i = 0; i < n; i++)
    MP_CHECK_KIND(fs[i], &future_ops, "futures_wait");
  if (return_when != MPROC_FIRST_COMPLETED &&
      return_when != MPROC_FIRST_EXCEPTION &&
      return_when != MPROC_ALL_COMPLETED)
    return mp_fail(MPROC_EINVAL, "futures_wait: unknown return_when %d",
                   return_when);
  mproc_status_t st = mp_check_timeout(timeout, "futures_wait");
  if (st != MPROC_OK) return st;
  double deadline = mp_deadline(timeout);
  wnode_t *nodes = calloc(n ? n : 1, sizeof *nodes);
  if (nodes == NULL) return mp_fail(MPROC_ENOMEM, "futures_wait");
  waiter_t w;
  memset(&w, 0, sizeof w);
  w.return_when = return_when;
  futures_lock();
  int done_before = 0;
  for (size_t i = 0; i < n; i++) {
    fstate_t *s = fs[i]->s;
    if (s->state == F_PENDING) {
      waiter_add(&w, &nodes[i], s, i);
    } else {
      done_before = 1;
      if (s->state == F_FINISHED && s->status != MPROC_OK) w.failed = 1;
    }
  }
  /* Satisfied already? (FIRST_COMPLETED: by a future done before.) */
  int satisfied = w.pending == 0 ||
                  (return_when == MPROC_FIRST_COMPLETED && done_before) ||
                  (return_when == MPROC_FIRST_EXCEPTION && w.failed);
  while (!satisfied) {
    double left = mp_time_left(deadline);
    if (deadline >= 0 && left <= 0) break;
    mp_cond_wait(&w.cv, &g_mu, left);
    satisfied = waiter_satisfied(&w) &&
                (w.pending < n || return_when != MPROC_FIRST_COMPLETED);
  }
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    waiter_remove(&nodes[i]);
    done[i] = fs[i]->s->state != F_PENDING;
    count += (size_t)done[i];
  }
  mp_mutex_unlock(&g_mu);
  mp_cond_destroy(&w.cv);
  free(nodes);
  if (ndone) *ndone = count;
  return MPROC_OK;
}

mproc_status_t mproc_as_completed(mproc_as_completed_t **out,
                                  mproc_future_t *const *fs, size_t n) {
  MP_REQUIRE(out, "as_completed: out");
  if (n > 0 && fs == NULL)
    return mp_fail(MPROC_EINVAL, "as_completed: NULL fs");
  for (size_t i = 0; i < n; i++)
    MP_CHECK_KIND(fs[i], &future_ops, "as_completed");
  mproc_as_completed_t *it = mp_object_alloc(sizeof *it);
  if (it == NULL) return mp_fail(MPROC_ENOMEM, "as_completed");
  it->fs = calloc(n ? n : 1, sizeof *it->fs);
  it->nodes = calloc(n ? n : 1, sizeof *it->nodes);
  it->w.ready = calloc(n ? n : 1, sizeof *it->w.ready);
  if (it->fs == NULL || it->nodes == NULL || it->w.ready == NULL) {
    free(it->fs);
    free(it->nodes);
    free(it->w.ready);
    mp_object_release(it);
    return mp_fail(MPROC_ENOMEM, "as_completed");
  }
  it->n = n;
  it->w.return_when = AS_COMPLETED;
  /* Done ones first, in the given order (CPython yields them first), then
   * the others as they settle. */
  futures_lock();
  for (size_t i = 0; i < n; i++) {
    it->fs[i] = fs[i];
    if (fs[i]->s->state == F_PENDING)
      waiter_add(&it->w, &it->nodes[i], fs[i]->s, i);
    else
      it->w.ready[it->w.nready++] = i;
  }
  mp_mutex_unlock(&g_mu);
  mp_object_init(&it->obj, &as_completed_ops);
  *out = it;
  return MPROC_OK;
}

mproc_status_t mproc_as_completed_next(mproc_as_completed_t *it,
                                       mproc_future_t **out, double timeout) {
  MP_CHECK_KIND(it, &as_completed_ops, "as_completed_next");
  MP_REQUIRE(out, "as_completed_next: out");
  mproc_status_t st = mp_check_timeout(timeout, "as_completed_next");
  if (st != MPROC_OK) return st;
  if (it->ngiven == it->n)
    return mp_fail(MPROC_EOF, "as_completed_next: every future was given");
  double deadline = mp_deadline(timeout);
  futures_lock();
  for (;;) {
    if (it->ngiven < it->w.nready) {
      *out = it->fs[it->w.ready[it->ngiven++]];
      mp_mutex_unlock(&g_mu);
      return MPROC_OK;
    }
    double left = mp_time_left(deadline);
    if (deadline >= 0 && left <= 0) break;
    mp_cond_wait(&it->w.cv, &g_mu, left);
  }
  mp_mutex_unlock(&g_mu);
  return mp_fail(MPROC_ETIMEDOUT, "as_completed_next: %zu of %zu futures "
                                  "unfinished",
                 it->n - it->ngiven, it->n);
}

mproc_status_t mproc_as_completed_free(mproc_as_completed_t *it) {
  if (it == NULL) return MPROC_OK;
  MP_CHECK_KIND(it, &as_completed_ops, "as_completed_free");
  mp_object_invalidate(&it->obj);
  futures_lock();
  for (size_t i = 0; i < it->n; i++) waiter_remove(&it->nodes[i]);
  mp_mutex_unlock(&g_mu);
  mp_cond_destroy(&it->w.cv);
  free(it->fs);
  free(it->nodes);
  free(it->w.ready);
  mp_object_release(it);
  return MPROC_OK;
}

/* ---- map ------------------------------------------------------------ */

static mproc_status_t map_pull(mproc_executor_map_t *it, mproc_obj_t **item) {
  if (it->list) {
    if (it->list_next >= it->list->len) return MPROC_EOF;
    return mproc_obj_copy(item, it->list->u.items[it->list_next++]);
  }
  *item = NULL;
  return it->source(it->ctx, item);
}

/* Submits chunks until buffersize are in flight or the items end. */
static mproc_status_t map_fill(mproc_executor_map_t *it) {
  while (!it->exhausted && (it->buffersize == 0 || it->count < it->buffersize)) {
    mproc_obj_t *items = NULL;
    mproc_status_t st = mproc_obj_list(&items);
    if (st != MPROC_OK) return st;
    while (items->len < it->chunksize) {
      mproc_obj_t *item = NULL;
      st = map_pull(it, &item);
      if (st == MPROC_EOF) {
        it->exhausted = 1;
        break;
      }
      if (st != MPROC_OK) {
        it->exhausted = 1;
        it->source_status = st;
        it->source_message = mp_strdup(mproc_last_error());
        mp_obj_destroy(item);
        break;
      }
      if (item == NULL && mproc_obj_none(&item) != MPROC_OK) {
        mp_obj_destroy(items);
        return mp_fail(MPROC_ENOMEM, "executor_map");
      }
      if (mproc_obj_list_append(items, item) != MPROC_OK) {
        mp_obj_destroy(item);
        mp_obj_destroy(items);
        return mp_fail(MPROC_ENOMEM, "executor_map");
      }
    }
    if (items->len == 0) {
      mp_obj_destroy(items);
      break;
    }
    if (it->count == it->cap) {
      size_t cap = it->cap ? 2 * it->cap : 8;
      mp_job_t **ring = calloc(cap, sizeof *ring);
      if (ring == NULL) {
        mp_obj_destroy(items);
        return mp_fail(MPROC_ENOMEM, "executor_map");
      }
      for (size_t i = 0; i < it->count; i++)
        ring[i] = it->ring[(it->head + i) % it->cap];
      free(it->ring);
      it->ring = ring;
      it->cap = cap;
      it->head = 0;
    }
    mp_job_t *job = mp_job_new(MP_JOB_IMAP, items->len);
    if (job == NULL) {
      mp_obj_destroy(items);
      return mp_fail(MPROC_ENOMEM, "executor_map");
    }
    st = it->ex->ops->submit(it->ex->impl, job, it->fn, items, 0, items->len,
                             NULL, it->ex->task_timeout);
    mp_obj_destroy(items);
    if (st != MPROC_OK) {
      mp_job_unref(job);
      return st;
    }
    it->ring[(it->head + it->count) % it->cap] = job;
    it->count++;
  }
  return MPROC_OK;
}

static mproc_status_t map_create(mproc_executor_map_t **out,
                                 mproc_executor_t *ex, mproc_function_fn fn,
                                 const mproc_obj_t *inputs,
                                 mproc_item_source_fn source, void *ctx,
                                 double timeout, size_t chunksize,
                                 size_t buffersize, const char *call) {
  MP_REQUIRE(out, call);
  MP_CHECK_KIND(ex, &executor_ops, call);
  if (fn == NULL) return mp_fail(MPROC_EINVAL, "%s: NULL fn", call);
  if (chunksize == 0)
    return mp_fail(MPROC_EINVAL, "%s: chunksize must be at least 1", call);
  mproc_status_t st = mp_check_timeout(timeout, call);
  if (st != MPROC_OK) return st;
  if (inputs) {
    MP_CHECK_PAYLOAD(inputs, call);
    if (inputs->kind != MPROC_LIST)
      return mp_fail(MPROC_EINVAL, "%s: inputs must be a list, not a %s", call,
                     mp_kind_name(inputs->kind));
  }
  st = usable(ex, call);
  if (st == MPROC_OK) st = ex->ops->check_function(ex->impl, fn, call);
  if (st != MPROC_OK) return st;
  mproc_executor_map_t *it = mp_object_alloc(sizeof *it);
  if (it == NULL) return mp_fail(MPROC_ENOMEM, "%s", call);
  it->ex = ex;
  it->fn = fn;
  it->source = source;
  it->ctx = ctx;
  it->chunksize = chunksize;
  it->buffersize = buffersize;
  it->deadline = mp_deadline(timeout);
  if (inputs) {
    st = mproc_obj_copy(&it->owned, inputs);
    it->list = it->owned;
  }
  if (st == MPROC_OK) st = map_fill(it);
  mp_object_init(&it->obj, &executor_map_ops);
  if (st != MPROC_OK) {
    char detail[512];
    snprintf(detail, sizeof detail, "%s", mproc_last_error());
    mproc_executor_map_free(it);
    return mp_fail(st, "%s", detail);
  }
  *out = it;
  return MPROC_OK;
}

mproc_status_t mproc_executor_map(mproc_executor_map_t **out,
                                  mproc_executor_t *ex, mproc_function_fn fn,
                                  const mproc_obj_t *inputs, double timeout,
                                  size_t chunksize, size_t buffersize) {
  if (inputs == NULL)
    return mp_fail(MPROC_EINVAL, "executor_map: NULL inputs");
  return map_create(out, ex, fn, inputs, NULL, NULL, timeout, chunksize,
                    buffersize, "executor_map");
}

mproc_status_t mproc_executor_map_iter(mproc_executor_map_t **out,
                                       mproc_executor_t *ex,
                                       mproc_function_fn fn,
                                       mproc_item_source_fn source, void *ctx,
                                       double timeout, size_t chunksize,
                                       size_t buffersize) {
  if (source == NULL)
    return mp_fail(MPROC_EINVAL, "executor_map_iter: NULL source");
  return map_create(out, ex, fn, NULL, source, ctx, timeout, chunksize,
                    buffersize, "executor_map_iter");
}

mproc_status_t mproc_executor_map_next(mproc_executor_map_t *it,
                                       mproc_obj_t **out) {
  MP_CHECK_KIND(it, &executor_map_ops, "executor_map_next");
  MP_REQUIRE(out, "executor_map_next: out");
  if (it->count == 0) {
    if (it->source_status != MPROC_OK) {
      mproc_status_t st = it->source_status;
      it->source_status = MPROC_OK;
      return mp_fail(st, "%s",
                     mp_strip_status(st, it->source_message
                                             ? it->source_message
                                             : ""));
    }
    return mp_fail(MPROC_EOF, "executor_map_next: no more results");
  }
  mp_job_t *job = it->ring[it->head];
  size_t slot = it->taken;
  mproc_status_t st = MPROC_OK;
  mp_mutex_lock(&job->mu);
  while (!job->done[slot]) {
    double left = mp_time_left(it->deadline);
    if (it->deadline >= 0 && left <= 0) {
      mp_mutex_unlock(&job->mu);
      return mp_fail(MPROC_ETIMEDOUT, "executor_map_next: the map's timeout "
                                      "passed");
    }
    mp_cond_wait(&job->cv, &job->mu, left);
  }
  if (job->statuses[slot] == MPROC_OK) {
    *out = job->results[slot];
    job->results[slot] = NULL;
  } else {
    st = job->statuses[slot];
    mp_fail(st, "%s",
            mp_strip_status(st, job->messages[slot] ? job->messages[slot]
                                                    : ""));
  }
  mp_mutex_unlock(&job->mu);
  if (++it->taken == job->n) {
    mp_job_unref(job);
    it->ring[it->head] = NULL;
    it->head = (it->head + 1) % it->cap;
    it->count--;
    it->taken = 0;
    char detail[512];
    if (st != MPROC_OK) snprintf(detail, sizeof detail, "%s", mproc_last_error());
    mproc_status_t fill = map_fill(it);
    if (st == MPROC_OK && fill != MPROC_OK) {
      /* This result is good; the failure to submit ends the map. */
      it->exhausted = 1;
      it->source_status = fill;
      free(it->source_message);
      it->source_message = mp_strdup(mproc_last_error());
    }
    if (st != MPROC_OK) mp_fail(st, "%s", detail);
  }
  return st;
}

mproc_status_t mproc_executor_map_free(mproc_executor_map_t *it) {
  if (it == NULL) return MPROC_OK;
  MP_CHECK_KIND(it, &executor_map_ops, "executor_map_free");
  mp_object_invalidate(&it->obj);
  for (size_t i = 0; i < it->count; i++)
    mp_job_unref(it->ring[(it->head + i) % it->cap]);
  free(it->ring);
  mp_obj_destroy(it->owned);
  free(it->source_message);
  mp_object_release(it);
  return MPROC_OK;
}

/* ---- threads -------------------------------------------------------- */

/* The name mproc gave this thread (mproc_thread_name). */
static _Thread_local char this_thread_name[MPROC_THREAD_NAME_MAX];

void mp_name_this_thread(const char *name) {
  snprintf(this_thread_name, sizeof this_thread_name, "%s", name);
  mp_thread_set_os_name(name);
}

mproc_status_t mproc_thread_set_name(const char *name) {
  if (name == NULL) return mp_fail(MPROC_EINVAL, "thread_set_name: NULL name");
  if (strlen(name) >= MPROC_THREAD_NAME_MAX)
    return mp_fail(MPROC_EINVAL,
                   "thread_set_name: the name is %zu bytes long; the limit "
                   "is %d with the NUL",
                   strlen(name), MPROC_THREAD_NAME_MAX);
  mp_name_this_thread(name);
  return MPROC_OK;
}

mproc_status_t mproc_thread_name(char *out, size_t size) {
  MP_REQUIRE(out, "thread_name: out");
  size_t len = strlen(this_thread_name);
  if (size <= len)
    return mp_fail(MPROC_EINVAL,
                   "thread_name: the name needs %zu bytes, got %zu",
                   len + 1, size);
  memcpy(out, this_thread_name, len + 1);
  return MPROC_OK;
}

static void thread_main(void *arg) {
  mproc_thread_t *t = arg;
  mp_mutex_lock(&t->mu);
  t->tid = mp_thread_id();
  mp_mutex_unlock(&t->mu);
  t->fn(t->arg);
  mp_node_flush_thread_cache();
  mp_mutex_lock(&t->mu);
  t->ended = 1;
  mp_cond_broadcast(&t->cv);
  mp_mutex_unlock(&t->mu);
}

mproc_status_t mproc_thread_create(mproc_thread_t **out, void (*fn)(void *),
                                   void *arg) {
  MP_REQUIRE(out, "thread_create: out");
  if (fn == NULL) return mp_fail(MPROC_EINVAL, "thread_create: NULL fn");
  mproc_thread_t *t = mp_object_alloc(sizeof *t);
  if (t == NULL) return mp_fail(MPROC_ENOMEM, "thread_create");
  t->fn = fn;
  t->arg = arg;
  mp_object_init(&t->obj, &thread_ops);
  mproc_status_t st = mp_thread_create(&t->thread, thread_main, t);
  if (st != MPROC_OK) {
    mp_object_invalidate(&t->obj);
    mp_object_release(t);
    return st;
  }
  *out = t;
  return MPROC_OK;
}

mproc_status_t mproc_thread_join(mproc_thread_t *t, double timeout) {
  MP_CHECK_KIND(t, &thread_ops, "thread_join");
  mproc_status_t st = mp_check_timeout(timeout, "thread_join");
  if (st != MPROC_OK) return st;
  double deadline = mp_deadline(timeout);
  mp_mutex_lock(&t->mu);
  if (t->tid != 0 && t->tid == mp_thread_id()) {
    mp_mutex_unlock(&t->mu);
    return mp_fail(MPROC_ESTATE, "thread_join: a thread cannot join itself");
  }
  while (!t->ended) {
    double left = mp_time_left(deadline);
    if (deadline >= 0 && left <= 0) {
      mp_mutex_unlock(&t->mu);
      return mp_fail(MPROC_ETIMEDOUT, "thread_join: the thread still runs");
    }
    mp_cond_wait(&t->cv, &t->mu, left);
  }
  mp_thread_t *os = t->joined ? NULL : t->thread;
  t->joined = 1;
  t->thread = NULL;
  mp_mutex_unlock(&t->mu);
  if (os) return mp_thread_join(os);
  return MPROC_OK;
}

mproc_status_t mproc_thread_free(mproc_thread_t *t) {
  if (t == NULL) return MPROC_OK;
  MP_CHECK_KIND(t, &thread_ops, "thread_free");
  mproc_status_t st = mproc_thread_join(t, MPROC_FOREVER);
  if (st == MPROC_ESTATE) return st;
  mp_object_invalidate(&t->obj);
  mp_cond_destroy(&t->cv);
  mp_mutex_destroy(&t->mu);
  mp_object_release(t);
  return st;
}
