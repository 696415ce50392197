/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Semaphore, BoundedSemaphore and Event: a counter or flag word that
 * waiters sleep on, plus a mark (`sleepers`) so that the releasing side
 * makes the wake-up system call only when someone may sleep.
 *
 * The sleeper sets the mark before it sleeps and the kernel re-checks the
 * word; the waker changes the word before it takes the mark. Both are
 * sequentially consistent, so either the sleeper sees the new word or the
 * waker sees the mark: no wake-up is lost. The waker clears the mark and
 * wakes every sleeper (mp_take_sleepers); those that find nothing mark it
 * again and sleep on.
 */
#include "core/error.h"
#include "core/sync.h"

/* ---- Semaphore ---------------------------------------------------- */

typedef struct {
  uint32_t value;
  uint32_t sleepers;
  uint32_t max; /* bounded: the initial value; else MPROC_SEMAPHORE_MAX */
  uint32_t bounded;
} semaphore_state_t;

struct mproc_semaphore {
  mp_segobj_t seg;
  semaphore_state_t *state;
};

static mp_object_ops_t semaphore_ops;

static mproc_status_t semaphore_import(const void *state, size_t len,
                                       void **out) {
  mp_reader_t r = {state, len, 0, 0};
  mproc_status_t st = mp_segobj_import(&r, out, sizeof(mproc_semaphore_t),
                                       &semaphore_ops,
                                       sizeof(semaphore_state_t));
  if (st == MPROC_OK)
    ((mproc_semaphore_t *)*out)->state = mp_segobj_state(*out);
  return st;
}

static mproc_status_t semaphore_free_op(void *obj) {
  return mproc_semaphore_free(obj);
}

/* No after_fork: the state is the shared block (sync objects all). */
static mp_object_ops_t semaphore_ops = {.kind = "semaphore",
                                        .export_state = mp_segobj_export_op,
                                        .import_state = semaphore_import,
                                        .free = semaphore_free_op};
MP_OBJECT_KIND(semaphore_ops)

static mproc_status_t semaphore_new(mproc_semaphore_t **out, unsigned value,
                                    int bounded, const char *what) {
  MP_REQUIRE(out, what);
  if (value > MPROC_SEMAPHORE_MAX)
    return mp_fail(MPROC_EINVAL, "%s: value %u is above %u", what, value,
                   MPROC_SEMAPHORE_MAX);
  mproc_status_t st =
      mp_segobj_new((void **)out, sizeof(mproc_semaphore_t), &semaphore_ops,
                    sizeof(semaphore_state_t));
  if (st != MPROC_OK) return st;
  semaphore_state_t *s = (*out)->state = mp_segobj_state(*out);
  s->value = value;
  s->max = bounded ? value : MPROC_SEMAPHORE_MAX;
  s->bounded = bounded != 0;
  return MPROC_OK;
}

mproc_status_t mproc_semaphore_create(mproc_semaphore_t **out,
                                      unsigned value) {
  return semaphore_new(out, value, 0, "semaphore_create");
}

mproc_status_t mproc_bounded_semaphore_create(mproc_semaphore_t **out,
                                              unsigned value) {
  return semaphore_new(out, value, 1, "bounded_semaphore_create");
}

static int try_down(semaphore_state_t *s) {
  uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
  while (v > 0)
    if (__atomic_compare_exchange_n(&s->value, &v, v - 1, 0,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
      return 1;
  return 0;
}

mproc_status_t mproc_semaphore_acquire(mproc_semaphore_t *sem,
                                       double timeout) {
  MP_CHECK_KIND(sem, &semaphore_ops, "semaphore_acquire");
  mproc_status_t st = mp_check_timeout(timeout, "semaphore_acquire");
  if (st != MPROC_OK) return st;
  semaphore_state_t *s = sem->state;
  double deadline = mp_deadline(timeout);
  while (!try_down(s)) {
    double left = mp_time_left(deadline);
    if (left == 0)
      return mp_fail(MPROC_ETIMEDOUT, "semaphore_acquire: still 0 after %gs",
                     timeout);
    st = mp_sleep_while(sem->seg.block.shm, &s->value, 0, &s->sleepers,
                        left);
    if (st == MPROC_ESYS) return st;
  }
  return MPROC_OK;
}

mproc_status_t mproc_semaphore_release(mproc_semaphore_t *sem) {
  MP_CHECK_KIND(sem, &semaphore_ops, "semaphore_release");
  semaphore_state_t *s = sem->state;
  uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
  do {
    if (v >= s->max)
      return mp_fail(MPROC_ESTATE,
                     s->bounded ? "semaphore_release: released too many times"
                                : "semaphore_release: the value would pass "
                                  "MPROC_SEMAPHORE_MAX");
  } while (!__atomic_compare_exchange_n(&s->value, &v, v + 1, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  if (mp_take_sleepers(&s->sleepers))
    mp_wake_word(sem->seg.block.shm, &s->value, INT32_MAX);
  return MPROC_OK;
}

mproc_status_t mproc_semaphore_get_value(const mproc_semaphore_t *sem,
                                         unsigned *out) {
  MP_CHECK_KIND(sem, &semaphore_ops, "semaphore_get_value");
  MP_REQUIRE(out, "semaphore_get_value: out");
  *out = __atomic_load_n(&sem->state->value, __ATOMIC_RELAXED);
  return MPROC_OK;
}

mproc_status_t mproc_semaphore_free(mproc_semaphore_t *sem) {
  if (sem == NULL) return MPROC_OK;
  MP_CHECK_KIND(sem, &semaphore_ops, "semaphore_free");
  mp_segobj_free(sem);
  return MPROC_OK;
}

/* ---- Event -------------------------------------------------------- */

typedef struct {
  uint32_t flag;
  uint32_t sleepers;
} event_state_t;

struct mproc_event {
  mp_segobj_t seg;
  event_state_t *state;
};

static mp_object_ops_t event_ops;

static mproc_status_t event_import(const void *state, size_t len,
                                   void **out) {
  mp_reader_t r = {state, len, 0, 0};
  mproc_status_t st = mp_segobj_import(&r, out, sizeof(mproc_event_t),
                                       &event_ops, sizeof(event_state_t));
  if (st == MPROC_OK) ((mproc_event_t *)*out)->state = mp_segobj_state(*out);
  return st;
}

static mproc_status_t event_free_op(void *obj) {
  return mproc_event_free(obj);
}

static mp_object_ops_t event_ops = {.kind = "event",
                                    .export_state = mp_segobj_export_op,
                                    .import_state = event_import,
                                    .free = event_free_op};
MP_OBJECT_KIND(event_ops)

mproc_status_t mproc_event_create(mproc_event_t **out) {
  MP_REQUIRE(out, "event_create: out");
  mproc_status_t st = mp_segobj_new((void **)out, sizeof(mproc_event_t),
                                    &event_ops, sizeof(event_state_t));
  if (st == MPROC_OK) (*out)->state = mp_segobj_state(*out);
  return st;
}

mproc_status_t mproc_event_set(mproc_event_t *event) {
  MP_CHECK_KIND(event, &event_ops, "event_set");
  event_state_t *s = event->state;
  if (__atomic_exchange_n(&s->flag, 1, __ATOMIC_SEQ_CST) == 0 &&
      mp_take_sleepers(&s->sleepers))
    mp_wake_word(event->seg.block.shm, &s->flag, INT32_MAX);
  return MPROC_OK;
}

mproc_status_t mproc_event_clear(mproc_event_t *event) {
  MP_CHECK_KIND(event, &event_ops, "event_clear");
  __atomic_store_n(&event->state->flag, 0, __ATOMIC_SEQ_CST);
  return MPROC_OK;
}

mproc_status_t mproc_event_is_set(const mproc_event_t *event, int *out) {
  MP_CHECK_KIND(event, &event_ops, "event_is_set");
  MP_REQUIRE(out, "event_is_set: out");
  *out = __atomic_load_n(&event->state->flag, __ATOMIC_ACQUIRE) != 0;
  return MPROC_OK;
}

mproc_status_t mproc_event_wait(mproc_event_t *event, double timeout) {
  MP_CHECK_KIND(event, &event_ops, "event_wait");
  mproc_status_t st = mp_check_timeout(timeout, "event_wait");
  if (st != MPROC_OK) return st;
  event_state_t *s = event->state;
  double deadline = mp_deadline(timeout);
  while (__atomic_load_n(&s->flag, __ATOMIC_ACQUIRE) == 0) {
    double left = mp_time_left(deadline);
    if (left == 0)
      return mp_fail(MPROC_ETIMEDOUT, "event_wait: not set after %gs",
                     timeout);
    st = mp_sleep_while(event->seg.block.shm, &s->flag, 0, &s->sleepers,
                        left);
    if (st == MPROC_ESYS) return st;
  }
  return MPROC_OK;
}

mproc_status_t mproc_event_free(mproc_event_t *event) {
  if (event == NULL) return MPROC_OK;
  MP_CHECK_KIND(event, &event_ops, "event_free");
  mp_segobj_free(event);
  return MPROC_OK;
}

mproc_status_t mproc_attached_semaphore(size_t index,
                                        mproc_semaphore_t **out) {
  return mp_attached_as(index, &semaphore_ops, (void **)out,
                        "attached_semaphore");
}

mproc_status_t mproc_attached_event(size_t index, mproc_event_t **out) {
  return mp_attached_as(index, &event_ops, (void **)out, "attached_event");
}
