// SPDX-License-Identifier: Apache-2.0
// Audit 16: a Lock/RLock whose owner dies is told by the OS at once (the
// kernel's robust futex list on Linux), not found by polling. Each test
// that waits checks mp_thread_alive_calls() is unchanged: a waiter that
// polled the owner's liveness (the old 0.1 s loop) fails it. See
// docs/sync.md, "The owner-death contract".
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "tests/sync_helpers.h"
extern "C" {  // mproc's internal headers are C only
#include "platform/platform.h"
}

namespace {

// Generous: on a loaded 2-core machine a wake-up may take a while, but a
// waiter that the kernel never wakes would wait forever.
constexpr double kWatchdog = 30;

// A thread blocked in acquire(MPROC_FOREVER). A waiter still blocked when
// the watchdog fires cannot be cancelled: the test fails and the binary
// ends (tools/test counts a binary without a report as failed).
class BlockedWaiter {
 public:
  explicit BlockedWaiter(mproc_lock_t *lock) : lock_(lock) {
    thread_ = std::thread([this] {
      got_ = mproc_lock_acquire(lock_, MPROC_FOREVER);
      // An RLock is ours at depth 1 whatever the dead owner's depth was.
      released_ = mproc_lock_release(lock_);
      again_ = mproc_lock_release(lock_);
      done_ = true;
    });
  }

  // Waits for the acquire to return; then its results.
  void Await() {
    auto until = std::chrono::steady_clock::now() +
                 std::chrono::duration<double>(kWatchdog);
    while (!done_ && std::chrono::steady_clock::now() < until)
      mproc_sleep(0.01);
    if (!done_) {
      ADD_FAILURE() << "the waiter was not woken within " << kWatchdog << "s";
      fflush(stdout);
      _exit(3);
    }
    thread_.join();
  }

  mproc_status_t got() const { return got_; }
  mproc_status_t released() const { return released_; }
  mproc_status_t released_again() const { return again_; }

 private:
  mproc_lock_t *lock_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  mproc_status_t got_ = MPROC_OK, released_ = MPROC_OK, again_ = MPROC_OK;
};

// Time for a waiter to be asleep on the word before the owner dies.
void LetWaiterSleep() { mproc_sleep(0.2); }

void ExpectTakenOverFromDeadOwner(BlockedWaiter &w) {
  EXPECT_EQ(w.got(), MPROC_EOWNERDEAD);
  EXPECT_EQ(w.released(), MPROC_OK);
  EXPECT_EQ(w.released_again(), MPROC_ESTATE);
}

// Acquires (twice for an RLock), says so, and sleeps until killed.
MPROC_TASK(hold_until_killed) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  auto *held = Attached<mproc_event_t>(1);
  int recursive = 0;
  mproc_lock_is_recursive(lock, &recursive);
  CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 1);
  if (recursive) CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 2);
  mproc_event_set(held);
  mproc_sleep(60);
  return 4;
}

class OwnerDeathTest : public MethodTest {
 protected:
  // One holder SIGKILLed while we are blocked: EOWNERDEAD, no polling.
  void KillHolderWhileBlocked(mproc_lock_t *lock) {
    mproc_event_t *held;
    ASSERT_EQ(mproc_event_create(&held), MPROC_OK);
    mproc_process_t *p = Start(hold_until_killed, {lock, held});
    ASSERT_EQ(mproc_event_wait(held, kWatchdog), MPROC_OK);
    uint64_t polls = mp_thread_alive_calls();
    BlockedWaiter waiter(lock);
    LetWaiterSleep();
    ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
    waiter.Await();
    ExpectTakenOverFromDeadOwner(waiter);
    EXPECT_EQ(mp_thread_alive_calls(), polls) << "found by polling";
    EXPECT_EQ(Finish(p), -9);
    mproc_event_free(held);
  }
};
INSTANTIATE_METHODS(OwnerDeathTest);

TEST_P(OwnerDeathTest, KilledHolderWakesBlockedWaiterAtOnce) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    mproc_lock_t *lock;
    ASSERT_EQ(create(&lock), MPROC_OK);
    KillHolderWhileBlocked(lock);
    EXPECT_EQ(mproc_lock_free(lock), MPROC_OK);
  }
}

// After a takeover the lock is tracked again: later deaths are told too,
// and it excludes as before.
MPROC_TASK(count_under_lock) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  auto *counter = Attached<mproc_value_t>(1);
  int *n;
  CHILD_EXPECT(mproc_value_get_obj(counter, (void **)&n) == MPROC_OK, 1);
  for (int i = 0; i < 20000; i++) {
    CHILD_EXPECT(mproc_lock_acquire(lock, kWatchdog) == MPROC_OK, 2);
    int seen = *n;
    *n = seen + 1;
    CHILD_EXPECT(mproc_lock_release(lock) == MPROC_OK, 3);
  }
  return 0;
}

TEST_P(OwnerDeathTest, LockWorksNormallyAfterTakeovers) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    mproc_lock_t *lock;
    ASSERT_EQ(create(&lock), MPROC_OK);
    for (int round = 0; round < 3; round++) KillHolderWhileBlocked(lock);
    mproc_value_t *counter;
    ASSERT_EQ(mproc_raw_value_create(&counter, 'i', nullptr), MPROC_OK);
    mproc_process_t *p[3];
    for (auto &child : p) child = Start(count_under_lock, {lock, counter});
    for (auto &child : p) EXPECT_EQ(Finish(child), 0);
    int total = 0;
    EXPECT_EQ(mproc_value_get(counter, &total), MPROC_OK);
    EXPECT_EQ(total, 60000);
    EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);  // free, not dead
    EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
    mproc_value_free(counter);
    EXPECT_EQ(mproc_lock_free(lock), MPROC_OK);
  }
}

// A thread of the child takes the lock and ends holding it (its process
// lives on) once the parent is blocked.
MPROC_TASK(thread_exits_holding) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  auto *held = Attached<mproc_event_t>(1);
  auto *go = Attached<mproc_event_t>(2);
  mproc_status_t st = MPROC_EINVAL;
  std::thread([&] {
    st = mproc_lock_acquire(lock, 5);
    mproc_event_set(held);
    mproc_event_wait(go, kWatchdog);
  }).join();
  CHILD_EXPECT(st == MPROC_OK, 1);
  mproc_sleep(60);  // killed by the parent
  return 4;
}

TEST_P(OwnerDeathTest, ThreadThatEndsHoldingItWakesBlockedWaiterAtOnce) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    mproc_lock_t *lock;
    mproc_event_t *held, *go;
    ASSERT_EQ(create(&lock), MPROC_OK);
    ASSERT_EQ(mproc_event_create(&held), MPROC_OK);
    ASSERT_EQ(mproc_event_create(&go), MPROC_OK);
    mproc_process_t *p = Start(thread_exits_holding, {lock, held, go});
    ASSERT_EQ(mproc_event_wait(held, kWatchdog), MPROC_OK);
    uint64_t polls = mp_thread_alive_calls();
    BlockedWaiter waiter(lock);
    LetWaiterSleep();
    ASSERT_EQ(mproc_event_set(go), MPROC_OK);
    waiter.Await();
    ExpectTakenOverFromDeadOwner(waiter);
    EXPECT_EQ(mp_thread_alive_calls(), polls) << "found by polling";
    ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
    EXPECT_EQ(Finish(p), -9);
    mproc_lock_free(lock);
    mproc_event_free(held);
    mproc_event_free(go);
  }
}

TEST(OwnerDeath, ThreadOfThisProcessThatEndsHoldingItWakesWaiter) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    mproc_lock_t *lock;
    mproc_event_t *go;
    ASSERT_EQ(create(&lock), MPROC_OK);
    ASSERT_EQ(mproc_event_create(&go), MPROC_OK);
    std::atomic<bool> held{false};
    std::thread owner([&] {
      EXPECT_EQ(mproc_lock_acquire(lock, 5), MPROC_OK);
      held = true;
      mproc_event_wait(go, kWatchdog);
    });
    while (!held) mproc_sleep(0.001);
    uint64_t polls = mp_thread_alive_calls();
    BlockedWaiter waiter(lock);
    LetWaiterSleep();
    ASSERT_EQ(mproc_event_set(go), MPROC_OK);
    owner.join();
    waiter.Await();
    ExpectTakenOverFromDeadOwner(waiter);
    EXPECT_EQ(mp_thread_alive_calls(), polls) << "found by polling";
    mproc_lock_free(lock);
    mproc_event_free(go);
  }
}

// Many locks held at death, mixed with glibc's robust mutexes on the same
// kernel list (both must be told).
constexpr int kManyLocks = 48;

MPROC_TASK(hold_many_until_killed) {
  (void)arg;
  (void)arg_len;
  auto *held = Attached<mproc_event_t>(0);
  auto *mutexes = Attached<mproc_array_t>(1);
  pthread_mutex_t *m;
  CHILD_EXPECT(mproc_array_get_obj(mutexes, (void **)&m) == MPROC_OK, 1);
  for (int i = 0; i < kManyLocks; i++) {
    auto *lock = Attached<mproc_lock_t>(2 + (size_t)i);
    // Interleave list operations: glibc's and ours unlink neighbours.
    if (i % 8 == 0) CHILD_EXPECT(pthread_mutex_lock(&m[i / 8]) == 0, 2);
    CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 3);
    if (i % 8 == 4 && i / 8 % 2 == 1)
      CHILD_EXPECT(pthread_mutex_unlock(&m[i / 8]) == 0, 4);
  }
  mproc_event_set(held);
  mproc_sleep(60);
  return 5;
}

TEST_P(OwnerDeathTest, ManyLocksAndRobustMutexesHeldAtDeathAreAllTold) {
  constexpr int kMutexes = kManyLocks / 8;
  mproc_event_t *held;
  mproc_array_t *mutexes;
  ASSERT_EQ(mproc_event_create(&held), MPROC_OK);
  ASSERT_EQ(mproc_raw_array_create(&mutexes, 'B',
                                    kMutexes * sizeof(pthread_mutex_t),
                                    nullptr),
            MPROC_OK);
  pthread_mutex_t *m;
  ASSERT_EQ(mproc_array_get_obj(mutexes, (void **)&m), MPROC_OK);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  for (int i = 0; i < kMutexes; i++)
    ASSERT_EQ(pthread_mutex_init(&m[i], &attr), 0);
  std::vector<mproc_lock_t *> locks(kManyLocks);
  std::vector<void *> attach = {held, mutexes};
  for (int i = 0; i < kManyLocks; i++) {
    ASSERT_EQ((i % 2 ? mproc_rlock_create : mproc_lock_create)(&locks[i]),
              MPROC_OK);
    attach.push_back(locks[i]);
  }
  mproc_process_t *p = nullptr;
  ASSERT_EQ(mproc_process_create(&p, Ctx(), hold_many_until_killed, nullptr,
                                 0),
            MPROC_OK);
  for (void *o : attach) ASSERT_EQ(mproc_process_attach(p, o), MPROC_OK);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK) << mproc_last_error();
  ASSERT_EQ(mproc_event_wait(held, kWatchdog), MPROC_OK);
  ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_EQ(Finish(p), -9);
  uint64_t polls = mp_thread_alive_calls();
  for (int i = 0; i < kManyLocks; i++) {
    EXPECT_EQ(mproc_lock_acquire(locks[i], 0), MPROC_EOWNERDEAD) << i;
    EXPECT_EQ(mproc_lock_release(locks[i]), MPROC_OK) << i;
    EXPECT_EQ(mproc_lock_free(locks[i]), MPROC_OK);
  }
  EXPECT_EQ(mp_thread_alive_calls(), polls) << "found by polling";
  for (int i = 0; i < kMutexes; i++) {
    int rc = pthread_mutex_lock(&m[i]);
    EXPECT_EQ(rc, i % 2 == 1 ? 0 : EOWNERDEAD) << "mutex " << i;
    if (rc == EOWNERDEAD) pthread_mutex_consistent(&m[i]);
    pthread_mutex_unlock(&m[i]);
    pthread_mutex_destroy(&m[i]);
  }
  mproc_array_free(mutexes);
  mproc_event_free(held);
}

// A holder that execs: its thread id lives on (no poll could tell), but
// the kernel empties its robust list at exec.
MPROC_TASK(hold_then_exec) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  auto *held = Attached<mproc_event_t>(1);
  auto *go = Attached<mproc_event_t>(2);
  CHILD_EXPECT(mproc_lock_acquire(lock, 5) == MPROC_OK, 1);
  mproc_event_set(held);
  CHILD_EXPECT(mproc_event_wait(go, kWatchdog) == MPROC_OK, 2);
  execl("/bin/sleep", "sleep", "60", (char *)nullptr);
  return 3;
}

TEST_P(OwnerDeathTest, HolderThatExecsIsToldToBlockedWaiter) {
  for (auto create : {mproc_lock_create, mproc_rlock_create}) {
    mproc_lock_t *lock;
    mproc_event_t *held, *go;
    ASSERT_EQ(create(&lock), MPROC_OK);
    ASSERT_EQ(mproc_event_create(&held), MPROC_OK);
    ASSERT_EQ(mproc_event_create(&go), MPROC_OK);
    mproc_process_t *p = Start(hold_then_exec, {lock, held, go});
    ASSERT_EQ(mproc_event_wait(held, kWatchdog), MPROC_OK);
    BlockedWaiter waiter(lock);
    LetWaiterSleep();
    ASSERT_EQ(mproc_event_set(go), MPROC_OK);
    waiter.Await();
    ExpectTakenOverFromDeadOwner(waiter);
    int alive = 0;
    EXPECT_EQ(mproc_process_is_alive(p, &alive), MPROC_OK);
    EXPECT_EQ(alive, 1);  // it runs /bin/sleep
    ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
    EXPECT_EQ(Finish(p), -9);
    mproc_lock_free(lock);
    mproc_event_free(held);
    mproc_event_free(go);
  }
}

// ---- a Lock released by a thread that did not acquire it -------------

// The acquirer's robust list keeps the word; a holder that takes it
// meanwhile is untracked and found by polling (docs/sync.md).
TEST_P(OwnerDeathTest, LockReleasedByAnotherThreadFallsBackToPolling) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  mproc_event_t *acquired, *done;
  ASSERT_EQ(mproc_event_create(&acquired), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&done), MPROC_OK);
  std::thread acquirer([&] {  // stays alive: its list still holds the word
    EXPECT_EQ(mproc_lock_acquire(lock, 5), MPROC_OK);
    mproc_event_set(acquired);
    mproc_event_wait(done, kWatchdog);
  });
  ASSERT_EQ(mproc_event_wait(acquired, kWatchdog), MPROC_OK);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);  // not the acquirer
  mproc_event_t *held;
  ASSERT_EQ(mproc_event_create(&held), MPROC_OK);
  mproc_process_t *p = Start(hold_until_killed, {lock, held});
  ASSERT_EQ(mproc_event_wait(held, kWatchdog), MPROC_OK);
  uint64_t polls = mp_thread_alive_calls();
  BlockedWaiter waiter(lock);
  LetWaiterSleep();
  ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
  waiter.Await();
  ExpectTakenOverFromDeadOwner(waiter);
  EXPECT_GT(mp_thread_alive_calls(), polls) << "polling is the fallback";
  EXPECT_EQ(Finish(p), -9);
  mproc_event_set(done);
  acquirer.join();
  // The acquirer ended: its list went with it, the next holder is tracked.
  KillHolderWhileBlocked(lock);
  EXPECT_EQ(mproc_lock_free(lock), MPROC_OK);
  mproc_event_free(held);
  mproc_event_free(acquired);
  mproc_event_free(done);
}

// The acquirer taking and releasing it itself takes the word off its list:
// tracked again while that thread still lives.
TEST_P(OwnerDeathTest, AcquirerCyclingTheLockMakesItTrackedAgain) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  mproc_event_t *acquired, *released, *cycled, *done;
  for (auto **e : {&acquired, &released, &cycled, &done})
    ASSERT_EQ(mproc_event_create(e), MPROC_OK);
  std::thread acquirer([&] {
    EXPECT_EQ(mproc_lock_acquire(lock, 5), MPROC_OK);
    mproc_event_set(acquired);
    EXPECT_EQ(mproc_event_wait(released, kWatchdog), MPROC_OK);
    EXPECT_EQ(mproc_lock_acquire(lock, 5), MPROC_OK);
    EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
    mproc_event_set(cycled);
    mproc_event_wait(done, kWatchdog);  // alive through the test
  });
  ASSERT_EQ(mproc_event_wait(acquired, kWatchdog), MPROC_OK);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);  // not the acquirer
  mproc_event_set(released);
  ASSERT_EQ(mproc_event_wait(cycled, kWatchdog), MPROC_OK);
  KillHolderWhileBlocked(lock);  // no polling
  mproc_event_set(done);
  acquirer.join();
  EXPECT_EQ(mproc_lock_free(lock), MPROC_OK);
  for (auto *e : {acquired, released, cycled, done}) mproc_event_free(e);
}

// Freeing a lock whose word is still on a live thread's list must not
// corrupt that list: the thread goes on locking (ours and glibc's robust
// mutexes) without a crash.
TEST(OwnerDeath, FreeingALockStillOnALiveThreadsListIsSafe) {
  mproc_lock_t *stale, *held_when_freed, *other;
  ASSERT_EQ(mproc_lock_create(&stale), MPROC_OK);
  ASSERT_EQ(mproc_lock_create(&held_when_freed), MPROC_OK);
  ASSERT_EQ(mproc_lock_create(&other), MPROC_OK);
  mproc_value_t *value;
  ASSERT_EQ(mproc_value_create(&value, 'i', nullptr), MPROC_OK);
  mproc_lock_t *value_lock;
  ASSERT_EQ(mproc_value_get_lock(value, &value_lock), MPROC_OK);
  mproc_event_t *acquired, *freed;
  ASSERT_EQ(mproc_event_create(&acquired), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&freed), MPROC_OK);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_t m;
  ASSERT_EQ(pthread_mutex_init(&m, &attr), 0);
  std::thread t([&] {
    EXPECT_EQ(mproc_lock_acquire(stale, 5), MPROC_OK);  // released by main
    mproc_event_set(acquired);
    mproc_event_wait(freed, kWatchdog);
    for (int i = 0; i < 100; i++) {  // walks past where `stale` was linked
      EXPECT_EQ(pthread_mutex_lock(&m), 0);
      EXPECT_EQ(mproc_lock_acquire(other, 5), MPROC_OK);
      EXPECT_EQ(pthread_mutex_unlock(&m), 0);
      EXPECT_EQ(mproc_lock_release(other), MPROC_OK);
    }
  });
  ASSERT_EQ(mproc_event_wait(acquired, kWatchdog), MPROC_OK);
  EXPECT_EQ(mproc_lock_release(stale), MPROC_OK);
  EXPECT_EQ(mproc_lock_free(stale), MPROC_OK);
  // Held by the freeing thread itself: its own list lets go of the word.
  EXPECT_EQ(mproc_lock_acquire(held_when_freed, 5), MPROC_OK);
  EXPECT_EQ(mproc_lock_free(held_when_freed), MPROC_OK);
  EXPECT_EQ(mproc_lock_acquire(value_lock, 5), MPROC_OK);
  EXPECT_EQ(mproc_value_free(value), MPROC_OK);
  mproc_event_set(freed);
  t.join();
  for (int i = 0; i < 100; i++) {
    EXPECT_EQ(mproc_lock_acquire(other, 5), MPROC_OK);
    EXPECT_EQ(mproc_lock_release(other), MPROC_OK);
  }
  pthread_mutex_destroy(&m);
  mproc_lock_free(other);
  mproc_event_free(acquired);
  mproc_event_free(freed);
}

}  // namespace
