/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Barrier: a round counter (the futex word parties sleep on), an arrival
 * count and a broken flag, guarded by an internal lock word.
 *
 * The last party to arrive runs the action, then ends the round: it
 * records whether the round ended well, bumps the round counter and wakes
 * the sleepers. A woken party needs no lock: the counter changed, so its
 * round is over, and the outcome bit of that round says how it ended.
 * Breaking (abort, a timeout, a failed action, a party that died inside
 * the internal lock) and reset end the current round badly, so its
 * waiters get MPROC_EBROKEN. CPython drains the barrier before a new round
 * may fill; the round counter makes that wait unnecessary.
 *
 * The action runs under the internal lock (as CPython's runs under the
 * condition's lock), so a barrier call from the action must not take it
 * again: a thread that holds the internal lock is running the action
 * (barrier code calls no user code otherwise), and its abort and reset
 * work on the state directly (guard_enter); the queries take no lock at
 * all. parties, n_waiting (= parties: all have arrived) and broken
 * report; abort and reset end the round broken (abort
 * also breaks the barrier; reset leaves it usable for the next round);
 * wait is refused with MPROC_ESTATE (the calling party is already in the
 * round the action completes).
 *
 * Outcomes of the last 64 rounds are kept, so a party that sleeps through
 * 64 further rounds (impossible without more threads than parties) could
 * misread its own.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/internal.h"
#include "core/task_registry.h"
#include "core/sync.h"

typedef struct {
  mp_lock_state_t lock;
  uint32_t round;    /* futex word: bumped when a round ends */
  uint32_t sleepers; /* 1: a party may sleep on round (mp_sleep_while) */
  uint32_t parties;
  uint32_t count; /* arrived in this round */
  uint32_t broken;
  uint32_t reserved;
  uint64_t bad_rounds; /* bit round % 64: that round ended broken */
} barrier_state_t;

struct mproc_barrier {
  mp_segobj_t seg;
  barrier_state_t *state;
  mproc_task_fn action; /* this process's view of it */
  void *arg;
  size_t arg_len;
  double timeout;
};

static mproc_status_t barrier_export(void *obj, mp_buf_t *state,
                                     mp_handles_t *handles) {
  mproc_barrier_t *b = obj;
  char *name = NULL; /* the action's task key; "" for none */
  if (b->action) {
    const mproc_task_entry_t *task = mp_task_by_fn(b->action);
    if (task == NULL)
      return mp_fail(MPROC_ENOTREGISTERED,
                     "barrier: its action must be an MPROC_TASK to reach a "
                     "spawned child");
    name = mp_task_key(task);
  } else {
    name = mp_strdup("");
  }
  if (name == NULL) return mp_fail(MPROC_ENOMEM, "barrier: action name");
  mp_segobj_export(b, state, handles);
  mp_buf_put_u64(state, strlen(name) + 1);
  mp_buf_put(state, name, strlen(name) + 1);
  free(name);
  mp_buf_put_u64(state, b->arg_len);
  mp_buf_put(state, b->arg, b->arg_len);
  uint64_t timeout_bits;
  memcpy(&timeout_bits, &b->timeout, sizeof timeout_bits);
  mp_buf_put_u64(state, timeout_bits);
  return MPROC_OK;
}

static mproc_status_t set_action(mproc_barrier_t *b, mproc_task_fn action,
                                 const void *arg, size_t arg_len) {
  b->action = action;
  b->arg_len = arg_len;
  b->arg = malloc(arg_len ? arg_len : 1);
  if (b->arg == NULL) return mp_fail(MPROC_ENOMEM, "barrier: action arg");
  if (arg_len) memcpy(b->arg, arg, arg_len);
  return MPROC_OK;
}

static void barrier_free(mproc_barrier_t *b) {
  free(b->arg);
  mp_segobj_free(b);
}

static mp_object_ops_t barrier_ops;

static mproc_status_t read_action(mp_reader_t *r, mproc_barrier_t *b) {
  size_t name_len = (size_t)mp_read_u64(r);
  const char *name = mp_read(r, name_len);
  size_t arg_len = (size_t)mp_read_u64(r);
  const void *arg = mp_read(r, arg_len);
  uint64_t timeout_bits = mp_read_u64(r);
  if (r->bad || name_len == 0 || name[name_len - 1] != '\0')
    return mp_fail(MPROC_ESPAWN, "import: malformed barrier state");
  memcpy(&b->timeout, &timeout_bits, sizeof b->timeout);
  mproc_task_fn action = NULL;
  if (name[0] != '\0') {
    const mproc_task_entry_t *task = mp_task_by_key(name);
    if (task == NULL) {
      char what[1024];
      mp_task_key_describe(name, what, sizeof what);
      return mp_fail(MPROC_ESPAWN, "import: no task %s", what);
    }
    action = task->fn;
  }
  return set_action(b, action, arg, arg_len);
}

static mproc_status_t barrier_import(const void *state, size_t len,
                                     void **out) {
  mp_reader_t r = {state, len, 0, 0};
  mproc_barrier_t *b;
  mproc_status_t st = mp_segobj_import(&r, (void **)&b, sizeof *b,
                                       &barrier_ops, sizeof(barrier_state_t));
  if (st != MPROC_OK) return st;
  b->state = mp_segobj_state(b);
  if ((st = read_action(&r, b)) != MPROC_OK) {
    barrier_free(b);
    return st;
  }
  *out = b;
  return MPROC_OK;
}

static mproc_status_t barrier_free_op(void *obj) {
  return mproc_barrier_free(obj);
}

/* No after_fork: the state is the shared block. */
static mp_object_ops_t barrier_ops = {.kind = "barrier",
                                      .export_state = barrier_export,
                                      .import_state = barrier_import,
                                      .free = barrier_free_op};
MP_OBJECT_KIND(barrier_ops)

mproc_status_t mproc_barrier_create(mproc_barrier_t **out, unsigned parties,
                                    mproc_task_fn action, const void *arg,
                                    size_t arg_len, double timeout) {
  MP_REQUIRE(out, "barrier_create: out");
  if (parties == 0)
    return mp_fail(MPROC_EINVAL, "barrier_create: parties must be > 0");
  if (arg == NULL && arg_len > 0)
    return mp_fail(MPROC_EINVAL, "barrier_create: arg NULL with arg_len %zu",
                   arg_len);
  mproc_status_t st = mp_check_timeout(timeout, "barrier_create");
  if (st != MPROC_OK) return st;
  mproc_barrier_t *b;
  st = mp_segobj_new((void **)&b, sizeof *b, &barrier_ops,
                     sizeof(barrier_state_t));
  if (st != MPROC_OK) return st;
  b->state = mp_segobj_state(b);
  mp_lock_state_init(&b->state->lock, 0);
  b->state->parties = parties;
  b->timeout = timeout;
  if ((st = set_action(b, action, arg, arg_len)) != MPROC_OK) {
    barrier_free(b);
    return st;
  }
  *out = b;
  return MPROC_OK;
}

/* Ends the current round; its waiters read `bad` once barrier_unlock has
 * woken them (waking them while we hold the lock would let a woken party
 * preempt us and then find the lock taken). */
static void end_round(barrier_state_t *s, int bad) {
  uint64_t bit = (uint64_t)1 << (s->round % 64);
  uint64_t outcomes = bad ? s->bad_rounds | bit : s->bad_rounds & ~bit;
  __atomic_store_n(&s->bad_rounds, outcomes, __ATOMIC_RELAXED);
  __atomic_store_n(&s->count, 0, __ATOMIC_RELAXED);
  __atomic_fetch_add(&s->round, 1, __ATOMIC_SEQ_CST);
}

static void break_barrier(barrier_state_t *s) {
  __atomic_store_n(&s->broken, 1, __ATOMIC_RELAXED);
  if (s->count > 0) end_round(s, 1);
}

/* Takes the internal lock; a party that died inside it broke the barrier.
 * Returns the round as it was, for barrier_unlock. */
static uint32_t barrier_lock(const mp_shm_t *seg, barrier_state_t *s) {
  mproc_status_t st = mp_lock_state_acquire(seg, &s->lock, MPROC_FOREVER);
  uint32_t round = s->round;
  if (st == MPROC_EOWNERDEAD) break_barrier(s);
  return round;
}

/* Releases the internal lock, then wakes the parties of the rounds that
 * ended since barrier_lock returned round. */
static void barrier_unlock(const mp_shm_t *seg, barrier_state_t *s,
                           uint32_t round) {
  int ended = s->round != round;
  mp_lock_state_release(seg, &s->lock);
  if (ended && mp_take_sleepers(&s->sleepers))
    mp_wake_word(seg, &s->round, INT32_MAX);
}

static int round_was_bad(const barrier_state_t *s, uint32_t round) {
  uint64_t outcomes = __atomic_load_n(&s->bad_rounds, __ATOMIC_ACQUIRE);
  return (int)((outcomes >> (round % 64)) & 1);
}

/* Whether the calling thread runs this barrier's action: only then does it
 * hold the internal lock while outside barrier code. */
static int in_own_action(const barrier_state_t *s) {
  return mp_lock_state_is_mine(&s->lock);
}

/* The internal lock for a call that may come from the action, which holds
 * it already: then the call neither takes nor releases it (the action's
 * wait releases it, and wakes the rounds that ended meanwhile). */
typedef struct {
  uint32_t round;
  int nested;
} guard_t;

static guard_t guard_enter(const mp_shm_t *seg, barrier_state_t *s) {
  if (in_own_action(s)) return (guard_t){s->round, 1};
  return (guard_t){barrier_lock(seg, s), 0};
}

static void guard_leave(const mp_shm_t *seg, barrier_state_t *s, guard_t g) {
  if (!g.nested) barrier_unlock(seg, s, g.round);
}

/* The last party: run the action and release the round. The action may
 * have ended the round itself (abort, reset: then it ended broken). */
static mproc_status_t complete_round(mproc_barrier_t *b, uint32_t locked) {
  barrier_state_t *s = b->state;
  const mp_shm_t *seg = b->seg.block.shm;
  int code = b->action ? b->action(b->arg_len ? b->arg : NULL, b->arg_len) : 0;
  int ended_by_action = s->round != locked;
  if (code != 0)
    break_barrier(s);
  else if (!ended_by_action)
    end_round(s, 0);
  int bad = round_was_bad(s, locked);
  barrier_unlock(seg, s, locked);
  if (code != 0)
    return mp_fail(MPROC_EBROKEN, "barrier_wait: the action returned %d",
                   code);
  if (bad)
    return mp_fail(MPROC_EBROKEN,
                   "barrier_wait: the action aborted or reset the barrier");
  return MPROC_OK;
}

/* Sleeps until round ends or the deadline; called and returns unlocked. */
static mproc_status_t await_round(const mp_shm_t *seg, barrier_state_t *s,
                                  uint32_t round,
                                  double deadline, double timeout) {
  for (;;) {
    if (__atomic_load_n(&s->round, __ATOMIC_ACQUIRE) != round) break;
    double left = mp_time_left(deadline);
    if (left == 0) {
      uint32_t locked = barrier_lock(seg, s);
      int ended = locked != round;
      if (!ended) break_barrier(s);
      barrier_unlock(seg, s, locked);
      if (ended) break;
      return mp_fail(MPROC_ETIMEDOUT,
                     "barrier_wait: not all parties came within %gs; the "
                     "barrier is now broken",
                     timeout);
    }
    if (mp_sleep_while(seg, &s->round, round, &s->sleepers, left) ==
        MPROC_ESYS)
      return MPROC_ESYS;
  }
  if (round_was_bad(s, round))
    return mp_fail(MPROC_EBROKEN,
                   "barrier_wait: broken while waiting (abort, reset, a "
                   "timeout or a failed action)");
  return MPROC_OK;
}

mproc_status_t mproc_barrier_wait_timeout(mproc_barrier_t *barrier,
                                          unsigned *index, double timeout) {
  MP_CHECK_KIND(barrier, &barrier_ops, "barrier_wait");
  mproc_status_t st = mp_check_timeout(timeout, "barrier_wait");
  if (st != MPROC_OK) return st;
  barrier_state_t *s = barrier->state;
  const mp_shm_t *seg = barrier->seg.block.shm;
  if (in_own_action(s))
    return mp_fail(MPROC_ESTATE,
                   "barrier_wait: called from the barrier's own action (the "
                   "caller is already a party of the round it completes)");
  double deadline = mp_deadline(timeout);
  uint32_t locked = barrier_lock(seg, s);
  if (s->broken) {
    barrier_unlock(seg, s, locked);
    return mp_fail(MPROC_EBROKEN, "barrier_wait: the barrier is broken");
  }
  unsigned arrived = s->count;
  __atomic_store_n(&s->count, arrived + 1, __ATOMIC_RELAXED);
  if (arrived + 1 == s->parties) {
    st = complete_round(barrier, locked);
  } else {
    barrier_unlock(seg, s, locked);
    st = await_round(seg, s, locked, deadline, timeout);
  }
  if (st == MPROC_OK && index) *index = arrived;
  return st;
}

mproc_status_t mproc_barrier_wait(mproc_barrier_t *barrier, unsigned *index) {
  MP_CHECK_KIND(barrier, &barrier_ops, "barrier_wait");
  return mproc_barrier_wait_timeout(barrier, index, barrier->timeout);
}

mproc_status_t mproc_barrier_abort(mproc_barrier_t *barrier) {
  MP_CHECK_KIND(barrier, &barrier_ops, "barrier_abort");
  barrier_state_t *s = barrier->state;
  const mp_shm_t *seg = barrier->seg.block.shm;
  guard_t g = guard_enter(seg, s);
  break_barrier(s);
  guard_leave(seg, s, g);
  return MPROC_OK;
}

mproc_status_t mproc_barrier_reset(mproc_barrier_t *barrier) {
  MP_CHECK_KIND(barrier, &barrier_ops, "barrier_reset");
  barrier_state_t *s = barrier->state;
  const mp_shm_t *seg = barrier->seg.block.shm;
  guard_t g = guard_enter(seg, s);
  if (s->count > 0) end_round(s, 1);
  __atomic_store_n(&s->broken, 0, __ATOMIC_RELAXED);
  guard_leave(seg, s, g);
  return MPROC_OK;
}

mproc_status_t mproc_barrier_parties(const mproc_barrier_t *barrier,
                                     unsigned *out) {
  MP_CHECK_KIND(barrier, &barrier_ops, "barrier_parties");
  MP_REQUIRE(out, "barrier_parties: out");
  *out = barrier->state->parties;
  return MPROC_OK;
}

/* The queries read without the internal lock (as CPython's): they never
 * wait behind a long action, and work from the action itself. count and
 * broken are only written under the lock, with atomic stores. */
mproc_status_t mproc_barrier_n_waiting(mproc_barrier_t *barrier,
                                       unsigned *out) {
  MP_CHECK_KIND(barrier, &barrier_ops, "barrier_n_waiting");
  MP_REQUIRE(out, "barrier_n_waiting: out");
  barrier_state_t *s = barrier->state;
  int broken = (int)__atomic_load_n(&s->broken, __ATOMIC_RELAXED);
  *out = broken ? 0 : __atomic_load_n(&s->count, __ATOMIC_RELAXED);
  return MPROC_OK;
}

mproc_status_t mproc_barrier_broken(mproc_barrier_t *barrier, int *out) {
  MP_CHECK_KIND(barrier, &barrier_ops, "barrier_broken");
  MP_REQUIRE(out, "barrier_broken: out");
  *out = (int)__atomic_load_n(&barrier->state->broken, __ATOMIC_RELAXED);
  return MPROC_OK;
}

mproc_status_t mproc_barrier_free(mproc_barrier_t *barrier) {
  if (barrier == NULL) return MPROC_OK;
  MP_CHECK_KIND(barrier, &barrier_ops, "barrier_free");
  barrier_free(barrier);
  return MPROC_OK;
}

mproc_status_t mproc_attached_barrier(size_t index, mproc_barrier_t **out) {
  return mp_attached_as(index, &barrier_ops, (void **)out, "attached_barrier");
}
