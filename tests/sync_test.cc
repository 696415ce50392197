// SPDX-License-Identifier: Apache-2.0
// Semaphore, BoundedSemaphore, Event, Condition and Barrier (docs/sync.md),
// within one process and across processes under every start method (fork, spawn, forkserver).
#include <chrono>
#include <cmath>
#include <set>
#include <thread>

#include "tests/sync_helpers.h"

namespace {

class SyncTest : public MethodTest {};
INSTANTIATE_METHODS(SyncTest);

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

// ---- Semaphore ------------------------------------------------------

TEST(Semaphore, CountsAndTimesOut) {
  mproc_semaphore_t *sem;
  ASSERT_EQ(mproc_semaphore_create(&sem, 2), MPROC_OK);
  unsigned value = 99;
  EXPECT_EQ(mproc_semaphore_get_value(sem, &value), MPROC_OK);
  EXPECT_EQ(value, 2u);
  EXPECT_EQ(mproc_semaphore_acquire(sem, 0), MPROC_OK);
  EXPECT_EQ(mproc_semaphore_acquire(sem, 0), MPROC_OK);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_semaphore_acquire(sem, 0.2), MPROC_ETIMEDOUT);
  EXPECT_GE(Seconds(start), 0.2);
  EXPECT_LT(Seconds(start), 5.0);
  // Unbounded: release past the initial value is fine.
  for (int i = 0; i < 3; i++) EXPECT_EQ(mproc_semaphore_release(sem), MPROC_OK);
  EXPECT_EQ(mproc_semaphore_get_value(sem, &value), MPROC_OK);
  EXPECT_EQ(value, 3u);
  EXPECT_EQ(mproc_semaphore_acquire(sem, NAN), MPROC_EINVAL);
  EXPECT_EQ(mproc_semaphore_free(sem), MPROC_OK);
}

TEST(Semaphore, BoundedRefusesOverRelease) {
  mproc_semaphore_t *sem;
  ASSERT_EQ(mproc_bounded_semaphore_create(&sem, 1), MPROC_OK);
  EXPECT_EQ(mproc_semaphore_release(sem), MPROC_ESTATE);
  EXPECT_NE(std::string(mproc_last_error()).find("too many"),
            std::string::npos);
  EXPECT_EQ(mproc_semaphore_acquire(sem, 0), MPROC_OK);
  EXPECT_EQ(mproc_semaphore_release(sem), MPROC_OK);
  EXPECT_EQ(mproc_semaphore_release(sem), MPROC_ESTATE);
  EXPECT_EQ(mproc_semaphore_free(sem), MPROC_OK);
}

TEST(Semaphore, BadArguments) {
  mproc_semaphore_t *sem;
  unsigned v;
  EXPECT_EQ(mproc_semaphore_create(nullptr, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_semaphore_create(&sem, MPROC_SEMAPHORE_MAX + 1u),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_bounded_semaphore_create(nullptr, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_semaphore_acquire(nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_semaphore_release(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_semaphore_get_value(nullptr, &v), MPROC_EINVAL);
  EXPECT_EQ(mproc_semaphore_free(nullptr), MPROC_OK);
}

// Releases the attached semaphore n times, 10 ms apart.
MPROC_TASK(release_n) {
  auto *sem = Attached<mproc_semaphore_t>(0);
  int n = *static_cast<const int *>(arg);
  (void)arg_len;
  for (int i = 0; i < n; i++) {
    mproc_sleep(0.01);
    CHILD_EXPECT(mproc_semaphore_release(sem) == MPROC_OK, 1);
  }
  return 0;
}

TEST_P(SyncTest, SemaphoreWakesAcrossProcesses) {
  mproc_semaphore_t *sem;
  ASSERT_EQ(mproc_semaphore_create(&sem, 0), MPROC_OK);
  int n = 20;
  mproc_process_t *p = Start(release_n, {sem}, &n, sizeof n);
  for (int i = 0; i < n; i++)
    ASSERT_EQ(mproc_semaphore_acquire(sem, 10), MPROC_OK) << i;
  EXPECT_EQ(Finish(p), 0);
  EXPECT_EQ(mproc_semaphore_acquire(sem, 0), MPROC_ETIMEDOUT);
  mproc_semaphore_free(sem);
}

// ---- Event ----------------------------------------------------------

TEST(Event, SetClearWait) {
  mproc_event_t *e;
  ASSERT_EQ(mproc_event_create(&e), MPROC_OK);
  int set = -1;
  EXPECT_EQ(mproc_event_is_set(e, &set), MPROC_OK);
  EXPECT_EQ(set, 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_event_wait(e, 0.2), MPROC_ETIMEDOUT);
  EXPECT_GE(Seconds(start), 0.2);
  EXPECT_LT(Seconds(start), 5.0);
  EXPECT_EQ(mproc_event_set(e), MPROC_OK);
  EXPECT_EQ(mproc_event_set(e), MPROC_OK);
  EXPECT_EQ(mproc_event_is_set(e, &set), MPROC_OK);
  EXPECT_EQ(set, 1);
  EXPECT_EQ(mproc_event_wait(e, 0), MPROC_OK);
  EXPECT_EQ(mproc_event_wait(e, MPROC_FOREVER), MPROC_OK);
  EXPECT_EQ(mproc_event_clear(e), MPROC_OK);
  EXPECT_EQ(mproc_event_wait(e, 0), MPROC_ETIMEDOUT);
  EXPECT_EQ(mproc_event_wait(e, NAN), MPROC_EINVAL);
  EXPECT_EQ(mproc_event_create(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_event_set(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_event_clear(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_event_is_set(nullptr, &set), MPROC_EINVAL);
  EXPECT_EQ(mproc_event_is_set(e, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_event_wait(nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_event_free(e), MPROC_OK);
}

// Ping-pong: waits for ping, clears it, sets pong; rounds times.
MPROC_TASK(event_ponger) {
  auto *ping = Attached<mproc_event_t>(0);
  auto *pong = Attached<mproc_event_t>(1);
  int rounds = *static_cast<const int *>(arg);
  (void)arg_len;
  for (int i = 0; i < rounds; i++) {
    CHILD_EXPECT(mproc_event_wait(ping, 10) == MPROC_OK, 1);
    mproc_event_clear(ping);
    mproc_event_set(pong);
  }
  return 0;
}

TEST_P(SyncTest, EventPingPongAcrossProcesses) {
  mproc_event_t *ping, *pong;
  ASSERT_EQ(mproc_event_create(&ping), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&pong), MPROC_OK);
  int rounds = 500;
  mproc_process_t *p = Start(event_ponger, {ping, pong}, &rounds, sizeof rounds);
  for (int i = 0; i < rounds; i++) {
    mproc_event_set(ping);
    ASSERT_EQ(mproc_event_wait(pong, 10), MPROC_OK) << i;
    mproc_event_clear(pong);
  }
  EXPECT_EQ(Finish(p), 0);
  mproc_event_free(ping);
  mproc_event_free(pong);
}

// ---- Condition ------------------------------------------------------

TEST(Condition, OwnershipErrorsAndTimeout) {
  mproc_condition_t *c;
  ASSERT_EQ(mproc_condition_create(&c, nullptr), MPROC_OK);
  EXPECT_EQ(mproc_condition_wait(c, 0.1), MPROC_ESTATE);
  EXPECT_EQ(mproc_condition_notify(c, 1), MPROC_ESTATE);
  EXPECT_EQ(mproc_condition_notify_all(c), MPROC_ESTATE);
  ASSERT_EQ(mproc_condition_acquire(c, 1), MPROC_OK);
  ASSERT_EQ(mproc_condition_acquire(c, 1), MPROC_OK);  // an RLock by default
  EXPECT_EQ(mproc_condition_notify(c, 1), MPROC_OK);    // nobody waits: fine
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_condition_wait(c, 0.2), MPROC_ETIMEDOUT);
  EXPECT_GE(Seconds(start), 0.2);
  EXPECT_LT(Seconds(start), 5.0);
  // Still held, at the same depth: two releases.
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_condition_get_lock(c, &lock), MPROC_OK);
  EXPECT_EQ(mproc_condition_wait(c, NAN), MPROC_EINVAL);
  EXPECT_EQ(mproc_condition_release(c), MPROC_OK);
  EXPECT_EQ(mproc_condition_release(c), MPROC_OK);
  EXPECT_EQ(mproc_condition_release(c), MPROC_ESTATE);
  EXPECT_EQ(mproc_condition_create(nullptr, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_condition_wait(nullptr, 0), MPROC_EINVAL);
  EXPECT_EQ(mproc_condition_notify(nullptr, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_condition_free(c), MPROC_OK);
}

int IsPositive(void *ctx) { return *static_cast<int *>(ctx) > 0; }

TEST(Condition, WaitForPredicateWithGivenLock) {
  mproc_lock_t *lock;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  mproc_condition_t *c;
  ASSERT_EQ(mproc_condition_create(&c, lock), MPROC_OK);
  int x = 0;
  ASSERT_EQ(mproc_lock_acquire(lock, 1), MPROC_OK);
  EXPECT_EQ(mproc_condition_wait_for(c, IsPositive, &x, 0.1), MPROC_ETIMEDOUT);
  EXPECT_EQ(mproc_condition_wait_for(c, nullptr, &x, 0.1), MPROC_EINVAL);
  std::thread setter([&] {
    mproc_lock_acquire(lock, MPROC_FOREVER);
    x = 1;
    mproc_condition_notify(c, 1);
    mproc_lock_release(lock);
  });
  EXPECT_EQ(mproc_condition_wait_for(c, IsPositive, &x, 10), MPROC_OK);
  EXPECT_EQ(x, 1);
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  setter.join();
  EXPECT_EQ(mproc_condition_free(c), MPROC_OK);
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);  // not closed with it
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  mproc_lock_free(lock);
}

// Consumer: takes `total` items from a shared counter of available items.
MPROC_TASK(condition_consumer) {
  auto *c = Attached<mproc_condition_t>(0);
  auto *items = Attached<mproc_value_t>(1);
  int total = *static_cast<const int *>(arg);
  (void)arg_len;
  int *available;
  mproc_value_get_obj(items, (void **)&available);
  for (int taken = 0; taken < total; taken++) {
    CHILD_EXPECT(mproc_condition_acquire(c, 10) == MPROC_OK, 1);
    CHILD_EXPECT(mproc_condition_wait_for(c, IsPositive, available, 10) ==
                     MPROC_OK,
                 2);
    --*available;
    CHILD_EXPECT(mproc_condition_release(c) == MPROC_OK, 3);
  }
  return 0;
}

TEST_P(SyncTest, ConditionProducerConsumer) {
  mproc_condition_t *c;
  mproc_value_t *items;
  ASSERT_EQ(mproc_condition_create(&c, nullptr), MPROC_OK);
  ASSERT_EQ(mproc_raw_value_create(&items, 'i', nullptr), MPROC_OK);
  int *available;
  mproc_value_get_obj(items, (void **)&available);
  int per_consumer = 200;
  mproc_process_t *a = Start(condition_consumer, {c, items}, &per_consumer,
                             sizeof per_consumer);
  mproc_process_t *b = Start(condition_consumer, {c, items}, &per_consumer,
                             sizeof per_consumer);
  for (int i = 0; i < 2 * per_consumer; i++) {
    ASSERT_EQ(mproc_condition_acquire(c, 10), MPROC_OK);
    ++*available;
    ASSERT_EQ(mproc_condition_notify(c, 1), MPROC_OK);
    ASSERT_EQ(mproc_condition_release(c), MPROC_OK);
  }
  EXPECT_EQ(Finish(a), 0);
  EXPECT_EQ(Finish(b), 0);
  EXPECT_EQ(*available, 0);
  mproc_value_free(items);
  mproc_condition_free(c);
}

// Says it is ready (under the lock), waits once, counts itself woken.
MPROC_TASK(condition_waiter) {
  (void)arg;
  (void)arg_len;
  auto *c = Attached<mproc_condition_t>(0);
  auto *ready = Attached<mproc_value_t>(1);
  auto *woken = Attached<mproc_value_t>(2);
  CHILD_EXPECT(mproc_condition_acquire(c, 10) == MPROC_OK, 1);
  mproc_value_fetch_add(ready, 1, nullptr);
  CHILD_EXPECT(mproc_condition_wait(c, 20) == MPROC_OK, 2);
  mproc_value_fetch_add(woken, 1, nullptr);
  CHILD_EXPECT(mproc_condition_release(c) == MPROC_OK, 3);
  return 0;
}

TEST_P(SyncTest, ConditionNotifyWakesAtMostN) {
  mproc_condition_t *c;
  mproc_value_t *ready, *woken;
  ASSERT_EQ(mproc_condition_create(&c, nullptr), MPROC_OK);
  ASSERT_EQ(mproc_raw_value_create(&ready, 'i', nullptr), MPROC_OK);
  ASSERT_EQ(mproc_raw_value_create(&woken, 'i', nullptr), MPROC_OK);
  mproc_process_t *p[3];
  for (auto &child : p) child = Start(condition_waiter, {c, ready, woken});
  int64_t n = 0;
  for (int i = 0; i < 1000 && n < 3; i++) {  // all three inside wait()
    mproc_sleep(0.01);
    mproc_value_load(ready, &n);
  }
  ASSERT_EQ(n, 3);
  ASSERT_EQ(mproc_condition_acquire(c, 10), MPROC_OK);  // so: all asleep
  EXPECT_EQ(mproc_condition_notify(c, 1), MPROC_OK);
  EXPECT_EQ(mproc_condition_release(c), MPROC_OK);
  mproc_sleep(0.3);
  mproc_value_load(woken, &n);
  EXPECT_EQ(n, 1);
  ASSERT_EQ(mproc_condition_acquire(c, 10), MPROC_OK);
  EXPECT_EQ(mproc_condition_notify_all(c), MPROC_OK);
  EXPECT_EQ(mproc_condition_release(c), MPROC_OK);
  for (auto &child : p) EXPECT_EQ(Finish(child), 0);
  mproc_value_load(woken, &n);
  EXPECT_EQ(n, 3);
  mproc_value_free(ready);
  mproc_value_free(woken);
  mproc_condition_free(c);
}

// ---- Barrier --------------------------------------------------------

// Each party counts the rounds where it got index 0.
MPROC_TASK(barrier_party) {
  auto *b = Attached<mproc_barrier_t>(0);
  auto *zeros = Attached<mproc_value_t>(1);
  int rounds = *static_cast<const int *>(arg);
  (void)arg_len;
  for (int i = 0; i < rounds; i++) {
    unsigned index = 99;
    CHILD_EXPECT(mproc_barrier_wait(b, &index) == MPROC_OK, 1);
    CHILD_EXPECT(index < 3, 2);
    if (index == 0) mproc_value_fetch_add(zeros, 1, nullptr);
  }
  return 0;
}

TEST_P(SyncTest, BarrierRoundsGiveDistinctIndices) {
  mproc_barrier_t *b;
  mproc_value_t *zeros;
  ASSERT_EQ(mproc_barrier_create(&b, 3, nullptr, nullptr, 0, 20),
            MPROC_OK);
  ASSERT_EQ(mproc_raw_value_create(&zeros, 'i', nullptr), MPROC_OK);
  int rounds = 200;
  mproc_process_t *p1 = Start(barrier_party, {b, zeros}, &rounds, sizeof rounds);
  mproc_process_t *p2 = Start(barrier_party, {b, zeros}, &rounds, sizeof rounds);
  for (int i = 0; i < rounds; i++) {
    unsigned index = 99;
    ASSERT_EQ(mproc_barrier_wait(b, &index), MPROC_OK) << mproc_last_error();
    ASSERT_LT(index, 3u);
    if (index == 0) mproc_value_fetch_add(zeros, 1, nullptr);
  }
  EXPECT_EQ(Finish(p1), 0);
  EXPECT_EQ(Finish(p2), 0);
  int64_t n = 0;
  mproc_value_load(zeros, &n);
  EXPECT_EQ(n, rounds);  // exactly one index 0 per round
  unsigned parties = 0;
  EXPECT_EQ(mproc_barrier_parties(b, &parties), MPROC_OK);
  EXPECT_EQ(parties, 3u);
  mproc_value_free(zeros);
  mproc_barrier_free(b);
}

// The action: counts its runs in a process-wide static, and fails when
// asked to (its argument).
int action_runs = 0;
MPROC_TASK(barrier_action) {
  (void)arg_len;
  action_runs++;
  return *static_cast<const int *>(arg);
}

TEST(Barrier, ActionRunsOncePerRoundAndCanBreakIt) {
  for (int fail : {0, 7}) {
    action_runs = 0;
    mproc_barrier_t *b;
    ASSERT_EQ(mproc_barrier_create(&b, 2, barrier_action, &fail, sizeof fail,
                                   MPROC_FOREVER),
              MPROC_OK);
    mproc_status_t other = MPROC_OK;
    std::thread t([&] { other = mproc_barrier_wait(b, nullptr); });
    mproc_status_t mine = mproc_barrier_wait(b, nullptr);
    t.join();
    EXPECT_EQ(action_runs, 1);
    int broken = -1;
    EXPECT_EQ(mproc_barrier_broken(b, &broken), MPROC_OK);
    if (fail) {
      EXPECT_EQ(mine, MPROC_EBROKEN);
      EXPECT_EQ(other, MPROC_EBROKEN);
      EXPECT_EQ(broken, 1);
    } else {
      EXPECT_EQ(mine, MPROC_OK);
      EXPECT_EQ(other, MPROC_OK);
      EXPECT_EQ(broken, 0);
    }
    mproc_barrier_free(b);
  }
}

TEST(Barrier, TimeoutBreaksItAbortAndResetWork) {
  mproc_barrier_t *b;
  ASSERT_EQ(mproc_barrier_create(&b, 2, nullptr, nullptr, 0, MPROC_FOREVER),
            MPROC_OK);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(mproc_barrier_wait_timeout(b, nullptr, 0.2), MPROC_ETIMEDOUT);
  EXPECT_GE(Seconds(start), 0.2);
  EXPECT_LT(Seconds(start), 5.0);
  int broken = 0;
  EXPECT_EQ(mproc_barrier_broken(b, &broken), MPROC_OK);
  EXPECT_EQ(broken, 1);
  EXPECT_EQ(mproc_barrier_wait_timeout(b, nullptr, 1), MPROC_EBROKEN);
  EXPECT_EQ(mproc_barrier_reset(b), MPROC_OK);
  EXPECT_EQ(mproc_barrier_broken(b, &broken), MPROC_OK);
  EXPECT_EQ(broken, 0);

  // abort wakes a waiter with EBROKEN.
  mproc_status_t waiter = MPROC_OK;
  std::thread t([&] { waiter = mproc_barrier_wait_timeout(b, nullptr, 10); });
  unsigned waiting = 0;
  for (int i = 0; i < 1000 && waiting == 0; i++) {
    mproc_sleep(0.005);
    mproc_barrier_n_waiting(b, &waiting);
  }
  EXPECT_EQ(waiting, 1u);
  EXPECT_EQ(mproc_barrier_abort(b), MPROC_OK);
  t.join();
  EXPECT_EQ(waiter, MPROC_EBROKEN);
  EXPECT_EQ(mproc_barrier_n_waiting(b, &waiting), MPROC_OK);
  EXPECT_EQ(waiting, 0u);

  // reset while one waits: it gets EBROKEN, and the barrier works again.
  EXPECT_EQ(mproc_barrier_reset(b), MPROC_OK);
  std::thread t2([&] { waiter = mproc_barrier_wait_timeout(b, nullptr, 10); });
  waiting = 0;
  for (int i = 0; i < 1000 && waiting == 0; i++) {
    mproc_sleep(0.005);
    mproc_barrier_n_waiting(b, &waiting);
  }
  EXPECT_EQ(mproc_barrier_reset(b), MPROC_OK);
  t2.join();
  EXPECT_EQ(waiter, MPROC_EBROKEN);
  std::thread t3([&] { waiter = mproc_barrier_wait_timeout(b, nullptr, 10); });
  EXPECT_EQ(mproc_barrier_wait_timeout(b, nullptr, 10), MPROC_OK);
  t3.join();
  EXPECT_EQ(waiter, MPROC_OK);
  mproc_barrier_free(b);
}

TEST(Barrier, BadArguments) {
  mproc_barrier_t *b;
  unsigned u;
  int i;
  EXPECT_EQ(mproc_barrier_create(nullptr, 2, nullptr, nullptr, 0, 1),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_create(&b, 0, nullptr, nullptr, 0, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_create(&b, 2, nullptr, nullptr, 3, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_create(&b, 2, nullptr, nullptr, 0, NAN),
            MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_wait(nullptr, &u), MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_abort(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_reset(nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_parties(nullptr, &u), MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_n_waiting(nullptr, &u), MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_broken(nullptr, &i), MPROC_EINVAL);
  EXPECT_EQ(mproc_barrier_free(nullptr), MPROC_OK);
  ASSERT_EQ(mproc_barrier_create(&b, 2, nullptr, nullptr, 0, 1), MPROC_OK);
  EXPECT_EQ(mproc_barrier_wait_timeout(b, &u, NAN), MPROC_EINVAL);
  mproc_barrier_free(b);
}

// A party that dies before arriving.
MPROC_TASK(die_before_barrier) {
  (void)arg;
  (void)arg_len;
  return 3;
}

TEST_P(SyncTest, BarrierPartyThatDiedDoesNotHangOthers) {
  mproc_barrier_t *b;
  ASSERT_EQ(mproc_barrier_create(&b, 2, nullptr, nullptr, 0, 0.5), MPROC_OK);
  EXPECT_EQ(Finish(Start(die_before_barrier, {b})), 3);
  EXPECT_EQ(mproc_barrier_wait(b, nullptr), MPROC_ETIMEDOUT);
  EXPECT_EQ(mproc_barrier_wait(b, nullptr), MPROC_EBROKEN);
  mproc_barrier_free(b);
}

// Arrives at the barrier (its action counts rounds in this process).
MPROC_TASK(barrier_with_action_party) {
  (void)arg;
  (void)arg_len;
  auto *b = Attached<mproc_barrier_t>(0);
  unsigned index;
  CHILD_EXPECT(mproc_barrier_wait(b, &index) == MPROC_OK, 1);
  return action_runs;  // 1 if the action ran here, else 0
}

TEST_P(SyncTest, BarrierActionReachesChildren) {
  action_runs = 0;
  int ok = 0;
  mproc_barrier_t *b;
  ASSERT_EQ(mproc_barrier_create(&b, 3, barrier_action, &ok, sizeof ok, 20),
            MPROC_OK);
  mproc_process_t *p1 = Start(barrier_with_action_party, {b});
  mproc_process_t *p2 = Start(barrier_with_action_party, {b});
  EXPECT_EQ(mproc_barrier_wait(b, nullptr), MPROC_OK);
  int runs = Finish(p1) + Finish(p2) + action_runs;
  EXPECT_EQ(runs, 1);
  mproc_barrier_free(b);
}

}  // namespace
