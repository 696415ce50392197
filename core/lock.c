/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lock and RLock: a futex word holding the owner's thread id.
 *
 * Uncontended, acquire is one compare-and-swap (0 -> my id) and release
 * one exchange (-> 0), like a raw process-shared mutex. A contender sets
 * MP_LOCK_WAITERS and sleeps on the word at once (no spinning, as glibc's
 * default mutex: with more processes than CPUs, as in W7, spinning
 * measured 1.5-2x slower); the release
 * that sees the bit wakes one sleeper, which takes the lock with the bit
 * set (others may still sleep).
 *
 * Owner death: a sleeper wakes at least every OWNER_CHECK_INTERVAL and,
 * if the id in the word still names the same owner and that thread is
 * gone (mp_thread_alive), takes the lock over with one compare-and-swap
 * and reports MPROC_EOWNERDEAD. Only one contender can win that swap, so
 * exactly one acquirer learns of the death. A timed acquire that is about
 * to fail checks once more, so a try-acquire (timeout 0) on a lock whose
 * owner died succeeds with MPROC_EOWNERDEAD instead of failing forever.
 */
#include <stdlib.h>

#include "core/error.h"
#include "core/sync.h"

#define OWNER_CHECK_INTERVAL 0.1

static inline int cas_acquire(uint32_t *word, uint32_t *expected,
                              uint32_t desired) {
  return __atomic_compare_exchange_n(word, expected, desired, 0,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void mp_lock_state_init(mp_lock_state_t *s, int recursive) {
  s->word = 0;
  s->count = 0;
  s->recursive = recursive != 0;
  s->reserved = 0;
}

static mproc_status_t took(mp_lock_state_t *s, mproc_status_t st) {
  if (s->recursive) s->count = 1;
  if (st == MPROC_EOWNERDEAD)
    return mp_fail(st, "lock: acquired from an owner that died holding it");
  return st;
}

/* The owner of v is dead: take the lock over (if v is still the word). */
static int take_from_dead(mp_lock_state_t *s, uint32_t v, uint32_t me) {
  uint32_t owner = v & MP_LOCK_OWNER_MASK;
  if (owner == 0 || owner == me || mp_thread_alive(owner)) return 0;
  return cas_acquire(&s->word, &v, me | MP_LOCK_WAITERS);
}

/* Marks v as contended; returns the word to sleep on, 0 to retry. */
static uint32_t mark_waiting(mp_lock_state_t *s, uint32_t v) {
  if (v & MP_LOCK_WAITERS) return v;
  uint32_t marked = v | MP_LOCK_WAITERS;
  return __atomic_compare_exchange_n(&s->word, &v, marked, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED)
             ? marked
             : 0;
}

static mproc_status_t acquire_slow(mp_lock_state_t *s, uint32_t me,
                                   double timeout) {
  double deadline = mp_deadline(timeout);
  for (;;) {
    uint32_t v = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
    if ((v & MP_LOCK_OWNER_MASK) == 0) {
      /* Free: others may sleep, so keep the bit for our release. */
      if (cas_acquire(&s->word, &v, me | MP_LOCK_WAITERS))
        return took(s, MPROC_OK);
      continue;
    }
    double left = mp_time_left(deadline);
    if (left == 0) {
      if (take_from_dead(s, v, me)) return took(s, MPROC_EOWNERDEAD);
      return mp_fail(MPROC_ETIMEDOUT, "lock: still held after %gs", timeout);
    }
    uint32_t sleep_on = mark_waiting(s, v);
    if (sleep_on == 0) continue;
    double slice = left < 0 || left > OWNER_CHECK_INTERVAL
                       ? OWNER_CHECK_INTERVAL
                       : left;
    mproc_status_t st = mp_futex_wait(&s->word, sleep_on, slice);
    if (st == MPROC_ETIMEDOUT) {
      if (take_from_dead(s, sleep_on, me)) return took(s, MPROC_EOWNERDEAD);
    } else if (st != MPROC_OK) {
      return st;
    }
  }
}

mproc_status_t mp_lock_state_acquire(mp_lock_state_t *s, double timeout) {
  uint32_t me = mp_thread_id();
  uint32_t v = 0;
  if (cas_acquire(&s->word, &v, me)) return took(s, MPROC_OK);
  if (s->recursive && (v & MP_LOCK_OWNER_MASK) == me) {
    if (s->count == UINT32_MAX)
      return mp_fail(MPROC_ESTATE, "rlock: recursion too deep");
    s->count++;
    return MPROC_OK;
  }
  return acquire_slow(s, me, timeout);
}

int mp_lock_state_is_mine(const mp_lock_state_t *s) {
  return (__atomic_load_n(&s->word, __ATOMIC_RELAXED) & MP_LOCK_OWNER_MASK) ==
         mp_thread_id();
}

static mproc_status_t unlock_word(mp_lock_state_t *s) {
  uint32_t old = __atomic_exchange_n(&s->word, 0, __ATOMIC_RELEASE);
  if (old & MP_LOCK_WAITERS) mp_futex_wake(&s->word, 1);
  if ((old & MP_LOCK_OWNER_MASK) == 0)
    return mp_fail(MPROC_ESTATE, "lock: released but not locked");
  return MPROC_OK;
}

mproc_status_t mp_lock_state_release(mp_lock_state_t *s) {
  if (s->recursive) {
    if (!mp_lock_state_is_mine(s))
      return mp_fail(MPROC_ESTATE,
                     "rlock: released by a thread that does not hold it");
    if (--s->count > 0) return MPROC_OK;
  }
  return unlock_word(s);
}

uint32_t mp_lock_state_release_all(mp_lock_state_t *s) {
  uint32_t depth = s->recursive ? s->count : 1;
  if (s->recursive) s->count = 0;
  unlock_word(s);
  return depth;
}

mproc_status_t mp_lock_state_reacquire(mp_lock_state_t *s, uint32_t depth) {
  mproc_status_t st = mp_lock_state_acquire(s, MPROC_FOREVER);
  if (s->recursive && (st == MPROC_OK || st == MPROC_EOWNERDEAD))
    s->count = depth;
  return st;
}

/* ---- the public object -------------------------------------------- */

struct mproc_lock {
  mp_object_t obj;
  mp_lock_state_t *state;
  mp_shm_t *shm;
  size_t offset; /* of state in shm */
  int is_view;   /* state lives in another object's segment */
};

static mproc_status_t lock_export(void *obj, mp_buf_t *state,
                                  mp_handles_t *handles) {
  return mp_lock_export(obj, state, handles);
}

static mproc_status_t lock_import(const void *state, size_t len, void **out) {
  mp_reader_t r = {state, len, 0, 0};
  return mp_lock_import(&r, (mproc_lock_t **)out);
}

static mp_object_ops_t lock_ops = {"lock", lock_export, lock_import, NULL};
MP_OBJECT_KIND(lock_ops)

static mproc_status_t lock_wrap(mproc_lock_t **out, mp_shm_t *shm,
                                size_t offset, int is_view) {
  mproc_lock_t *l = mp_object_alloc(sizeof *l);
  if (l == NULL) return mp_fail(MPROC_ENOMEM, "lock");
  mp_object_init(&l->obj, &lock_ops);
  l->shm = shm;
  l->offset = offset;
  l->state = (mp_lock_state_t *)((char *)mp_shm_base(shm) + offset);
  l->is_view = is_view;
  *out = l;
  return MPROC_OK;
}

mproc_status_t mp_lock_export(mproc_lock_t *lock, mp_buf_t *state,
                              mp_handles_t *handles) {
  mp_segment_export(lock->shm, state, handles);
  mp_buf_put_u64(state, lock->offset);
  return MPROC_OK;
}

mproc_status_t mp_lock_import(mp_reader_t *r, mproc_lock_t **out) {
  mp_shm_t *shm;
  mproc_status_t st = mp_segment_import(r, &shm);
  if (st != MPROC_OK) return st;
  uint64_t offset = mp_read_u64(r);
  if (r->bad || offset > mp_shm_size(shm) - sizeof(mp_lock_state_t)) {
    mp_shm_close(shm);
    return mp_fail(MPROC_ESPAWN, "import: malformed lock state");
  }
  st = lock_wrap(out, shm, (size_t)offset, 0);
  if (st != MPROC_OK) mp_shm_close(shm);
  return st;
}

mproc_status_t mp_lock_view(mproc_lock_t **out, mp_shm_t *shm,
                            size_t offset) {
  return lock_wrap(out, shm, offset, 1);
}

void mp_lock_free_view(mproc_lock_t *lock) {
  mp_object_release(lock);
}

mp_lock_state_t *mp_lock_state_of(mproc_lock_t *lock) { return lock->state; }

mproc_status_t mp_lock_check(const mproc_lock_t *lock, const char *call) {
  return mp_object_check(lock, &lock_ops, call);
}

static mproc_status_t lock_new(mproc_lock_t **out, int recursive,
                               const char *what) {
  MP_REQUIRE(out, what);
  mp_shm_t *shm;
  mproc_status_t st = mp_shm_create(&shm, sizeof(mp_lock_state_t));
  if (st != MPROC_OK) return st;
  mp_lock_state_init(mp_shm_base(shm), recursive);
  st = lock_wrap(out, shm, 0, 0);
  if (st != MPROC_OK) mp_shm_close(shm);
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
  return mp_lock_state_acquire(lock->state, timeout);
}

mproc_status_t mproc_lock_release(mproc_lock_t *lock) {
  MP_CHECK_KIND(lock, &lock_ops, "lock_release");
  return mp_lock_state_release(lock->state);
}

mproc_status_t mproc_lock_is_recursive(const mproc_lock_t *lock, int *out) {
  MP_CHECK_KIND(lock, &lock_ops, "lock_is_recursive");
  MP_REQUIRE(out, "lock_is_recursive: out");
  *out = (int)lock->state->recursive;
  return MPROC_OK;
}

mproc_status_t mproc_lock_free(mproc_lock_t *lock) {
  MP_CHECK_KIND(lock, &lock_ops, "lock_free");
  if (lock->is_view)
    return mp_fail(MPROC_ESTATE,
                   "lock_free: this is the lock of a Value or Array; it is "
                   "closed with that object");
  mp_shm_close(lock->shm);
  mp_object_release(lock);
  return MPROC_OK;
}

mproc_status_t mproc_attached_lock(size_t index, mproc_lock_t **out) {
  return mp_attached_as(index, &lock_ops, (void **)out, "attached_lock");
}
