/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pool's task engine (core/pool_engine.h, docs/pool.md).
 *
 * Who owns what:
 *   - the caller's thread builds a task (the encoded message of a chunk, or
 *     for threads a copy of its items) and appends it to `pending` under
 *     the engine's mutex, then pokes the wake pipe;
 *   - the result thread touches the workers (but see the direct lane
 *     below): it pops pending tasks into idle workers (one task per worker
 *     at a time, so it always knows which task a worker holds), receives
 *     replies, fills the job's slots, runs callbacks (holding no lock),
 *     and replaces dead workers;
 *   - a job is shared by the caller's handle and its unfinished tasks
 *     (a reference count under the job's own mutex), so a result handle
 *     outlives the pool and a dropped handle outlives its tasks.
 *
 * The direct lane (an apply without callbacks, job->direct): when nothing
 * is pending and a worker is idle, the submitting thread sends the task
 * itself (lend, under the engine's mutex: one write of a small message
 * into the idle worker's empty pipe) and the worker holds it as `lent`;
 * the job's waiter (get, wait or ready: mp_job_collect) reads the reply
 * and fills the job. A call then costs two thread hops (caller -> worker
 * -> caller), as a hand-written farm does, instead of four through the
 * result thread. The rules that keep the result thread's view whole:
 *   - a worker is lent only while `idle` (under the mutex), which the
 *     result thread sets once it is done with the worker for the round
 *     (and a waiter that read a lent reply: the worker is then as the
 *     result thread left it), and clears before it looks at it again;
 *     dispatch claims a worker under the same mutex, so a worker never
 *     gets a task from both;
 *   - the result thread watches an idle or lent worker's process but not
 *     its connection (a lent task's reply would wake it for nothing);
 *   - it adopts a lent task (makes it its own `task`, reading the reply or
 *     seeing the worker's end as for any task) when tasks wait for a
 *     worker, when the pool closes, when the worker's process ends, or
 *     when a waiter gave it back broken; never while a waiter reads it
 *     (`reading`, under the job's mutex: the connection and process stay
 *     while it is set);
 *   - a waiter watches the worker's process too, with its own timeout: on
 *     a timeout it gives the task back as it was; when the worker ended
 *     without a reply it gives it back broken and wakes the result thread,
 *     which fails it (MPROC_EWORKERDIED, with the pid) and replaces the
 *     worker;
 *   - terminate (kill_workers) signals the workers whose lent task a
 *     waiter reads and waits for that waiter to see the end and give the
 *     task back, before it reaps anything;
 *   - pools that count or time tasks (maxtasksperchild, max memory, a
 *     task timeout) and thread pools never lend: the result thread counts
 *     and times what it sends.
 * Lock order: the engine's mutex, then a job's.
 *
 * The wire: parent -> worker  [1, fnref, [items...]] or [0] (quit);
 *           worker -> parent  [0, [results...]] or [status, "message"].
 * fnref is a registry key (str), or under fork an unregistered function's
 * address (int: the worker is a copy of this program's memory).
 */
#include "core/pool_engine.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/connection.h"
#include "core/error.h"
#include "core/internal.h"
#include "core/object.h"
#include "core/payload.h"
#include "core/task_registry.h"

/* ---- jobs ---------------------------------------------------------- */

static int slots_inside(const mp_job_t *job) {
  return job->statuses == &job->one.status;
}

static void free_slots(mp_job_t *job) {
  if (slots_inside(job)) return;
  free(job->results);
  free(job->statuses);
  free(job->messages);
  free(job->done);
  free(job->order);
}

/* Points the slot arrays of a one-slot job at its own fields, or
 * allocates them. 0: no memory. */
static int alloc_slots(mp_job_t *job, size_t slots) {
  /* (not a map: its list takes results as its items) */
  if (slots == 1 && job->kind != MP_JOB_LIST) {
    job->results = &job->one.result;
    job->statuses = &job->one.status;
    job->messages = &job->one.message;
    job->done = &job->one.done;
    job->order = &job->one.order;
    return 1;
  }
  job->results = calloc(slots, sizeof *job->results);
  job->statuses = calloc(slots, sizeof *job->statuses);
  job->messages = calloc(slots, sizeof *job->messages);
  job->done = calloc(slots, 1);
  job->order = calloc(slots, sizeof *job->order);
  if (job->results && job->statuses && job->messages && job->done &&
      job->order)
    return 1;
  free_slots(job);
  return 0;
}

mp_job_t *mp_job_new(int kind, size_t n) {
  mp_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return NULL;
  job->kind = kind;
  if (!alloc_slots(job, n ? n : 1)) {
    free(job);
    return NULL;
  }
  job->refs = 1;
  job->n = n;
  /* A map's result list, made now: each value is put in its slot with
   * this list as its parent already (while the value is in cache), so
   * completing the map hands the list the slots in O(1). */
  if (kind == MP_JOB_LIST && (job->list = mp_obj_new(MPROC_LIST)) == NULL) {
    mp_job_unref(job);
    return NULL;
  }
  return job;
}

void mp_job_ref(mp_job_t *job) {
  mp_mutex_lock(&job->mu);
  job->refs++;
  mp_mutex_unlock(&job->mu);
}

void mp_job_unref(mp_job_t *job) {
  if (job == NULL) return;
  mp_mutex_lock(&job->mu);
  int last = --job->refs == 0;
  mp_mutex_unlock(&job->mu);
  if (!last) return;
  for (size_t i = 0; i < job->n; i++) {
    if (job->results) mp_obj_destroy(job->results[i]);
    free(job->messages[i]);
  }
  mp_obj_destroy(job->list);
  mp_obj_destroy(job->value);
  free(job->message);
  free_slots(job);
  mp_cond_destroy(&job->cv);
  mp_mutex_destroy(&job->mu);
  free(job);
}

/* ---- tasks and workers ---------------------------------------------- */

typedef struct mp_task {
  struct mp_task *next;
  mp_job_t *job;
  size_t first, n;
  double timeout;
  void *msg; /* processes: the encoded message */
  size_t len;
  mproc_function_fn fn; /* threads: the function and a copy of the items */
  mproc_obj_t *args;
  mproc_obj_t *reply; /* threads: the worker's reply */
  /* Lent (the direct lane): the worker it was sent to. */
  struct mp_engine *engine;
  int worker;
  mproc_connection_t *conn;
  mproc_process_t *proc;
  int reading; /* a waiter reads its reply (under job->mu) */
  int broken;  /* a waiter gave it back without a reply (under job->mu) */
} mp_task_t;

typedef struct {
  mproc_process_t *proc;
  mproc_connection_t *conn;
  mp_thread_t *thread;
  long pid;
  mp_task_t *task; /* the task it runs (or reads next), or NULL */
  /* Sent after task, not started: MAX_BACKLOG at most, linked by next.
   * The worker reads one as soon as it replied, instead of idling for a
   * round trip through the result thread. NULL while task is NULL. */
  mp_task_t *backlog;
  int nbacklog;
  double deadline; /* of task, or -1 */
  double started;  /* when task became its task */
  unsigned long ntasks;
  int retiring; /* told to quit (maxtasksperchild) */
  int timed_out; /* killed for its task's timeout */
  /* Under the engine's mutex (the direct lane): */
  int idle;       /* published by the result thread: holds nothing, healthy;
                     a submitter may lend it a task */
  mp_task_t *lent; /* the task a submitter sent it, or NULL */
} worker_t;

struct mp_engine {
  mp_engine_config_t cfg;
  mproc_obj_t *initargs;
  void *worker_arg;
  size_t worker_arg_len;
  int forked; /* the context is fork: any function can travel */
  mp_mutex_t mu;
  mp_cond_t cv;
  mp_task_t *pending, *pending_tail;
  size_t npending;
  mp_task_t *finished, *finished_tail; /* threads: replies */
  size_t busy;                         /* threads: tasks being run */
  worker_t *workers;
  int nworkers;
  mproc_connection_t *wake_r, *wake_w;
  int wake_pending;
  int closed, terminating, finished_flag;
  int gentle; /* terminating: SIGTERM first (terminate_workers) */
  mproc_status_t start_failure;
  mp_thread_t *result_thread;
  double avg_task; /* seconds a task takes, a moving average; -1: none yet */
};

static void task_free(mp_task_t *t) {
  if (t == NULL) return;
  free(t->msg);
  mp_obj_destroy(t->args);
  mp_obj_destroy(t->reply);
  free(t);
}

/* mp_job_finish with the values in an array of nvalues values whose
 * parent is job->list already (NULL but for a map): those put in slots
 * are taken (their entry set to NULL), the caller destroys the rest. */
static void job_settle(mp_job_t *job, size_t first, size_t n,
                       mproc_status_t st, const char *msg,
                       mproc_obj_t **values, size_t nvalues) {
  int fire = 0;
  mp_mutex_lock(&job->mu);
  for (size_t i = 0; i < n; i++) {
    size_t slot = first + i;
    if (slot >= job->n || job->done[slot]) continue;
    if (st == MPROC_OK) {
      mproc_obj_t *v = NULL;
      if (i < nvalues) {
        v = values[i];
        values[i] = NULL;
      } else if ((v = mp_obj_new(MPROC_NONE)) != NULL) {
        v->parent = job->list; /* a map's: the list it will be in */
      }
      job->results[slot] = v;
      job->statuses[slot] = v ? MPROC_OK : MPROC_ENOMEM;
    } else {
      job->statuses[slot] = st;
      job->messages[slot] = mp_strdup(msg ? msg : mproc_strerror(st));
    }
    job->done[slot] = 1;
    job->ndone++;
    /* Completion order matters to imap_unordered only (and a modulo per
     * item costs a division). */
    if (job->kind == MP_JOB_UNORDERED)
      job->order[job->norder++ % (job->n ? job->n : 1)] = slot;
  }
  if ((job->kind == MP_JOB_SINGLE || job->kind == MP_JOB_LIST) &&
      !job->complete) {
    mproc_status_t failed = MPROC_OK;
    const char *failed_msg = NULL;
    for (size_t i = 0; i < n; i++) {
      size_t slot = first + i;
      if (slot < job->n && job->statuses[slot] != MPROC_OK) {
        failed = job->statuses[slot];
        failed_msg = job->messages[slot];
        break;
      }
    }
    if (failed != MPROC_OK) {
      job->complete = 1;
      job->status = failed;
      job->message = mp_strdup(failed_msg ? failed_msg : "");
      fire = 1;
    } else if (job->ndone == job->n) {
      job->complete = 1;
      if (job->kind == MP_JOB_SINGLE) {
        job->value = job->results[0];
        job->results[0] = NULL;
        job->status = job->value ? MPROC_OK : MPROC_ENOMEM;
      } else { /* the slots become the list's items, parents set */
        mproc_obj_t *list = job->list;
        list->u.items = job->results;
        list->len = list->cap = job->n;
        job->results = NULL;
        job->list = NULL;
        job->value = list;
        job->status = MPROC_OK;
      }
      if (job->status != MPROC_OK && job->message == NULL)
        job->message = mp_strdup("pool: out of memory");
      fire = 1;
    }
  }
  mproc_callback_fn cb = job->callback;
  mproc_error_callback_fn ecb = job->error_callback;
  void *ctx = job->ctx;
  /* apply/map waiters wait for completion only: waking them for every
   * task of a map would cost them a futex round each. */
  if (fire || job->kind == MP_JOB_IMAP || job->kind == MP_JOB_UNORDERED)
    mp_cond_broadcast(&job->cv);
  mp_mutex_unlock(&job->mu);
  /* Once complete, value/status/message no longer change (but for the
   * callback taking the value under mu: the executor's futures do). */
  if (fire) {
    if (job->status == MPROC_OK) {
      if (cb) cb(job->value, ctx);
    } else if (ecb) {
      ecb(job->status, job->message ? job->message : "", ctx);
    }
  }
  mp_job_unref(job);
}

void mp_job_finish(mp_job_t *job, size_t first, size_t n, mproc_status_t st,
                   const char *msg, mproc_obj_t *results) {
  if (results == NULL) {
    job_settle(job, first, n, st, msg, NULL, 0);
    return;
  }
  for (size_t i = 0; i < results->len; i++)
    results->u.items[i]->parent = job->list; /* set while there is no lock */
  job_settle(job, first, n, st, msg, results->u.items, results->len);
  /* The items taken are NULL: shrink the list before destroying it. */
  size_t keep = 0;
  for (size_t i = 0; i < results->len; i++)
    if (results->u.items[i]) results->u.items[keep++] = results->u.items[i];
  results->len = keep; /* (destroying sets the parents it walks) */
  mp_obj_destroy(results);
}

/* Fills the task's slots (mp_job_finish) and releases the task. */
static void finish_task(mp_task_t *t, mproc_status_t st, const char *msg,
                        mproc_obj_t *results) {
  mp_job_t *job = t->job;
  t->job = NULL;
  mp_job_finish(job, t->first, t->n, st, msg, results);
  task_free(t);
}

void mp_job_finish_reply(mp_job_t *job, size_t first, size_t n,
                         mproc_obj_t *reply) {
  int64_t code = -1;
  if (reply && reply->kind == MPROC_LIST && reply->len >= 2 &&
      reply->u.items[0]->kind == MPROC_INT)
    code = reply->u.items[0]->u.i;
  if (code == 0 && reply->u.items[1]->kind == MPROC_LIST) {
    mproc_obj_t *results = reply->u.items[1];
    reply->u.items[1] = reply->u.items[reply->len - 1];
    reply->len--;
    results->parent = NULL;
    mp_obj_destroy(reply);
    mp_job_finish(job, first, n, MPROC_OK, NULL, results);
    return;
  }
  char msg[1024];
  if (code > 0 && reply->u.items[1]->kind == MPROC_STR)
    snprintf(msg, sizeof msg, "%s", reply->u.items[1]->u.s);
  else
    snprintf(msg, sizeof msg, "pool: a malformed reply from a worker");
  mp_obj_destroy(reply);
  mp_job_finish(job, first, n, code > 0 ? MPROC_ETASK : MPROC_EBADMSG, msg,
                NULL);
}

/* A reply [status, payload] (a worker's, or a thread worker's). */
static void finish_with_reply(mp_task_t *t, mproc_obj_t *reply) {
  mp_job_t *job = t->job;
  t->job = NULL;
  mp_job_finish_reply(job, t->first, t->n, reply);
  task_free(t);
}

/* A worker's encoded reply: [0, [results...]] (and a retiring worker's
 * true after it) is decoded value by value straight into the task's
 * slots, with no tree for the reply; anything else is decoded whole and
 * judged by mp_job_finish_reply (a failure, or malformed: EBADMSG). */
static void finish_with_bytes(mp_task_t *t, const void *data, size_t len) {
  const unsigned char *p = data;
  mp_cursor_t c = {p, len, 2};
  size_t n = 0, got = 0;
  mproc_obj_t **values = NULL;
  int ok = len >= 2 && (p[0] == 0x92 || p[0] == 0x93) && p[1] == 0x00 &&
           mp_cursor_array(&c, &n) &&
           (values = malloc((n ? n : 1) * sizeof *values)) != NULL;
  /* Each value gets its parent-to-be now, while its line is in cache (a
   * map's list; job->list changes only once every slot is filled). */
  mproc_obj_t *parent = t->job->list, scalar;
  for (; ok && got < n; got++) {
    mproc_obj_t *v;
    if (mp_cursor_scalar(&c, &scalar)) { /* most of a map's results */
      if ((v = mp_obj_new(scalar.kind)) == NULL) break;
      v->u = scalar.u;
    } else if (mp_cursor_value(&c, &v) != MPROC_OK) {
      break;
    }
    v->parent = parent;
    values[got] = v;
  }
  ok = ok && got == n;
  if (ok && p[0] == 0x93) { /* the retiring flag: true */
    ok = c.pos < c.len && p[c.pos] == 0xc3;
    c.pos++;
  }
  if (ok && c.pos == c.len) {
    mp_job_t *job = t->job;
    t->job = NULL;
    job_settle(job, t->first, t->n, MPROC_OK, NULL, values, n);
    for (size_t i = 0; i < n; i++) mp_obj_destroy(values[i]); /* extras */
    free(values);
    task_free(t);
    return;
  }
  for (size_t i = 0; i < got; i++) mp_obj_destroy(values[i]);
  free(values);
  mproc_obj_t *reply = NULL;
  if (mproc_obj_decode(&reply, data, len) != MPROC_OK) reply = NULL;
  finish_with_reply(t, reply);
}

/* ---- the wire ------------------------------------------------------- */

static void put_array_header(mp_buf_t *b, size_t n) {
  unsigned char h[5];
  if (n < 16) {
    h[0] = (unsigned char)(0x90 | n);
    mp_buf_put(b, h, 1);
  } else if (n < 65536) {
    h[0] = 0xdc;
    h[1] = (unsigned char)(n >> 8);
    h[2] = (unsigned char)n;
    mp_buf_put(b, h, 3);
  } else {
    h[0] = 0xdd;
    h[1] = (unsigned char)(n >> 24);
    h[2] = (unsigned char)(n >> 16);
    h[3] = (unsigned char)(n >> 8);
    h[4] = (unsigned char)n;
    mp_buf_put(b, h, 5);
  }
}

/* Appends v's encoding to b (NULL: None). v is a live value: an item of a
 * list checked at submission, or a value checked there. */
static mproc_status_t put_obj(mp_buf_t *b, const mproc_obj_t *v) {
  if (v == NULL) {
    unsigned char nil = 0xc0;
    mp_buf_put(b, &nil, 1);
    return MPROC_OK;
  }
  /* Straight into b: no buffer of its own to allocate, copy and free. */
  return mp_obj_encode_append(b, v);
}

/* The reference to fn a worker resolves: a key, or an address under fork. */
static mproc_status_t function_ref(int forked, mproc_function_fn fn,
                                   mproc_obj_t **out, const char *call) {
  const mproc_function_entry_t *e = mp_function_by_fn(fn);
  if (e != NULL) {
    char *key = mp_function_key(e);
    if (key == NULL) return mp_fail(MPROC_ENOMEM, "%s", call);
    mproc_status_t st = mproc_obj_str(out, key);
    free(key);
    return st;
  }
  if (!forked)
    return mp_fail(MPROC_ENOTREGISTERED,
                   "%s: the function is not registered (MPROC_FUNCTION or "
                   "mproc_register_function): workers started by spawn or "
                   "forkserver find functions by name",
                   call);
  return mproc_obj_int(out, (int64_t)(intptr_t)fn);
}

/* The encoded function reference of the last function this thread
 * encoded (formatting a key per task costs more than the task's square):
 * valid while the registry's generation stays the same. Inline bytes, so
 * that nothing is left to free when the thread ends. */
typedef struct {
  mproc_function_fn fn;
  int forked, valid;
  unsigned generation;
  size_t len;
  unsigned char bytes[256];
} ref_cache_t;
static _Thread_local ref_cache_t ref_cache MP_TLS_FAST;

/* Appends fn's reference (function_ref, encoded) to b. */
static mproc_status_t put_function_ref(mp_buf_t *b, int forked,
                                       mproc_function_fn fn,
                                       const char *call) {
  ref_cache_t *c = &ref_cache;
  unsigned generation = mp_function_generation();
  if (c->valid && c->fn == fn && c->forked == forked &&
      c->generation == generation) {
    mp_buf_put(b, c->bytes, c->len);
    return MPROC_OK;
  }
  mproc_obj_t *ref = NULL;
  mproc_status_t st = function_ref(forked, fn, &ref, call);
  size_t start = b->len;
  if (st == MPROC_OK) st = put_obj(b, ref);
  mp_obj_destroy(ref);
  if (st == MPROC_OK && !b->failed && b->len - start <= sizeof c->bytes) {
    memcpy(c->bytes, (unsigned char *)b->data + start, b->len - start);
    c->len = b->len - start;
    c->fn = fn;
    c->forked = forked;
    c->generation = generation;
    c->valid = 1;
  }
  return st;
}

/* A worker's side of ref_cache: the function of the last key it looked
 * up (a key is parsed and the registry walked otherwise, per task). */
typedef struct {
  mproc_function_fn fn;
  unsigned generation;
  char key[256];
} key_cache_t;
static _Thread_local key_cache_t key_cache MP_TLS_FAST;

static mproc_function_fn resolve_ref(const mproc_obj_t *ref) {
  if (ref == NULL) return NULL;
  if (ref->kind == MPROC_STR) {
    key_cache_t *c = &key_cache;
    unsigned generation = mp_function_generation();
    if (c->fn && c->generation == generation && strcmp(c->key, ref->u.s) == 0)
      return c->fn;
    const mproc_function_entry_t *e = mp_function_by_key(ref->u.s);
    size_t n = strlen(ref->u.s);
    if (e && n < sizeof c->key) {
      memcpy(c->key, ref->u.s, n + 1);
      c->fn = e->fn;
      c->generation = generation;
    }
    return e ? e->fn : NULL;
  }
  if (ref->kind == MPROC_INT) return (mproc_function_fn)(intptr_t)ref->u.i;
  return NULL;
}

/* Calls fn on in (a value with a parent: fn cannot keep it). MPROC_OK
 * with *out a free-standing value (None when fn gave none); otherwise the
 * failure, its message in msg. */
static mproc_status_t call_item(mproc_function_fn fn, const mproc_obj_t *in,
                                mproc_obj_t **out, char *msg, size_t size) {
  *out = NULL;
  mp_error_clear();
  mproc_status_t st = fn(in, out);
  if (st != MPROC_OK) {
    snprintf(msg, size, "%s",
             mp_failure_detail(st, "the function failed without a message"));
    if (*out && (*out)->parent == NULL) mp_obj_destroy(*out);
    *out = NULL;
    return st;
  }
  if (*out == NULL && mproc_obj_none(out) != MPROC_OK) {
    snprintf(msg, size, "pool worker: out of memory");
    return MPROC_ENOMEM;
  }
  if ((*out)->parent != NULL) { /* inside a container: not fn's to give */
    *out = NULL;
    snprintf(msg, size,
             "pool worker: the function's result could not be kept (not a "
             "free-standing value, or no memory)");
    return MPROC_ENOMEM;
  }
  return MPROC_OK;
}

/* The reply [status, message] of a failed task, or [status, instead]
 * when message is not valid UTF-8 (cut in a character). NULL: no memory. */
static mproc_obj_t *failure_reply(mproc_status_t failed, const char *msg,
                                  const char *instead) {
  mproc_obj_t *reply = NULL;
  if (mproc_obj_build(&reply, "(is)", (int)failed, msg) == MPROC_OK ||
      mproc_obj_build(&reply, "(is)", (int)failed, instead) == MPROC_OK)
    return reply;
  return NULL;
}
#define NOT_UTF8 "the function failed (message not UTF-8)"

#define MISSING_FUNCTION \
  "pool worker: the function's key names no registered function"

/* Runs fn over items (a list), giving the reply [0, results] or
 * [status, message] (fn NULL: MPROC_ENOTREGISTERED). NULL: no memory. */
static mproc_obj_t *run_items(mproc_function_fn fn,
                              const mproc_obj_t *items) {
  mproc_obj_t *results = NULL, *reply = NULL;
  mproc_status_t failed = MPROC_ENOTREGISTERED;
  char msg[1024] = MISSING_FUNCTION;
  if (fn) {
    failed = MPROC_OK;
    if (mproc_obj_list(&results) != MPROC_OK ||
        !mp_obj_reserve(results, items->len)) {
      mp_obj_destroy(results);
      return NULL;
    }
  }
  for (size_t i = 0; fn && i < items->len; i++) {
    mproc_obj_t *out;
    failed = call_item(fn, items->u.items[i], &out, msg, sizeof msg);
    if (failed != MPROC_OK) break;
    results->u.items[results->len++] = out; /* room reserved */
    out->parent = results;
  }
  if (failed != MPROC_OK) {
    mp_obj_destroy(results);
    return failure_reply(failed, msg, NOT_UTF8);
  }
  if (mproc_obj_build(&reply, "(i)", 0) != MPROC_OK ||
      mproc_obj_list_append(reply, results) != MPROC_OK) {
    mp_obj_destroy(results);
    mp_obj_destroy(reply);
    return NULL;
  }
  return reply;
}

/* A worker's side of a task message [1, fnref, [items...]] as bytes:
 * c is at the items' array header. Each item is decoded as it is needed
 * (a scalar into one reused value: no allocation) and each result encoded
 * into reply as it comes, so a chunk is never a tree of values. reply
 * gets [0, [results...]] or [status, message]. Returns 0, or -1 when out
 * of memory, -2 when the items are malformed. */
static int run_encoded(mproc_function_fn fn, mp_cursor_t *c, mp_buf_t *reply) {
  size_t n;
  if (!mp_cursor_array(c, &n)) return -2;
  /* The inputs' parent: fn can neither keep nor free an input. */
  mproc_obj_t *holder = mp_obj_new(MPROC_LIST);
  mproc_obj_t *scalar = mp_obj_new(MPROC_NONE);
  if (holder == NULL || scalar == NULL) {
    mp_node_release(holder);
    mp_node_release(scalar);
    return -1;
  }
  scalar->parent = holder;
  static const unsigned char ok[] = {0x92, 0x00};
  mp_buf_put(reply, ok, sizeof ok);
  put_array_header(reply, n);
  if (n < SIZE_MAX / 16) (void)mp_buf_room(reply, 9 * n); /* n ints */
  mproc_status_t failed = fn ? MPROC_OK : MPROC_ENOTREGISTERED;
  char msg[1024] = MISSING_FUNCTION;
  int rc = 0;
  for (size_t i = 0; failed == MPROC_OK && i < n && !reply->failed; i++) {
    mproc_obj_t *item = scalar, *out;
    if (!mp_cursor_scalar(c, scalar)) {
      if (mp_cursor_value(c, &item) != MPROC_OK) {
        rc = -2;
        break;
      }
      item->parent = holder;
    }
    failed = call_item(fn, item, &out, msg, sizeof msg);
    if (item != scalar) mp_obj_destroy(item);
    if (failed != MPROC_OK) break;
    if ((failed = mp_obj_encode_append(reply, out)) != MPROC_OK) {
      snprintf(msg, sizeof msg, "pool worker: a result: %s",
               mproc_last_error());
    }
    mp_obj_destroy(out);
  }
  scalar->parent = NULL;
  mp_node_release(scalar);
  mp_node_release(holder);
  if (rc == 0 && failed == MPROC_OK && c->pos != c->len) rc = -2;
  if (rc == 0 && failed != MPROC_OK) { /* the results so far are dropped */
    mproc_obj_t *fail = failure_reply(failed, msg, NOT_UTF8);
    reply->len = 0;
    reply->failed = 0;
    if (fail == NULL || mp_obj_encode_append(reply, fail) != MPROC_OK) rc = -1;
    mp_obj_destroy(fail);
  }
  if (rc == 0 && reply->failed) rc = -1;
  return rc;
}

static int run_initializer(const mproc_obj_t *ref, const mproc_obj_t *args) {
  if (ref == NULL || ref->kind == MPROC_NONE) return 0;
  mproc_function_fn init = resolve_ref(ref);
  if (init == NULL) return -1;
  mproc_obj_t *out = NULL;
  mproc_status_t st = init(args, &out);
  if (out && out->parent == NULL) mp_obj_destroy(out);
  return st == MPROC_OK ? 0 : -1;
}

/* The segments a worker attached for the typed map, kept for the next
 * chunk (by name). */
typedef struct {
  mproc_shared_memory_t *shm[2];
} views_t;

static mproc_status_t view(views_t *v, int which, const char *name,
                           unsigned char **base, size_t *size) {
  const char *have = NULL;
  if (v->shm[which]) mproc_shared_memory_name(v->shm[which], &have);
  if (have == NULL || strcmp(have, name) != 0) {
    mproc_shared_memory_free(v->shm[which]);
    v->shm[which] = NULL;
    mproc_status_t st = mproc_shared_memory_attach(&v->shm[which], name);
    if (st != MPROC_OK) return st;
  }
  void *buf;
  mproc_status_t st = mproc_shared_memory_buf(v->shm[which], &buf);
  if (st == MPROC_OK) st = mproc_shared_memory_size(v->shm[which], size);
  *base = buf;
  return st;
}

/* [2, kernelref, in_name, in_size, out_name, out_size, first, n] */
static mproc_obj_t *run_kernel(const mproc_obj_t *msg, views_t *views) {
  mproc_status_t st = MPROC_OK;
  char text[1024] = "";
  const mproc_obj_t *const *f = (const mproc_obj_t *const *)msg->u.items;
  if (msg->len != 8 || f[2]->kind != MPROC_STR || f[4]->kind != MPROC_STR ||
      f[3]->kind != MPROC_INT || f[5]->kind != MPROC_INT ||
      f[6]->kind != MPROC_INT || f[7]->kind != MPROC_INT) {
    st = MPROC_EBADMSG;
    snprintf(text, sizeof text, "pool worker: a malformed kernel task");
  }
  mproc_function_fn fn = st == MPROC_OK ? resolve_ref(f[1]) : NULL;
  if (st == MPROC_OK && fn == NULL) {
    st = MPROC_ENOTREGISTERED;
    snprintf(text, sizeof text,
             "pool worker: the kernel's key names no registered kernel");
  }
  unsigned char *in = NULL, *out = NULL;
  size_t in_len = 0, out_len = 0;
  if (st == MPROC_OK) {
    st = view(views, 0, f[2]->u.s, &in, &in_len);
    if (st == MPROC_OK) st = view(views, 1, f[4]->u.s, &out, &out_len);
    if (st != MPROC_OK)
      snprintf(text, sizeof text, "pool worker: attaching a segment: %s",
               mproc_last_error());
  }
  if (st == MPROC_OK) {
    size_t in_size = (size_t)f[3]->u.i, out_size = (size_t)f[5]->u.i;
    size_t first = (size_t)f[6]->u.i, n = (size_t)f[7]->u.i;
    if ((first + n) * in_size > in_len || (first + n) * out_size > out_len) {
      st = MPROC_EINVAL;
      snprintf(text, sizeof text, "pool worker: elements beyond a segment");
    } else {
      mproc_kernel_fn kernel = (mproc_kernel_fn)(void (*)(void))fn;
      mp_error_clear();
      st = kernel(in + first * in_size, out + first * out_size, n);
      if (st != MPROC_OK)
        snprintf(text, sizeof text, "%s",
                 mp_failure_detail(st, "the kernel failed without a message"));
    }
  }
  mproc_obj_t *reply = NULL;
  if (st != MPROC_OK)
    return failure_reply(st, text, "the kernel failed (message not UTF-8)");
  if (mproc_obj_build(&reply, "(i[])", 0) != MPROC_OK) return NULL;
  return reply;
}

static int worker_step(mproc_connection_t *conn, views_t *views,
                       size_t max_memory, mp_buf_t *reply);

/* The worker process: its config is [initref, initargs]; attached 0 is
 * its end of the connection to the result thread. */
MPROC_TASK(mp_pool_worker_main) {
  mproc_connection_t *conn;
  mproc_obj_t *config = NULL;
  if (mproc_attached_connection(0, &conn) != MPROC_OK) return 70;
  /* A group of its own, so that a task timeout kills what the task
   * started too (best effort: without it, the worker alone is killed). */
  (void)mp_process_lead_group();
  if (mproc_obj_decode(&config, arg, arg_len) != MPROC_OK ||
      config->kind != MPROC_LIST || config->len != 3 ||
      config->u.items[2]->kind != MPROC_INT) {
    mproc_obj_free(config);
    return 71;
  }
  if (run_initializer(config->u.items[0], config->u.items[1]) != 0) {
    fprintf(stderr, "mproc pool worker: the initializer failed: %s\n",
            mproc_last_error());
    mproc_obj_free(config);
    return 72;
  }
  size_t max_memory = (size_t)config->u.items[2]->u.i;
  mproc_obj_free(config);
  views_t views;
  memset(&views, 0, sizeof views);
  mp_buf_t reply = {0}; /* kept: a reply is encoded into it per task */
  int code;
  do code = worker_step(conn, &views, max_memory, &reply);
  while (code < 0);
  mp_buf_free(&reply);
  return code;
}

/* One task of a worker: receives a message, runs it and sends the reply.
 * Returns -1 to go on, else the worker's exit code (0: told to quit, or
 * the connection ended). */
static int worker_step(mproc_connection_t *conn, views_t *views,
                       size_t max_memory, mp_buf_t *reply) {
  void *data = NULL;
  size_t len = 0;
  mproc_status_t st =
      mproc_connection_recv_bytes(conn, 0, &data, &len, MPROC_FOREVER);
  if (st != MPROC_OK) return st == MPROC_EOF ? 0 : 73;
  const unsigned char *bytes = data;
  reply->len = 0;
  reply->failed = 0;
  int items = len >= 2 && bytes[0] == 0x93 && bytes[1] == 0x01;
  if (items) { /* [1, fnref, [items...]]: run as it is decoded */
    int rc = mp_task_run_encoded(data, len, reply);
    free(data);
    if (rc == -2) return 74;
    if (rc == -1) return 75;
  } else { /* [0] (quit), a kernel's task, or nothing a parent sends */
    mproc_obj_t *msg = NULL;
    st = mproc_obj_decode(&msg, data, len);
    free(data);
    if (st != MPROC_OK) return 73;
    if (msg->kind != MPROC_LIST || msg->len < 1 ||
        msg->u.items[0]->kind != MPROC_INT || msg->u.items[0]->u.i == 0) {
      mproc_obj_free(msg);
      return 0; /* quit */
    }
    if (msg->u.items[0]->u.i != 2) {
      mproc_obj_free(msg);
      return 74;
    }
    mproc_obj_t *out = run_kernel(msg, views);
    mproc_obj_free(msg);
    if (out == NULL) return 75;
    st = mp_obj_encode_append(reply, out);
    mproc_obj_free(out);
    if (st != MPROC_OK) return 75;
  }
  /* Grown past the limit: the reply says so ([.., .., true]), so the
   * result thread gives this worker no more tasks, and it ends. Every
   * reply is a pair: its header 0x92 becomes 0x93. */
  int retire = items && max_memory && mp_process_rss() > max_memory &&
               reply->data[0] == 0x92;
  if (retire) {
    static const unsigned char flag = 0xc3; /* true */
    reply->data[0] = 0x93;
    mp_buf_put(reply, &flag, 1);
    if (reply->failed) return 75;
  }
  st = mproc_connection_send_bytes(conn, reply->data, reply->len, 0,
                                   MPROC_REST, MPROC_FOREVER);
  if (st != MPROC_OK) return st == MPROC_EOF ? 0 : 76;
  return retire ? 0 : -1;
}

/* Tasks a worker holds beyond the one it runs: one, and only while tasks
 * are short (their average under BACKLOG_BELOW seconds), where the round
 * trip through the result thread would otherwise cost as much as the task.
 * A task sent behind a long one waits for it while another worker may be
 * idle, so long or unknown tasks get none. */
#define MAX_BACKLOG 1
#define BACKLOG_BELOW 0.002
/* ... and only for small messages: one that fits the pipe's buffer at
 * once never blocks the result thread while the worker blocks writing a
 * reply the result thread is not reading (which would deadlock them). */
#define BACKLOG_MAX_BYTES 4096

static mp_task_t *take_pending(mp_engine_t *e) {
  mp_mutex_lock(&e->mu);
  mp_task_t *t = e->pending;
  if (t) {
    e->pending = t->next;
    if (e->pending == NULL) e->pending_tail = NULL;
    e->npending--;
  }
  mp_mutex_unlock(&e->mu);
  if (t) t->next = NULL;
  return t;
}

/* Whether the next pending task may go behind a busy worker's task. */
static int small_pending(mp_engine_t *e) {
  mp_mutex_lock(&e->mu);
  int small = e->pending && e->pending->len <= BACKLOG_MAX_BYTES;
  mp_mutex_unlock(&e->mu);
  return small;
}

/* Puts a list of tasks no worker started back at the head of pending, in
 * their order. */
static void requeue(mp_engine_t *e, mp_task_t *list) {
  if (list == NULL) return;
  mp_task_t *last = list;
  size_t n = 1;
  while (last->next) {
    last = last->next;
    n++;
  }
  mp_mutex_lock(&e->mu);
  last->next = e->pending;
  if (e->pending == NULL) e->pending_tail = last;
  e->pending = list;
  e->npending += n;
  mp_mutex_unlock(&e->mu);
}

/* The tasks w was sent but did not start, taken from it. */
static mp_task_t *take_backlog(worker_t *w) {
  mp_task_t *list = w->backlog;
  w->backlog = NULL;
  w->nbacklog = 0;
  return list;
}

/* ---- workers -------------------------------------------------------- */

static void wake(mp_engine_t *e) {
  /* Called with e->mu held. */
  if (e->wake_pending) return;
  if (mproc_connection_send_bytes(e->wake_w, "w", 1, 0, MPROC_REST, 0) ==
      MPROC_OK)
    e->wake_pending = 1;
}

static void thread_worker(void *arg);

typedef struct {
  mp_engine_t *e;
  int index;
} thread_arg_t;

static mproc_status_t start_worker(mp_engine_t *e, worker_t *w, int index) {
  memset(w, 0, sizeof *w);
  w->deadline = -1;
  if (e->cfg.threads) {
    thread_arg_t *ta = malloc(sizeof *ta);
    if (ta == NULL) return mp_fail(MPROC_ENOMEM, "pool: a worker thread");
    ta->e = e;
    ta->index = index;
    mproc_status_t st = mp_thread_create(&w->thread, thread_worker, ta);
    if (st != MPROC_OK) free(ta);
    w->pid = (long)mp_getpid();
    return st;
  }
  mproc_connection_t *child_end = NULL;
  mproc_status_t st = mproc_pipe(&w->conn, &child_end, 1);
  if (st != MPROC_OK) return st;
  st = mproc_process_create(&w->proc, e->cfg.context, mp_pool_worker_main,
                            e->worker_arg, e->worker_arg_len);
  if (st == MPROC_OK) st = mproc_process_set_daemon(w->proc, 1);
  if (st == MPROC_OK) st = mproc_process_attach(w->proc, child_end);
  if (st == MPROC_OK) st = mproc_process_start(w->proc);
  char detail[512];
  snprintf(detail, sizeof detail, "%s", mproc_last_error());
  mproc_connection_free(child_end);
  if (st != MPROC_OK) {
    mproc_process_free(w->proc);
    mproc_connection_free(w->conn);
    w->proc = NULL;
    w->conn = NULL;
    return mp_fail(st, "pool: starting a worker: %s", detail);
  }
  mproc_process_pid(w->proc, &w->pid);
  return MPROC_OK;
}

/* Ends a worker process that has ended or must: joins it (killing it after
 * grace seconds) and describes how it ended into why. */
static void reap_worker(worker_t *w, double grace, char *why, size_t size) {
  if (mproc_process_join(w->proc, grace) == MPROC_ETIMEDOUT) {
    mproc_process_kill(w->proc);
    mproc_process_join(w->proc, MPROC_FOREVER);
  }
  int code = 0;
  if (mproc_process_exitcode(w->proc, &code) != MPROC_OK)
    snprintf(why, size, "ended (its exit status could not be read)");
  else if (code < 0)
    snprintf(why, size, "was killed by signal %d", -code);
  else
    snprintf(why, size, "exited with exit code %d", code);
  mproc_process_free(w->proc);
  mproc_connection_free(w->conn);
  w->proc = NULL;
  w->conn = NULL;
}

/* The worker w ended (or its connection did): fails the task it held,
 * starts another in its place unless the pool is ending. */
static void worker_ended(mp_engine_t *e, int index) {
  worker_t *w = &e->workers[index];
  char why[128];
  long pid = w->pid;
  mp_task_t *held = w->task;
  w->task = NULL;
  /* What it was sent but did not start goes to another worker; so does
   * its task if it was retiring (it ends after the reply that says so,
   * without reading further). */
  mp_task_t *unstarted = take_backlog(w);
  if (held && w->retiring) {
    held->next = unstarted;
    unstarted = held;
    held = NULL;
  }
  requeue(e, unstarted);
  reap_worker(w, 1.0, why, sizeof why);
  if (held) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "pool worker (pid %ld) %s while running a task", pid, why);
    finish_task(held, MPROC_EWORKERDIED, msg, NULL);
  }
  mp_mutex_lock(&e->mu);
  int ending = e->terminating || (e->closed && e->npending == 0);
  mp_mutex_unlock(&e->mu);
  if (ending) return;
  worker_t fresh;
  mproc_status_t st = start_worker(e, &fresh, index);
  mp_mutex_lock(&e->mu);
  if (st == MPROC_OK) {
    *w = fresh;
  } else {
    memset(w, 0, sizeof *w);
    e->start_failure = st;
  }
  mp_mutex_unlock(&e->mu);
}

static int any_worker(const mp_engine_t *e) {
  for (int i = 0; i < e->nworkers; i++)
    if (e->workers[i].proc) return 1;
  return 0;
}

/* Fails every pending task with st (no lock held on entry). */
static void fail_pending(mp_engine_t *e, mproc_status_t st, const char *msg) {
  mp_mutex_lock(&e->mu);
  mp_task_t *t = e->pending;
  e->pending = e->pending_tail = NULL;
  e->npending = 0;
  mp_mutex_unlock(&e->mu);
  while (t) {
    mp_task_t *next = t->next;
    finish_task(t, st, msg, NULL);
    t = next;
  }
}

/* w finished (or gave up) its task: the next one it was sent is its task
 * now, its deadline counted from now. */
static void next_task(worker_t *w) {
  mp_task_t *t = w->backlog;
  w->task = t;
  w->deadline = -1;
  if (t == NULL) return;
  w->backlog = t->next;
  w->nbacklog--;
  t->next = NULL;
  w->started = mp_monotonic();
  if (t->timeout >= 0) w->deadline = w->started + t->timeout;
}

/* Whether w may be sent another task: alive, not ending, with room, and
 * (maxtasksperchild) not past its count once what it holds is done. */
static int has_room(const mp_engine_t *e, const worker_t *w, int depth) {
  if (w->proc == NULL || w->retiring || w->timed_out) return 0;
  int held = (w->task != NULL) + w->nbacklog;
  if (held != depth) return 0;
  if (depth > 0 && !(e->avg_task >= 0 && e->avg_task < BACKLOG_BELOW))
    return 0;
  return e->cfg.maxtasks == 0 ||
         w->ntasks + (unsigned long)held < e->cfg.maxtasks;
}

/* Sends t to w, as its task or behind it; 0 when sending failed (t is
 * finished with the error and the worker killed). */
static int send_task(worker_t *w, mp_task_t *t) {
  if (w->task == NULL) {
    w->task = t;
    w->started = mp_monotonic();
    w->deadline = t->timeout >= 0 ? w->started + t->timeout : -1;
  } else {
    mp_task_t **link = &w->backlog;
    while (*link) link = &(*link)->next;
    *link = t;
    w->nbacklog++;
  }
  mproc_status_t st = mproc_connection_send_bytes(w->conn, t->msg, t->len,
                                                  0, MPROC_REST,
                                                  MPROC_FOREVER);
  if (st == MPROC_OK || st == MPROC_EOF) return 1;
  /* Not the worker's death (that is seen by its sentinel): give up this
   * task and this worker. */
  char msg[512];
  snprintf(msg, sizeof msg, "pool: sending a task: %s", mproc_last_error());
  if (w->task == t) {
    w->task = NULL;
  } else {
    mp_task_t **link = &w->backlog;
    while (*link != t) link = &(*link)->next;
    *link = NULL;
    w->nbacklog--;
  }
  finish_task(t, st, msg, NULL);
  w->timed_out = 1; /* no new task; replaced once its end is seen */
  mproc_process_kill(w->proc);
  return 0;
}

/* Hands pending tasks to the workers: first one to each idle worker, then
 * one behind each busy one. */
static void dispatch(mp_engine_t *e) {
  for (int depth = 0; depth <= MAX_BACKLOG; depth++)
    for (int i = 0; i < e->nworkers; i++) {
      worker_t *w = &e->workers[i];
      if (!has_room(e, w, depth)) continue;
      if (depth > 0 && !small_pending(e)) return;
      /* Claimed under the mutex, as a submitter lends (lend): a worker
       * lent a task is not idle, a worker sent one no longer is. */
      mp_mutex_lock(&e->mu);
      if (w->lent) {
        mp_mutex_unlock(&e->mu);
        continue;
      }
      w->idle = 0;
      mp_mutex_unlock(&e->mu);
      mp_task_t *t = take_pending(e);
      if (t == NULL) return;
      send_task(w, t);
    }
}

/* ---- the direct lane ------------------------------------------------ */

/* With e->mu held: sends t (a task of a direct job, t->job set) straight
 * to an idle worker when nothing waits before it; 1 when it did (the
 * worker holds it as lent, its job's waiter reads the reply), 0 when t
 * must go to pending. Only small messages (one write into the idle
 * worker's empty pipe never blocks, so the mutex is held for one write)
 * and only where the result thread need not count or time the task. */
static int lend(mp_engine_t *e, mp_task_t *t) {
  if (e->cfg.threads || e->pending || e->cfg.maxtasks || e->cfg.max_memory ||
      t->timeout >= 0 || t->len > BACKLOG_MAX_BYTES)
    return 0;
  for (int i = 0; i < e->nworkers; i++) {
    worker_t *w = &e->workers[i];
    if (!w->idle) continue;
    mproc_status_t st = mproc_connection_send_bytes(
        w->conn, t->msg, t->len, 0, MPROC_REST, MPROC_FOREVER);
    if (st != MPROC_OK && st != MPROC_EOF) {
      /* As send_task: not its death (that the sentinel shows); the
       * stream may be cut, so the worker is killed (the result thread
       * replaces it) and t goes to pending. */
      w->idle = 0;
      mproc_process_kill(w->proc);
      return 0;
    }
    w->idle = 0;
    w->lent = t;
    t->engine = e;
    t->worker = i;
    t->conn = w->conn;
    t->proc = w->proc;
    mp_mutex_lock(&t->job->mu);
    t->job->lane = t;
    mp_mutex_unlock(&t->job->mu);
    return 1;
  }
  return 0;
}

/* With e->mu held: the result thread takes w's lent task as its own task
 * (it reads the reply, or sees the worker's end) unless a waiter reads it
 * now; only a broken one unless always. 1: adopted. */
static int adopt_lent(worker_t *w, int always) {
  mp_task_t *t = w->lent;
  mp_mutex_lock(&t->job->mu);
  int reading = t->reading, broken = t->broken;
  int adopt = !reading && (always || broken);
  if (adopt) t->job->lane = NULL;
  mp_mutex_unlock(&t->job->mu);
  if (!adopt) return 0;
  w->lent = NULL;
  w->task = t;
  w->started = mp_monotonic();
  w->deadline = -1;
  if (broken) {
    /* Given back without a reply: the worker ended, or its stream is
     * unreadable; either way it is replaced and t fails with its end. */
    w->timed_out = 1;
    mproc_process_kill(w->proc);
  }
  return 1;
}

int mp_job_collect(mp_job_t *job, double timeout) {
  mp_mutex_lock(&job->mu);
  mp_task_t *t = job->lane;
  /* A broken one waits for the result thread to adopt it. */
  int mine = t && !t->reading && !t->broken && !job->complete;
  if (mine) t->reading = 1;
  mp_mutex_unlock(&job->mu);
  if (!mine) return 0;
  /* While reading is set the worker's connection and process stay (the
   * result thread neither reaps the worker nor reads it) and so does the
   * engine (terminating waits for the readers, see kill_workers). The
   * worker's process is watched too: a worker that died with its pipe
   * held open by a child of its own sends no end of stream. */
  mp_engine_t *e = t->engine;
  mproc_sentinel_t s[2];
  int ready[2] = {0, 0};
  void *reply = NULL;
  size_t len = 0;
  int ok = 0;
  mproc_status_t st = mproc_connection_sentinel(t->conn, &s[0]);
  if (st == MPROC_OK) st = mproc_process_sentinel(t->proc, &s[1]);
  if (st == MPROC_OK) st = mproc_wait(s, 2, ready, NULL, timeout);
  if (st == MPROC_OK && ready[0])
    ok = mproc_connection_recv_bytes(t->conn, 0, &reply, &len,
                                     MPROC_FOREVER) == MPROC_OK;
  int broken = !ok && st != MPROC_ETIMEDOUT;
  mp_mutex_lock(&e->mu);
  worker_t *w = &e->workers[t->worker];
  if (ok) {
    w->lent = NULL;
    /* A worker seen ending after its reply is replaced, not reused. */
    w->idle = !ready[1] && !e->closed && !e->terminating;
  }
  mp_mutex_lock(&job->mu);
  t->reading = 0;
  t->broken = broken;
  if (ok)
    job->lane = NULL;
  else
    mp_cond_broadcast(&job->cv); /* another waiter may read it */
  mp_mutex_unlock(&job->mu);
  /* The result thread, only when it has something to do: adopt a task
   * given back broken, replace a worker seen ending, end a pool. */
  if (!ok || ready[1] || e->closed || e->terminating) wake(e);
  if (e->terminating) mp_cond_broadcast(&e->cv); /* kill_workers waits */
  mp_mutex_unlock(&e->mu);
  if (ok) finish_with_bytes(t, reply, len); /* as the result thread */
  free(reply);
  return 1;
}

static int read_replies(mp_engine_t *e, worker_t *w, int readable);

static void check_timeouts(mp_engine_t *e, double now) {
  for (int i = 0; i < e->nworkers; i++) {
    worker_t *w = &e->workers[i];
    if (w->proc == NULL || w->task == NULL || w->deadline < 0 ||
        now < w->deadline)
      continue;
    /* A reply already sent finishes the task in time, and the worker may
     * have started its next one: read before killing. */
    if (read_replies(e, w, 0) &&
        (w->task == NULL || w->deadline < 0 || mp_monotonic() < w->deadline))
      continue;
    if (w->task == NULL) continue;
    mp_task_t *t = w->task;
    w->task = NULL;
    w->timed_out = 1;
    requeue(e, take_backlog(w));
    char msg[256];
    snprintf(msg, sizeof msg,
             "pool: the task ran past its timeout of %g s; its worker "
             "(pid %ld) was killed, with the processes it started",
             t->timeout, w->pid);
    mp_process_kill_group(w->proc);
    finish_task(t, MPROC_ETIMEDOUT, msg, NULL);
  }
}

static double next_timeout(const mp_engine_t *e, double now) {
  double best = -1;
  for (int i = 0; i < e->nworkers; i++) {
    const worker_t *w = &e->workers[i];
    if (w->task && w->deadline >= 0) {
      double left = w->deadline - now;
      if (left < 0) left = 0;
      if (best < 0 || left < best) best = left;
    }
  }
  return best;
}

/* Empties the wake pipe, then clears the flag: a submit that saw the flag
 * set (and sent nothing) appended its task before the flag is cleared, so
 * the dispatch that follows sees it. Clearing first would lose a wake: a
 * byte read here after the clear leaves the flag set with the pipe empty.
 * readable: a wait saw the pipe readable, so its byte is read without
 * asking first (a poll less per wake), then whatever came with it. */
static void drain_wake(mp_engine_t *e, int readable) {
  for (;;) {
    int ready = 0;
    if (readable)
      ready = 1;
    else if (mproc_connection_poll(e->wake_r, &ready, 0) != MPROC_OK)
      break;
    if (!ready) break;
    void *buf;
    size_t len;
    if (mproc_connection_recv_bytes(e->wake_r, 0, &buf, &len,
                                    readable ? MPROC_FOREVER : 0) != MPROC_OK)
      break;
    free(buf);
    /* One byte at most waits (wake sends none while the flag is set):
     * only read-ahead bytes are left to take, with no syscall. */
    readable = 0;
    if (!mp_connection_buffered(e->wake_r)) break;
  }
  mp_mutex_lock(&e->mu);
  e->wake_pending = 0;
  mp_mutex_unlock(&e->mu);
}

/* Reads the replies a worker sent; 0 when its connection ended.
 * readable: a wait saw its connection readable: one message is read
 * without asking first, then only those already read ahead (the wait
 * reports the rest), so a reply costs its read and no poll. Otherwise
 * every reply it sent is read, asking before each. */
static int read_replies(mp_engine_t *e, worker_t *w, int readable) {
  for (int first = 1;; first = 0) {
    if (!(readable && first) && !mp_connection_buffered(w->conn)) {
      if (readable) return 1;
      int ready = 0;
      mproc_status_t st = mproc_connection_poll(w->conn, &ready, 0);
      if (st != MPROC_OK) return 0;
      if (!ready) return 1;
    }
    /* Readable: the read does not block for the first byte. */
    void *reply = NULL;
    size_t len = 0;
    mproc_status_t st = mproc_connection_recv_bytes(w->conn, 0, &reply, &len,
                                                    MPROC_FOREVER);
    if (st == MPROC_ETIMEDOUT) return 1;
    if (st != MPROC_OK) return 0;
    mp_task_t *t = w->task;
    if (t == NULL) {
      free(reply); /* a timed-out task's late reply */
      continue;
    }
    double took = mp_monotonic() - w->started;
    e->avg_task = e->avg_task < 0 ? took : e->avg_task * 0.875 + took * 0.125;
    next_task(w);
    w->ntasks++;
    if (len > 0 && *(unsigned char *)reply == 0x93)
      w->retiring = 1; /* past max_memory_per_child: it ends by itself */
    /* A chunk's reply takes about as long to decode as the chunk took to
     * run: hand the worker its next task first, not after. */
    if (w->task == NULL && len > BACKLOG_MAX_BYTES) dispatch(e);
    finish_with_bytes(t, reply, len);
    free(reply);
    if (e->cfg.maxtasks && w->ntasks >= e->cfg.maxtasks && !w->retiring) {
      static const unsigned char quit[] = {0x91, 0x00}; /* [0] */
      w->retiring = 1;
      (void)mproc_connection_send_bytes(w->conn, quit, sizeof quit, 0,
                                        MPROC_REST, 1.0);
    }
  }
}

/* Tells every worker to quit and reaps them (close + join). */
static void quit_workers(mp_engine_t *e) {
  static const unsigned char quit[] = {0x91, 0x00};
  for (int i = 0; i < e->nworkers; i++)
    if (e->workers[i].proc)
      (void)mproc_connection_send_bytes(e->workers[i].conn, quit, sizeof quit,
                                        0, MPROC_REST, 1.0);
  for (int i = 0; i < e->nworkers; i++) {
    worker_t *w = &e->workers[i];
    if (w->proc == NULL) continue;
    char why[128];
    mp_task_t *held = w->task;
    w->task = NULL;
    reap_worker(w, 5.0, why, sizeof why);
    if (held) finish_task(held, MPROC_ESTATE, "pool: terminated", NULL);
  }
}

/* Stops every worker: a kill, or with e->gentle a terminate, then a kill
 * for a worker still running a second later (one that ignores it). */
static void kill_workers(mp_engine_t *e) {
  mp_mutex_lock(&e->mu);
  int gentle = e->gentle;
  /* Lent tasks become the result thread's. One a waiter reads is waited
   * for: the signal sent here ends its worker, which that wait sees. */
  double start = mp_monotonic();
  for (;;) {
    int reading = 0;
    for (int i = 0; i < e->nworkers; i++) {
      worker_t *w = &e->workers[i];
      w->idle = 0;
      if (w->lent && !adopt_lent(w, 1)) reading = 1;
    }
    if (!reading) break;
    int soft = gentle && mp_monotonic() - start < 1.0;
    for (int i = 0; i < e->nworkers; i++) {
      mproc_process_t *p = e->workers[i].lent ? e->workers[i].proc : NULL;
      if (p) (void)(soft ? mproc_process_terminate(p) : mproc_process_kill(p));
    }
    mp_cond_wait(&e->cv, &e->mu, 0.05);
  }
  mp_mutex_unlock(&e->mu);
  for (int i = 0; i < e->nworkers; i++) {
    mproc_process_t *p = e->workers[i].proc;
    if (p) (void)(gentle ? mproc_process_terminate(p) : mproc_process_kill(p));
  }
  for (int i = 0; i < e->nworkers; i++) {
    worker_t *w = &e->workers[i];
    if (w->proc == NULL) continue;
    char why[128];
    mp_task_t *held = w->task;
    w->task = NULL;
    long pid = w->pid;
    mp_task_t *unstarted = take_backlog(w);
    reap_worker(w, gentle ? 1.0 : MPROC_FOREVER, why, sizeof why);
    while (unstarted) {
      mp_task_t *next = unstarted->next;
      unstarted->next = NULL;
      finish_task(unstarted, MPROC_ESTATE,
                  "pool: terminated before the task ran", NULL);
      unstarted = next;
    }
    if (held) {
      char msg[256];
      snprintf(msg, sizeof msg,
               "pool: terminated while the task ran (its worker, pid %ld, "
               "%s)",
               pid, why);
      finish_task(held, MPROC_ESTATE, msg, NULL);
    }
  }
}

static void check_kills(mp_engine_t *e); /* executor (end of file) */

static void process_loop(mp_engine_t *e) {
  size_t cap = 1 + 2 * (size_t)e->nworkers;
  mproc_sentinel_t *s = calloc(cap, sizeof *s);
  int *ready = calloc(cap, sizeof *ready);
  int *who = calloc(cap, sizeof *who);
  for (;;) {
    mp_mutex_lock(&e->mu);
    int terminating = e->terminating;
    int closed = e->closed;
    size_t npending = e->npending;
    mproc_status_t start_failure = e->start_failure;
    /* Lent tasks stay their waiters' to read unless tasks wait for a
     * worker or the pool closes (or a waiter gave one back broken). */
    int lent = 0;
    for (int i = 0; i < e->nworkers; i++) {
      worker_t *w = &e->workers[i];
      if (w->lent && !adopt_lent(w, npending || closed)) lent = 1;
    }
    mp_mutex_unlock(&e->mu);
    if (terminating) break;
    if (!any_worker(e) && start_failure != MPROC_OK) {
      fail_pending(e, start_failure, "pool: no worker could be started");
      if (closed) break;
    }
    dispatch(e);
    int busy = lent;
    for (int i = 0; i < e->nworkers; i++)
      if (e->workers[i].task) busy = 1;
    if (closed && npending == 0 && !busy) {
      quit_workers(e);
      break;
    }
    if (s == NULL || ready == NULL || who == NULL) {
      mproc_sleep(0.01); /* no memory for the wait list: poll */
      continue;
    }
    /* who[j]: -1 the wake pipe; 2i worker i's connection; 2i+1 its
     * process (only then, or at the end of its connection, is it asked
     * whether it still runs: a wait4 per reply would cost a syscall). */
    size_t k = 0;
    if (mproc_connection_sentinel(e->wake_r, &s[k]) == MPROC_OK) who[k++] = -1;
    int lanes = !e->cfg.maxtasks && !e->cfg.max_memory;
    mp_mutex_lock(&e->mu);
    for (int i = 0; i < e->nworkers; i++) {
      worker_t *w = &e->workers[i];
      if (w->proc == NULL) continue;
      /* Done with it this round: a submitter may lend it a task. */
      if (lanes && !w->lent && has_room(e, w, 0)) w->idle = 1;
      /* Not the connection of an idle worker (it sends nothing) or of a
       * lent one (its reply is its waiter's to read): a reply there
       * would wake this thread for nothing. */
      if (!w->idle && !w->lent &&
          mproc_connection_sentinel(w->conn, &s[k]) == MPROC_OK)
        who[k++] = 2 * i;
      if (mproc_process_sentinel(w->proc, &s[k]) == MPROC_OK)
        who[k++] = 2 * i + 1;
    }
    mp_mutex_unlock(&e->mu);
    double now = mp_monotonic();
    double timeout = next_timeout(e, now);
    if (!any_worker(e) && timeout < 0) timeout = 0.05; /* retry starting */
    /* A heartbeat: a wake that could not be sent costs a second at most. */
    if (timeout < 0 || timeout > 1.0) timeout = 1.0;
    memset(ready, 0, cap * sizeof *ready);
    mproc_status_t st = mproc_wait(s, k, ready, NULL, timeout);
    if (st != MPROC_OK && st != MPROC_ETIMEDOUT) {
      mproc_sleep(0.001);
      continue;
    }
    for (size_t j = 0; j < k; j++) {
      if (!ready[j]) continue;
      if (who[j] < 0) {
        drain_wake(e, 1);
        continue;
      }
      int index = who[j] / 2, process_ready = who[j] % 2;
      worker_t *w = &e->workers[index];
      if (w->proc == NULL) continue; /* handled by an earlier entry */
      /* No longer idle while it is looked at; a lent task (its worker
       * ended) becomes this thread's, unless a waiter reads it. */
      mp_mutex_lock(&e->mu);
      w->idle = 0;
      int theirs = w->lent && !adopt_lent(w, 1);
      mp_mutex_unlock(&e->mu);
      if (theirs) {
        /* It ended while a waiter reads it: the waiter sees that too and
         * gives the task back (waking this thread); until then its
         * sentinel stays ready, so yield instead of spinning. */
        mproc_sleep(0.001);
        continue;
      }
      int alive = read_replies(e, w, !process_ready);
      int running = 1;
      if (alive && process_ready &&
          mproc_process_is_alive(w->proc, &running) != MPROC_OK)
        running = 0;
      if (!alive || !running) worker_ended(e, index);
    }
    if (!any_worker(e)) {
      /* Every slot is empty (starting failed): try again. */
      for (int i = 0; i < e->nworkers; i++) {
        worker_t fresh;
        if (start_worker(e, &fresh, i) == MPROC_OK) {
          mp_mutex_lock(&e->mu);
          e->workers[i] = fresh;
          e->start_failure = MPROC_OK;
          mp_mutex_unlock(&e->mu);
        }
      }
    }
    check_timeouts(e, mp_monotonic());
    check_kills(e);
  }
  kill_workers(e);
  fail_pending(e, MPROC_ESTATE, "pool: terminated before the task ran");
  free(s);
  free(ready);
  free(who);
}

/* ---- the thread backend --------------------------------------------- */

static void thread_worker(void *arg) {
  thread_arg_t *ta = arg;
  mp_engine_t *e = ta->e;
  if (e->cfg.thread_name_prefix) {
    char name[MPROC_THREAD_NAME_MAX];
    snprintf(name, sizeof name, "%s_%d", e->cfg.thread_name_prefix,
             ta->index);
    mp_name_this_thread(name);
  }
  free(ta);
  if (e->cfg.initializer) {
    mproc_obj_t *out = NULL;
    (void)e->cfg.initializer(e->initargs, &out);
    if (out && out->parent == NULL) mp_obj_destroy(out);
  }
  mp_mutex_lock(&e->mu);
  for (;;) {
    while (e->pending == NULL && !e->terminating && !e->closed)
      mp_cond_wait(&e->cv, &e->mu, -1);
    if (e->pending == NULL || e->terminating) break;
    mp_task_t *t = e->pending;
    e->pending = t->next;
    if (e->pending == NULL) e->pending_tail = NULL;
    e->npending--;
    e->busy++;
    mp_mutex_unlock(&e->mu);
    t->next = NULL;
    t->reply = run_items(t->fn, t->args);
    mp_mutex_lock(&e->mu);
    e->busy--;
    if (e->finished_tail)
      e->finished_tail->next = t;
    else
      e->finished = t;
    e->finished_tail = t;
    wake(e);
  }
  mp_mutex_unlock(&e->mu);
  mp_node_flush_thread_cache();
}

/* Delivers the replies of a list of finished thread tasks (NULL reply:
 * the copy ran out of memory). */
static void deliver_finished(mp_task_t *done) {
  while (done) {
    mp_task_t *next = done->next;
    mproc_obj_t *reply = done->reply;
    done->reply = NULL;
    if (reply)
      finish_with_reply(done, reply);
    else
      finish_task(done, MPROC_ENOMEM, "pool: out of memory", NULL);
    done = next;
  }
}

static void thread_loop(mp_engine_t *e) {
  mproc_sentinel_t s;
  int ok = mproc_connection_sentinel(e->wake_r, &s) == MPROC_OK;
  for (;;) {
    mp_mutex_lock(&e->mu);
    mp_task_t *done = e->finished;
    e->finished = e->finished_tail = NULL;
    int stop = e->terminating ||
               (e->closed && e->npending == 0 && e->busy == 0);
    mp_mutex_unlock(&e->mu);
    deliver_finished(done);
    if (stop) break;
    if (ok)
      (void)mproc_wait(&s, 1, NULL, NULL, 1.0);
    else
      mproc_sleep(0.01);
    drain_wake(e, 0);
  }
  mp_mutex_lock(&e->mu);
  e->terminating = 1;
  mp_cond_broadcast(&e->cv);
  mp_mutex_unlock(&e->mu);
  for (int i = 0; i < e->nworkers; i++)
    if (e->workers[i].thread) {
      mp_thread_join(e->workers[i].thread);
      e->workers[i].thread = NULL;
    }
  /* Replies of tasks that ran while the pool was terminated. */
  mp_task_t *done = e->finished;
  e->finished = e->finished_tail = NULL;
  deliver_finished(done);
  fail_pending(e, MPROC_ESTATE, "pool: terminated before the task ran");
}

static void result_thread(void *arg) {
  mp_engine_t *e = arg;
  if (e->cfg.threads)
    thread_loop(e);
  else
    process_loop(e);
  mp_mutex_lock(&e->mu);
  e->finished_flag = 1;
  mp_cond_broadcast(&e->cv);
  mp_mutex_unlock(&e->mu);
  mp_node_flush_thread_cache();
}

/* ---- the engine ----------------------------------------------------- */

static void engine_release(mp_engine_t *e) {
  mproc_connection_free(e->wake_r);
  mproc_connection_free(e->wake_w);
  mp_obj_destroy(e->initargs);
  free(e->worker_arg);
  free(e->workers);
  mp_cond_destroy(&e->cv);
  mp_mutex_destroy(&e->mu);
  free(e);
}

mproc_status_t mp_engine_check_function(mp_engine_t *e, mproc_function_fn fn,
                                        const char *call) {
  if (e->cfg.threads) return MPROC_OK;
  mp_buf_t b = {0};
  mproc_status_t st = put_function_ref(&b, e->forked, fn, call);
  mp_buf_free(&b);
  return st;
}

mproc_status_t mp_engine_create(mp_engine_t **out,
                                const mp_engine_config_t *config) {
  mp_engine_t *e = calloc(1, sizeof *e);
  if (e == NULL) return mp_fail(MPROC_ENOMEM, "pool_create");
  e->cfg = *config;
  e->avg_task = -1;
  const char *method = NULL;
  mproc_context_method(config->context, &method);
  e->forked = method && strcmp(method, "fork") == 0;
  mproc_status_t st = MPROC_OK;
  if (config->initargs) st = mproc_obj_copy(&e->initargs, config->initargs);
  e->cfg.initargs = NULL;
  if (st == MPROC_OK && !config->threads) {
    /* The worker's config: [initref, initargs]. */
    mp_buf_t b = {0};
    mproc_obj_t *ref = NULL;
    put_array_header(&b, 3);
    if (config->initializer)
      st = function_ref(e->forked, config->initializer, &ref,
                        "pool_create: initializer");
    if (st == MPROC_OK) st = put_obj(&b, ref);
    if (st == MPROC_OK) st = put_obj(&b, e->initargs);
    mproc_obj_t *limit = NULL;
    if (st == MPROC_OK)
      st = mproc_obj_int(&limit, (int64_t)config->max_memory);
    if (st == MPROC_OK) st = put_obj(&b, limit);
    mp_obj_destroy(limit);
    mp_obj_destroy(ref);
    if (st == MPROC_OK && b.failed) st = mp_fail(MPROC_ENOMEM, "pool_create");
    if (st != MPROC_OK) {
      mp_buf_free(&b);
    } else {
      e->worker_arg = b.data;
      e->worker_arg_len = b.len;
    }
  }
  if (st == MPROC_OK) st = mproc_pipe(&e->wake_r, &e->wake_w, 0);
  if (st == MPROC_OK) {
    e->workers = calloc((size_t)config->processes, sizeof *e->workers);
    if (e->workers == NULL) st = mp_fail(MPROC_ENOMEM, "pool_create");
  }
  if (st != MPROC_OK) {
    engine_release(e);
    return st;
  }
  e->nworkers = config->processes;
  for (int i = 0; i < e->nworkers && st == MPROC_OK; i++)
    st = start_worker(e, &e->workers[i], i);
  if (st == MPROC_OK) st = mp_thread_create(&e->result_thread, result_thread, e);
  if (st != MPROC_OK) {
    char detail[512];
    snprintf(detail, sizeof detail, "%s", mproc_last_error());
    mp_mutex_lock(&e->mu);
    e->terminating = 1;
    mp_cond_broadcast(&e->cv);
    mp_mutex_unlock(&e->mu);
    if (config->threads) {
      for (int i = 0; i < e->nworkers; i++)
        if (e->workers[i].thread) mp_thread_join(e->workers[i].thread);
    } else {
      kill_workers(e);
    }
    engine_release(e);
    return mp_fail(st, "%s", detail);
  }
  *out = e;
  return MPROC_OK;
}

static mproc_status_t enqueue(mp_engine_t *e, mp_job_t *job, mp_task_t *t);

mproc_status_t mp_task_message(int forked, mproc_function_fn fn,
                               const mproc_obj_t *items, size_t first,
                               size_t n, const mproc_obj_t *single,
                               void **msg, size_t *len) {
  mp_buf_t b = {0};
  /* Room for the head, a function reference and n ints at once, not
   * grown (and copied) as they come: for one item that was a malloc and
   * two reallocs per submit. Not more: a one-item message stays a 64-byte
   * block, which another thread frees cheaply; asking 64 + 9n (a 128-byte
   * block) made W10.mpi's submits ~25% slower (glibc sorts such blocks
   * freed by the MPI service thread through its unsorted bin). */
  if (n < SIZE_MAX / 16) (void)mp_buf_room(&b, 48 + 9 * n);
  static const unsigned char head[] = {0x93, 0x01};
  mp_buf_put(&b, head, sizeof head);
  mproc_status_t st = put_function_ref(&b, forked, fn, "pool");
  put_array_header(&b, n);
  if (n < SIZE_MAX / 16) (void)mp_buf_room(&b, 9 * n);
  for (size_t i = 0; st == MPROC_OK && i < n; i++) {
    /* The items are cold (a list of a hundred thousand is no cache's):
     * ask for one a few ahead while this one is encoded. */
    if (items && i + 16 < n) __builtin_prefetch(items->u.items[first + i + 16]);
    st = put_obj(&b, items ? items->u.items[first + i] : single);
  }
  if (st == MPROC_OK && b.failed) st = mp_fail(MPROC_ENOMEM, "pool: a task");
  if (st != MPROC_OK) {
    mp_buf_free(&b);
    return st;
  }
  *msg = b.data;
  *len = b.len;
  return MPROC_OK;
}

int mp_task_run_encoded(const void *msg, size_t len, mp_buf_t *reply) {
  const unsigned char *bytes = msg;
  reply->len = 0;
  reply->failed = 0;
  if (len < 2 || bytes[0] != 0x93 || bytes[1] != 0x01) return -2;
  mp_cursor_t c = {bytes, len, 2};
  mproc_obj_t *ref = NULL;
  int rc = mp_cursor_value(&c, &ref) == MPROC_OK
               ? run_encoded(resolve_ref(ref), &c, reply)
               : -2;
  mp_obj_destroy(ref);
  return rc;
}

static mproc_status_t submit(mp_engine_t *e, mp_job_t *job,
                             mproc_function_fn fn, const mproc_obj_t *items,
                             size_t first, size_t n, size_t slot,
                             const mproc_obj_t *single, double timeout) {
  mp_task_t *t = calloc(1, sizeof *t);
  if (t == NULL) return mp_fail(MPROC_ENOMEM, "pool: a task");
  t->first = slot;
  t->n = n;
  t->timeout = timeout;
  mproc_status_t st = MPROC_OK;
  if (e->cfg.threads) {
    t->fn = fn;
    st = mproc_obj_list(&t->args);
    for (size_t i = 0; st == MPROC_OK && i < n; i++) {
      const mproc_obj_t *src = items ? items->u.items[first + i] : single;
      mproc_obj_t *copy = NULL;
      st = src ? mproc_obj_copy(&copy, src) : mproc_obj_none(&copy);
      if (st == MPROC_OK) {
        st = mproc_obj_list_append(t->args, copy);
        if (st != MPROC_OK) mp_obj_destroy(copy);
      }
    }
  } else {
    st = mp_task_message(e->forked, fn, items, first, n, single, &t->msg,
                         &t->len);
  }
  if (st != MPROC_OK) {
    task_free(t);
    return st;
  }
  return enqueue(e, job, t);
}

/* Appends t (a task of job) to the pending list; releases it if the pool
 * no longer takes tasks. */
static mproc_status_t enqueue(mp_engine_t *e, mp_job_t *job, mp_task_t *t) {
  mp_mutex_lock(&e->mu);
  if (e->closed || e->terminating) {
    mp_mutex_unlock(&e->mu);
    task_free(t);
    return mp_fail(MPROC_ESTATE, "pool: the pool is %s",
                   e->terminating ? "terminated" : "closed");
  }
  mp_job_ref(job);
  t->job = job;
  if (job->direct && lend(e, t)) {
    mp_mutex_unlock(&e->mu);
    return MPROC_OK;
  }
  if (e->pending_tail)
    e->pending_tail->next = t;
  else
    e->pending = t;
  e->pending_tail = t;
  e->npending++;
  if (e->cfg.threads)
    mp_cond_signal(&e->cv);
  else
    wake(e);
  mp_mutex_unlock(&e->mu);
  return MPROC_OK;
}

mproc_status_t mp_engine_submit(mp_engine_t *e, mp_job_t *job,
                                mproc_function_fn fn, const mproc_obj_t *items,
                                size_t first, size_t n,
                                const mproc_obj_t *single, double timeout) {
  return submit(e, job, fn, items, first, n, first, single, timeout);
}

mproc_status_t mp_engine_submit_at(mp_engine_t *e, mp_job_t *job,
                                   mproc_function_fn fn,
                                   const mproc_obj_t *items, size_t first,
                                   size_t n, size_t slot, double timeout) {
  return submit(e, job, fn, items, first, n, slot, NULL, timeout);
}

mproc_status_t mp_engine_submit_kernel(mp_engine_t *e, mp_job_t *job,
                                       mproc_function_fn kernel,
                                       const char *in_name, size_t in_size,
                                       const char *out_name, size_t out_size,
                                       size_t first, size_t n, size_t slot,
                                       double timeout) {
  if (e->cfg.threads)
    return mp_fail(MPROC_ENOTSUP, "pool_map_shared: not on a ThreadPool");
  mproc_obj_t *ref = NULL, *msg = NULL;
  mproc_status_t st = function_ref(e->forked, kernel, &ref, "pool_map_shared");
  if (st != MPROC_OK) return st;
  st = mproc_obj_build(&msg, "(iNsnsnnn)", 2, ref, in_name, in_size, out_name,
                       out_size, first, n);
  if (st != MPROC_OK) {
    mp_obj_destroy(ref);
    return st;
  }
  mp_task_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    mp_obj_destroy(msg);
    return mp_fail(MPROC_ENOMEM, "pool_map_shared");
  }
  t->first = slot;
  t->n = 1;
  t->timeout = timeout;
  st = mproc_obj_encode(msg, &t->msg, &t->len);
  mp_obj_destroy(msg);
  if (st != MPROC_OK) {
    free(t);
    return st;
  }
  return enqueue(e, job, t);
}

int mp_engine_processes(const mp_engine_t *e) { return e->nworkers; }

mproc_status_t mp_engine_worker_pids(mp_engine_t *e, long *out, size_t cap,
                                     size_t *count) {
  size_t n = 0;
  mp_mutex_lock(&e->mu);
  if (e->terminating || e->finished_flag) {
    mp_mutex_unlock(&e->mu);
    return mp_fail(MPROC_ESTATE, "pool_worker_pids: the pool has ended");
  }
  for (int i = 0; i < e->nworkers; i++) {
    if (e->workers[i].pid == 0) continue;
    if (n < cap) out[n] = e->workers[i].pid;
    n++;
  }
  mp_mutex_unlock(&e->mu);
  *count = n;
  return MPROC_OK;
}

void mp_engine_close(mp_engine_t *e) {
  mp_mutex_lock(&e->mu);
  e->closed = 1;
  mp_cond_broadcast(&e->cv);
  wake(e);
  mp_mutex_unlock(&e->mu);
}

static void join_result_thread(mp_engine_t *e) {
  mp_thread_t *t = e->result_thread;
  e->result_thread = NULL;
  if (t) mp_thread_join(t);
}

void mp_engine_terminate(mp_engine_t *e) { mp_engine_stop(e, 0); }

void mp_engine_stop(mp_engine_t *e, int gentle) {
  mp_mutex_lock(&e->mu);
  if (!e->terminating) e->gentle = gentle;
  e->terminating = 1;
  e->closed = 1;
  mp_cond_broadcast(&e->cv);
  wake(e);
  mp_mutex_unlock(&e->mu);
  join_result_thread(e);
}

mproc_status_t mp_engine_join(mp_engine_t *e, double timeout) {
  double deadline = mp_deadline(timeout);
  mp_mutex_lock(&e->mu);
  if (!e->closed && !e->terminating) {
    mp_mutex_unlock(&e->mu);
    return mp_fail(MPROC_ESTATE, "pool_join: close or terminate the pool first");
  }
  while (!e->finished_flag) {
    double left = mp_time_left(deadline);
    if (deadline >= 0 && left <= 0) {
      mp_mutex_unlock(&e->mu);
      return mp_fail(MPROC_ETIMEDOUT, "pool_join: the workers still run");
    }
    mp_cond_wait(&e->cv, &e->mu, left);
  }
  mp_mutex_unlock(&e->mu);
  join_result_thread(e);
  return MPROC_OK;
}

void mp_engine_free(mp_engine_t *e) {
  if (e == NULL) return;
  mp_engine_terminate(e);
  engine_release(e);
}

/* ---- for the executor (core/executor.c) ----------------------------- */

int mp_engine_job_queued(mp_engine_t *e, const mp_job_t *job) {
  int found = 0;
  mp_mutex_lock(&e->mu);
  for (mp_task_t *t = e->pending; t && !found; t = t->next)
    found = t->job == job;
  mp_mutex_unlock(&e->mu);
  return found;
}

size_t mp_engine_cancel_pending(mp_engine_t *e, const mp_job_t *job,
                                mproc_status_t st, const char *msg) {
  mp_task_t *taken = NULL, **tail = &taken;
  size_t n = 0;
  mp_mutex_lock(&e->mu);
  mp_task_t **link = &e->pending;
  e->pending_tail = NULL;
  while (*link) {
    mp_task_t *t = *link;
    if (job == NULL || t->job == job) {
      *link = t->next;
      t->next = NULL;
      *tail = t;
      tail = &t->next;
      e->npending--;
      n++;
    } else {
      e->pending_tail = t;
      link = &t->next;
    }
  }
  if (n) wake(e); /* a closed engine may now be done */
  mp_mutex_unlock(&e->mu);
  while (taken) {
    mp_task_t *next = taken->next;
    finish_task(taken, st, msg, NULL);
    taken = next;
  }
  return n;
}

void mp_engine_kill_job(mp_engine_t *e, mp_job_t *job) {
  __atomic_store_n(&job->kill_requested, 1, __ATOMIC_RELEASE);
  mp_mutex_lock(&e->mu);
  wake(e);
  mp_mutex_unlock(&e->mu);
}

/* The result thread: kills the workers running a task whose job asked for
 * it (mp_engine_kill_job), as check_timeouts does for a deadline. A task
 * in a worker's backlog is in its pipe already: it is killed once it is
 * the worker's task (the worker's replies must keep their order). */
static void check_kills(mp_engine_t *e) {
  for (int i = 0; i < e->nworkers; i++) {
    worker_t *w = &e->workers[i];
    if (w->proc == NULL || w->task == NULL ||
        !__atomic_load_n(&w->task->job->kill_requested, __ATOMIC_ACQUIRE))
      continue;
    mp_task_t *t = w->task;
    w->task = NULL;
    w->timed_out = 1; /* no new task; replaced once its end is seen */
    requeue(e, take_backlog(w));
    char msg[256];
    snprintf(msg, sizeof msg,
             "executor: the future was cancelled while running; its worker "
             "(pid %ld) was killed",
             w->pid);
    mp_process_kill_group(w->proc);
    finish_task(t, MPROC_ECANCELLED, msg, NULL);
  }
}
