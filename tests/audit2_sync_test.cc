// SPDX-License-Identifier: Apache-2.0
// Found by the second audit (docs/sync.md): sync objects and shared memory
// after a participant died, and argument edge cases, under every start
// method where a child is involved.
#include <cmath>
#include <thread>
#include <vector>

#include "tests/sync_helpers.h"

namespace {

class Audit2SyncTest : public MethodTest {};
INSTANTIATE_METHODS(Audit2SyncTest);

// Waits on the condition (attached 0) after setting the event (1), until
// killed.
MPROC_TASK(wait_until_killed) {
  (void)arg;
  (void)arg_len;
  auto *cond = Attached<mproc_condition_t>(0);
  auto *ready = Attached<mproc_event_t>(1);
  CHILD_EXPECT(mproc_condition_acquire(cond, MPROC_FOREVER) == MPROC_OK, 2);
  CHILD_EXPECT(mproc_event_set(ready) == MPROC_OK, 3);
  mproc_condition_wait(cond, MPROC_FOREVER);
  return 4;
}

struct Waiters {
  mproc_condition_t *cond;
  int started = 0;  // under the condition's lock
  int notified = 0;
};

// A waiter with a timeout: counts a wait that says it was notified.
void TimedWaiter(Waiters *w, double timeout) {
  ASSERT_EQ(mproc_condition_acquire(w->cond, MPROC_FOREVER), MPROC_OK);
  w->started++;
  mproc_status_t st = mproc_condition_wait(w->cond, timeout);
  if (st == MPROC_OK) w->notified++;
  EXPECT_TRUE(st == MPROC_OK || st == MPROC_ETIMEDOUT) << st;
  ASSERT_EQ(mproc_condition_release(w->cond), MPROC_OK);
}

// A waiter SIGKILLed inside wait never takes its wake-up; a notify_all
// while only it "waits" grants one to nobody. That grant must not let a
// later waiter through: notify(1) to two live waiters wakes one, and the
// other times out (it used to return MPROC_OK, notified by nobody).
TEST_P(Audit2SyncTest, WaiterKilledInWaitDoesNotLetAnExtraWaiterThrough) {
  mproc_condition_t *cond = nullptr;
  mproc_event_t *ready = nullptr;
  ASSERT_EQ(mproc_condition_create(&cond, nullptr), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&ready), MPROC_OK);
  mproc_process_t *p = Start(wait_until_killed, {cond, ready});
  ASSERT_EQ(mproc_event_wait(ready, 30), MPROC_OK);
  // The child released the lock inside wait once we can take it.
  ASSERT_EQ(mproc_condition_acquire(cond, 30), MPROC_OK);
  ASSERT_EQ(mproc_condition_release(cond), MPROC_OK);
  ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_NE(Finish(p), 0);
  ASSERT_EQ(mproc_condition_acquire(cond, MPROC_FOREVER), MPROC_OK);
  ASSERT_EQ(mproc_condition_notify_all(cond), MPROC_OK);
  ASSERT_EQ(mproc_condition_release(cond), MPROC_OK);

  Waiters w{cond};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; i++) threads.emplace_back(TimedWaiter, &w, 1.0);
  for (;;) {  // both inside wait (they released the lock there)
    ASSERT_EQ(mproc_condition_acquire(cond, MPROC_FOREVER), MPROC_OK);
    if (w.started == 2) break;
    ASSERT_EQ(mproc_condition_release(cond), MPROC_OK);
    mproc_sleep(0.01);
  }
  ASSERT_EQ(mproc_condition_notify(cond, 1), MPROC_OK);
  ASSERT_EQ(mproc_condition_release(cond), MPROC_OK);
  for (auto &t : threads) t.join();
  EXPECT_EQ(w.notified, 1);
  EXPECT_EQ(mproc_condition_free(cond), MPROC_OK);
  EXPECT_EQ(mproc_event_free(ready), MPROC_OK);
}

// Waits for the n waiters to be inside wait, then notifies k of them.
void NotifyWhenWaiting(Waiters *w, int n, size_t k) {
  for (;;) {
    ASSERT_EQ(mproc_condition_acquire(w->cond, MPROC_FOREVER), MPROC_OK);
    if (w->started == n) break;
    ASSERT_EQ(mproc_condition_release(w->cond), MPROC_OK);
    mproc_sleep(0.01);
  }
  ASSERT_EQ(mproc_condition_notify(w->cond, k), MPROC_OK);
  ASSERT_EQ(mproc_condition_release(w->cond), MPROC_OK);
}

// Many waits given up (each a taken grant) while one waiter sleeps: its
// later notify still reaches it, however far behind its start is.
TEST(Audit2Condition, NotifyReachesAWaiterThatStartedLongAgo) {
  mproc_condition_t *cond = nullptr;
  ASSERT_EQ(mproc_condition_create(&cond, nullptr), MPROC_OK);
  Waiters w{cond};
  std::thread waiter(TimedWaiter, &w, 30.0);
  NotifyWhenWaiting(&w, 1, 0);
  ASSERT_EQ(mproc_condition_acquire(cond, MPROC_FOREVER), MPROC_OK);
  for (int i = 0; i < 1500; i++)
    ASSERT_EQ(mproc_condition_wait(cond, 0), MPROC_ETIMEDOUT);
  ASSERT_EQ(mproc_condition_notify(cond, 1), MPROC_OK);
  ASSERT_EQ(mproc_condition_release(cond), MPROC_OK);
  waiter.join();
  EXPECT_EQ(w.notified, 1);
  EXPECT_EQ(mproc_condition_free(cond), MPROC_OK);
}

// More waiters than grants are told apart: notify_all still wakes each
// one, and notify(n) exactly n of them.
TEST(Audit2Condition, NotifyAllWakesMoreWaitersThanTheGrantWindow) {
  const int kWaiters = 600;
  mproc_condition_t *cond = nullptr;
  ASSERT_EQ(mproc_condition_create(&cond, nullptr), MPROC_OK);
  Waiters w{cond};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; i++)
    threads.emplace_back(TimedWaiter, &w, 60.0);
  NotifyWhenWaiting(&w, kWaiters, kWaiters - 1);
  for (int i = 0; i < 3000; i++) {  // all the notified ones out (30 s)
    ASSERT_EQ(mproc_condition_acquire(cond, MPROC_FOREVER), MPROC_OK);
    int notified = w.notified;
    ASSERT_EQ(mproc_condition_release(cond), MPROC_OK);
    if (notified >= kWaiters - 1) break;
    mproc_sleep(0.01);
  }
  mproc_sleep(0.2);  // and no one more
  ASSERT_EQ(mproc_condition_acquire(cond, MPROC_FOREVER), MPROC_OK);
  EXPECT_EQ(w.notified, kWaiters - 1);
  ASSERT_EQ(mproc_condition_notify_all(cond), MPROC_OK);
  ASSERT_EQ(mproc_condition_release(cond), MPROC_OK);
  for (auto &t : threads) t.join();
  EXPECT_EQ(w.notified, kWaiters);
  EXPECT_EQ(mproc_condition_free(cond), MPROC_OK);
}

}  // namespace

namespace {

// "." and ".." name directories, not segments (/dev/shm/..): they are
// invalid names (MPROC_EINVAL), not taken ones (MPROC_EEXIST) or absent
// ones, for create and attach alike.
TEST(Audit2SharedMemory, DotNamesAreInvalid) {
  for (const char *name : {".", "..", "/.", "/.."}) {
    SCOPED_TRACE(name);
    mproc_shared_memory_t *s = nullptr;
    for (int flags : {0, MPROC_SHM_PERSISTENT})
      EXPECT_EQ(mproc_shared_memory_create(&s, name, 16, flags), MPROC_EINVAL)
          << mproc_last_error();
    EXPECT_EQ(mproc_shared_memory_attach(&s, name), MPROC_EINVAL)
        << mproc_last_error();
  }
  // Dots inside a name are fine.
  mproc_shared_memory_t *s = nullptr;
  ASSERT_EQ(mproc_shared_memory_create(&s, "...", 16, 0), MPROC_OK)
      << mproc_last_error();
  EXPECT_EQ(mproc_shared_memory_unlink(s), MPROC_OK);
  EXPECT_EQ(mproc_shared_memory_free(s), MPROC_OK);
}

}  // namespace

namespace {

// A Condition or a Value borrows a given lock; freeing the lock first is
// the caller's error, but the next call must say so (MPROC_EINVAL), not
// dereference the dead lock (it used to crash: a released object's state
// pointer is gone).
TEST(Audit2Borrowed, CallsAfterTheGivenLockWasFreedAreRefused) {
  for (int recursive : {0, 1}) {
    SCOPED_TRACE(recursive);
    mproc_lock_t *lock = nullptr;
    ASSERT_EQ(recursive ? mproc_rlock_create(&lock) : mproc_lock_create(&lock),
              MPROC_OK);
    mproc_condition_t *cond = nullptr;
    mproc_value_t *value = nullptr;
    mproc_array_t *array = nullptr;
    ASSERT_EQ(mproc_condition_create(&cond, lock), MPROC_OK);
    ASSERT_EQ(mproc_value_create_with_lock(&value, 'i', nullptr, lock),
              MPROC_OK);
    ASSERT_EQ(mproc_array_create_with_lock(&array, 'd', 3, nullptr, lock),
              MPROC_OK);
    ASSERT_EQ(mproc_lock_free(lock), MPROC_OK);
    int x = 7;
    double d[3] = {1, 2, 3};
    EXPECT_EQ(mproc_condition_wait(cond, 0), MPROC_EINVAL);
    EXPECT_EQ(mproc_condition_wait_for(cond, [](void *) { return 1; },
                                       nullptr, 0),
              MPROC_EINVAL);
    EXPECT_EQ(mproc_condition_notify(cond, 1), MPROC_EINVAL);
    EXPECT_EQ(mproc_condition_notify_all(cond), MPROC_EINVAL);
    EXPECT_EQ(mproc_condition_acquire(cond, 0), MPROC_EINVAL);
    EXPECT_EQ(mproc_condition_release(cond), MPROC_EINVAL);
    EXPECT_EQ(mproc_value_set(value, &x), MPROC_EINVAL);
    EXPECT_EQ(mproc_value_get(value, &x), MPROC_EINVAL);
    EXPECT_EQ(mproc_array_write(array, 0, 3, d), MPROC_EINVAL);
    EXPECT_EQ(mproc_array_read(array, 0, 3, d), MPROC_EINVAL);
    EXPECT_EQ(mproc_condition_free(cond), MPROC_OK);
    EXPECT_EQ(mproc_value_free(value), MPROC_OK);
    EXPECT_EQ(mproc_array_free(array), MPROC_OK);
  }
}

}  // namespace

namespace {

class Audit2BorrowedMethods : public MethodTest {};
INSTANTIATE_METHODS(Audit2BorrowedMethods);

MPROC_TASK(return_zero) {
  (void)arg;
  (void)arg_len;
  return 0;
}

// Attaching a Condition or Value whose given lock was freed: a start
// method that exports the object must refuse it (MPROC_EINVAL), not read
// the dead lock's segment (it used to crash the parent under spawn).
TEST_P(Audit2BorrowedMethods, AttachingAnObjectWhoseLockWasFreedIsRefused) {
  for (int kind = 0; kind < 2; kind++) {
    SCOPED_TRACE(kind);
    mproc_lock_t *lock = nullptr;
    ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
    mproc_condition_t *cond = nullptr;
    mproc_value_t *value = nullptr;
    void *object = nullptr;
    if (kind == 0) {
      ASSERT_EQ(mproc_condition_create(&cond, lock), MPROC_OK);
      object = cond;
    } else {
      ASSERT_EQ(mproc_value_create_with_lock(&value, 'q', nullptr, lock),
                MPROC_OK);
      object = value;
    }
    ASSERT_EQ(mproc_lock_free(lock), MPROC_OK);
    mproc_process_t *p = nullptr;
    ASSERT_EQ(mproc_process_create(&p, Ctx(), return_zero, nullptr, 0),
              MPROC_OK);
    mproc_status_t st = mproc_process_attach(p, object);
    if (st == MPROC_OK) st = mproc_process_start(p);
    EXPECT_TRUE(st == MPROC_OK || st == MPROC_EINVAL) << mproc_last_error();
    if (st == MPROC_OK) {
      EXPECT_EQ(Finish(p), 0);
    } else {
      EXPECT_EQ(mproc_process_free(p), MPROC_OK);
    }
    if (cond) {
      EXPECT_EQ(mproc_condition_free(cond), MPROC_OK);
    } else {
      EXPECT_EQ(mproc_value_free(value), MPROC_OK);
    }
  }
}

}  // namespace

namespace {

class Audit2OwnLock : public MethodTest {};
INSTANTIATE_METHODS(Audit2OwnLock);

// In a child: the condition's lock (attached 0) is the condition's to free.
MPROC_TASK(free_condition_lock) {
  (void)arg;
  (void)arg_len;
  auto *cond = Attached<mproc_condition_t>(0);
  mproc_lock_t *lock = nullptr;
  CHILD_EXPECT(mproc_condition_get_lock(cond, &lock) == MPROC_OK, 2);
  CHILD_EXPECT(mproc_lock_free(lock) == MPROC_ESTATE, 3);
  CHILD_EXPECT(mproc_condition_acquire(cond, 10) == MPROC_OK, 4);
  CHILD_EXPECT(mproc_condition_notify_all(cond) == MPROC_OK, 5);
  CHILD_EXPECT(mproc_condition_release(cond) == MPROC_OK, 6);
  return 0;
}

// The RLock a Condition made (lock NULL) is the condition's, as a Value's
// own lock is the value's: mproc_lock_free refuses it (MPROC_ESTATE). It
// used to free it, and the condition's own free later freed whatever
// object had reused that memory (here: another lock).
TEST_P(Audit2OwnLock, TheLockAConditionMadeIsFreedOnlyWithIt) {
  mproc_condition_t *cond = nullptr;
  ASSERT_EQ(mproc_condition_create(&cond, nullptr), MPROC_OK);
  mproc_lock_t *lock = nullptr;
  ASSERT_EQ(mproc_condition_get_lock(cond, &lock), MPROC_OK);
  EXPECT_EQ(mproc_lock_free(lock), MPROC_ESTATE);
  mproc_lock_t *other = nullptr;
  ASSERT_EQ(mproc_lock_create(&other), MPROC_OK);
  EXPECT_EQ(Finish(Start(free_condition_lock, {cond})), 0);
  EXPECT_EQ(mproc_condition_free(cond), MPROC_OK);
  EXPECT_EQ(mproc_lock_acquire(other, 0), MPROC_OK);  // still alive
  EXPECT_EQ(mproc_lock_release(other), MPROC_OK);
  EXPECT_EQ(mproc_lock_free(other), MPROC_OK);
}

}  // namespace
