/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Queues: Queue, SimpleQueue and JoinableQueue as one shared-memory ring.
 *
 * Layout (one anonymous shared segment): a header, then a ring of 8-byte
 * words. An item is a record: one header word (length, tag) and its bytes,
 * wrapping around the end of the ring.
 *
 * Producers serialise on the put side's lock, consumers on the get side's:
 * one producer and one consumer run side by side. Both are the lock word
 * of docs/sync.md (core/sync.h): when a holder dies, even by SIGKILL, the
 * next locker takes it over.
 *
 * A side's sole user goes without the lock (see "a side's owner" below):
 * the first thread to use a side becomes its owner, and its calls then
 * make no locked instruction but the commit, as a hand-written
 * single-producer single-consumer ring. A second user takes the side over
 * for good: it marks the side shared, has every CPU pass a memory barrier
 * (mp_remote_barrier: the owner's path has none of its own), and waits
 * until the owner is out of the call it may be in, or dead; from then on
 * every user locks. Where the OS has no such barrier (Windows) no thread
 * becomes an owner.
 *
 * Crash safety comes from committing with one store. The tail word packs
 * the ring position of the end of the last committed record (26 bits, in
 * words: the ring has at most 2^24, so used words never look like zero)
 * with the number of records ever committed (38 bits, wrapping); the head
 * word does the same for records consumed. A producer writes its
 * record past the tail and then stores the new tail; a consumer copies the
 * record out and then stores the new head. A process killed before its
 * store leaves nothing behind (its half-written record is overwritten by
 * the next producer; its half-read one is read again by the next
 * consumer); killed after it, the item is committed (or gone with the
 * consumer that got it). No state needs repair when a lock comes back
 * from a dead holder. Counts wrap at 2^38, far beyond anything counted
 * from them: a queue holds at most 2^24 records (one word each at least),
 * and JoinableQueue's unfinished count (puts minus task_done, both mod
 * 2^38) is held to CPython's limit, 2^31 - 1, by put.
 *
 * Waiting: spin briefly, then sleep on a futex word (data_seq for
 * consumers, room_seq for producers, done_seq for joiners) that the other
 * side bumps and wakes only when a sleeper left its mark (the *_waiters
 * flags), so the busy 1-to-1 case makes no system call. The waker clears
 * the mark, not the sleeper: a sleeper that was woken but has not run yet
 * would otherwise make every put (or get) until it runs pay a wake-up
 * call, the "wake storm" (about one futex call per item on one CPU).
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/object.h"
#include "core/queue_testing.h"
#include "core/sync.h"

#define QUEUE_MAGIC 0x6d707175u /* "mpqu" */
#define POS_BITS 26
#define POS_MASK ((UINT64_C(1) << POS_BITS) - 1)
#define COUNT_MASK ((UINT64_C(1) << (64 - POS_BITS)) - 1)
/* JoinableQueue: CPython's unfinished-task semaphore stops at
 * SEM_VALUE_MAX (2^31 - 1 on Linux); so do we. */
#define MAX_UNFINISHED ((UINT64_C(1) << 31) - 1)
#define MIN_CAPACITY 64
#define MAX_CAPACITY ((size_t)128 << 20) /* 2^24 words: see above */
#define SPINS 200 /* where the process may run on more than one CPU */

enum { KIND_QUEUE = 0, KIND_JOINABLE = 1, KIND_SIMPLE = 2 };
enum { TAG_BYTES = 0, TAG_VALUE = 1 };

/* One side of the ring (producers, or consumers). A side is BIAS_OPEN
 * while it has had at most one user, its owner; BIAS_REVOKING once a
 * second user started taking it over, BIAS_SHARED when every user locks. */
enum { BIAS_OPEN = 0, BIAS_REVOKING = 1, BIAS_SHARED = 2 };

typedef struct {
  mp_lock_state_t lock;
  uint32_t holder_waits; /* the holder's (owner's) thread id while it waits
                            for room (data), else 0 */
  uint32_t owner;        /* mp_thread_id() of the side's first user, or 0 */
  uint32_t bias;         /* BIAS_* */
  uint32_t busy;         /* odd while the owner is in a call without the
                            lock (written by the owner alone) */
} side_t;

typedef struct {
  uint32_t magic;
  uint32_t kind;
  uint64_t capacity_words; /* a power of two */
  uint64_t maxsize;        /* 0: no item limit */
  _Alignas(64) side_t put;
  _Alignas(64) uint64_t tail;
  uint64_t head_seen; /* producers' last look at head (put side's) */
  _Alignas(64) side_t get;
  _Alignas(64) uint64_t head;
  uint64_t tail_seen; /* consumers' last look at tail (get side's) */
  _Alignas(64) uint32_t data_seq;
  uint32_t data_waiters; /* 1: a consumer may sleep on data_seq */
  _Alignas(64) uint32_t room_seq;
  uint32_t room_waiters; /* 1: a producer may sleep on room_seq */
  _Alignas(64) uint64_t ndone; /* task_done calls, mod 2^38 */
  uint32_t done_seq;
  uint32_t done_waiters; /* 1: a joiner may sleep on done_seq */
  _Alignas(64) uint64_t ring[]; /* capacity_words */
} shared_t;

struct mproc_queue {
  mp_object_t obj;
  mp_shm_t *shm;
  shared_t *s;
  uint64_t mask; /* capacity_words - 1 */
  int closed;
};

/* ---- packed positions --------------------------------------------- */

static uint64_t pos_of(uint64_t w) { return w & POS_MASK; }
static uint64_t count_of(uint64_t w) { return w >> POS_BITS; }
static uint64_t pack(uint64_t pos, uint64_t count) {
  return (pos & POS_MASK) | (uint64_t)(count & COUNT_MASK) << POS_BITS;
}
static uint64_t words_used(uint64_t head, uint64_t tail) {
  return (pos_of(tail) - pos_of(head)) & POS_MASK;
}
static uint64_t items_between(uint64_t head, uint64_t tail) {
  return (count_of(tail) - count_of(head)) & COUNT_MASK;
}
static uint64_t record_words(size_t len) { return 1 + (len + 7) / 8; }

/* ---- the object --------------------------------------------------- */

static mproc_status_t export_queue(void *obj, mp_buf_t *state,
                                   mp_handles_t *handles);
static mproc_status_t import_queue(const void *state, size_t len, void **out);

static mproc_status_t free_queue(void *obj) { return mproc_queue_free(obj); }

/* No after_fork: all of a queue's state is in its shared ring (no feeder
 * thread, no buffer of this process's own). */
static mp_object_ops_t queue_ops = {
    .kind = "queue",
    .export_state = export_queue,
    .import_state = import_queue,
    .free = free_queue,
};
MP_OBJECT_KIND(queue_ops)

static mproc_status_t wrap(mp_shm_t *shm, mproc_queue_t **out) {
  mproc_queue_t *q = mp_object_alloc(sizeof *q);
  if (q == NULL) {
    mp_shm_close(shm);
    return mp_fail(MPROC_ENOMEM, "queue");
  }
  mp_object_init(&q->obj, &queue_ops);
  q->shm = shm;
  q->s = mp_shm_base(shm);
  q->mask = q->s->capacity_words - 1;
  *out = q;
  return MPROC_OK;
}

static mproc_status_t create(mproc_queue_t **out, uint32_t kind,
                             size_t maxsize, size_t capacity) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "queue_create: out");
  if (capacity == 0) capacity = MPROC_QUEUE_DEFAULT_CAPACITY;
  if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY)
    return mp_fail(MPROC_EINVAL, "queue_create: capacity %zu outside [%d, %zu]",
                   capacity, MIN_CAPACITY, MAX_CAPACITY);
  uint64_t words = 8;
  while (words * 8 < capacity) words *= 2;
  mp_shm_t *shm;
  st = mp_shm_create(&shm, sizeof(shared_t) + words * 8);
  if (st != MPROC_OK) return st;
  shared_t *s = mp_shm_base(shm);
  s->kind = kind;
  s->capacity_words = words;
  s->maxsize = maxsize;
  mp_lock_state_init(&s->put.lock, 0);
  mp_lock_state_init(&s->get.lock, 0);
  s->magic = QUEUE_MAGIC;
  (void)mp_remote_barrier_join(); /* here, not in a first put or get */
  return wrap(shm, out);
}

mproc_status_t mproc_queue_create(mproc_queue_t **out, size_t maxsize,
                                  size_t capacity) {
  return create(out, KIND_QUEUE, maxsize, capacity);
}

mproc_status_t mproc_joinable_queue_create(mproc_queue_t **out,
                                           size_t maxsize, size_t capacity) {
  return create(out, KIND_JOINABLE, maxsize, capacity);
}

mproc_status_t mproc_simple_queue_create(mproc_queue_t **out) {
  return create(out, KIND_SIMPLE, 0, 0);
}

static mproc_status_t export_queue(void *obj, mp_buf_t *state,
                                   mp_handles_t *handles) {
  mproc_queue_t *q = obj;
  mp_buf_put_u64(state, (uint64_t)(int64_t)mp_shm_handle(q->shm).os);
  mp_buf_put_u64(state, mp_shm_size(q->shm));
  mp_buf_put_u64(state, (uint64_t)q->closed);
  mp_handles_add(handles, mp_shm_handle(q->shm));
  return MPROC_OK;
}

static mproc_status_t import_queue(const void *state, size_t len, void **out) {
  mp_reader_t r = {state, len, 0, 0};
  mp_handle_t h = {MP_HANDLE_SHM, (intptr_t)(int64_t)mp_read_u64(&r)};
  size_t size = (size_t)mp_read_u64(&r);
  int closed = (int)mp_read_u64(&r);
  if (r.bad || r.pos != len)
    return mp_fail(MPROC_ESPAWN, "bootstrap: malformed queue");
  mp_shm_t *shm; /* a view of its own: see mp_object_note_inherited */
  mproc_status_t st = mp_shm_import(&shm, h, size);
  if (st != MPROC_OK) return st;
  mp_object_note_inherited(h);
  shared_t *s = mp_shm_base(shm);
  if (size < sizeof *s || s->magic != QUEUE_MAGIC ||
      sizeof *s + s->capacity_words * 8 != size) {
    mp_shm_close(shm);
    return mp_fail(MPROC_ESPAWN, "bootstrap: not a queue segment");
  }
  mproc_queue_t *q = NULL;
  (void)mp_remote_barrier_join(); /* as in create */
  if ((st = wrap(shm, &q)) != MPROC_OK) return st;
  q->closed = closed;
  *out = q;
  return MPROC_OK;
}

static mproc_status_t require_open(const mproc_queue_t *q, const char *what) {
  MP_CHECK_KIND(q, &queue_ops, what);
  if (q->closed) return mp_fail(MPROC_ESTATE, "%s: the queue is closed", what);
  return MPROC_OK;
}

/* ---- ring copies -------------------------------------------------- */

/* Where len bytes at word pos lie: *at, of which the first *first bytes
 * run up to the end of the ring; the rest wrap to its start. */
static unsigned char *ring_at(const mproc_queue_t *q, uint64_t pos,
                              size_t len, size_t *first) {
  size_t bytes = (size_t)(q->mask + 1) * 8;
  size_t off = (size_t)(pos & q->mask) * 8;
  *first = len < bytes - off ? len : bytes - off;
  return (unsigned char *)q->s->ring + off;
}

static void ring_write(mproc_queue_t *q, uint64_t pos, const void *src,
                       size_t len) {
  size_t first;
  unsigned char *at = ring_at(q, pos, len, &first);
  memcpy(at, src, first);
  memcpy(q->s->ring, (const unsigned char *)src + first, len - first);
}

static void ring_read(const mproc_queue_t *q, uint64_t pos, void *dst,
                      size_t len) {
  size_t first;
  const unsigned char *at = ring_at(q, pos, len, &first);
  memcpy(dst, at, first);
  memcpy((unsigned char *)dst + first, q->s->ring, len - first);
}

/* ---- waiting ------------------------------------------------------ */

/* Spinning only pays while the other side runs on another CPU: a process
 * limited to one CPU (taskset, a cgroup) sleeps at once. Looked up once
 * (a forked child inherits the affinity with the cache). */
static int spins(void) {
  static int cached = -1;
  int n = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (n < 0) {
    n = mp_usable_cpu_count() > 1 ? SPINS : 0;
    __atomic_store_n(&cached, n, __ATOMIC_RELAXED);
  }
  return n;
}

/* Waits (spin, then futex) until ready(q) or the deadline. The mark is
 * set after reading seq and before the last look at ready (both seq_cst,
 * as the waker's publish and its look at the mark): either that look sees
 * the other side's change, or the waker sees the mark and bumps seq, so
 * the futex wait returns at once. A mark left behind (ready after all, or
 * a timeout) costs one spare wake-up call later, nothing more. */
static mproc_status_t spin_then_sleep(mproc_queue_t *q,
                                      int (*ready)(mproc_queue_t *, void *),
                                      void *ctx, uint32_t *seq,
                                      uint32_t *waiters,
                                      double deadline) {
  for (int i = 0, n = spins(); i < n; i++) {
    if (ready(q, ctx)) return MPROC_OK;
    mp_cpu_relax();
  }
  for (;;) {
    uint32_t seen = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
    __atomic_store_n(waiters, 1, __ATOMIC_SEQ_CST);
    if (ready(q, ctx)) return MPROC_OK;
    double left = mp_time_left(deadline);
    mproc_status_t st = left == 0 ? MPROC_ETIMEDOUT
                                  : mp_wait_word(q->shm, seq, seen, left);
    if (st == MPROC_ETIMEDOUT && ready(q, ctx)) return MPROC_OK;
    if (st != MPROC_OK) return st;
  }
}

/* spin_then_sleep, saying in *holder_waits (if not NULL) that the lock
 * holder waits: others then know the lock is not held for a mere copy. */
static mproc_status_t wait_until(mproc_queue_t *q,
                                 int (*ready)(mproc_queue_t *, void *),
                                 void *ctx, uint32_t *seq,
                                 uint32_t *waiters,
                                 uint32_t *holder_waits,
                                 double deadline) {
  if (ready(q, ctx)) return MPROC_OK;
  if (holder_waits)
    __atomic_store_n(holder_waits, mp_thread_id(), __ATOMIC_SEQ_CST);
  mproc_status_t st = spin_then_sleep(q, ready, ctx, seq, waiters, deadline);
  if (holder_waits) __atomic_store_n(holder_waits, 0, __ATOMIC_SEQ_CST);
  return st;
}

/* The waker clears the mark and wakes every sleeper of the word: each
 * one marks the word again if it must sleep on, so none is left asleep
 * unmarked. (Data and room have one sleeper at a time at most, the side's
 * lock holder; joiners are all woken anyway.) The first look is a plain
 * load so that the no-sleeper case writes nothing to the shared line. */
static void wake(const mproc_queue_t *q, uint32_t *seq, uint32_t *waiters) {
  if (__atomic_load_n(waiters, __ATOMIC_SEQ_CST) == 0 ||
      __atomic_exchange_n(waiters, 0, __ATOMIC_SEQ_CST) == 0)
    return;
  __atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);
  mp_wake_word(q->shm, seq, INT32_MAX);
}

/* A side's lock is held for one copy, so a call with a short timeout
 * (put_nowait, get_nowait) may wait this long for it: contention on the
 * lock is not "full" or "empty". */
#define LOCK_GRACE_SECONDS 1.0
/* How often such a call looks again whether the holder started waiting. */
#define LOCK_SLICE_SECONDS 0.002

static mproc_status_t acquire(const mproc_queue_t *q, mp_lock_state_t *m,
                              double timeout) {
  mproc_status_t st = mp_lock_state_acquire(q->shm, m, timeout);
  return st == MPROC_EOWNERDEAD ? MPROC_OK : st;
}

static int holder_is_waiting(uint32_t *holder_waits) {
  uint32_t tid = __atomic_load_n(holder_waits, __ATOMIC_SEQ_CST);
  return tid != 0 && mp_thread_alive(tid);
}

/* Takes a side's lock for a call with a short timeout: waits up to
 * LOCK_GRACE_SECONDS for a holder that copies, but only for the caller's
 * own deadline once the holder says it waits for room (data). */
static mproc_status_t lock_briefly(const mproc_queue_t *q, mp_lock_state_t *m,
                                   uint32_t *holder_waits,
                                   double deadline) {
  double grace = mp_deadline(LOCK_GRACE_SECONDS);
  mproc_status_t st = acquire(q, m, 0);
  while (st == MPROC_ETIMEDOUT && !holder_is_waiting(holder_waits) &&
         mp_time_left(grace) > 0) {
    double slice = mp_time_left(grace);
    st = acquire(q, m,
                 slice < LOCK_SLICE_SECONDS ? slice : LOCK_SLICE_SECONDS);
  }
  if (st == MPROC_ETIMEDOUT) st = acquire(q, m, mp_time_left(deadline));
  return st;
}

/* ---- a side's owner ----------------------------------------------- */

/* The owner's way in without the lock: 1 if the caller is the side's
 * owner and the side is still its alone (leave with leave_side), else 0.
 * The owner marks itself inside (busy odd), then looks at bias, with no
 * fence between but the compiler's: a taker marks bias, then calls
 * mp_remote_barrier, then looks at busy, so one of the two sees the
 * other's mark. Odd busy is made a new odd value even if a dead owner left
 * it odd (its thread id may have come back). */
static int enter_alone(side_t *side) {
  /* bias first: once shared, the old owner writes nothing here (the line
   * is read by every user) */
  if (__atomic_load_n(&side->bias, __ATOMIC_RELAXED) != BIAS_OPEN ||
      __atomic_load_n(&side->owner, __ATOMIC_RELAXED) != mp_thread_id())
    return 0;
  uint32_t in = (__atomic_load_n(&side->busy, __ATOMIC_RELAXED) + 1) | 1;
  __atomic_store_n(&side->busy, in, __ATOMIC_RELAXED);
  __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the rest: mp_remote_barrier */
  if (__atomic_load_n(&side->bias, __ATOMIC_ACQUIRE) == BIAS_OPEN) return 1;
  __atomic_store_n(&side->busy, in + 1, __ATOMIC_RELEASE);
  return 0;
}

/* A taker's wait for the owner to be out of a call without the lock: it
 * left it (busy even), or it died in it, which leaves nothing to repair
 * (see the top of the file). The owner is there for one copy only (it
 * waits for room or data under the lock: enter_side), so a short deadline
 * is kept as for a lock holder that copies: up to LOCK_GRACE_SECONDS. */
static mproc_status_t wait_owner_out(side_t *side, double deadline) {
  uint32_t owner = __atomic_load_n(&side->owner, __ATOMIC_RELAXED);
  double grace = mp_deadline(LOCK_GRACE_SECONDS);
  for (int i = 0; __atomic_load_n(&side->busy, __ATOMIC_ACQUIRE) & 1; i++) {
    if (i < spins()) {
      mp_cpu_relax();
      continue;
    }
    if (!mp_thread_alive(owner)) break;
    if (mp_time_left(deadline) == 0 && mp_time_left(grace) == 0)
      return MPROC_ETIMEDOUT;
    mp_sleep(LOCK_SLICE_SECONDS / 4);
  }
  return MPROC_OK;
}

/* Under the side's lock: the first user of a side becomes its owner;
 * another takes the side from the owner for good (top of the file). */
static mproc_status_t settle_owner(side_t *side, double deadline) {
  uint32_t bias = __atomic_load_n(&side->bias, __ATOMIC_ACQUIRE);
  if (bias == BIAS_SHARED) return MPROC_OK;
  uint32_t owner = __atomic_load_n(&side->owner, __ATOMIC_RELAXED);
  uint32_t me = mp_thread_id();
  if (bias == BIAS_OPEN && owner == me) return MPROC_OK; /* it must wait */
  if (bias == BIAS_OPEN && owner == 0) {
    if (mp_remote_barrier_join())
      __atomic_store_n(&side->owner, me, __ATOMIC_RELAXED);
    else
      __atomic_store_n(&side->bias, BIAS_SHARED, __ATOMIC_RELEASE);
    return MPROC_OK;
  }
  if (owner != me) { /* the owner itself is out: it is here */
    __atomic_store_n(&side->bias, BIAS_REVOKING, __ATOMIC_SEQ_CST);
    mproc_status_t st = mp_remote_barrier();
    if (st == MPROC_OK) st = wait_owner_out(side, deadline);
    if (st != MPROC_OK) return st;
  }
  __atomic_store_n(&side->bias, BIAS_SHARED, __ATOMIC_RELEASE);
  return MPROC_OK;
}

/* Takes a side's lock by the deadline (a short one: lock_briefly), and
 * settles its owner. A lock whose owner died is simply taken over:
 * nothing needs repairing (see the top of the file), except a flag the
 * dead holder left. */
static mproc_status_t lock(const mproc_queue_t *q, side_t *side,
                           double deadline) {
  double left = mp_time_left(deadline);
  mproc_status_t st =
      left >= 0 && left < LOCK_GRACE_SECONDS
          ? lock_briefly(q, &side->lock, &side->holder_waits, deadline)
          : acquire(q, &side->lock, left);
  if (st != MPROC_OK) return st;
  if ((st = settle_owner(side, deadline)) != MPROC_OK) {
    mp_lock_state_release(q->shm, &side->lock);
    return st;
  }
  /* Looked at first: a seq_cst store is a locked instruction on the path
   * of every put and get, and the flag is only ever left set by a holder
   * that died while it waited. */
  if (__atomic_load_n(&side->holder_waits, __ATOMIC_RELAXED) != 0)
    __atomic_store_n(&side->holder_waits, 0, __ATOMIC_SEQ_CST);
  return MPROC_OK;
}

static void leave_side(const mproc_queue_t *q, side_t *side, int alone) {
  if (alone)
    __atomic_store_n(&side->busy, side->busy + 1, __ATOMIC_RELEASE);
  else
    mp_lock_state_release(q->shm, &side->lock);
}

/* Enters a side for a call that goes on once ready(q, ctx): without the
 * lock (*alone = 1) if the caller is the owner and need not wait, else
 * with it (*alone = 0). An owner that must wait does so holding the lock,
 * as any waiter: a second user then sleeps on the lock (and a put_nowait
 * behind it answers "full" at once, see lock_briefly) instead of polling
 * for the owner's way out of its call. */
static mproc_status_t enter_side(mproc_queue_t *q, side_t *side,
                                 int (*ready)(mproc_queue_t *, void *),
                                 void *ctx, double deadline, int *alone) {
  *alone = enter_alone(side);
  if (*alone) {
    if (ready(q, ctx)) return MPROC_OK;
    leave_side(q, side, 1);
    *alone = 0;
  }
  return lock(q, side, deadline);
}

/* ---- put ---------------------------------------------------------- */

/* mp_queue_testing_stall_before_commit */
static int stall_before_commit;

static void stall_if_asked(void) {
  if (__builtin_expect(
          __atomic_load_n(&stall_before_commit, __ATOMIC_RELAXED), 0))
    for (;;) mp_sleep(3600);
}

/* JoinableQueue: items put and not yet marked done. */
static uint64_t unfinished(const shared_t *s, uint64_t done) {
  return (count_of(__atomic_load_n(&s->tail, __ATOMIC_SEQ_CST)) - done) &
         COUNT_MASK;
}

/* One more put must keep the unfinished count within CPython's limit
 * (producer, in the put side: only task_done changes it meanwhile, and only
 * downwards). */
static mproc_status_t check_unfinished(const shared_t *s, const char *what) {
  if (s->kind != KIND_JOINABLE ||
      unfinished(s, __atomic_load_n(&s->ndone, __ATOMIC_SEQ_CST)) <
          MAX_UNFINISHED)
    return MPROC_OK;
  return mp_fail(MPROC_ESTATE,
                 "%s: %llu tasks unfinished, the most a JoinableQueue "
                 "counts (call task_done)",
                 what, (unsigned long long)MAX_UNFINISHED);
}

/* Whether a record of need words fits now (producer, in the put side). */
static int has_room(mproc_queue_t *q, void *ctx) {
  shared_t *s = q->s;
  uint64_t need = *(uint64_t *)ctx;
  uint64_t tail = __atomic_load_n(&s->tail, __ATOMIC_RELAXED);
  for (int fresh = 0; fresh < 2; fresh++) {
    uint64_t head = s->head_seen;
    uint64_t items = items_between(head, tail);
    if (words_used(head, tail) + need <= s->capacity_words &&
        (s->maxsize == 0 || items < s->maxsize))
      return 1;
    if (fresh == 0) s->head_seen = __atomic_load_n(&s->head, __ATOMIC_SEQ_CST);
  }
  return 0;
}

static mproc_status_t put_record(mproc_queue_t *q, uint32_t tag,
                                 const void *buf, size_t len, double timeout,
                                 const char *what) {
  shared_t *s = q->s;
  uint64_t need = record_words(len);
  if (need > s->capacity_words || len > UINT32_MAX)
    return mp_fail(MPROC_EMSGSIZE, "%s: an item of %zu bytes never fits a "
                   "ring of %llu bytes", what, len,
                   (unsigned long long)s->capacity_words * 8);
  double deadline = mp_deadline(timeout);
  int alone;
  mproc_status_t st =
      enter_side(q, &s->put, has_room, &need, deadline, &alone);
  if (st == MPROC_OK) {
    st = check_unfinished(s, what);
    if (st == MPROC_OK && !alone) /* alone: it has room */
      st = wait_until(q, has_room, &need, &s->room_seq, &s->room_waiters,
                      &s->put.holder_waits, deadline);
    if (st != MPROC_OK) leave_side(q, &s->put, alone);
  }
  if (st == MPROC_ETIMEDOUT)
    return mp_fail(MPROC_EFULL, "%s: the queue is full", what);
  if (st != MPROC_OK) return st;
  uint64_t tail = __atomic_load_n(&s->tail, __ATOMIC_RELAXED);
  uint64_t header = (uint64_t)len | (uint64_t)tag << 32;
  ring_write(q, pos_of(tail), &header, sizeof header);
  ring_write(q, pos_of(tail) + 1, buf, len);
  stall_if_asked();
  /* The commit: one store publishes the record and its count. */
  __atomic_store_n(&s->tail, pack(pos_of(tail) + need, count_of(tail) + 1),
                   __ATOMIC_SEQ_CST);
  /* The side first, then the wake: a consumer woken on this CPU would
   * preempt a producer that still held the side, and every producer
   * after it would sleep on the lock (pinned W3.mpmc: ~3.5 futex calls an
   * item this way). */
  leave_side(q, &s->put, alone);
  wake(q, &s->data_seq, &s->data_waiters);
  return MPROC_OK;
}

mproc_status_t mproc_queue_put_bytes(mproc_queue_t *q, const void *buf,
                                     size_t len, double timeout) {
  mproc_status_t st = require_open(q, "queue_put_bytes");
  if (st != MPROC_OK) return st;
  if (buf == NULL && len > 0)
    return mp_fail(MPROC_EINVAL, "queue_put_bytes: NULL buffer of %zu bytes",
                   len);
  if ((st = mp_check_timeout(timeout, "queue_put_bytes")) != MPROC_OK)
    return st;
  return put_record(q, TAG_BYTES, buf, len, timeout, "queue_put_bytes");
}

mproc_status_t mproc_queue_put(mproc_queue_t *q, const mproc_obj_t *v,
                               double timeout) {
  mproc_status_t st = require_open(q, "queue_put");
  if (st != MPROC_OK) return st;
  if ((st = mp_check_timeout(timeout, "queue_put")) != MPROC_OK) return st;
  void *data = NULL;
  size_t len;
  if ((st = mproc_obj_encode(v, &data, &len)) != MPROC_OK) return st;
  st = put_record(q, TAG_VALUE, data, len, timeout, "queue_put");
  free(data);
  return st;
}

mproc_status_t mproc_queue_put_nowait(mproc_queue_t *q,
                                      const mproc_obj_t *v) {
  return mproc_queue_put(q, v, 0);
}

/* ---- get ---------------------------------------------------------- */

static int has_data(mproc_queue_t *q, void *ctx) {
  (void)ctx;
  shared_t *s = q->s;
  uint64_t head = __atomic_load_n(&s->head, __ATOMIC_RELAXED);
  if (count_of(s->tail_seen) != count_of(head)) return 1;
  s->tail_seen = __atomic_load_n(&s->tail, __ATOMIC_SEQ_CST);
  return count_of(s->tail_seen) != count_of(head);
}

/* Where a got record goes: a new buffer, or the caller's. */
typedef struct {
  void *buf;    /* the caller's, or NULL: allocate */
  size_t cap;
  void *out;    /* the bytes */
  size_t len;
  uint32_t tag;
} sink_t;

/* Enters the get side and waits for a record; on MPROC_OK the caller is
 * in the side (*alone as enter_side) and *head is the first unconsumed
 * record. */
static mproc_status_t begin_get(mproc_queue_t *q, double timeout,
                                uint64_t *head, int *alone,
                                const char *what) {
  shared_t *s = q->s;
  double deadline = mp_deadline(timeout);
  mproc_status_t st =
      enter_side(q, &s->get, has_data, NULL, deadline, alone);
  if (st == MPROC_OK && !*alone) { /* alone: it has data */
    st = wait_until(q, has_data, NULL, &s->data_seq, &s->data_waiters,
                    &s->get.holder_waits, deadline);
    if (st != MPROC_OK) leave_side(q, &s->get, *alone);
  }
  if (st == MPROC_ETIMEDOUT)
    return mp_fail(MPROC_EEMPTY, "%s: the queue is empty", what);
  if (st != MPROC_OK) return st;
  *head = __atomic_load_n(&s->head, __ATOMIC_RELAXED);
  return MPROC_OK;
}

static mproc_status_t get_record(mproc_queue_t *q, sink_t *sink,
                                 double timeout, const char *what) {
  shared_t *s = q->s;
  uint64_t head = 0, header;
  int alone;
  mproc_status_t st = begin_get(q, timeout, &head, &alone, what);
  if (st != MPROC_OK) return st;
  ring_read(q, pos_of(head), &header, sizeof header);
  size_t len = (size_t)(uint32_t)header;
  sink->len = len;
  sink->tag = (uint32_t)(header >> 32);
  if (sink->buf && len > sink->cap) {
    st = mp_fail(MPROC_EMSGSIZE, "%s: an item of %zu bytes, room for %zu",
                 what, len, sink->cap);
  } else {
    sink->out = sink->buf ? sink->buf : malloc(len ? len : 1);
    if (sink->out == NULL)
      st = mp_fail(MPROC_ENOMEM, "%s: an item of %zu bytes", what, len);
  }
  if (st == MPROC_OK) {
    ring_read(q, pos_of(head) + 1, sink->out, len);
    /* The commit: the record is ours once head moves past it. */
    __atomic_store_n(&s->head,
                     pack(pos_of(head) + record_words(len), count_of(head) + 1),
                     __ATOMIC_SEQ_CST);
  }
  leave_side(q, &s->get, alone);
  if (st == MPROC_OK) wake(q, &s->room_seq, &s->room_waiters); /* as put */
  return st;
}

static mproc_status_t check_get(mproc_queue_t *q, const void *out,
                                double timeout, const char *what) {
  mproc_status_t st = require_open(q, what);
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, what);
  return mp_check_timeout(timeout, what);
}

mproc_status_t mproc_queue_get_bytes(mproc_queue_t *q, void **out,
                                     size_t *len, double timeout) {
  mproc_status_t st = check_get(q, out, timeout, "queue_get_bytes");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(len, "queue_get_bytes: len");
  sink_t sink = {0};
  if ((st = get_record(q, &sink, timeout, "queue_get_bytes")) != MPROC_OK)
    return st;
  *out = sink.out;
  *len = sink.len;
  return MPROC_OK;
}

mproc_status_t mproc_queue_get_bytes_into(mproc_queue_t *q, void *buf,
                                          size_t buflen, size_t *len,
                                          double timeout) {
  mproc_status_t st = check_get(q, len, timeout, "queue_get_bytes_into");
  if (st != MPROC_OK) return st;
  if (buf == NULL && buflen > 0)
    return mp_fail(MPROC_EINVAL,
                   "queue_get_bytes_into: NULL buffer of %zu bytes", buflen);
  static unsigned char none[1]; /* a non-NULL sink for buflen 0 */
  sink_t sink = {.buf = buf ? buf : none, .cap = buflen};
  st = get_record(q, &sink, timeout, "queue_get_bytes_into");
  *len = sink.len;
  return st;
}

mproc_status_t mproc_queue_get(mproc_queue_t *q, mproc_obj_t **out,
                               double timeout) {
  mproc_status_t st = check_get(q, out, timeout, "queue_get");
  if (st != MPROC_OK) return st;
  sink_t sink = {0};
  if ((st = get_record(q, &sink, timeout, "queue_get")) != MPROC_OK)
    return st;
  st = sink.tag == TAG_VALUE ? mproc_obj_decode(out, sink.out, sink.len)
                             : mproc_obj_bytes(out, sink.out, sink.len);
  free(sink.out);
  return st;
}

mproc_status_t mproc_queue_get_nowait(mproc_queue_t *q, mproc_obj_t **out) {
  return mproc_queue_get(q, out, 0);
}

/* ---- state -------------------------------------------------------- */

static uint64_t qsize_now(const mproc_queue_t *q) {
  uint64_t head = __atomic_load_n(
      &q->s->head, __ATOMIC_SEQ_CST); /* head first: never > tail */
  uint64_t tail = __atomic_load_n(&q->s->tail, __ATOMIC_SEQ_CST);
  return items_between(head, tail);
}

mproc_status_t mproc_queue_qsize(mproc_queue_t *q, size_t *out) {
  mproc_status_t st = require_open(q, "queue_qsize");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "queue_qsize: out");
  *out = (size_t)qsize_now(q);
  return MPROC_OK;
}

mproc_status_t mproc_queue_empty(mproc_queue_t *q, int *out) {
  mproc_status_t st = require_open(q, "queue_empty");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "queue_empty: out");
  *out = qsize_now(q) == 0;
  return MPROC_OK;
}

mproc_status_t mproc_queue_full(mproc_queue_t *q, int *out) {
  mproc_status_t st = require_open(q, "queue_full");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "queue_full: out");
  *out = q->s->maxsize != 0 && qsize_now(q) >= q->s->maxsize;
  return MPROC_OK;
}

/* ---- JoinableQueue ------------------------------------------------ */

static mproc_status_t require_joinable(const mproc_queue_t *q,
                                       const char *what) {
  mproc_status_t st = require_open(q, what);
  if (st == MPROC_OK && q->s->kind != KIND_JOINABLE)
    st = mp_fail(MPROC_ESTATE, "%s: not a JoinableQueue", what);
  return st;
}


mproc_status_t mproc_queue_task_done(mproc_queue_t *q) {
  mproc_status_t st = require_joinable(q, "queue_task_done");
  if (st != MPROC_OK) return st;
  shared_t *s = q->s;
  uint64_t done = __atomic_load_n(&s->ndone, __ATOMIC_SEQ_CST);
  do {
    if (unfinished(s, done) == 0)
      return mp_fail(MPROC_ESTATE,
                     "queue_task_done: called more times than items put");
  } while (!__atomic_compare_exchange_n(&s->ndone, &done,
                                        (done + 1) & COUNT_MASK, 1,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  if (unfinished(s, (done + 1) & COUNT_MASK) == 0)
    wake(q, &s->done_seq, &s->done_waiters);
  return MPROC_OK;
}

static int all_done(mproc_queue_t *q, void *ctx) {
  (void)ctx;
  return unfinished(q->s, __atomic_load_n(&q->s->ndone, __ATOMIC_SEQ_CST)) == 0;
}

mproc_status_t mproc_queue_join(mproc_queue_t *q, double timeout) {
  mproc_status_t st = require_joinable(q, "queue_join");
  if (st != MPROC_OK) return st;
  if ((st = mp_check_timeout(timeout, "queue_join")) != MPROC_OK) return st;
  st = wait_until(q, all_done, NULL, &q->s->done_seq, &q->s->done_waiters,
                  NULL, mp_deadline(timeout));
  if (st == MPROC_ETIMEDOUT)
    return mp_fail(MPROC_ETIMEDOUT, "queue_join: tasks still unfinished");
  return st;
}

/* ---- closing ------------------------------------------------------ */

mproc_status_t mproc_queue_close(mproc_queue_t *q) {
  MP_CHECK_KIND(q, &queue_ops, "queue_close");
  q->closed = 1;
  return MPROC_OK;
}

mproc_status_t mproc_queue_join_thread(mproc_queue_t *q) {
  MP_CHECK_KIND(q, &queue_ops, "queue_join_thread");
  if (!q->closed)
    return mp_fail(MPROC_ESTATE, "queue_join_thread: close the queue first");
  return MPROC_OK;
}

mproc_status_t mproc_queue_cancel_join_thread(mproc_queue_t *q) {
  MP_CHECK_KIND(q, &queue_ops, "queue_cancel_join_thread");
  return MPROC_OK;
}

mproc_status_t mproc_queue_free(mproc_queue_t *q) {
  if (q == NULL) return MPROC_OK;
  MP_CHECK_KIND(q, &queue_ops, "queue_free");
  mp_shm_close(q->shm);
  mp_object_release(q);
  return MPROC_OK;
}

mproc_status_t mproc_attached_queue(size_t index, mproc_queue_t **out) {
  return mp_attached_as(index, &queue_ops, (void **)out, "attached_queue");
}

/* ---- for tests ---------------------------------------------------- */

mproc_status_t mp_queue_testing_pretend_unfinished(mproc_queue_t *q,
                                                   uint64_t n) {
  mproc_status_t st = require_joinable(q, "queue_testing");
  if (st == MPROC_OK)
    __atomic_store_n(
        &q->s->ndone,
        (__atomic_load_n(&q->s->ndone, __ATOMIC_SEQ_CST) - n) & COUNT_MASK,
        __ATOMIC_SEQ_CST);
  return st;
}

mproc_status_t mp_queue_testing_sides(mproc_queue_t *q, int *put_alone,
                                      int *get_alone) {
  mproc_status_t st = require_open(q, "queue_testing");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(put_alone, "queue_testing: put_alone");
  MP_REQUIRE(get_alone, "queue_testing: get_alone");
  const side_t *sides[2] = {&q->s->put, &q->s->get};
  int *alone[2] = {put_alone, get_alone};
  for (int i = 0; i < 2; i++)
    *alone[i] =
        __atomic_load_n(&sides[i]->bias, __ATOMIC_ACQUIRE) == BIAS_OPEN &&
        __atomic_load_n(&sides[i]->owner, __ATOMIC_RELAXED) != 0;
  return MPROC_OK;
}

int mp_queue_testing_lockless(void) { return mp_remote_barrier_join(); }

void mp_queue_testing_stall_before_commit(void) {
  __atomic_store_n(&stall_before_commit, 1, __ATOMIC_RELAXED);
}
