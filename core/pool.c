/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pool, ThreadPool, AsyncResult and the imap iterator: the first front of
 * the task engine (core/pool_engine.c, docs/pool.md). CPython's
 * Lib/multiprocessing/pool.py is the reference for the semantics.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/internal.h"
#include "core/object.h"
#include "core/payload.h"
#include "core/pool_engine.h"
#include "mproc.h"

struct mproc_pool {
  mp_object_t obj;
  mp_engine_t *engine;
  int processes;
  int threads;
  double task_timeout; /* seconds per task, negative: none */
  mp_mutex_t mu;
  int closed, terminated;
};

struct mproc_async_result {
  mp_object_t obj;
  mp_job_t *job;
};

struct mproc_imap {
  mp_object_t obj;
  mp_job_t *job;
  /* A stream (mproc_pool_imap_iter): the job's slots are a ring. */
  int stream;
  mproc_pool_t *pool;
  mproc_function_fn fn;
  mproc_item_source_fn source;
  void *ctx;
  size_t chunksize;
  size_t submitted; /* items handed to the pool */
  int exhausted;
  mproc_status_t source_status; /* the source's failure, given at the end */
  char *source_message;
  /* Unordered: results are taken out of slot order, so the ring is cut in
   * bays of chunksize slots, each reused only once all of its results
   * were taken (items not taken yet per bay). */
  size_t *bay_left;
  size_t nbays;
};

static mproc_status_t free_pool_obj(void *p) { return mproc_pool_free(p); }
static mproc_status_t free_result_obj(void *p) {
  return mproc_async_result_free(p);
}
static mproc_status_t free_imap_obj(void *p) { return mproc_imap_free(p); }

static mp_object_ops_t pool_ops = {.kind = "pool", .free = free_pool_obj};
static mp_object_ops_t async_result_ops = {.kind = "async_result",
                                           .free = free_result_obj};
static mp_object_ops_t imap_ops = {.kind = "imap_iterator",
                                   .free = free_imap_obj};
MP_OBJECT_KIND(pool_ops)
MP_OBJECT_KIND(async_result_ops)
MP_OBJECT_KIND(imap_ops)

/* ---- creating ------------------------------------------------------- */

mproc_status_t mproc_pool_options_init(mproc_pool_options_t *opts) {
  MP_REQUIRE(opts, "pool_options_init");
  memset(opts, 0, sizeof *opts);
  opts->processes = MPROC_POOL_DEFAULT_PROCESSES;
  return MPROC_OK;
}

mproc_status_t mproc_pool_create_ex(mproc_pool_t **out,
                                    const mproc_pool_options_t *opts) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "pool_create: out");
  MP_REQUIRE(opts, "pool_create: opts");
  int n = opts->processes;
  if (n == MPROC_POOL_DEFAULT_PROCESSES) {
    n = mp_usable_cpu_count();
    if (n < 1) n = 1;
  } else if (n < 1) {
    return mp_fail(MPROC_EINVAL,
                   "pool_create: processes must be at least 1 (got %d; "
                   "MPROC_POOL_DEFAULT_PROCESSES for the CPU count)",
                   n);
  }
  if (opts->initargs) MP_CHECK_PAYLOAD(opts->initargs, "pool_create: initargs");
  mp_engine_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.processes = n;
  cfg.threads = opts->threads != 0;
  cfg.initializer = opts->initializer;
  cfg.initargs = opts->initargs;
  cfg.maxtasks = opts->maxtasksperchild;
  cfg.max_memory = opts->max_memory_per_child;
  cfg.context = opts->context;
  if (cfg.context == NULL) {
    /* The default as it is now: the workers of one pool share a method. */
    st = mproc_get_context(NULL, &cfg.context);
    if (st != MPROC_OK) return st;
  }
  mproc_pool_t *pool = mp_object_alloc(sizeof *pool);
  if (pool == NULL) return mp_fail(MPROC_ENOMEM, "pool_create");
  st = mp_engine_create(&pool->engine, &cfg);
  if (st != MPROC_OK) {
    mp_object_release(pool);
    return st;
  }
  mp_object_init(&pool->obj, &pool_ops);
  pool->processes = n;
  pool->threads = cfg.threads;
  pool->task_timeout = -1;
  *out = pool;
  return MPROC_OK;
}

mproc_status_t mproc_pool_create(mproc_pool_t **out, int processes) {
  mproc_pool_options_t opts;
  mproc_pool_options_init(&opts);
  opts.processes = processes;
  return mproc_pool_create_ex(out, &opts);
}

mproc_status_t mproc_thread_pool_create(mproc_pool_t **out, int processes) {
  mproc_pool_options_t opts;
  mproc_pool_options_init(&opts);
  opts.processes = processes;
  opts.threads = 1;
  return mproc_pool_create_ex(out, &opts);
}

mproc_status_t mproc_pool_processes(const mproc_pool_t *pool, int *out) {
  MP_CHECK_KIND(pool, &pool_ops, "pool_processes");
  MP_REQUIRE(out, "pool_processes: out");
  *out = pool->processes;
  return MPROC_OK;
}

mproc_status_t mproc_pool_worker_pids(mproc_pool_t *pool, long *out,
                                      size_t cap, size_t *count) {
  MP_CHECK_KIND(pool, &pool_ops, "pool_worker_pids");
  MP_REQUIRE(count, "pool_worker_pids: count");
  if (out == NULL && cap > 0)
    return mp_fail(MPROC_EINVAL, "pool_worker_pids: NULL out with cap > 0");
  return mp_engine_worker_pids(pool->engine, out, cap, count);
}

mproc_status_t mproc_pool_set_task_timeout(mproc_pool_t *pool,
                                           double seconds) {
  MP_CHECK_KIND(pool, &pool_ops, "pool_set_task_timeout");
  if (isnan(seconds))
    return mp_fail(MPROC_EINVAL, "pool_set_task_timeout: NaN");
  if (pool->threads && seconds >= 0)
    return mp_fail(MPROC_ENOTSUP,
                   "pool_set_task_timeout: a thread cannot be killed (a "
                   "ThreadPool has no per-task timeout)");
  mp_mutex_lock(&pool->mu);
  pool->task_timeout = seconds < 0 ? -1 : seconds;
  mp_mutex_unlock(&pool->mu);
  return MPROC_OK;
}

/* ---- submitting ----------------------------------------------------- */

static mproc_status_t usable(mproc_pool_t *pool, const char *call) {
  mp_mutex_lock(&pool->mu);
  int closed = pool->closed, terminated = pool->terminated;
  mp_mutex_unlock(&pool->mu);
  if (terminated)
    return mp_fail(MPROC_ESTATE, "%s: the pool is terminated", call);
  if (closed)
    return mp_fail(MPROC_ESTATE, "%s: the pool is closed (Pool not running)",
                   call);
  return MPROC_OK;
}

/* Fails the slots of job that no task will fill (a submit failed midway). */
static void fail_unsubmitted(mp_job_t *job, size_t from, mproc_status_t st,
                             const char *msg) {
  mp_mutex_lock(&job->mu);
  for (size_t i = from; i < job->n; i++) {
    if (job->done[i]) continue;
    job->done[i] = 1;
    job->statuses[i] = st;
    job->messages[i] = mp_strdup(msg);
    job->ndone++;
    job->order[job->norder++ % (job->n ? job->n : 1)] = i;
  }
  if (!job->complete && (job->kind == MP_JOB_SINGLE || job->kind == MP_JOB_LIST)) {
    job->complete = 1;
    job->status = st;
    job->message = mp_strdup(msg);
  }
  mp_cond_broadcast(&job->cv);
  mp_mutex_unlock(&job->mu);
}

static size_t default_chunksize(size_t n, int processes) {
  /* CPython: chunksize, extra = divmod(len, len(pool) * 4); if extra: +1 */
  size_t d = (size_t)processes * 4;
  size_t c = n / d;
  if (n % d) c++;
  return c;
}

/* Checks items (a list; of lists for starmap) and fn. */
static mproc_status_t check_items(mproc_pool_t *pool, mproc_function_fn fn,
                                  const mproc_obj_t *items, size_t chunksize,
                                  int star, const char *call) {
  MP_CHECK_KIND(pool, &pool_ops, call);
  if (fn == NULL) return mp_fail(MPROC_EINVAL, "%s: NULL fn", call);
  MP_CHECK_PAYLOAD(items, call);
  if (items->kind != MPROC_LIST)
    return mp_fail(MPROC_EINVAL, "%s: items must be a list, not a %s", call,
                   mp_kind_name(items->kind));
  if (chunksize == 0)
    return mp_fail(MPROC_EINVAL,
                   "%s: chunksize must be at least 1 "
                   "(MPROC_DEFAULT_CHUNKSIZE for the default)",
                   call);
  if (star)
    for (size_t i = 0; i < items->len; i++)
      if (items->u.items[i]->kind != MPROC_LIST)
        return mp_fail(MPROC_EINVAL,
                       "%s: item %zu is a %s, not an argument list", call, i,
                       mp_kind_name(items->u.items[i]->kind));
  mproc_status_t st = usable(pool, call);
  if (st != MPROC_OK) return st;
  return mp_engine_check_function(pool->engine, fn, call);
}

static double task_timeout(mproc_pool_t *pool) {
  mp_mutex_lock(&pool->mu);
  double t = pool->task_timeout;
  mp_mutex_unlock(&pool->mu);
  return t;
}

/* The per-task timeout of a call with options o (checked). */
static double call_timeout(mproc_pool_t *pool, const mproc_async_options_t *o) {
  if (o->task_timeout == MPROC_POOL_TIMEOUT) return task_timeout(pool);
  return o->task_timeout < 0 ? -1 : o->task_timeout;
}

mproc_status_t mproc_async_options_init(mproc_async_options_t *opts) {
  MP_REQUIRE(opts, "async_options_init");
  memset(opts, 0, sizeof *opts);
  opts->task_timeout = MPROC_POOL_TIMEOUT;
  return MPROC_OK;
}

/* MPROC_OK when opts (NULL: the defaults) can be used on pool. */
static mproc_status_t check_options(mproc_pool_t *pool,
                                    const mproc_async_options_t *o,
                                    const char *call) {
  double t = o->task_timeout;
  if (isnan(t) || (t < 0 && t != MPROC_FOREVER && t != MPROC_POOL_TIMEOUT))
    return mp_fail(MPROC_EINVAL,
                   "%s: task_timeout %g (seconds, MPROC_FOREVER or "
                   "MPROC_POOL_TIMEOUT)",
                   call, t);
  if (t >= 0 && pool->threads)
    return mp_fail(MPROC_ENOTSUP,
                   "%s: a task timeout on a ThreadPool (a thread cannot be "
                   "killed)",
                   call);
  return MPROC_OK;
}

/* Submits items in chunks to a new job of kind. */
static mproc_status_t submit_items(mproc_pool_t *pool, int kind,
                                   mproc_function_fn fn,
                                   const mproc_obj_t *items, size_t chunksize,
                                   const mproc_async_options_t *o,
                                   mp_job_t **out) {
  mproc_callback_fn callback = o->callback;
  void *ctx = o->ctx;
  size_t n = items->len;
  if (chunksize == MPROC_DEFAULT_CHUNKSIZE)
    chunksize = (kind == MP_JOB_IMAP || kind == MP_JOB_UNORDERED)
                    ? 1
                    : default_chunksize(n, pool->processes);
  mp_job_t *job = mp_job_new(kind, n);
  if (job == NULL) return mp_fail(MPROC_ENOMEM, "pool: a job");
  job->callback = callback;
  job->error_callback = o->error_callback;
  job->ctx = ctx;
  double timeout = call_timeout(pool, o);
  if (n == 0) {
    if (kind == MP_JOB_LIST) {
      job->value = job->list; /* made with the job */
      job->list = NULL;
      job->complete = 1;
      job->status = MPROC_OK;
      if (callback) callback(job->value, ctx);
    }
    *out = job;
    return MPROC_OK;
  }
  for (size_t first = 0; first < n; first += chunksize) {
    size_t len = n - first < chunksize ? n - first : chunksize;
    mproc_status_t st =
        mp_engine_submit(pool->engine, job, fn, items, first, len, NULL, timeout);
    if (st != MPROC_OK) {
      if (first == 0) {
        mp_job_unref(job);
        return st;
      }
      fail_unsubmitted(job, first, st, mproc_last_error());
      break;
    }
  }
  *out = job;
  return MPROC_OK;
}

static mproc_status_t wrap_result(mp_job_t *job, mproc_async_result_t **out) {
  mproc_async_result_t *r = mp_object_alloc(sizeof *r);
  if (r == NULL) {
    mp_job_unref(job);
    return mp_fail(MPROC_ENOMEM, "pool: an async result");
  }
  mp_object_init(&r->obj, &async_result_ops);
  r->job = job;
  *out = r;
  return MPROC_OK;
}

static mproc_status_t apply_async(mproc_async_result_t **out,
                                  mproc_pool_t *pool, mproc_function_fn fn,
                                  const mproc_obj_t *args,
                                  const mproc_async_options_t *o,
                                  const char *call) {
  MP_REQUIRE(out, call);
  MP_CHECK_KIND(pool, &pool_ops, call);
  if (fn == NULL) return mp_fail(MPROC_EINVAL, "%s: NULL fn", call);
  if (args) MP_CHECK_PAYLOAD(args, call);
  mproc_status_t st = check_options(pool, o, call);
  if (st == MPROC_OK) st = usable(pool, call);
  if (st == MPROC_OK) st = mp_engine_check_function(pool->engine, fn, call);
  if (st != MPROC_OK) return st;
  mp_job_t *job = mp_job_new(MP_JOB_SINGLE, 1);
  if (job == NULL) return mp_fail(MPROC_ENOMEM, "%s", call);
  job->callback = o->callback;
  job->error_callback = o->error_callback;
  job->ctx = o->ctx;
  /* No callback to run in the result thread: the task may go straight to
   * an idle worker, its reply read by get/wait/ready (wait_job). */
  job->direct = o->callback == NULL && o->error_callback == NULL;
  st = mp_engine_submit(pool->engine, job, fn, NULL, 0, 1, args,
                        call_timeout(pool, o));
  if (st != MPROC_OK) {
    mp_job_unref(job);
    return st;
  }
  return wrap_result(job, out);
}

/* The defaults, with these callbacks (the calls without options). */
static mproc_async_options_t with_callbacks(mproc_callback_fn callback,
                                            mproc_error_callback_fn error_cb,
                                            void *ctx) {
  mproc_async_options_t o;
  mproc_async_options_init(&o);
  o.callback = callback;
  o.error_callback = error_cb;
  o.ctx = ctx;
  return o;
}

mproc_status_t mproc_pool_apply_async(mproc_async_result_t **out,
                                      mproc_pool_t *pool, mproc_function_fn fn,
                                      const mproc_obj_t *args,
                                      mproc_callback_fn callback,
                                      mproc_error_callback_fn error_callback,
                                      void *ctx) {
  mproc_async_options_t o = with_callbacks(callback, error_callback, ctx);
  return apply_async(out, pool, fn, args, &o, "pool_apply_async");
}

mproc_status_t mproc_pool_apply_async_opts(mproc_async_result_t **out,
                                           mproc_pool_t *pool,
                                           mproc_function_fn fn,
                                           const mproc_obj_t *args,
                                           const mproc_async_options_t *opts) {
  MP_REQUIRE(opts, "pool_apply_async_opts: opts");
  return apply_async(out, pool, fn, args, opts, "pool_apply_async_opts");
}

static mproc_status_t map_async(mproc_async_result_t **out,
                                mproc_pool_t *pool, mproc_function_fn fn,
                                const mproc_obj_t *items, size_t chunksize,
                                const mproc_async_options_t *o, int star,
                                const char *call) {
  MP_REQUIRE(out, call);
  mproc_status_t st = check_items(pool, fn, items, chunksize, star, call);
  if (st == MPROC_OK) st = check_options(pool, o, call);
  if (st != MPROC_OK) return st;
  mp_job_t *job;
  st = submit_items(pool, MP_JOB_LIST, fn, items, chunksize, o, &job);
  if (st != MPROC_OK) return st;
  return wrap_result(job, out);
}

mproc_status_t mproc_pool_map_async(mproc_async_result_t **out,
                                    mproc_pool_t *pool, mproc_function_fn fn,
                                    const mproc_obj_t *items, size_t chunksize,
                                    mproc_callback_fn callback,
                                    mproc_error_callback_fn error_callback,
                                    void *ctx) {
  mproc_async_options_t o = with_callbacks(callback, error_callback, ctx);
  return map_async(out, pool, fn, items, chunksize, &o, 0, "pool_map_async");
}

mproc_status_t mproc_pool_starmap_async(
    mproc_async_result_t **out, mproc_pool_t *pool, mproc_function_fn fn,
    const mproc_obj_t *items, size_t chunksize, mproc_callback_fn callback,
    mproc_error_callback_fn error_callback, void *ctx) {
  mproc_async_options_t o = with_callbacks(callback, error_callback, ctx);
  return map_async(out, pool, fn, items, chunksize, &o, 1,
                   "pool_starmap_async");
}

mproc_status_t mproc_pool_map_async_opts(mproc_async_result_t **out,
                                         mproc_pool_t *pool,
                                         mproc_function_fn fn,
                                         const mproc_obj_t *items,
                                         size_t chunksize,
                                         const mproc_async_options_t *opts) {
  MP_REQUIRE(opts, "pool_map_async_opts: opts");
  return map_async(out, pool, fn, items, chunksize, opts, 0,
                   "pool_map_async_opts");
}

mproc_status_t mproc_pool_starmap_async_opts(
    mproc_async_result_t **out, mproc_pool_t *pool, mproc_function_fn fn,
    const mproc_obj_t *items, size_t chunksize,
    const mproc_async_options_t *opts) {
  MP_REQUIRE(opts, "pool_starmap_async_opts: opts");
  return map_async(out, pool, fn, items, chunksize, opts, 1,
                   "pool_starmap_async_opts");
}

/* Waits on job->cv until ready(job) or the deadline; with job->mu held.
 * A task sent straight to a worker (job->lane) has its reply read here
 * (mp_job_collect), unless another waiter reads it. */
static mproc_status_t wait_job(mp_job_t *job, int (*ready)(const mp_job_t *),
                               double timeout, const char *call) {
  double deadline = mp_deadline(timeout);
  while (!ready(job)) {
    double left = mp_time_left(deadline);
    int expired = deadline >= 0 && left <= 0;
    if (job->lane) {
      mp_mutex_unlock(&job->mu);
      int waited = mp_job_collect(
          job, deadline < 0 ? MPROC_FOREVER : (expired ? 0 : left));
      mp_mutex_lock(&job->mu);
      if (waited && !expired) continue;
      if (ready(job)) break;
    }
    if (expired)
      return mp_fail(MPROC_ETIMEDOUT, "%s: not ready within %g s", call,
                     timeout);
    mp_cond_wait(&job->cv, &job->mu, left);
  }
  return MPROC_OK;
}

static int job_complete(const mp_job_t *job) { return job->complete; }

/* Waits for r's job to complete: MPROC_OK when it has a value (complete:
 * status, message and value no longer change), else its failure. */
static mproc_status_t settled_value(mproc_async_result_t *r, double timeout,
                                    const char *call) {
  mproc_status_t st = mp_check_timeout(timeout, call);
  if (st != MPROC_OK) return st;
  mp_job_t *job = r->job;
  mp_mutex_lock(&job->mu);
  st = wait_job(job, job_complete, timeout, call);
  mp_mutex_unlock(&job->mu);
  if (st != MPROC_OK) return st;
  if (job->status != MPROC_OK)
    return mp_fail(job->status, "%s", job->message ? job->message : "");
  return MPROC_OK;
}

static mproc_status_t get_and_free(mproc_async_result_t *r, mproc_obj_t **out,
                                   double timeout) {
  mproc_status_t st = settled_value(r, timeout, "async_result_get");
  if (st == MPROC_OK) {
    /* Nobody else sees r (no callback either): move the value out. */
    mp_job_t *job = r->job;
    mp_mutex_lock(&job->mu);
    *out = job->value;
    job->value = NULL;
    mp_mutex_unlock(&job->mu);
    mproc_async_result_free(r);
    return MPROC_OK;
  }
  char detail[1024];
  strncpy(detail, mp_strip_status(st, mproc_last_error()), sizeof detail - 1);
  detail[sizeof detail - 1] = '\0';
  mproc_async_result_free(r);
  return mp_fail(st, "%s", detail);
}

mproc_status_t mproc_pool_apply(mproc_pool_t *pool, mproc_function_fn fn,
                                const mproc_obj_t *args, mproc_obj_t **out,
                                double timeout) {
  MP_REQUIRE(out, "pool_apply: out");
  mproc_status_t st = mp_check_timeout(timeout, "pool_apply");
  if (st != MPROC_OK) return st;
  mproc_async_result_t *r;
  st = mproc_pool_apply_async(&r, pool, fn, args, NULL, NULL, NULL);
  if (st != MPROC_OK) return st;
  return get_and_free(r, out, timeout);
}

static mproc_status_t map_sync(mproc_pool_t *pool, mproc_function_fn fn,
                               const mproc_obj_t *items, size_t chunksize,
                               mproc_obj_t **out, double timeout, int star,
                               const char *call) {
  MP_REQUIRE(out, call);
  mproc_status_t st = mp_check_timeout(timeout, call);
  if (st != MPROC_OK) return st;
  mproc_async_result_t *r;
  mproc_async_options_t o;
  mproc_async_options_init(&o);
  st = map_async(&r, pool, fn, items, chunksize, &o, star, call);
  if (st != MPROC_OK) return st;
  return get_and_free(r, out, timeout);
}

mproc_status_t mproc_pool_map(mproc_pool_t *pool, mproc_function_fn fn,
                              const mproc_obj_t *items, size_t chunksize,
                              mproc_obj_t **out, double timeout) {
  return map_sync(pool, fn, items, chunksize, out, timeout, 0, "pool_map");
}

mproc_status_t mproc_pool_starmap(mproc_pool_t *pool, mproc_function_fn fn,
                                  const mproc_obj_t *items, size_t chunksize,
                                  mproc_obj_t **out, double timeout) {
  return map_sync(pool, fn, items, chunksize, out, timeout, 1, "pool_starmap");
}

static mproc_status_t imap(mproc_imap_t **out, mproc_pool_t *pool,
                           mproc_function_fn fn, const mproc_obj_t *items,
                           size_t chunksize, int kind, const char *call) {
  MP_REQUIRE(out, call);
  mproc_status_t st = check_items(pool, fn, items, chunksize, 0, call);
  if (st != MPROC_OK) return st;
  mp_job_t *job;
  mproc_async_options_t o;
  mproc_async_options_init(&o);
  st = submit_items(pool, kind, fn, items, chunksize, &o, &job);
  if (st != MPROC_OK) return st;
  mproc_imap_t *it = mp_object_alloc(sizeof *it);
  if (it == NULL) {
    mp_job_unref(job);
    return mp_fail(MPROC_ENOMEM, "%s", call);
  }
  mp_object_init(&it->obj, &imap_ops);
  it->job = job;
  *out = it;
  return MPROC_OK;
}

mproc_status_t mproc_pool_imap(mproc_imap_t **out, mproc_pool_t *pool,
                               mproc_function_fn fn, const mproc_obj_t *items,
                               size_t chunksize) {
  return imap(out, pool, fn, items, chunksize, MP_JOB_IMAP, "pool_imap");
}

mproc_status_t mproc_pool_imap_unordered(mproc_imap_t **out,
                                         mproc_pool_t *pool,
                                         mproc_function_fn fn,
                                         const mproc_obj_t *items,
                                         size_t chunksize) {
  return imap(out, pool, fn, items, chunksize, MP_JOB_UNORDERED,
              "pool_imap_unordered");
}

/* ---- results -------------------------------------------------------- */


mproc_status_t mproc_async_result_get(mproc_async_result_t *r,
                                      mproc_obj_t **out, double timeout) {
  MP_CHECK_KIND(r, &async_result_ops, "async_result_get");
  MP_REQUIRE(out, "async_result_get: out");
  mproc_status_t st = settled_value(r, timeout, "async_result_get");
  if (st != MPROC_OK) return st;
  return mproc_obj_copy(out, r->job->value);
}

mproc_status_t mproc_async_result_wait(mproc_async_result_t *r,
                                       double timeout) {
  MP_CHECK_KIND(r, &async_result_ops, "async_result_wait");
  mproc_status_t st = mp_check_timeout(timeout, "async_result_wait");
  if (st != MPROC_OK) return st;
  mp_mutex_lock(&r->job->mu);
  st = wait_job(r->job, job_complete, timeout, "async_result_wait");
  mp_mutex_unlock(&r->job->mu);
  return st;
}

mproc_status_t mproc_async_result_ready(mproc_async_result_t *r, int *out) {
  MP_CHECK_KIND(r, &async_result_ops, "async_result_ready");
  MP_REQUIRE(out, "async_result_ready: out");
  (void)mp_job_collect(r->job, 0); /* a reply waiting for its reader */
  mp_mutex_lock(&r->job->mu);
  *out = r->job->complete;
  mp_mutex_unlock(&r->job->mu);
  return MPROC_OK;
}

mproc_status_t mproc_async_result_successful(mproc_async_result_t *r,
                                             int *out) {
  MP_CHECK_KIND(r, &async_result_ops, "async_result_successful");
  MP_REQUIRE(out, "async_result_successful: out");
  (void)mp_job_collect(r->job, 0);
  mp_mutex_lock(&r->job->mu);
  int complete = r->job->complete;
  mproc_status_t status = r->job->status;
  mp_mutex_unlock(&r->job->mu);
  if (!complete)
    return mp_fail(MPROC_ESTATE, "async_result_successful: not ready yet");
  *out = status == MPROC_OK;
  return MPROC_OK;
}

mproc_status_t mproc_async_result_free(mproc_async_result_t *r) {
  if (r == NULL) return MPROC_OK;
  MP_CHECK_KIND(r, &async_result_ops, "async_result_free");
  mp_job_t *job = r->job;
  mp_object_release(r);
  mp_job_unref(job);
  return MPROC_OK;
}

static int imap_ready(const mp_job_t *job) {
  if (job->next >= job->n) return 1;
  if (job->kind == MP_JOB_UNORDERED) return job->norder > job->next;
  return job->done[job->next];
}

mproc_status_t mproc_pool_imap_iter(mproc_imap_t **out, mproc_pool_t *pool,
                                    mproc_function_fn fn,
                                    mproc_item_source_fn source, void *ctx,
                                    size_t chunksize, size_t buffersize,
                                    int ordered) {
  MP_REQUIRE(out, "pool_imap_iter: out");
  MP_CHECK_KIND(pool, &pool_ops, "pool_imap_iter");
  if (fn == NULL || source == NULL)
    return mp_fail(MPROC_EINVAL, "pool_imap_iter: NULL fn or source");
  if (chunksize == MPROC_DEFAULT_CHUNKSIZE) chunksize = 1;
  if (chunksize == 0 || buffersize == 0)
    return mp_fail(MPROC_EINVAL,
                   "pool_imap_iter: chunksize and buffersize must be at "
                   "least 1");
  if (buffersize < chunksize) buffersize = chunksize;
  if (buffersize % chunksize) buffersize += chunksize - buffersize % chunksize;
  mproc_status_t st = usable(pool, "pool_imap_iter");
  if (st == MPROC_OK)
    st = mp_engine_check_function(pool->engine, fn, "pool_imap_iter");
  if (st != MPROC_OK) return st;
  mp_job_t *job =
      mp_job_new(ordered ? MP_JOB_IMAP : MP_JOB_UNORDERED, buffersize);
  if (job == NULL) return mp_fail(MPROC_ENOMEM, "pool_imap_iter");
  mproc_imap_t *it = mp_object_alloc(sizeof *it);
  if (it == NULL) {
    mp_job_unref(job);
    return mp_fail(MPROC_ENOMEM, "pool_imap_iter");
  }
  if (!ordered) {
    it->nbays = buffersize / chunksize;
    it->bay_left = calloc(it->nbays, sizeof *it->bay_left);
    if (it->bay_left == NULL) {
      mp_object_release(it);
      mp_job_unref(job);
      return mp_fail(MPROC_ENOMEM, "pool_imap_iter");
    }
  }
  mp_object_init(&it->obj, &imap_ops);
  it->job = job;
  it->stream = 1;
  it->pool = pool;
  it->fn = fn;
  it->source = source;
  it->ctx = ctx;
  it->chunksize = chunksize;
  *out = it;
  return MPROC_OK;
}

/* Pulls items from the source and submits them while the ring has room
 * for a whole chunk: at most buffersize items are in flight. */
static void stream_refill(mproc_imap_t *it) {
  mp_job_t *job = it->job;
  while (!it->exhausted && it->submitted - job->next + it->chunksize <= job->n) {
    size_t slot = it->submitted % job->n;
    if (it->bay_left) {
      size_t b = 0;
      while (b < it->nbays && it->bay_left[b] != 0) b++;
      if (b == it->nbays) break; /* every bay holds results not taken */
      slot = b * it->chunksize;
    }
    mproc_obj_t *chunk = mp_obj_new(MPROC_LIST);
    mproc_status_t st = chunk ? MPROC_OK : mp_fail(MPROC_ENOMEM, "imap_next");
    while (st == MPROC_OK && chunk->len < it->chunksize) {
      mproc_obj_t *item = NULL;
      st = it->source(it->ctx, &item);
      if (st != MPROC_OK) break;
      if (item == NULL && mproc_obj_none(&item) != MPROC_OK) {
        st = mp_fail(MPROC_ENOMEM, "imap_next: an item");
        break;
      }
      if (mp_payload_check(item, "imap_next: the source's item") != MPROC_OK ||
          mproc_obj_list_append(chunk, item) != MPROC_OK) {
        st = mp_fail(MPROC_EINVAL,
                     "imap_next: the source gave no free-standing value");
        break;
      }
    }
    if (st != MPROC_OK) {
      it->exhausted = 1;
      if (st != MPROC_EOF) {
        it->source_status = st;
        it->source_message = mp_strdup(mp_strip_status(st, mproc_last_error()));
      }
    }
    if (chunk && chunk->len > 0) {
      if (it->bay_left) it->bay_left[slot / it->chunksize] = chunk->len;
      st = mp_engine_submit_at(it->pool->engine, job, it->fn, chunk, 0,
                               chunk->len, slot, task_timeout(it->pool));
      if (st != MPROC_OK) {
        /* The pool closed under the stream: those items fail. */
        mp_mutex_lock(&job->mu);
        for (size_t i = 0; i < chunk->len; i++) {
          job->done[slot + i] = 1;
          job->statuses[slot + i] = st;
          job->messages[slot + i] =
              mp_strdup(mp_strip_status(st, mproc_last_error()));
          job->order[job->norder++ % job->n] = slot + i;
        }
        mp_mutex_unlock(&job->mu);
        it->exhausted = 1;
      }
      it->submitted += chunk->len;
    }
    mp_obj_destroy(chunk);
  }
}

static int stream_ready(const mp_job_t *job) {
  if (job->kind == MP_JOB_UNORDERED) return job->norder > job->next;
  return job->done[job->next % job->n];
}

static mproc_status_t stream_next(mproc_imap_t *it, mproc_obj_t **out,
                                  double timeout) {
  mp_job_t *job = it->job;
  stream_refill(it);
  if (job->next == it->submitted) {
    if (it->source_status != MPROC_OK) {
      mproc_status_t st = it->source_status;
      it->source_status = MPROC_OK;
      return mp_fail(st, "imap_next: the item source failed: %s",
                     it->source_message ? it->source_message : "");
    }
    return mp_fail(MPROC_EOF, "imap_next: no more results");
  }
  mp_mutex_lock(&job->mu);
  mproc_status_t st = wait_job(job, stream_ready, timeout, "imap_next");
  if (st == MPROC_OK) {
    size_t slot = job->kind == MP_JOB_UNORDERED ? job->order[job->next % job->n]
                                                : job->next % job->n;
    job->next++;
    if (job->statuses[slot] == MPROC_OK) {
      *out = job->results[slot];
    } else {
      st = mp_fail(job->statuses[slot], "%s",
                   job->messages[slot] ? job->messages[slot] : "");
    }
    job->results[slot] = NULL;
    free(job->messages[slot]);
    job->messages[slot] = NULL;
    job->done[slot] = 0;
    if (it->bay_left) it->bay_left[slot / it->chunksize]--;
  }
  mp_mutex_unlock(&job->mu);
  return st;
}

mproc_status_t mproc_imap_next(mproc_imap_t *it, mproc_obj_t **out,
                               double timeout) {
  MP_CHECK_KIND(it, &imap_ops, "imap_next");
  MP_REQUIRE(out, "imap_next: out");
  mproc_status_t st = mp_check_timeout(timeout, "imap_next");
  if (st != MPROC_OK) return st;
  if (it->stream) return stream_next(it, out, timeout);
  mp_job_t *job = it->job;
  mp_mutex_lock(&job->mu);
  st = wait_job(job, imap_ready, timeout, "imap_next");
  if (st == MPROC_OK && job->next >= job->n) {
    st = mp_fail(MPROC_EOF, "imap_next: no more results");
  } else if (st == MPROC_OK) {
    size_t slot =
        job->kind == MP_JOB_UNORDERED ? job->order[job->next] : job->next;
    job->next++;
    if (job->statuses[slot] == MPROC_OK) {
      *out = job->results[slot];
      job->results[slot] = NULL;
    } else {
      st = mp_fail(job->statuses[slot], "%s",
                   job->messages[slot] ? job->messages[slot] : "");
    }
  }
  mp_mutex_unlock(&job->mu);
  return st;
}

mproc_status_t mproc_imap_free(mproc_imap_t *it) {
  if (it == NULL) return MPROC_OK;
  MP_CHECK_KIND(it, &imap_ops, "imap_free");
  mp_job_t *job = it->job;
  free(it->source_message);
  free(it->bay_left);
  mp_object_release(it);
  mp_job_unref(job);
  return MPROC_OK;
}

/* ---- ending --------------------------------------------------------- */

mproc_status_t mproc_pool_close(mproc_pool_t *pool) {
  MP_CHECK_KIND(pool, &pool_ops, "pool_close");
  mp_mutex_lock(&pool->mu);
  pool->closed = 1;
  mp_mutex_unlock(&pool->mu);
  mp_engine_close(pool->engine);
  return MPROC_OK;
}

mproc_status_t mproc_pool_terminate(mproc_pool_t *pool) {
  MP_CHECK_KIND(pool, &pool_ops, "pool_terminate");
  mp_mutex_lock(&pool->mu);
  pool->closed = 1;
  pool->terminated = 1;
  mp_mutex_unlock(&pool->mu);
  mp_engine_terminate(pool->engine);
  return MPROC_OK;
}

mproc_status_t mproc_pool_join(mproc_pool_t *pool, double timeout) {
  MP_CHECK_KIND(pool, &pool_ops, "pool_join");
  mproc_status_t st = mp_check_timeout(timeout, "pool_join");
  if (st != MPROC_OK) return st;
  return mp_engine_join(pool->engine, timeout);
}

mproc_status_t mproc_pool_free(mproc_pool_t *pool) {
  if (pool == NULL) return MPROC_OK;
  MP_CHECK_KIND(pool, &pool_ops, "pool_free");
  mp_engine_free(pool->engine);
  pool->engine = NULL;
  mp_mutex_destroy(&pool->mu);
  mp_object_release(pool);
  return MPROC_OK;
}

/* ---- the zero-copy typed map ---------------------------------------- */

mproc_status_t mproc_pool_map_shared(mproc_pool_t *pool,
                                     mproc_kernel_fn kernel,
                                     mproc_shared_memory_t *in,
                                     size_t in_size,
                                     mproc_shared_memory_t *out,
                                     size_t out_size, size_t count,
                                     size_t chunksize, double timeout) {
  MP_CHECK_KIND(pool, &pool_ops, "pool_map_shared");
  if (kernel == NULL) return mp_fail(MPROC_EINVAL, "pool_map_shared: NULL kernel");
  mproc_status_t st = mp_check_timeout(timeout, "pool_map_shared");
  if (st != MPROC_OK) return st;
  const char *in_name, *out_name;
  size_t in_len, out_len;
  if ((st = mproc_shared_memory_name(in, &in_name)) != MPROC_OK ||
      (st = mproc_shared_memory_size(in, &in_len)) != MPROC_OK ||
      (st = mproc_shared_memory_name(out, &out_name)) != MPROC_OK ||
      (st = mproc_shared_memory_size(out, &out_len)) != MPROC_OK)
    return st;
  if (in_size == 0 || out_size == 0 || chunksize == 0)
    return mp_fail(MPROC_EINVAL,
                   "pool_map_shared: element sizes and chunksize must be at "
                   "least 1");
  if ((in_size && count > in_len / in_size) ||
      (out_size && count > out_len / out_size))
    return mp_fail(MPROC_EINVAL,
                   "pool_map_shared: %zu elements do not fit a segment", count);
  if (pool->threads)
    return mp_fail(MPROC_ENOTSUP, "pool_map_shared: not on a ThreadPool");
  st = usable(pool, "pool_map_shared");
  if (st != MPROC_OK) return st;
  mproc_function_fn ref = (mproc_function_fn)(void (*)(void))kernel;
  st = mp_engine_check_function(pool->engine, ref, "pool_map_shared");
  if (st != MPROC_OK) return st;
  if (chunksize == MPROC_DEFAULT_CHUNKSIZE)
    chunksize = default_chunksize(count, pool->processes);
  if (count == 0) return MPROC_OK;
  size_t nchunks = (count + chunksize - 1) / chunksize;
  mp_job_t *job = mp_job_new(MP_JOB_LIST, nchunks);
  if (job == NULL) return mp_fail(MPROC_ENOMEM, "pool_map_shared");
  double per_task = task_timeout(pool);
  for (size_t c = 0; c < nchunks; c++) {
    size_t first = c * chunksize;
    size_t n = count - first < chunksize ? count - first : chunksize;
    st = mp_engine_submit_kernel(pool->engine, job, ref, in_name, in_size,
                                 out_name, out_size, first, n, c, per_task);
    if (st != MPROC_OK) {
      fail_unsubmitted(job, c, st, mp_strip_status(st, mproc_last_error()));
      break;
    }
  }
  mp_mutex_lock(&job->mu);
  st = wait_job(job, job_complete, timeout, "pool_map_shared");
  mproc_status_t status = job->status;
  char detail[1024] = "";
  if (st == MPROC_OK && status != MPROC_OK && job->message)
    snprintf(detail, sizeof detail, "%s", job->message);
  mp_mutex_unlock(&job->mu);
  if (st != MPROC_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", mp_strip_status(st, mproc_last_error()));
    mp_job_unref(job);
    return mp_fail(st, "%s", why);
  }
  mp_job_unref(job);
  if (status != MPROC_OK) return mp_fail(status, "%s", detail);
  return MPROC_OK;
}
