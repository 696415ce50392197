/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Condition: sequence counters in shared memory, guarded by the
 * condition's own lock (the user's Lock or RLock), and a futex word that
 * every notify changes.
 *
 *   total_seq   waits started
 *   wakeup_seq  wake-ups granted by notify, and waits given up (never
 *               more than total_seq); grant i is the i-th of them
 *   pending     which of the last GRANT_WINDOW grants are still untaken
 *   old_pending untaken grants older than that window
 *
 * A waiter records wakeup_seq (its start) and the futex word, releases the
 * lock and sleeps while the word is unchanged. Woken (or not), it re-takes
 * the lock and leaves if it can take an untaken grant made after it
 * started (the oldest such); else it sleeps again. A waiter that times out
 * appends a grant already taken, so notify never grants a wake-up to
 * nobody. Hence notify(n) wakes at most n waiters, and only ones that were
 * waiting when it ran, as CPython promises.
 *
 * Why grants are told apart (not one count of wake-ups taken): a waiter
 * killed inside wait never takes its grant. Counted globally, that grant
 * would let a later waiter through with nobody notifying it; here it stays
 * with the waiters that started before it. Beyond the window (more than
 * GRANT_WINDOW grants outstanding at once) grants are only counted, and a
 * waiter that started before the window takes any of them.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sync.h"

#define GRANT_WINDOW 512 /* bits: the state stays in a 128-byte slot */

typedef struct {
  uint64_t total_seq;
  uint64_t wakeup_seq;
  uint64_t old_pending;
  uint32_t futex;
  uint32_t reserved;
  uint64_t pending[GRANT_WINDOW / 64]; /* bit i % GRANT_WINDOW: grant i */
} condition_state_t;

struct mproc_condition {
  mp_segobj_t seg;
  condition_state_t *state;
  mproc_lock_t *lock;
  int owns_lock; /* made by create (lock NULL) or by import */
};

static mproc_status_t condition_export(void *obj, mp_buf_t *state,
                                       mp_handles_t *handles) {
  mproc_condition_t *c = obj;
  mp_segobj_export(c, state, handles);
  return mp_lock_export(c->lock, state, handles);
}

static mp_object_ops_t condition_ops;

static mproc_status_t condition_import(const void *state, size_t len,
                                       void **out) {
  mp_reader_t r = {state, len, 0, 0};
  mproc_condition_t *c;
  mproc_status_t st =
      mp_segobj_import(&r, (void **)&c, sizeof *c, &condition_ops,
                       sizeof(condition_state_t));
  if (st != MPROC_OK) return st;
  c->state = mp_segobj_state(c);
  if ((st = mp_lock_import(&r, &c->lock)) != MPROC_OK) {
    mp_segobj_free(c);
    return st;
  }
  mp_lock_adopt(c->lock);
  c->owns_lock = 1;
  *out = c;
  return MPROC_OK;
}

static mproc_status_t condition_free_op(void *obj) {
  return mproc_condition_free(obj);
}

/* No after_fork: the state is the shared block (and the lock's). */
static mp_object_ops_t condition_ops = {.kind = "condition",
                                        .export_state = condition_export,
                                        .import_state = condition_import,
                                        .free = condition_free_op};
MP_OBJECT_KIND(condition_ops)

mproc_status_t mproc_condition_create(mproc_condition_t **out,
                                      mproc_lock_t *lock) {
  MP_REQUIRE(out, "condition_create: out");
  if (lock != NULL) {
    mproc_status_t st = mp_lock_check(lock, "condition_create");
    if (st != MPROC_OK) return st;
  }
  mproc_condition_t *c;
  mproc_status_t st = mp_segobj_new((void **)&c, sizeof *c, &condition_ops,
                                    sizeof(condition_state_t));
  if (st != MPROC_OK) return st;
  c->state = mp_segobj_state(c);
  c->lock = lock;
  if (lock == NULL) {
    if ((st = mproc_rlock_create(&c->lock)) != MPROC_OK) {
      mp_segobj_free(c);
      return st;
    }
    mp_lock_adopt(c->lock);
    c->owns_lock = 1;
  }
  *out = c;
  return MPROC_OK;
}

mproc_status_t mproc_condition_get_lock(const mproc_condition_t *cond,
                                        mproc_lock_t **out) {
  MP_CHECK_KIND(cond, &condition_ops, "condition_get_lock");
  MP_REQUIRE(out, "condition_get_lock: out");
  *out = cond->lock;
  return MPROC_OK;
}

mproc_status_t mproc_condition_acquire(mproc_condition_t *cond,
                                       double timeout) {
  MP_CHECK_KIND(cond, &condition_ops, "condition_acquire");
  return mproc_lock_acquire(cond->lock, timeout);
}

mproc_status_t mproc_condition_release(mproc_condition_t *cond) {
  MP_CHECK_KIND(cond, &condition_ops, "condition_release");
  return mproc_lock_release(cond->lock);
}

static mproc_status_t require_owner(mproc_condition_t *cond,
                                    const char *what) {
  MP_CHECK_KIND(cond, &condition_ops, what);
  /* A given lock is borrowed: it may have been freed first. */
  mproc_status_t st = mp_lock_check(cond->lock, what);
  if (st != MPROC_OK) return st;
  if (!mp_lock_state_is_mine(mp_lock_state_of(cond->lock)))
    return mp_fail(MPROC_ESTATE, "%s: the lock is not held by this thread",
                   what);
  return MPROC_OK;
}

/* ---- grants (all under the condition's lock) ---------------------- */

static int pending_bit(const condition_state_t *s, uint64_t i) {
  return (int)((s->pending[(i % GRANT_WINDOW) / 64] >> (i % 64)) & 1);
}

static void set_pending_bit(condition_state_t *s, uint64_t i, int on) {
  uint64_t bit = (uint64_t)1 << (i % 64);
  uint64_t *word = &s->pending[(i % GRANT_WINDOW) / 64];
  *word = on ? *word | bit : *word & ~bit;
}

/* Appends k grants, untaken (notify) or taken (a wait given up). The bit
 * of grant i is that of grant i - GRANT_WINDOW, which leaves the window. */
static void append_grants(condition_state_t *s, uint64_t k, int untaken) {
  if (k > GRANT_WINDOW) {
    for (uint64_t i = s->wakeup_seq; i < s->wakeup_seq + GRANT_WINDOW; i++)
      s->old_pending += (uint64_t)pending_bit(s, i);
    memset(s->pending, 0, sizeof s->pending);
    if (untaken) s->old_pending += k - GRANT_WINDOW;
    s->wakeup_seq += k - GRANT_WINDOW;
    k = GRANT_WINDOW;
  }
  for (uint64_t j = 0; j < k; j++, s->wakeup_seq++) {
    s->old_pending += (uint64_t)pending_bit(s, s->wakeup_seq);
    set_pending_bit(s, s->wakeup_seq, untaken);
  }
}

/* Takes the oldest untaken grant made since start, if any. */
static int take_wakeup(condition_state_t *s, uint64_t start) {
  uint64_t window =
      s->wakeup_seq > GRANT_WINDOW ? s->wakeup_seq - GRANT_WINDOW : 0;
  if (start < window && s->old_pending > 0) {
    s->old_pending--;
    return 1;
  }
  for (uint64_t i = start > window ? start : window; i < s->wakeup_seq; i++)
    if (pending_bit(s, i)) {
      set_pending_bit(s, i, 0);
      return 1;
    }
  return 0;
}

mproc_status_t mproc_condition_wait(mproc_condition_t *cond, double timeout) {
  mproc_status_t st = require_owner(cond, "condition_wait");
  if (st != MPROC_OK) return st;
  if ((st = mp_check_timeout(timeout, "condition_wait")) != MPROC_OK)
    return st;
  condition_state_t *s = cond->state;
  mp_lock_state_t *lock = mp_lock_state_of(cond->lock);
  const mp_shm_t *lock_seg = mp_lock_segment_of(cond->lock);
  const mp_shm_t *seg = cond->seg.block.shm;
  double deadline = mp_deadline(timeout);
  s->total_seq++;
  uint64_t start = s->wakeup_seq;
  mproc_status_t result = MPROC_OK;
  for (;;) {
    uint32_t seen = __atomic_load_n(&s->futex, __ATOMIC_RELAXED);
    uint32_t depth = mp_lock_state_release_all(lock_seg, lock);
    double left = mp_time_left(deadline);
    st = left == 0 ? MPROC_ETIMEDOUT : mp_wait_word(seg, &s->futex, seen, left);
    mproc_status_t relock = mp_lock_state_reacquire(lock_seg, lock, depth);
    if (relock == MPROC_EOWNERDEAD) result = MPROC_EOWNERDEAD;
    else if (relock != MPROC_OK) return relock; /* the lock is lost */
    if (take_wakeup(s, start)) break;
    if (st != MPROC_OK || mp_time_left(deadline) == 0) {
      /* Give up our place: a grant, taken. */
      append_grants(s, 1, 0);
      if (result == MPROC_OK) {
        result = st == MPROC_ESYS ? st : MPROC_ETIMEDOUT;
        mp_fail(result, "condition_wait: not notified within %gs", timeout);
      }
      break;
    }
  }
  if (result == MPROC_EOWNERDEAD)
    mp_fail(result, "condition_wait: the lock's owner died holding it");
  return result;
}

mproc_status_t mproc_condition_wait_for(mproc_condition_t *cond,
                                        mproc_predicate_fn predicate,
                                        void *ctx, double timeout) {
  mproc_status_t st = require_owner(cond, "condition_wait_for");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(predicate, "condition_wait_for: predicate");
  if ((st = mp_check_timeout(timeout, "condition_wait_for")) != MPROC_OK)
    return st;
  double deadline = mp_deadline(timeout);
  mproc_status_t dead = MPROC_OK;
  while (!predicate(ctx)) {
    double left = mp_time_left(deadline);
    if (left == 0)
      return mp_fail(MPROC_ETIMEDOUT,
                     "condition_wait_for: still false after %gs", timeout);
    st = mproc_condition_wait(cond, left);
    if (st == MPROC_EOWNERDEAD) dead = st;
    else if (st != MPROC_OK && st != MPROC_ETIMEDOUT) return st;
  }
  return dead;
}

static void grant(const mproc_condition_t *cond, uint64_t n) {
  condition_state_t *s = cond->state;
  const mp_shm_t *seg = cond->seg.block.shm;
  uint64_t waiting = s->total_seq - s->wakeup_seq;
  if (n > waiting) n = waiting;
  if (n == 0) return;
  append_grants(s, n, 1);
  __atomic_fetch_add(&s->futex, 1, __ATOMIC_RELEASE);
  mp_wake_word(seg, &s->futex, n > INT32_MAX ? INT32_MAX : (int)n);
}

mproc_status_t mproc_condition_notify(mproc_condition_t *cond, size_t n) {
  mproc_status_t st = require_owner(cond, "condition_notify");
  if (st != MPROC_OK) return st;
  grant(cond, n);
  return MPROC_OK;
}

mproc_status_t mproc_condition_notify_all(mproc_condition_t *cond) {
  mproc_status_t st = require_owner(cond, "condition_notify_all");
  if (st != MPROC_OK) return st;
  grant(cond, UINT64_MAX);
  return MPROC_OK;
}

mproc_status_t mproc_condition_free(mproc_condition_t *cond) {
  if (cond == NULL) return MPROC_OK;
  MP_CHECK_KIND(cond, &condition_ops, "condition_free");
  if (cond->owns_lock) mp_lock_free_adopted(cond->lock);
  mp_segobj_free(cond);
  return MPROC_OK;
}

mproc_status_t mproc_attached_condition(size_t index,
                                        mproc_condition_t **out) {
  return mp_attached_as(index, &condition_ops, (void **)out,
                        "attached_condition");
}
