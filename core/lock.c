/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lock and RLock: a futex word holding the owner's thread id.
 *
 * Uncontended, acquire is one compare-and-swap (0 -> my id) and release
 * one exchange (-> 0), like a raw process-shared mutex, plus the platform's
 * owner-death bookkeeping around them (plain stores: on Linux, putting the
 * word on the thread's robust futex list). A contender sets
 * MP_OWNER_WAITERS and sleeps on the word at once (no spinning, as glibc's
 * default mutex: with more processes than CPUs, as in W7, spinning
 * measured 1.5-2x slower); the release that sees the bit wakes one
 * sleeper, which takes the lock with the bit set (others may still sleep).
 *
 * Owner death: when a tracked owner ends holding the word, the OS sets
 * MP_OWNER_DIED in it (clearing the id) and wakes one sleeper, at once.
 * Whoever next finds the word with no id takes it with one
 * compare-and-swap; if MP_OWNER_DIED was set it reports MPROC_EOWNERDEAD.
 * Only one contender can win that swap, so exactly one acquirer learns of
 * the death. A holder the OS cannot track (MP_OWNER_UNTRACKED: no OS
 * support, or a Lock released by a thread that did not acquire it, see
 * platform/posix/sync.c) is polled: its waiters wake every
 * OWNER_POLL_INTERVAL and ask whether it lives (mp_thread_alive).
 *
 * A sleeper on a tracked holder still wakes every LOST_WAKEUP_RECHECK to
 * re-read the word (never to poll the owner): a waiter killed between
 * being woken and taking the lock would otherwise strand the others.
 */
#include <stdlib.h>

#include "core/error.h"
#include "core/sync.h"

#define OWNER_POLL_INTERVAL 0.1
#define LOST_WAKEUP_RECHECK 1.0

_Static_assert(sizeof(mp_lock_state_t) == 64,
               "a Value reserves 64 bytes for its own lock");

static inline uint32_t owner_of(uint32_t v) { return v & MP_OWNER_ID_MASK; }

void mp_lock_state_init(mp_lock_state_t *s, int recursive) {
  *s = (mp_lock_state_t){.recursive = recursive != 0};
}

/* The word is ours: set the RLock depth. */
static mproc_status_t took(mp_lock_state_t *s, mproc_status_t st) {
  if (s->recursive) s->count = 1;
  if (st == MPROC_EOWNERDEAD)
    return mp_fail(st, "lock: acquired from an owner that died holding it");
  return st;
}

/* v's holder is untracked and dead: take the lock over (if v is still the
 * word). A tracked holder's death is the OS's to tell. */
static int take_from_untracked(mp_lock_state_t *s, uint32_t v, uint32_t me) {
  uint32_t owner = owner_of(v);
  if (!(v & MP_OWNER_UNTRACKED) || owner == 0 || owner == me ||
      mp_thread_alive(owner))
    return 0;
  return mp_owner_take(&s->owned, &v, MP_OWNER_WAITERS);
}

/* Marks v as contended; returns the word to sleep on, 0 to retry. */
static uint32_t mark_waiting(mp_lock_state_t *s, uint32_t v) {
  if (v & MP_OWNER_WAITERS) return v;
  uint32_t marked = v | MP_OWNER_WAITERS;
  return __atomic_compare_exchange_n(&s->owned.word, &v, marked, 0,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED)
             ? marked
             : 0;
}

static double sleep_slice(uint32_t sleep_on, double left) {
  double most = sleep_on & MP_OWNER_UNTRACKED ? OWNER_POLL_INTERVAL
                                              : LOST_WAKEUP_RECHECK;
  return left < 0 || left > most ? most : left;
}

static mproc_status_t acquire_slow(const mp_shm_t *seg, mp_lock_state_t *s,
                                   uint32_t me, double timeout) {
  uint32_t *word = &s->owned.word;
  double deadline = mp_deadline(timeout);
  for (;;) {
    uint32_t v = __atomic_load_n(word, __ATOMIC_RELAXED);
    if (owner_of(v) == 0) {
      /* Free, or its owner died: others may sleep, so keep the bit for
       * our release. Taking it clears MP_OWNER_DIED: one acquirer is told. */
      uint32_t seen = v;
      if (mp_owner_take(&s->owned, &v, MP_OWNER_WAITERS))
        return took(s, seen & MP_OWNER_DIED ? MPROC_EOWNERDEAD : MPROC_OK);
      continue;
    }
    double left = mp_time_left(deadline);
    if (left == 0) {
      if (take_from_untracked(s, v, me)) return took(s, MPROC_EOWNERDEAD);
      return mp_fail(MPROC_ETIMEDOUT, "lock: still held after %gs", timeout);
    }
    uint32_t sleep_on = mark_waiting(s, v);
    if (sleep_on == 0) continue;
    mproc_status_t st =
        mp_wait_word(seg, word, sleep_on, sleep_slice(sleep_on, left));
    if (st == MPROC_ETIMEDOUT) {
      if (take_from_untracked(s, sleep_on, me))
        return took(s, MPROC_EOWNERDEAD);
    } else if (st != MPROC_OK) {
      return st;
    }
  }
}

static mproc_status_t recurse(mp_lock_state_t *s) {
  if (s->count == UINT32_MAX)
    return mp_fail(MPROC_ESTATE, "rlock: recursion too deep");
  s->count++;
  return MPROC_OK;
}

/* Inlined into the public calls too: the fast path is one call deep. */
static inline mproc_status_t acquire(const mp_shm_t *seg, mp_lock_state_t *s,
                                     double timeout) {
  uint32_t v = 0;
  if (mp_owner_take(&s->owned, &v, 0)) return took(s, MPROC_OK);
  uint32_t me = mp_thread_id();
  if (s->recursive && owner_of(v) == me) return recurse(s);
  return acquire_slow(seg, s, me, timeout);
}

mproc_status_t mp_lock_state_acquire(const mp_shm_t *seg, mp_lock_state_t *s,
                                     double timeout) {
  return acquire(seg, s, timeout);
}

int mp_lock_state_is_mine(const mp_lock_state_t *s) {
  return owner_of(__atomic_load_n(&s->owned.word, __ATOMIC_RELAXED)) ==
         mp_thread_id();
}

static inline mproc_status_t unlock_word(const mp_shm_t *seg,
                                         mp_lock_state_t *s) {
  uint32_t old = mp_owner_clear(&s->owned);
  if (old & MP_OWNER_WAITERS) mp_wake_word(seg, &s->owned.word, 1);
  /* A dead owner's word (no id, MP_OWNER_DIED) was still locked. */
  if ((old & (MP_OWNER_ID_MASK | MP_OWNER_DIED)) == 0)
    return mp_fail(MPROC_ESTATE, "lock: released but not locked");
  return MPROC_OK;
}

static inline mproc_status_t release(const mp_shm_t *seg,
                                     mp_lock_state_t *s) {
  if (s->recursive) {
    if (!mp_lock_state_is_mine(s))
      return mp_fail(MPROC_ESTATE,
                     "rlock: released by a thread that does not hold it");
    if (--s->count > 0) return MPROC_OK;
  }
  return unlock_word(seg, s);
}

mproc_status_t mp_lock_state_release(const mp_shm_t *seg, mp_lock_state_t *s) {
  return release(seg, s);
}

uint32_t mp_lock_state_release_all(const mp_shm_t *seg, mp_lock_state_t *s) {
  uint32_t depth = s->recursive ? s->count : 1;
  if (s->recursive) s->count = 0;
  unlock_word(seg, s);
  return depth;
}

mproc_status_t mp_lock_state_reacquire(const mp_shm_t *seg, mp_lock_state_t *s,
                                       uint32_t depth) {
  mproc_status_t st = mp_lock_state_acquire(seg, s, MPROC_FOREVER);
  if (s->recursive && (st == MPROC_OK || st == MPROC_EOWNERDEAD))
    s->count = depth;
  return st;
}

/* Blocks kept because their lock word was on another live thread's
 * robust list when freed: unmapping the memory, or handing an arena slot
 * to another object, would leave that list pointing at something else.
 * Each later free retries them. Under the registry lock. */
typedef struct kept_block {
  mp_block_t block;
  size_t offset; /* of the lock state in the block */
  struct kept_block *next;
} kept_block_t;

static kept_block_t *kept_blocks;

int mp_lock_state_detach(mp_lock_state_t *s) {
  return mp_owner_detach(&s->owned);
}

static int detach(const mp_block_t *block, size_t offset) {
  return mp_lock_state_detach(
      (mp_lock_state_t *)((char *)block->base + offset));
}

static void free_released_kept_blocks(void) {
  for (kept_block_t **k = &kept_blocks; *k != NULL;) {
    kept_block_t *kept = *k;
    if (detach(&kept->block, kept->offset)) {
      *k = kept->next;
      mp_block_free(&kept->block);
      free(kept);
    } else {
      k = &kept->next;
    }
  }
}

void mp_lock_block_free(mp_block_t *block, size_t offset) {
  mp_registry_lock();
  free_released_kept_blocks();
  kept_block_t *kept = NULL;
  if (detach(block, offset)) {
    mp_block_free(block);
  } else if ((kept = malloc(sizeof *kept)) != NULL) {
    *kept = (kept_block_t){*block, offset, kept_blocks};
    kept_blocks = kept;
  } /* else out of memory: the block stays, unreferenced, until exit */
  mp_registry_unlock();
}

/* ---- the public object -------------------------------------------- */

struct mproc_lock {
  mp_object_t obj;
  mp_lock_state_t *state;
  mp_block_t block; /* where state lives: its own, or (a view) a Value's */
  size_t offset;    /* of state in block */
  int is_view;      /* block belongs to another object */
  int adopted;      /* the lock belongs to another object (mp_lock_adopt) */
};

static mproc_status_t lock_export(void *obj, mp_buf_t *state,
                                  mp_handles_t *handles) {
  return mp_lock_export(obj, state, handles);
}

static mproc_status_t lock_import(const void *state, size_t len, void **out) {
  mp_reader_t r = {state, len, 0, 0};
  return mp_lock_import(&r, (mproc_lock_t **)out);
}

static mproc_status_t lock_free_op(void *obj) { return mproc_lock_free(obj); }

/* No after_fork: the lock word is shared; the robust list is the
 * platform's (a forked child starts with its own). */
static mp_object_ops_t lock_ops = {.kind = "lock",
                                   .export_state = lock_export,
                                   .import_state = lock_import,
                                   .free = lock_free_op};
MP_OBJECT_KIND(lock_ops)

static mproc_status_t lock_wrap(mproc_lock_t **out, const mp_block_t *block,
                                size_t offset, int is_view) {
  mproc_lock_t *l = mp_object_alloc(sizeof *l);
  if (l == NULL) return mp_fail(MPROC_ENOMEM, "lock");
  mp_object_init(&l->obj, &lock_ops);
  l->block = *block;
  l->offset = offset;
  l->state = (mp_lock_state_t *)((char *)block->base + offset);
  l->is_view = is_view;
  *out = l;
  return MPROC_OK;
}

mproc_status_t mp_lock_export(mproc_lock_t *lock, mp_buf_t *state,
                              mp_handles_t *handles) {
  /* Also the borrowed lock of a Condition or Value: it may be freed. */
  mproc_status_t st = mp_lock_check(lock, "export: the lock");
  if (st != MPROC_OK) return st;
  mp_block_export(&lock->block, state, handles);
  mp_buf_put_u64(state, lock->offset);
  return MPROC_OK;
}

mproc_status_t mp_lock_import(mp_reader_t *r, mproc_lock_t **out) {
  mp_block_t block;
  mproc_status_t st = mp_block_import(r, &block, sizeof(mp_lock_state_t));
  if (st != MPROC_OK) return st;
  uint64_t offset = mp_read_u64(r);
  if (r->bad || offset > block.size - sizeof(mp_lock_state_t) ||
      offset % sizeof(uint32_t) != 0) {
    mp_block_free(&block);
    return mp_fail(MPROC_ESPAWN, "import: malformed lock state");
  }
  st = lock_wrap(out, &block, (size_t)offset, 0);
  if (st != MPROC_OK) mp_block_free(&block);
  return st;
}

mproc_status_t mp_lock_view(mproc_lock_t **out, const mp_block_t *block,
                            size_t offset) {
  return lock_wrap(out, block, offset, 1);
}

void mp_lock_free_view(mproc_lock_t *lock) {
  mp_object_release(lock);
}

mp_lock_state_t *mp_lock_state_of(mproc_lock_t *lock) { return lock->state; }

const mp_shm_t *mp_lock_segment_of(const mproc_lock_t *lock) {
  return lock->block.shm;
}

mproc_status_t mp_lock_check(const mproc_lock_t *lock, const char *call) {
  return mp_object_check(lock, &lock_ops, call);
}

static mproc_status_t lock_new(mproc_lock_t **out, int recursive,
                               const char *what) {
  MP_REQUIRE(out, what);
  mp_block_t block;
  mproc_status_t st = mp_block_alloc(&block, sizeof(mp_lock_state_t));
  if (st != MPROC_OK) return st;
  mp_lock_state_init(block.base, recursive);
  st = lock_wrap(out, &block, 0, 0);
  if (st != MPROC_OK) mp_block_free(&block);
  return st;
}

mproc_status_t mproc_lock_create(mproc_lock_t **out) {
  return lock_new(out, 0, "lock_create: out");
}

mproc_status_t mproc_rlock_create(mproc_lock_t **out) {
  return lock_new(out, 1, "rlock_create: out");
}

mproc_status_t mproc_lock_acquire(mproc_lock_t *lock, double timeout) {
  MP_CHECK_KIND(lock, &lock_ops, "lock_acquire");
  if (timeout != timeout)
    return mp_fail(MPROC_EINVAL, "lock_acquire: NaN timeout");
  return acquire(lock->block.shm, lock->state, timeout);
}

mproc_status_t mproc_lock_release(mproc_lock_t *lock) {
  MP_CHECK_KIND(lock, &lock_ops, "lock_release");
  return release(lock->block.shm, lock->state);
}

mproc_status_t mproc_lock_is_recursive(const mproc_lock_t *lock, int *out) {
  MP_CHECK_KIND(lock, &lock_ops, "lock_is_recursive");
  MP_REQUIRE(out, "lock_is_recursive: out");
  *out = (int)lock->state->recursive;
  return MPROC_OK;
}

static void lock_free(mproc_lock_t *lock) {
  mp_lock_block_free(&lock->block, lock->offset);
  mp_object_release(lock);
}

mproc_status_t mproc_lock_free(mproc_lock_t *lock) {
  if (lock == NULL) return MPROC_OK;
  MP_CHECK_KIND(lock, &lock_ops, "lock_free");
  if (lock->is_view || lock->adopted)
    return mp_fail(MPROC_ESTATE,
                   "lock_free: this lock belongs to a Value, Array or "
                   "Condition; it is closed with that object");
  lock_free(lock);
  return MPROC_OK;
}

void mp_lock_adopt(mproc_lock_t *lock) { lock->adopted = 1; }

void mp_lock_free_adopted(mproc_lock_t *lock) {
  if (mp_lock_check(lock, "lock_free") == MPROC_OK) lock_free(lock);
}

mproc_status_t mproc_attached_lock(size_t index, mproc_lock_t **out) {
  return mp_attached_as(index, &lock_ops, (void **)out, "attached_lock");
}
