// SPDX-License-Identifier: Apache-2.0
// Lock and RLock: semantics, errors, timeouts, contention across processes
// and the owner-death contract (docs/sync.md), under every start method (fork, spawn, forkserver).
#include <cmath>
#include <thread>

#include "tests/sync_helpers.h"

namespace {

class LockTest : public MethodTest {};
INSTANTIATE_METHODS(LockTest);

TEST(LockBasics, AcquireReleaseAndErrors) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  int recursive = -1;
  EXPECT_EQ(mproc_lock_is_recursive(lock, &recursive), MPROC_OK);
  EXPECT_EQ(recursive, 0);
  EXPECT_EQ(mproc_lock_acquire(lock, MPROC_FOREVER), MPROC_OK);
  // Not recursive: a second acquire by the same thread waits (CPython).
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_ETIMEDOUT);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_ESTATE);
  EXPECT_NE(std::string(mproc_last_error()).find("not locked"),
            std::string::npos);
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);
  EXPECT_EQ(mproc_lock_acquire(lock, NAN), MPROC_EINVAL);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  EXPECT_EQ(mproc_lock_free(lock), MPROC_OK);
}

TEST(LockBasics, NullArguments) {
  EXPECT_EQ(mproc_lock_create(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_rlock_create(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_lock_acquire(nullptr, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_lock_release(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_lock_free(nullptr), MPROC_OK);
  int out;
  EXPECT_EQ(mproc_lock_is_recursive(nullptr, &out), MPROC_EINVAL);
}

TEST(LockBasics, TimedAcquireWaitsItsTimeout) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  ASSERT_EQ(mproc_lock_acquire(lock, MPROC_FOREVER), MPROC_OK);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_lock_acquire(lock, 0.2), MPROC_ETIMEDOUT);
  double elapsed = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_GE(elapsed, 0.2);
  EXPECT_LT(elapsed, 5.0);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  EXPECT_EQ(mproc_lock_free(lock), MPROC_OK);
}

TEST(LockBasics, LockReleasedByAnotherThread) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  ASSERT_EQ(mproc_lock_acquire(lock, MPROC_FOREVER), MPROC_OK);
  mproc_status_t st = MPROC_EINVAL;
  std::thread([&] { st = mproc_lock_release(lock); }).join();
  EXPECT_EQ(st, MPROC_OK);  // CPython's Lock allows it
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  EXPECT_EQ(mproc_lock_free(lock), MPROC_OK);
}

TEST(LockBasics, RLockRecursionAndOwnership) {
  mproc_lock_t *rlock;
  ASSERT_EQ(mproc_rlock_create(&rlock), MPROC_OK);
  int recursive = 0;
  EXPECT_EQ(mproc_lock_is_recursive(rlock, &recursive), MPROC_OK);
  EXPECT_EQ(recursive, 1);
  EXPECT_EQ(mproc_lock_release(rlock), MPROC_ESTATE);
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(mproc_lock_acquire(rlock, 0), MPROC_OK);
  mproc_status_t other_release = MPROC_OK, other_acquire = MPROC_OK;
  std::thread([&] {
    other_release = mproc_lock_release(rlock);
    other_acquire = mproc_lock_acquire(rlock, 0.05);
  }).join();
  EXPECT_EQ(other_release, MPROC_ESTATE);
  EXPECT_EQ(other_acquire, MPROC_ETIMEDOUT);
  for (int i = 0; i < 3; i++) EXPECT_EQ(mproc_lock_release(rlock), MPROC_OK);
  EXPECT_EQ(mproc_lock_release(rlock), MPROC_ESTATE);
  std::thread([&] {
    other_acquire = mproc_lock_acquire(rlock, 0);
    mproc_lock_release(rlock);
  }).join();
  EXPECT_EQ(other_acquire, MPROC_OK);
  EXPECT_EQ(mproc_lock_free(rlock), MPROC_OK);
}

// A child that holds the lock while the parent tries; then releases it.
MPROC_TASK(hold_then_release) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  auto *held = Attached<mproc_event_t>(1);
  auto *go = Attached<mproc_event_t>(2);
  CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 1);
  mproc_event_set(held);
  CHILD_EXPECT(mproc_event_wait(go, 10) == MPROC_OK, 2);
  CHILD_EXPECT(mproc_lock_release(lock) == MPROC_OK, 3);
  return 0;
}

TEST_P(LockTest, ExcludesAcrossProcesses) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    mproc_lock_t *lock;
    mproc_event_t *held, *go;
    ASSERT_EQ(create(&lock), MPROC_OK);
    ASSERT_EQ(mproc_event_create(&held), MPROC_OK);
    ASSERT_EQ(mproc_event_create(&go), MPROC_OK);
    mproc_process_t *p = Start(hold_then_release, {lock, held, go});
    ASSERT_EQ(mproc_event_wait(held, 10), MPROC_OK);
    EXPECT_EQ(mproc_lock_acquire(lock, 0.1), MPROC_ETIMEDOUT);
    EXPECT_EQ(mproc_event_set(go), MPROC_OK);
    EXPECT_EQ(mproc_lock_acquire(lock, 10), MPROC_OK);  // after the release
    EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
    EXPECT_EQ(Finish(p), 0);
    mproc_lock_free(lock);
    mproc_event_free(held);
    mproc_event_free(go);
  }
}

// 100k increments of a raw int under the attached lock.
MPROC_TASK(locked_increments) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  auto *counter = Attached<mproc_value_t>(1);
  int *n;
  CHILD_EXPECT(mproc_value_get_obj(counter, (void **)&n) == MPROC_OK, 1);
  for (int i = 0; i < 100000; i++) {
    CHILD_EXPECT(mproc_lock_acquire(lock, MPROC_FOREVER) == MPROC_OK, 2);
    int seen = *n;  // a torn read-modify-write shows as a lost increment
    *n = seen + 1;
    CHILD_EXPECT(mproc_lock_release(lock) == MPROC_OK, 3);
  }
  return 0;
}

TEST_P(LockTest, FourProcessesHundredThousandIncrementsExact) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    mproc_lock_t *lock;
    mproc_value_t *counter;
    ASSERT_EQ(create(&lock), MPROC_OK);
    ASSERT_EQ(mproc_raw_value_create(&counter, 'i', nullptr), MPROC_OK);
    mproc_process_t *p[4];
    for (auto &child : p) child = Start(locked_increments, {lock, counter});
    for (auto &child : p) EXPECT_EQ(Finish(child), 0);
    int total = 0;
    EXPECT_EQ(mproc_value_get(counter, &total), MPROC_OK);
    EXPECT_EQ(total, 400000);
    mproc_value_free(counter);
    mproc_lock_free(lock);
  }
}

// ---- owner death ----------------------------------------------------

// Acquires (twice for an RLock) and exits without releasing.
MPROC_TASK(acquire_and_exit) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  int recursive = 0;
  mproc_lock_is_recursive(lock, &recursive);
  CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 1);
  if (recursive) CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 2);
  return 0;
}

// Acquires, says so, and sleeps until killed.
MPROC_TASK(acquire_and_hang) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  auto *held = Attached<mproc_event_t>(1);
  CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 1);
  mproc_event_set(held);
  mproc_sleep(60);
  return 2;
}

TEST_P(LockTest, OwnerDiedAfterExitGivesNextAcquirerTheLock) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    for (bool join_first : {true, false}) {
      mproc_lock_t *lock;
      ASSERT_EQ(create(&lock), MPROC_OK);
      mproc_process_t *p = Start(acquire_and_exit, {lock});
      if (join_first) {
        EXPECT_EQ(Finish(p), 0);
      } else {  // the child is a zombie until joined: still dead
        mproc_sentinel_t s;
        ASSERT_EQ(mproc_process_sentinel(p, &s), MPROC_OK);
        ASSERT_EQ(mproc_wait(&s, 1, nullptr, nullptr, 10), MPROC_OK);
      }
      EXPECT_EQ(mproc_lock_acquire(lock, 5), MPROC_EOWNERDEAD)
          << mproc_last_error();
      EXPECT_NE(std::string(mproc_last_error()).find("died"),
                std::string::npos);
      // We hold it once (not the dead owner's depth), and it works on.
      EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
      EXPECT_EQ(mproc_lock_release(lock), MPROC_ESTATE);
      EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);
      EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
      if (!join_first) {
        EXPECT_EQ(Finish(p), 0);
      }
      mproc_lock_free(lock);
    }
  }
}

TEST_P(LockTest, TryAcquireSeesDeadOwner) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  EXPECT_EQ(Finish(Start(acquire_and_exit, {lock})), 0);
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_EOWNERDEAD);
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_ETIMEDOUT);  // we hold it
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  mproc_lock_free(lock);
}

TEST_P(LockTest, WaiterGetsLockWhenOwnerIsKilled) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    mproc_lock_t *lock;
    mproc_event_t *held;
    ASSERT_EQ(create(&lock), MPROC_OK);
    ASSERT_EQ(mproc_event_create(&held), MPROC_OK);
    mproc_process_t *p = Start(acquire_and_hang, {lock, held});
    ASSERT_EQ(mproc_event_wait(held, 10), MPROC_OK);
    mproc_status_t got = MPROC_OK, released = MPROC_EINVAL;
    std::thread waiter([&] {
      got = mproc_lock_acquire(lock, 20);
      released = mproc_lock_release(lock);  // it holds the lock now
    });
    mproc_sleep(0.2);  // let the waiter sleep on the lock first
    ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
    waiter.join();
    EXPECT_EQ(got, MPROC_EOWNERDEAD);
    EXPECT_EQ(released, MPROC_OK);
    EXPECT_EQ(Finish(p), -9);
    mproc_lock_free(lock);
    mproc_event_free(held);
  }
}

// A child that finds the lock of a dead owner (the parent's thread).
MPROC_TASK(acquire_expect_owner_dead) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_EOWNERDEAD, 1);
  CHILD_EXPECT(mproc_lock_release(lock) == MPROC_OK, 2);
  return 0;
}

TEST_P(LockTest, ThreadThatDiedHoldingItIsDetectedInAnotherProcess) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_rlock_create(&lock), MPROC_OK);
  std::thread([&] { mproc_lock_acquire(lock, 0); }).join();  // never released
  EXPECT_EQ(Finish(Start(acquire_expect_owner_dead, {lock})), 0);
  mproc_lock_free(lock);
}

}  // namespace
