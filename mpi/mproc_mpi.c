/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MPI executor: a backend of the executor front (core/executor.c,
 * core/executor_backend.h) whose workers are MPI processes (docs/mpi.md).
 *
 * Master: one service thread makes every MPI call of the process while an
 * executor lives (MPI_THREAD_SERIALIZED is enough). It hands the pending
 * tasks (the engine's task messages, core/pool_engine.h) to workers in
 * batches, up to DEPTH (2) in flight per worker while its tasks are quick
 * (one while they are slow), receives the replies and
 * settles the jobs (mp_job_finish_reply). It polls with MPI_Iprobe: spin
 * briefly, then sleep on its condition with a growing timeout, so a
 * submit wakes it at once and an idle master burns no core. Submits go
 * to an intake list under a lock of their own (imu), never waiting for
 * the service thread's mutex, which it holds through its MPI calls.
 *
 * Worker: a loop that probes the master the same way (spin, then back
 * off up to 1 ms), runs a batch, and sends the replies. While it runs a
 * task a second thread sends a heartbeat every 0.25 s: MPI (without
 * ULFM) reports no dead peer, so a worker that stays silent for
 * worker_timeout while it holds tasks is declared dead and its futures
 * fail with MPROC_EWORKERDIED. The master never blocks on a worker: every
 * send is an MPI_Isend tested in the loop.
 *
 * Wire (tags below): a batch and a reply batch are frames
 * [u64 id][u64 length][bytes]: a task message (mp_task_message) one way,
 * its encoded reply (mp_task_run_encoded) the other.
 */
#include "mproc_mpi.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/executor_backend.h"
#include "core/object.h"
#include "core/pool_engine.h"
#include "core/task_registry.h"
#include "platform/platform.h"

enum { TAG_TASKS = 11, TAG_REPLIES, TAG_BEAT, TAG_STOP };

#define SPIN_SECONDS 50e-6   /* polling before backing off */
#define BACKOFF_MAX 1e-3     /* the longest sleep between polls */
#define BEAT_SECONDS 0.25    /* a busy worker's heartbeat */
#define BATCH_MAX 256        /* tasks in one message */
#define QUICK_TASK 200e-6    /* a batch this quick per task doubles */
#define STOP_WAIT 2.0        /* seconds a stop message may take */

static struct {
  int started, finalized, we_initialized;
  int role, mode;
  int world_rank, world_size;
  MPI_Comm parent;
  char *argv0;
  int executors;     /* MPI executors alive */
  int ranks_in_use;  /* pre-launched: an executor holds the ranks */
  unsigned char *dead; /* pre-launched: world ranks found dead */
} g;

static uint64_t g_next_id; /* task ids (__atomic) */

static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = malloc(n);
  if (c) memcpy(c, s, n);
  return c;
}

static mproc_status_t mpi_fail(int code, const char *call) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  text[len] = '\0';
  return mp_fail(MPROC_ESYS, "%s failed: %s", call, len ? text : "?");
}

/* Polling pause: spin SPIN_SECONDS after the last activity, then sleep
 * 10 us doubling up to BACKOFF_MAX. */
typedef struct {
  double idle_since, sleep;
} backoff_t;

static void backoff_reset(backoff_t *b) {
  b->idle_since = -1;
  b->sleep = 10e-6;
}

/* 0: keep spinning; else the seconds to sleep now. */
static double backoff_next(backoff_t *b) {
  double now = mp_monotonic();
  if (b->idle_since < 0) b->idle_since = now;
  if (now - b->idle_since < SPIN_SECONDS) {
    mp_cpu_relax();
    return 0;
  }
  double s = b->sleep;
  b->sleep = s * 2 > BACKOFF_MAX ? BACKOFF_MAX : s * 2;
  return s;
}

static void put_frame(mp_buf_t *b, uint64_t id, const void *p, size_t n) {
  mp_buf_put_u64(b, id);
  mp_buf_put_u64(b, n);
  mp_buf_put(b, p, n);
}

/* A receive buffer kept across messages: a batch of a few kilobytes
 * malloc'd and freed per message made glibc consolidate its fast bins
 * (every small object the tasks freed) each time. */
typedef struct {
  unsigned char *data;
  size_t cap;
} rbuf_t;

/* Receives the probed message into r (grown as needed). */
static int recv_reuse(MPI_Comm comm, const MPI_Status *probed, rbuf_t *r,
                      int *len) {
  int n = 0;
  MPI_Get_count(probed, MPI_BYTE, &n);
  size_t need = n > 0 ? (size_t)n : 1;
  if (need > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < need) cap *= 2;
    unsigned char *p = realloc(r->data, cap);
    if (p == NULL) return -1;
    r->data = p;
    r->cap = cap;
  }
  if (MPI_Recv(r->data, n, MPI_BYTE, probed->MPI_SOURCE, probed->MPI_TAG,
               comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return -1;
  *len = n;
  return 0;
}

/* Sends a small message, waiting at most STOP_WAIT for it to leave (a
 * dead peer never takes it; the request is then abandoned). */
static void send_bounded(const void *p, int n, int rank, int tag,
                         MPI_Comm comm) {
  MPI_Request req;
  if (MPI_Isend(p, n, MPI_BYTE, rank, tag, comm, &req) != MPI_SUCCESS) return;
  double end = mp_monotonic() + STOP_WAIT;
  int flag = 0;
  while (!flag && mp_monotonic() < end) {
    if (MPI_Test(&req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) return;
    if (!flag) mp_sleep(1e-3);
  }
  if (!flag) MPI_Request_free(&req);
}

/* ---- the worker ------------------------------------------------------ */

/* A spawned worker's answer to the stop before the disconnect: its pid
 * and host ("<pid> <processor name>"), so the master can wait for it to
 * end (end_spawned). */
#define WHOAMI_MAX (32 + MPI_MAX_PROCESSOR_NAME)

static void send_whoami(MPI_Comm comm, int master) {
  char host[MPI_MAX_PROCESSOR_NAME], msg[WHOAMI_MAX];
  int len = 0;
  if (MPI_Get_processor_name(host, &len) != MPI_SUCCESS) len = 0;
  host[len] = '\0';
  int n = snprintf(msg, sizeof msg, "%ld %s", mp_getpid(), host);
  if (n > 0 && n < (int)sizeof msg)
    send_bounded(msg, n, master, TAG_STOP, comm);
}

typedef struct {
  MPI_Comm comm;
  int master;
  mp_mutex_t mu; /* serializes this process's MPI calls; guards below */
  mp_cond_t cv;
  int running, stop;
  mp_buf_t out;   /* the reply batch, kept across batches */
  mp_buf_t reply; /* one task's reply, kept across tasks */
} wstate_t;

static void beat_thread(void *arg) {
  wstate_t *w = arg;
  static const char beat = 0;
  mp_mutex_lock(&w->mu);
  while (!w->stop) {
    (void)mp_cond_wait(&w->cv, &w->mu, BEAT_SECONDS);
    if (w->running && !w->stop)
      send_bounded(&beat, 1, w->master, TAG_BEAT, w->comm);
  }
  mp_mutex_unlock(&w->mu);
}

/* Runs one task frame, appending its reply frame (the reply is encoded
 * into w->reply as the task runs, item by item: mp_task_run_encoded). */
static void run_frame(wstate_t *w, uint64_t id, const void *p, size_t n) {
  if (mp_task_run_encoded(p, n, &w->reply) == 0) {
    put_frame(&w->out, id, w->reply.data, w->reply.len);
    return;
  }
  /* [status, message]: the master fails the task with it. */
  mproc_obj_t *reply = NULL;
  void *enc = NULL;
  size_t len = 0;
  if (mproc_obj_build(&reply, "(is)", (int)MPROC_ENOMEM,
                      "MPI worker: the task could not be run or its reply "
                      "encoded") == MPROC_OK &&
      mproc_obj_encode(reply, &enc, &len) == MPROC_OK)
    put_frame(&w->out, id, enc, len);
  else
    put_frame(&w->out, id, "", 0);
  mproc_obj_free(reply);
  free(enc);
}

static void run_batch(wstate_t *w, const unsigned char *buf, int len) {
  mp_reader_t r = {buf, (size_t)len, 0, 0};
  mp_buf_t *out = &w->out;
  out->len = 0;
  out->failed = 0;
  while (r.pos < r.len && !r.bad) {
    uint64_t id = mp_read_u64(&r);
    uint64_t n = mp_read_u64(&r);
    const void *p = mp_read(&r, (size_t)n);
    if (p == NULL) break;
    run_frame(w, id, p, (size_t)n);
  }
  mp_mutex_lock(&w->mu);
  w->running = 0;
  if (!out->failed)
    MPI_Send(out->data, (int)out->len, MPI_BYTE, w->master, TAG_REPLIES,
             w->comm);
  mp_mutex_unlock(&w->mu);
}

/* Serves the master until it says stop. 1: it asked to disconnect. */
static int serve(MPI_Comm comm, int master) {
  wstate_t w;
  memset(&w, 0, sizeof w);
  w.comm = comm;
  w.master = master;
  mp_thread_t *beat = NULL;
  if (mp_thread_create(&beat, beat_thread, &w) != MPROC_OK) beat = NULL;
  backoff_t b;
  backoff_reset(&b);
  int disconnect = 0;
  rbuf_t in = {NULL, 0};
  for (;;) {
    int flag = 0;
    MPI_Status st;
    mp_mutex_lock(&w.mu);
    int rc = MPI_Iprobe(master, MPI_ANY_TAG, comm, &flag, &st);
    int len = 0;
    int got = rc == MPI_SUCCESS && flag && recv_reuse(comm, &st, &in, &len) == 0;
    unsigned char *buf = in.data;
    if (got && st.MPI_TAG == TAG_TASKS) w.running = 1;
    mp_mutex_unlock(&w.mu);
    if (rc != MPI_SUCCESS) break;
    if (!got) {
      double s = backoff_next(&b);
      if (s > 0) mp_sleep(s);
      continue;
    }
    backoff_reset(&b);
    if (st.MPI_TAG == TAG_STOP) {
      disconnect = len > 0 && buf[0] == 1;
      if (disconnect) send_whoami(comm, master);
      break;
    }
    if (st.MPI_TAG == TAG_TASKS) run_batch(&w, buf, len);
  }
  free(in.data);
  mp_buf_free(&w.out);
  mp_buf_free(&w.reply);
  mp_mutex_lock(&w.mu);
  w.stop = 1;
  mp_cond_broadcast(&w.cv);
  mp_mutex_unlock(&w.mu);
  if (beat) mp_thread_join(beat);
  mp_cond_destroy(&w.cv);
  mp_mutex_destroy(&w.mu);
  return disconnect;
}

/* ---- start, mode, finalize ------------------------------------------ */

static mproc_status_t serve_as_worker(void) {
  if (g.parent != MPI_COMM_NULL) {
    MPI_Comm_set_errhandler(g.parent, MPI_ERRORS_RETURN);
    if (serve(g.parent, 0))
      MPI_Comm_disconnect(&g.parent);
    else
      MPI_Comm_free(&g.parent);
    g.parent = MPI_COMM_NULL;
  } else {
    (void)serve(MPI_COMM_WORLD, 0);
  }
  return MPROC_OK;
}

mproc_status_t mproc_mpi_start(int *argc, char ***argv, int *role) {
  if (role == NULL) return mp_fail(MPROC_EINVAL, "mpi_start: NULL role");
  if (g.finalized)
    return mp_fail(MPROC_ESTATE, "mpi_start: MPI was finalized");
  if (g.started) {
    *role = g.role;
    return MPROC_OK;
  }
  int inited = 0, provided = 0, rc;
  MPI_Initialized(&inited);
  if (!inited) {
    rc = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "mpi_start: MPI_Init_thread");
    g.we_initialized = 1;
  } else {
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_SERIALIZED)
    return mp_fail(MPROC_ENOTSUP,
                   "mpi_start: the MPI library gives thread level %d, the "
                   "executor needs MPI_THREAD_SERIALIZED",
                   provided);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g.world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g.world_size);
  MPI_Comm_get_parent(&g.parent);
  if (argv && *argv && (*argv)[0]) g.argv0 = copy_string((*argv)[0]);
  g.started = 1;
  g.mode = g.parent == MPI_COMM_NULL && g.world_size == 1
               ? MPROC_MPI_SPAWN
               : (g.parent != MPI_COMM_NULL ? MPROC_MPI_SPAWN
                                            : MPROC_MPI_PRELAUNCHED);
  g.role = g.parent != MPI_COMM_NULL || g.world_rank > 0 ? MPROC_MPI_WORKER
                                                         : MPROC_MPI_MASTER;
  if (g.mode == MPROC_MPI_PRELAUNCHED && g.role == MPROC_MPI_MASTER) {
    g.dead = calloc((size_t)g.world_size, 1);
    if (g.dead == NULL) return mp_fail(MPROC_ENOMEM, "mpi_start");
  }
  if (g.role == MPROC_MPI_WORKER) serve_as_worker();
  *role = g.role;
  return MPROC_OK;
}

mproc_status_t mproc_mpi_mode(int *mode) {
  if (mode == NULL) return mp_fail(MPROC_EINVAL, "mpi_mode: NULL mode");
  if (!g.started)
    return mp_fail(MPROC_ESTATE, "mpi_mode: call mproc_mpi_start first");
  *mode = g.mode;
  return MPROC_OK;
}

mproc_status_t mproc_mpi_finalize(void) {
  if (!g.started || g.finalized) return MPROC_OK;
  if (g.executors > 0)
    return mp_fail(MPROC_ESTATE,
                   "mpi_finalize: %d MPI executor(s) not freed", g.executors);
  if (g.mode == MPROC_MPI_PRELAUNCHED && g.role == MPROC_MPI_MASTER) {
    static const char stop = 0;
    for (int r = 1; r < g.world_size; r++)
      if (!g.dead[r]) send_bounded(&stop, 1, r, TAG_STOP, MPI_COMM_WORLD);
  }
  g.finalized = 1;
  if (g.we_initialized) MPI_Finalize();
  free(g.dead);
  free(g.argv0);
  g.dead = NULL;
  g.argv0 = NULL;
  return MPROC_OK;
}

/* ---- the master ------------------------------------------------------ */

typedef struct mtask {
  struct mtask *next;
  mp_job_t *job;
  size_t first, n;
  uint64_t id;
  void *msg;
  size_t len;
} mtask_t;

/* Batches a worker may hold at once while its tasks are quick: it runs
 * one while the next waits in its queue, so it never waits for the
 * master between batches. Slow tasks go one batch (of one) at a time. */
#define DEPTH 2

typedef struct {
  int rank; /* in comm */
  int dead;
  mtask_t *held, *held_tail; /* sent, no reply yet, in the order sent */
  double heard;  /* the last message (or the send) while it held tasks */
  double last;   /* when its last reply came (or its first batch left) */
  size_t batch;  /* tasks it may get at once: grows while they are quick */
  size_t nheld;
  int inflight;            /* batches sent, no reply yet (<= DEPTH) */
  size_t counts[DEPTH];    /* their sizes, oldest first */
  double sent_at[DEPTH];   /* when they left */
  MPI_Request req[DEPTH];  /* the sends, or MPI_REQUEST_NULL */
  mp_buf_t out[DEPTH];     /* their buffers (a send's stays until done) */
  int draining;    /* terminated with batches out: replies still due */
} mworker_t;

typedef struct {
  mp_mutex_t mu;
  mp_cond_t cv;
  mtask_t *pending, *pending_tail;
  size_t npending;
  mworker_t *workers;
  int nworkers, nalive;
  MPI_Comm comm;
  int spawned; /* comm is our intercommunicator to spawned workers */
  int closed, terminating, ended;
  int sleeping; /* (imu) the service thread waits on cv: a submit signals */
  int abandoned; /* terminated while workers ran tasks (draining below) */
  double worker_timeout;
  mp_thread_t *thread;
  mtask_t *settle; /* settled by the service thread outside mu */
  rbuf_t in;       /* the service thread's receive buffer */
  /* Submits land here, under imu alone: the service thread holds mu
   * through its MPI calls, and a submit that waited for mu (a futex sleep
   * and wake per task) starved the submitting thread. */
  mp_mutex_t imu;
  mtask_t *incoming, *incoming_tail;
  size_t nincoming;
  int in_closed; /* (imu) no more submits: set with closed */
} mb_t;

static void mtask_free(mtask_t *t) {
  if (t == NULL) return;
  free(t->msg);
  free(t);
}

static void push_settle(mb_t *b, mtask_t *list) {
  while (list) {
    mtask_t *next = list->next;
    list->next = b->settle;
    b->settle = list;
    list = next;
  }
}

/* Settles tasks with st (their replies were never read) outside b->mu. */
static void fail_tasks(mtask_t *list, mproc_status_t st, const char *msg) {
  while (list) {
    mtask_t *next = list->next;
    mp_job_finish(list->job, list->first, list->n, st, msg, NULL);
    mtask_free(list);
    list = next;
  }
}

/* Moves the submitted tasks to the pending list (mu held). */
static void splice_incoming(mb_t *b) {
  mp_mutex_lock(&b->imu);
  mtask_t *list = b->incoming, *tail = b->incoming_tail;
  size_t n = b->nincoming;
  b->incoming = b->incoming_tail = NULL;
  b->nincoming = 0;
  mp_mutex_unlock(&b->imu);
  if (list == NULL) return;
  if (b->pending_tail)
    b->pending_tail->next = list;
  else
    b->pending = list;
  b->pending_tail = tail;
  b->npending += n;
}

/* Sleeps on cv for at most s seconds unless a submit came (mu held). */
static void service_sleep(mb_t *b, double s) {
  mp_mutex_lock(&b->imu);
  int none = b->incoming == NULL;
  if (none) b->sleeping = 1; /* seen by a submit under imu: it signals */
  mp_mutex_unlock(&b->imu);
  if (!none) return;
  (void)mp_cond_wait(&b->cv, &b->mu, s);
  mp_mutex_lock(&b->imu);
  b->sleeping = 0;
  mp_mutex_unlock(&b->imu);
}

static mtask_t *take_pending(mb_t *b) {
  mtask_t *all = b->pending;
  b->pending = b->pending_tail = NULL;
  b->npending = 0;
  return all;
}

/* Moves up to k pending tasks to worker w (mu held); frames them into
 * out. How many. */
static size_t hand_out(mb_t *b, mworker_t *w, mp_buf_t *out, size_t k) {
  size_t moved = 0;
  out->len = 0;
  out->failed = 0;
  for (; moved < k && b->pending; moved++) {
    mtask_t *t = b->pending;
    b->pending = t->next;
    if (b->pending == NULL) b->pending_tail = NULL;
    b->npending--;
    put_frame(out, t->id, t->msg, t->len);
    free(t->msg);
    t->msg = NULL;
    /* In the order sent: the replies come in that order, so each one is
     * found at the head. */
    t->next = NULL;
    if (w->held_tail)
      w->held_tail->next = t;
    else
      w->held = t;
    w->held_tail = t;
    w->nheld++;
  }
  return moved;
}

/* Forgets w's batches in flight (mu held): their tasks are taken. */
static void forget_batches(mworker_t *w) {
  w->held = w->held_tail = NULL;
  w->nheld = 0;
  w->inflight = 0;
}

static void declare_dead(mb_t *b, mworker_t *w, const char *why) {
  w->dead = 1;
  b->nalive--;
  if (!b->spawned && g.dead) g.dead[w->rank] = 1;
  for (int j = 0; j < DEPTH; j++)
    if (w->req[j] != MPI_REQUEST_NULL) {
      /* It never takes the batch: the request is abandoned, the buffer
       * kept until the backend ends. */
      MPI_Request_free(&w->req[j]);
      w->req[j] = MPI_REQUEST_NULL;
    }
  char msg[256];
  snprintf(msg, sizeof msg, "MPI worker rank %d %s", w->rank, why);
  mtask_t *held = w->held;
  forget_batches(w);
  mp_mutex_unlock(&b->mu);
  fail_tasks(held, MPROC_EWORKERDIED, msg);
  mp_mutex_lock(&b->mu);
}

/* How many batches w may hold now: DEPTH once its tasks proved quick
 * (its batch grew), else one, so that a slow task waiting for a worker
 * stays in the pending list (cancellable, for the first free worker). */
static int depth_of(const mworker_t *w) { return w->batch > 1 ? DEPTH : 1; }

/* A send buffer of w free for a new batch, or -1 (mu held). */
static int free_slot(mworker_t *w) {
  for (int j = 0; j < DEPTH; j++) {
    if (w->req[j] != MPI_REQUEST_NULL) {
      int done = 0;
      if (MPI_Test(&w->req[j], &done, MPI_STATUS_IGNORE) != MPI_SUCCESS ||
          !done)
        continue;
    }
    return j;
  }
  return -1;
}

/* Starts sending batches to workers with room (mu held). 1 if it sent
 * any. */
static int dispatch(mb_t *b) {
  int room = 0, sent = 0;
  for (int i = 0; i < b->nworkers; i++) {
    mworker_t *w = &b->workers[i];
    if (!w->dead && w->inflight < depth_of(w)) room += depth_of(w) - w->inflight;
  }
  for (int i = 0; i < b->nworkers && b->npending && room; i++) {
    mworker_t *w = &b->workers[i];
    if (w->dead) continue;
    while (b->npending && room && w->inflight < depth_of(w)) {
      int j = free_slot(w);
      if (j < 0) break;
      /* An even share, at most what its last batch earned: slow tasks go
       * one at a time (a queued task stays cancellable and goes to the
       * first free worker), quick ones in growing batches. */
      size_t k = (b->npending + (size_t)room - 1) / (size_t)room;
      if (k > w->batch) k = w->batch;
      room--;
      double now = mp_monotonic();
      if (w->inflight == 0) w->last = now;
      size_t moved = hand_out(b, w, &w->out[j], k);
      w->counts[w->inflight] = moved;
      w->sent_at[w->inflight] = now;
      w->inflight++;
      w->heard = now;
      if (w->out[j].failed) {
        declare_dead(b, w, "could not be sent a batch (out of memory)");
        break;
      }
      if (MPI_Isend(w->out[j].data, (int)w->out[j].len, MPI_BYTE, w->rank,
                    TAG_TASKS, b->comm, &w->req[j]) != MPI_SUCCESS) {
        w->req[j] = MPI_REQUEST_NULL;
        declare_dead(b, w, "could not be sent a batch (MPI_Isend failed)");
        break;
      }
      sent = 1;
    }
  }
  return sent;
}

static mworker_t *worker_of_rank(mb_t *b, int rank) {
  for (int i = 0; i < b->nworkers; i++)
    if (b->workers[i].rank == rank) return &b->workers[i];
  return NULL;
}

/* A reply batch from w: settles its tasks (mu held; dropped meanwhile). */
static void take_replies(mb_t *b, mworker_t *w, const unsigned char *buf,
                         int len) {
  /* The reply of its oldest batch (a worker runs them in order): timed
   * from when the worker could start it. */
  size_t count = w->inflight > 0 ? w->counts[0] : w->nheld;
  double now = mp_monotonic();
  double began = w->inflight > 0 && w->sent_at[0] > w->last ? w->sent_at[0]
                                                             : w->last;
  if (w->inflight > 0) {
    for (int j = 1; j < w->inflight; j++) {
      w->counts[j - 1] = w->counts[j];
      w->sent_at[j - 1] = w->sent_at[j];
    }
    w->inflight--;
  }
  w->last = now;
  double per_task = (now - began) / (double)(count ? count : 1);
  if (per_task < QUICK_TASK && count == w->batch && w->batch < BATCH_MAX)
    w->batch *= 2;
  else if (per_task >= QUICK_TASK)
    w->batch = 1;
  mp_reader_t r = {buf, (size_t)len, 0, 0};
  while (r.pos < r.len && !r.bad) {
    uint64_t id = mp_read_u64(&r);
    uint64_t n = mp_read_u64(&r);
    const void *p = mp_read(&r, (size_t)n);
    if (p == NULL) break;
    mtask_t **link = &w->held;
    while (*link && (*link)->id != id) link = &(*link)->next;
    mtask_t *t = *link;
    if (t == NULL) continue; /* a task failed meanwhile (terminate) */
    *link = t->next;
    if (w->held_tail == t) {
      /* t was last: the one before it (if any) is the new tail. */
      mtask_t *prev = w->held;
      while (prev && prev->next) prev = prev->next;
      w->held_tail = prev;
    }
    w->nheld--;
    mp_mutex_unlock(&b->mu);
    mproc_obj_t *reply = NULL;
    if (mproc_obj_decode(&reply, p, (size_t)n) != MPROC_OK) reply = NULL;
    mp_job_finish_reply(t->job, t->first, t->n, reply);
    mtask_free(t);
    mp_mutex_lock(&b->mu);
  }
}

/* One poll of the communicator (mu held). 1 if a message came. */
static int poll_once(mb_t *b) {
  int flag = 0;
  MPI_Status st;
  for (int i = 0; i < b->nworkers; i++) {
    mworker_t *w = &b->workers[i];
    for (int j = 0; j < DEPTH; j++)
      if (w->req[j] != MPI_REQUEST_NULL) {
        int done = 0;
        MPI_Test(&w->req[j], &done, MPI_STATUS_IGNORE);
      }
  }
  if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, b->comm, &flag, &st) !=
          MPI_SUCCESS ||
      !flag)
    return 0;
  int len = 0;
  if (recv_reuse(b->comm, &st, &b->in, &len) != 0) return 0;
  mworker_t *w = worker_of_rank(b, st.MPI_SOURCE);
  if (w && !w->dead) {
    w->heard = mp_monotonic();
    if (st.MPI_TAG == TAG_REPLIES) take_replies(b, w, b->in.data, len);
  }
  return 1;
}

static void check_silence(mb_t *b) {
  double now = mp_monotonic();
  for (int i = 0; i < b->nworkers; i++) {
    mworker_t *w = &b->workers[i];
    if (w->dead || w->held == NULL || now - w->heard < b->worker_timeout)
      continue;
    char why[128];
    snprintf(why, sizeof why,
             "sent nothing for %.1f s while running a task: it died (or "
             "hangs)",
             now - w->heard);
    declare_dead(b, w, why);
  }
}

static int holds_tasks(const mb_t *b) {
  for (int i = 0; i < b->nworkers; i++)
    if (b->workers[i].held) return 1;
  return 0;
}

static void service_thread(void *arg) {
  mb_t *b = arg;
  backoff_t bo;
  backoff_reset(&bo);
  mp_mutex_lock(&b->mu);
  for (;;) {
    /* closed read before the splice: every submit came before close, so
     * the splice has them all. */
    int closed = b->closed;
    splice_incoming(b);
    if (b->terminating) {
      mtask_t *all = take_pending(b);
      b->abandoned = holds_tasks(b);
      for (int i = 0; i < b->nworkers; i++) {
        b->workers[i].draining = b->workers[i].inflight;
        push_settle(b, b->workers[i].held);
        forget_batches(&b->workers[i]);
      }
      mtask_t *held = b->settle;
      b->settle = NULL;
      mp_mutex_unlock(&b->mu);
      fail_tasks(all, MPROC_ESTATE, "MPI executor: terminated");
      fail_tasks(held, MPROC_ESTATE, "MPI executor: terminated");
      mp_mutex_lock(&b->mu);
      break;
    }
    if (b->nalive == 0 && b->npending) {
      mtask_t *all = take_pending(b);
      mp_mutex_unlock(&b->mu);
      fail_tasks(all, MPROC_EWORKERDIED,
                 "MPI executor: no worker rank is left alive");
      mp_mutex_lock(&b->mu);
      continue;
    }
    int busy = holds_tasks(b);
    if (closed && !busy && b->npending == 0) break;
    int active = dispatch(b);
    busy = busy || active;
    if (!busy) {
      /* Nothing in flight: sleep until a submit (or close). */
      service_sleep(b, 1.0);
      backoff_reset(&bo);
      continue;
    }
    if (poll_once(b)) active = 1;
    check_silence(b);
    if (active) {
      backoff_reset(&bo);
      continue;
    }
    double s = backoff_next(&bo);
    if (s > 0) service_sleep(b, s);
  }
  b->ended = 1;
  mp_cond_broadcast(&b->cv);
  mp_mutex_unlock(&b->mu);
}

/* ---- the backend's calls --------------------------------------------- */

static mproc_status_t mb_check_function(void *impl, mproc_function_fn fn,
                                        const char *call) {
  (void)impl;
  /* A lookup, not a trial encoding: this runs once per submit. */
  if (mp_function_by_fn(fn) != NULL) return MPROC_OK;
  return mp_fail(MPROC_ENOTREGISTERED,
                 "%s: the function is not registered (MPROC_FUNCTION or "
                 "mproc_register_function): MPI workers find functions "
                 "by name",
                 call);
}

static mproc_status_t mb_submit(void *impl, mp_job_t *job,
                                mproc_function_fn fn,
                                const mproc_obj_t *items, size_t first,
                                size_t n, const mproc_obj_t *single,
                                double timeout) {
  mb_t *b = impl;
  if (timeout >= 0)
    return mp_fail(MPROC_ENOTSUP, "MPI executor: no task timeout");
  mtask_t *t = calloc(1, sizeof *t);
  if (t == NULL) return mp_fail(MPROC_ENOMEM, "MPI executor: a task");
  mproc_status_t st =
      mp_task_message(0, fn, items, first, n, single, &t->msg, &t->len);
  if (st != MPROC_OK) {
    free(t);
    return st;
  }
  t->first = first;
  t->n = n;
  mp_mutex_lock(&b->imu);
  if (b->in_closed) {
    mp_mutex_unlock(&b->imu);
    mtask_free(t);
    return mp_fail(MPROC_ESTATE, "MPI executor: shut down");
  }
  mp_job_ref(job);
  t->job = job;
  /* Unique in the process: a pre-launched rank may still send the reply
   * of an earlier (terminated) executor's task to the next one. */
  t->id = __atomic_fetch_add(&g_next_id, 1, __ATOMIC_RELAXED);
  if (b->incoming_tail)
    b->incoming_tail->next = t;
  else
    b->incoming = t;
  b->incoming_tail = t;
  b->nincoming++;
  int wake = b->sleeping;
  mp_mutex_unlock(&b->imu);
  if (wake) {
    /* It waits on cv with mu released: the signal cannot come before. */
    mp_mutex_lock(&b->mu);
    mp_cond_signal(&b->cv);
    mp_mutex_unlock(&b->mu);
  }
  return MPROC_OK;
}

static int mb_job_queued(void *impl, const mp_job_t *job) {
  mb_t *b = impl;
  int queued = 0;
  mp_mutex_lock(&b->mu);
  splice_incoming(b);
  for (mtask_t *t = b->pending; t && !queued; t = t->next)
    queued = t->job == job;
  mp_mutex_unlock(&b->mu);
  return queued;
}

static size_t mb_cancel_pending(void *impl, const mp_job_t *job,
                                mproc_status_t st, const char *msg) {
  mb_t *b = impl;
  mtask_t *taken = NULL;
  size_t count = 0;
  mp_mutex_lock(&b->mu);
  splice_incoming(b);
  mtask_t **link = &b->pending;
  b->pending_tail = NULL;
  while (*link) {
    mtask_t *t = *link;
    if (job == NULL || t->job == job) {
      *link = t->next;
      t->next = taken;
      taken = t;
      b->npending--;
      count++;
    } else {
      b->pending_tail = t;
      link = &t->next;
    }
  }
  mp_mutex_unlock(&b->mu);
  fail_tasks(taken, st, msg);
  return count;
}

static void mb_close(void *impl) {
  mb_t *b = impl;
  mp_mutex_lock(&b->mu);
  b->closed = 1;
  mp_mutex_lock(&b->imu);
  b->in_closed = 1;
  mp_mutex_unlock(&b->imu);
  mp_cond_signal(&b->cv);
  mp_mutex_unlock(&b->mu);
}

static void mb_stop(void *impl, int gentle) {
  (void)gentle; /* MPI cannot kill a rank: both stop after the batch */
  mb_t *b = impl;
  mp_mutex_lock(&b->mu);
  b->closed = 1;
  b->terminating = 1;
  mp_mutex_lock(&b->imu);
  b->in_closed = 1;
  mp_mutex_unlock(&b->imu);
  mp_cond_signal(&b->cv);
  mp_mutex_unlock(&b->mu);
}

static mproc_status_t mb_join(void *impl, double timeout) {
  mb_t *b = impl;
  double end = timeout < 0 ? -1 : mp_monotonic() + timeout;
  mp_mutex_lock(&b->mu);
  if (!b->closed) {
    mp_mutex_unlock(&b->mu);
    return mp_fail(MPROC_ESTATE, "MPI executor: join before shutdown");
  }
  while (!b->ended) {
    double left = end < 0 ? -1 : end - mp_monotonic();
    if (end >= 0 && left <= 0) {
      mp_mutex_unlock(&b->mu);
      return mp_fail(MPROC_ETIMEDOUT, "MPI executor: tasks still run");
    }
    (void)mp_cond_wait(&b->cv, &b->mu, left);
  }
  mp_mutex_unlock(&b->mu);
  return MPROC_OK;
}

/* Tells the spawned workers to stop and lets the intercommunicator go:
 * MPI_Comm_disconnect (collective: every worker takes part) when they all
 * live and none may still be sending a reply nobody reads, else
 * MPI_Comm_free (a dead or a stuck one could not take part; it ends with
 * the master's orted at the latest). */
/* After a terminate: reads (and drops) the replies still due, for at most
 * worker_timeout. A reply left unread on a communicator that is freed
 * can reach the next one (its context id reused) and stall it. 1: all
 * came. */
static int drain_replies(mb_t *b) {
  double end = mp_monotonic() + b->worker_timeout;
  int due = 0;
  for (int i = 0; i < b->nworkers; i++)
    due += b->workers[i].dead ? 0 : b->workers[i].draining;
  while (due > 0 && mp_monotonic() < end) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, b->comm, &flag, &st) !=
        MPI_SUCCESS)
      return 0;
    if (!flag) {
      mp_sleep(1e-3);
      continue;
    }
    int len = 0;
    if (recv_reuse(b->comm, &st, &b->in, &len) != 0) return 0;
    mworker_t *w = worker_of_rank(b, st.MPI_SOURCE);
    if (w && w->draining > 0 && st.MPI_TAG == TAG_REPLIES) {
      w->draining--;
      due--;
    }
  }
  return due == 0;
}

/* Reads each worker's answer to the stop (send_whoami) within
 * worker_timeout: the pids of those on this host go to pids (0 for the
 * others and for one that did not answer). */
static void collect_whoami(mb_t *b, long *pids) {
  char here[MPI_MAX_PROCESSOR_NAME], msg[WHOAMI_MAX + 1];
  int len = 0;
  if (MPI_Get_processor_name(here, &len) != MPI_SUCCESS) len = 0;
  here[len] = '\0';
  double end = mp_monotonic() + b->worker_timeout;
  for (int i = 0; i < b->nworkers; i++) {
    pids[i] = 0;
    int flag = 0;
    MPI_Status st;
    while (!flag && mp_monotonic() < end) {
      if (MPI_Iprobe(b->workers[i].rank, TAG_STOP, b->comm, &flag, &st) !=
          MPI_SUCCESS)
        return;
      if (!flag) mp_sleep(1e-3);
    }
    int n = 0;
    if (!flag || MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS ||
        n < 1 || n > WHOAMI_MAX ||
        MPI_Recv(msg, n, MPI_BYTE, st.MPI_SOURCE, TAG_STOP, b->comm,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS)
      continue;
    msg[n] = '\0';
    char *host = strchr(msg, ' ');
    if (host != NULL && strcmp(host + 1, here) == 0)
      pids[i] = strtol(msg, NULL, 10);
  }
}

/* Waits, within worker_timeout, for the workers of this host to end.
 * Why: a worker finalizes MPI after the disconnect; a spawn made while
 * the previous workers still finalize through the same Open MPI daemon
 * hung in about one run in eight of the spawn-mode tests (the new
 * workers stuck in PMIx_Init; Open MPI 4.1.4 with PMIx 4.2.2,
 * docs/mpi.md). Returning only once they are gone also means that no
 * worker outlives its executor's shutdown. */
static void wait_workers_gone(mb_t *b, const long *pids) {
  double end = mp_monotonic() + b->worker_timeout;
  for (int i = 0; i < b->nworkers; i++)
    while (pids[i] > 0 && mp_pid_exists(pids[i]) && mp_monotonic() < end)
      mp_sleep(1e-3);
}

static void end_spawned(mb_t *b) {
  int drained = !b->abandoned || drain_replies(b);
  char stop = b->nalive == b->nworkers && drained ? 1 : 0;
  for (int i = 0; i < b->nworkers; i++)
    if (!b->workers[i].dead)
      send_bounded(&stop, 1, b->workers[i].rank, TAG_STOP, b->comm);
  if (!stop) {
    MPI_Comm_free(&b->comm);
    return;
  }
  long *pids = calloc((size_t)b->nworkers, sizeof *pids);
  if (pids) collect_whoami(b, pids);
  MPI_Comm_disconnect(&b->comm);
  if (pids) wait_workers_gone(b, pids);
  free(pids);
}

static void mb_release(void *impl) {
  mb_t *b = impl;
  if (b == NULL) return;
  if (b->thread) {
    mb_stop(b, 1);
    mp_thread_join(b->thread);
  }
  if (b->spawned && b->comm != MPI_COMM_NULL) end_spawned(b);
  if (!b->spawned) g.ranks_in_use = 0;
  for (int i = 0; b->workers && i < b->nworkers; i++)
    for (int j = 0; j < DEPTH; j++) mp_buf_free(&b->workers[i].out[j]);
  free(b->in.data);
  free(b->workers);
  /* Never started, or ended: tasks still submitted are failed. */
  mtask_t *left = b->incoming;
  b->incoming = NULL;
  fail_tasks(left, MPROC_ESTATE, "MPI executor: terminated");
  mp_cond_destroy(&b->cv);
  mp_mutex_destroy(&b->imu);
  mp_mutex_destroy(&b->mu);
  free(b);
  g.executors--;
}

static const mp_executor_backend_t mpi_backend = {
    .check_function = mb_check_function,
    .submit = mb_submit,
    .job_queued = mb_job_queued,
    .cancel_pending = mb_cancel_pending,
    .kill_job = NULL,
    .close = mb_close,
    .stop = mb_stop,
    .join = mb_join,
    .release = mb_release,
};

/* ---- creating one ----------------------------------------------------- */

mproc_status_t mproc_mpi_executor_options_init(
    mproc_mpi_executor_options_t *opts) {
  if (opts == NULL)
    return mp_fail(MPROC_EINVAL, "mpi_executor_options_init: NULL opts");
  memset(opts, 0, sizeof *opts);
  opts->max_workers = MPROC_EXECUTOR_DEFAULT_WORKERS;
  opts->worker_timeout = 10.0;
  return MPROC_OK;
}

/* Spawn mode's default: MPROC_MPI_MAX_WORKERS, the universe, 1. */
static int default_spawn_workers(void) {
  const char *env = getenv("MPROC_MPI_MAX_WORKERS");
  if (env && atoi(env) > 0) return atoi(env);
  int *universe = NULL, found = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &universe, &found);
  if (found && universe && *universe > 1) return *universe - 1;
  return 1;
}

static mproc_status_t spawn_workers(mb_t *b, const mproc_mpi_executor_options_t *o,
                                    int n) {
  const char *command = o->command ? o->command : g.argv0;
  if (command == NULL)
    return mp_fail(MPROC_EINVAL,
                   "mpi_executor_create: no program to spawn (give "
                   "options.command, or argv to mproc_mpi_start)");
  int *codes = calloc((size_t)n, sizeof *codes);
  if (codes == NULL) return mp_fail(MPROC_ENOMEM, "mpi_executor_create");
  int rc = MPI_Comm_spawn(command, o->args ? o->args : MPI_ARGV_NULL, n,
                          MPI_INFO_NULL, 0, MPI_COMM_SELF, &b->comm, codes);
  int failed = rc != MPI_SUCCESS;
  for (int i = 0; !failed && i < n; i++) failed = codes[i] != MPI_SUCCESS;
  free(codes);
  if (failed) {
    if (b->comm != MPI_COMM_NULL) MPI_Comm_free(&b->comm);
    char why[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc != MPI_SUCCESS ? rc : MPI_ERR_SPAWN, why, &len) !=
        MPI_SUCCESS)
      len = 0;
    why[len] = '\0';
    return mp_fail(MPROC_ESPAWN,
                   "mpi_executor_create: MPI_Comm_spawn of %s (%d workers) "
                   "failed: %s",
                   command, n, len ? why : "?");
  }
  MPI_Comm_set_errhandler(b->comm, MPI_ERRORS_RETURN);
  b->spawned = 1;
  for (int i = 0; i < n; i++) b->workers[i].rank = i;
  return MPROC_OK;
}

static mproc_status_t check_options(const mproc_mpi_executor_options_t *o) {
  if (o->max_workers != MPROC_EXECUTOR_DEFAULT_WORKERS && o->max_workers < 1)
    return mp_fail(MPROC_EINVAL,
                   "mpi_executor_create: max_workers must be at least 1 "
                   "(got %d)",
                   o->max_workers);
  if (!(o->worker_timeout > 0))
    return mp_fail(MPROC_EINVAL,
                   "mpi_executor_create: worker_timeout must be above 0");
  if (g.role == MPROC_MPI_WORKER)
    return mp_fail(MPROC_ESTATE,
                   "mpi_executor_create: this process was an MPI worker (it "
                   "served in mproc_mpi_start): only the master creates "
                   "executors");
  if (g.mode == MPROC_MPI_PRELAUNCHED && g.ranks_in_use)
    return mp_fail(MPROC_ESTATE,
                   "mpi_executor_create: another MPI executor holds the "
                   "worker ranks (pre-launched mode: one at a time)");
  if (g.mode == MPROC_MPI_PRELAUNCHED && g.world_size < 2)
    return mp_fail(MPROC_EINVAL, "mpi_executor_create: no worker rank");
  if (g.mode == MPROC_MPI_PRELAUNCHED &&
      o->max_workers != MPROC_EXECUTOR_DEFAULT_WORKERS &&
      o->max_workers > g.world_size - 1)
    return mp_fail(MPROC_EINVAL,
                   "mpi_executor_create: max_workers %d, but mpirun started "
                   "%d worker ranks",
                   o->max_workers, g.world_size - 1);
  return MPROC_OK;
}

static mb_t *backend_alloc(int n, double worker_timeout) {
  mb_t *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  b->workers = calloc((size_t)n, sizeof *b->workers);
  if (b->workers == NULL) {
    free(b);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < DEPTH; j++) b->workers[i].req[j] = MPI_REQUEST_NULL;
    b->workers[i].batch = 1;
  }
  b->nworkers = b->nalive = n;
  b->comm = MPI_COMM_NULL;
  b->worker_timeout = worker_timeout;
  return b;
}

/* The workers of this run's mode, and the service thread. */
static mproc_status_t backend_start(mb_t *b,
                                    const mproc_mpi_executor_options_t *o) {
  mproc_status_t st = MPROC_OK;
  if (g.mode == MPROC_MPI_SPAWN) {
    st = spawn_workers(b, o, b->nworkers);
  } else {
    b->comm = MPI_COMM_WORLD;
    g.ranks_in_use = 1;
    b->nalive = 0;
    for (int i = 0; i < b->nworkers; i++) {
      b->workers[i].rank = i + 1;
      b->workers[i].dead = g.dead[i + 1];
      b->nalive += !b->workers[i].dead;
    }
  }
  if (st == MPROC_OK) st = mp_thread_create(&b->thread, service_thread, b);
  return st;
}

mproc_status_t mproc_mpi_executor_create(
    mproc_executor_t **out, const mproc_mpi_executor_options_t *opts) {
  if (out == NULL)
    return mp_fail(MPROC_EINVAL, "mpi_executor_create: NULL out");
  mproc_context_t *ctx = NULL;
  mproc_status_t st = mproc_get_context(NULL, &ctx);
  if (st != MPROC_OK) return st;
  mproc_mpi_executor_options_t o;
  if (opts)
    o = *opts;
  else
    mproc_mpi_executor_options_init(&o);
  int role = 0;
  if (g.finalized)
    return mp_fail(MPROC_ESTATE, "mpi_executor_create: MPI was finalized");
  if (!g.started && (st = mproc_mpi_start(NULL, NULL, &role)) != MPROC_OK)
    return st;
  if ((st = check_options(&o)) != MPROC_OK) return st;
  int n = o.max_workers;
  if (n == MPROC_EXECUTOR_DEFAULT_WORKERS)
    n = g.mode == MPROC_MPI_SPAWN ? default_spawn_workers()
                                  : g.world_size - 1;
  mb_t *b = backend_alloc(n, o.worker_timeout);
  if (b == NULL) return mp_fail(MPROC_ENOMEM, "mpi_executor_create");
  g.executors++;
  st = backend_start(b, &o);
  if (st != MPROC_OK) {
    char detail[512];
    snprintf(detail, sizeof detail, "%s", mproc_last_error());
    mb_release(b);
    return mp_fail(st, "%s", mp_strip_status(st, detail));
  }
  return mp_executor_create_with(out, &mpi_backend, b, n, -1);
}
