// SPDX-License-Identifier: Apache-2.0
// Found by the outside audit (docs/sync.md): a Barrier's action calling its
// own barrier, and thousands of sync objects sharing the arena's segments
// (not one descriptor each), under every start method.
#include <dirent.h>
#include <sys/resource.h>

#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "tests/sync_helpers.h"

namespace {

class AuditSyncTest : public MethodTest {};
INSTANTIATE_METHODS(AuditSyncTest);

// What the action does to its own barrier (its argument).
enum ActionMode { kQuery, kAbort, kReset, kWait, kFail, kResetOnce };

// Slots of the record array the action and the last party fill.
enum Slot {
  kParties,
  kWaiting,
  kBroken,
  kCallStatus,   // of abort / reset / wait called from the action
  kBrokenAfter,  // broken() after that call
  kLastStatus,   // the last party's own wait
  kSlots
};

// The action reaches its barrier and record through these (set by the
// party before it waits, in whichever process it runs).
mproc_barrier_t *g_barrier = nullptr;
mproc_array_t *g_record = nullptr;
int g_action_runs = 0;

double mproc_test_now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Record(Slot slot, int value) {
  mproc_array_write(g_record, slot, 1, &value);
}

MPROC_TASK(self_calling_action) {
  (void)arg_len;
  int mode = *static_cast<const int *>(arg);
  unsigned parties = 0, waiting = 0;
  int broken = -1;
  mproc_barrier_parties(g_barrier, &parties);
  mproc_barrier_n_waiting(g_barrier, &waiting);
  mproc_barrier_broken(g_barrier, &broken);
  Record(kParties, (int)parties);
  Record(kWaiting, (int)waiting);
  Record(kBroken, broken);
  mproc_status_t st = MPROC_OK;
  if (mode == kAbort) st = mproc_barrier_abort(g_barrier);
  if (mode == kReset || (mode == kResetOnce && g_action_runs == 0))
    st = mproc_barrier_reset(g_barrier);
  g_action_runs++;
  if (mode == kWait) st = mproc_barrier_wait_timeout(g_barrier, nullptr, 1);
  Record(kCallStatus, (int)st);
  mproc_barrier_broken(g_barrier, &broken);
  Record(kBrokenAfter, broken);
  return mode == kFail ? 1 : 0;
}

// The last party: waits until the parent waits, then arrives (so the
// action runs here).
MPROC_TASK(last_party) {
  (void)arg;
  (void)arg_len;
  g_barrier = Attached<mproc_barrier_t>(0);
  g_record = Attached<mproc_array_t>(1);
  unsigned waiting = 0;
  for (int i = 0; i < 2000 && waiting == 0; i++) {
    mproc_sleep(0.005);
    CHILD_EXPECT(mproc_barrier_n_waiting(g_barrier, &waiting) == MPROC_OK, 2);
  }
  CHILD_EXPECT(waiting == 1, 3);
  Record(kLastStatus, (int)mproc_barrier_wait_timeout(g_barrier, nullptr, 20));
  return 0;
}

struct ActionRun {
  mproc_status_t first;  // the parent's wait
  int record[kSlots];
  int broken_after;      // broken() once both left
  unsigned waiting_after;
};

// Runs one round of a 2-party barrier whose action (in the child) does mode.
ActionRun RunAction(mproc_context_t *ctx, int mode) {
  ActionRun run{};
  mproc_barrier_t *b = nullptr;
  mproc_array_t *rec = nullptr;
  EXPECT_EQ(mproc_barrier_create(&b, 2, self_calling_action, &mode,
                                 sizeof mode, MPROC_FOREVER),
            MPROC_OK);
  std::vector<int> minus(kSlots, -1);
  EXPECT_EQ(mproc_raw_array_create(&rec, 'i', kSlots, minus.data()),
            MPROC_OK);
  mproc_process_t *p = nullptr;
  EXPECT_EQ(mproc_process_create(&p, ctx, last_party, nullptr, 0),
            MPROC_OK);
  mproc_process_attach(p, b);
  mproc_process_attach(p, rec);
  EXPECT_EQ(mproc_process_start(p), MPROC_OK) << mproc_last_error();
  // A deadlocked action holds the barrier's internal lock, which even a
  // timed-out wait needs: so wait in a thread, and kill a child that hangs
  // (its death frees the lock).
  std::thread waiter(
      [&] { run.first = mproc_barrier_wait_timeout(b, nullptr, 15); });
  if (mproc_process_join(p, 10) != MPROC_OK) {
    ADD_FAILURE() << "the last party hangs in the barrier's action";
    mproc_process_kill(p);
    mproc_process_join(p, 10);
  }
  waiter.join();
  int code = -1;
  mproc_process_exitcode(p, &code);
  EXPECT_EQ(code, 0);
  mproc_process_free(p);
  mproc_array_read(rec, 0, kSlots, run.record);
  mproc_barrier_broken(b, &run.broken_after);
  mproc_barrier_n_waiting(b, &run.waiting_after);
  mproc_array_free(rec);
  mproc_barrier_free(b);
  return run;
}

TEST_P(AuditSyncTest, BarrierActionQueriesItsOwnBarrier) {
  ActionRun run = RunAction(Ctx(), kQuery);
  EXPECT_EQ(run.record[kParties], 2);
  EXPECT_EQ(run.record[kWaiting], 2);  // CPython: every party has arrived
  EXPECT_EQ(run.record[kBroken], 0);
  EXPECT_EQ(run.first, MPROC_OK);
  EXPECT_EQ(run.record[kLastStatus], MPROC_OK);
  EXPECT_EQ(run.broken_after, 0);
}

TEST_P(AuditSyncTest, BarrierActionAbortBreaksTheRound) {
  ActionRun run = RunAction(Ctx(), kAbort);
  EXPECT_EQ(run.record[kCallStatus], MPROC_OK);
  EXPECT_EQ(run.record[kBrokenAfter], 1);
  EXPECT_EQ(run.first, MPROC_EBROKEN);
  EXPECT_EQ(run.record[kLastStatus], MPROC_EBROKEN);
  EXPECT_EQ(run.broken_after, 1);
}

TEST_P(AuditSyncTest, BarrierActionResetEndsTheRoundBrokenButNotTheBarrier) {
  ActionRun run = RunAction(Ctx(), kReset);
  EXPECT_EQ(run.record[kCallStatus], MPROC_OK);
  EXPECT_EQ(run.record[kBrokenAfter], 0);
  EXPECT_EQ(run.first, MPROC_EBROKEN);
  EXPECT_EQ(run.record[kLastStatus], MPROC_EBROKEN);
  EXPECT_EQ(run.broken_after, 0);
  EXPECT_EQ(run.waiting_after, 0u);
}

TEST_P(AuditSyncTest, BarrierWaitFromItsActionIsRefused) {
  ActionRun run = RunAction(Ctx(), kWait);
  EXPECT_EQ(run.record[kCallStatus], MPROC_ESTATE);
  EXPECT_EQ(run.record[kBrokenAfter], 0);
  EXPECT_EQ(run.first, MPROC_OK);  // the round it interrupted still ends well
  EXPECT_EQ(run.record[kLastStatus], MPROC_OK);
  EXPECT_EQ(run.broken_after, 0);
}

TEST_P(AuditSyncTest, BarrierActionThatFailsBreaksIt) {
  ActionRun run = RunAction(Ctx(), kFail);
  EXPECT_EQ(run.first, MPROC_EBROKEN);
  EXPECT_EQ(run.record[kLastStatus], MPROC_EBROKEN);
  EXPECT_EQ(run.broken_after, 1);
}

// From an action run by a thread of this process: a reset from the action
// ends that round broken, and the same barrier works again afterwards.
TEST(AuditBarrier, ActionResetThenTheBarrierWorksAgain) {
  int mode = kResetOnce;
  std::vector<int> minus(kSlots, -1);
  ASSERT_EQ(mproc_raw_array_create(&g_record, 'i', kSlots, minus.data()),
            MPROC_OK);
  ASSERT_EQ(mproc_barrier_create(&g_barrier, 2, self_calling_action, &mode,
                                 sizeof mode, 15),
            MPROC_OK);
  g_action_runs = 0;
  for (int round = 0; round < 4; round++) {
    mproc_status_t other = MPROC_OK;
    std::thread t([&] { other = mproc_barrier_wait(g_barrier, nullptr); });
    mproc_status_t mine = mproc_barrier_wait(g_barrier, nullptr);
    t.join();
    mproc_status_t expected = round == 0 ? MPROC_EBROKEN : MPROC_OK;
    EXPECT_EQ(mine, expected) << "round " << round;
    EXPECT_EQ(other, expected) << "round " << round;
  }
  EXPECT_EQ(g_action_runs, 4);
  mproc_barrier_free(g_barrier);
  mproc_array_free(g_record);
  g_record = nullptr;
  g_barrier = nullptr;
}

// The queries never wait behind an action that runs long (CPython's need
// no lock): n_waiting and broken from another thread answer at once.
mproc_event_t *g_in_action = nullptr;
mproc_event_t *g_end_action = nullptr;

MPROC_TASK(slow_action) {
  (void)arg;
  (void)arg_len;
  mproc_event_set(g_in_action);
  mproc_event_wait(g_end_action, 20);
  return 0;
}

TEST(AuditBarrier, QueriesDoNotWaitForALongAction) {
  ASSERT_EQ(mproc_event_create(&g_in_action), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&g_end_action), MPROC_OK);
  mproc_barrier_t *b;
  ASSERT_EQ(mproc_barrier_create(&b, 2, slow_action, nullptr, 0, 30),
            MPROC_OK);
  mproc_status_t st1 = MPROC_ESYS, st2 = MPROC_ESYS;
  std::thread t1([&] { st1 = mproc_barrier_wait(b, nullptr); });
  std::thread t2([&] { st2 = mproc_barrier_wait(b, nullptr); });
  ASSERT_EQ(mproc_event_wait(g_in_action, 20), MPROC_OK);
  double start = mproc_test_now();
  unsigned waiting = 0;
  int broken = -1;
  EXPECT_EQ(mproc_barrier_n_waiting(b, &waiting), MPROC_OK);
  EXPECT_EQ(mproc_barrier_broken(b, &broken), MPROC_OK);
  double took = mproc_test_now() - start;
  mproc_event_set(g_end_action);
  t1.join();
  t2.join();
  EXPECT_LT(took, 5.0);  // not until the action ended (20 s)
  EXPECT_EQ(waiting, 2u);
  EXPECT_EQ(broken, 0);
  EXPECT_EQ(st1, MPROC_OK);
  EXPECT_EQ(st2, MPROC_OK);
  mproc_barrier_free(b);
  mproc_event_free(g_in_action);
  mproc_event_free(g_end_action);
}

// ---- the arena: thousands of objects, few descriptors ---------------

int OpenFds() {
  int n = 0;
  if (DIR *d = opendir("/proc/self/fd")) {
    while (dirent *e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n - 1;  // the directory's own descriptor
}

// Many objects of every kind, each used once; frees them. Returns 0 or the
// number of the step that failed.
int CreateUseAndFreeMany(int nlocks, int nothers) {
  std::vector<mproc_lock_t *> locks(nlocks);
  for (int i = 0; i < nlocks; i++)
    if ((i % 2 ? mproc_rlock_create(&locks[i])
               : mproc_lock_create(&locks[i])) != MPROC_OK)
      return 10;
  std::vector<mproc_event_t *> events(nothers);
  std::vector<mproc_semaphore_t *> sems(nothers);
  std::vector<mproc_value_t *> values(nothers);
  std::vector<mproc_array_t *> arrays(nothers);
  std::vector<mproc_condition_t *> conds(nothers);
  std::vector<mproc_barrier_t *> barriers(nothers);
  for (int i = 0; i < nothers; i++) {
    if (mproc_event_create(&events[i]) != MPROC_OK) return 11;
    if (mproc_semaphore_create(&sems[i], 1) != MPROC_OK) return 12;
    long long init = i;
    if (mproc_value_create(&values[i], 'q', &init) != MPROC_OK) return 13;
    if (mproc_raw_array_create(&arrays[i], 'd', 50, nullptr) != MPROC_OK)
      return 14;
    if (mproc_condition_create(&conds[i], nullptr) != MPROC_OK) return 15;
    if (mproc_barrier_create(&barriers[i], 1, nullptr, nullptr, 0, 1) !=
        MPROC_OK)
      return 16;
  }
  // All usable, and all distinct: every lock is held at once.
  for (auto *l : locks)
    if (mproc_lock_acquire(l, 0) != MPROC_OK) return 20;
  for (auto *l : locks)
    if (mproc_lock_release(l) != MPROC_OK) return 21;
  for (int i = 0; i < nothers; i++) {
    if (mproc_event_set(events[i]) != MPROC_OK) return 22;
    if (mproc_semaphore_acquire(sems[i], 0) != MPROC_OK) return 23;
    long long v = -1;
    if (mproc_value_get(values[i], &v) != MPROC_OK || v != i) return 24;
    double d = i;
    if (mproc_array_write(arrays[i], 49, 1, &d) != MPROC_OK) return 25;
    if (mproc_condition_acquire(conds[i], 0) != MPROC_OK) return 26;
    if (mproc_condition_notify_all(conds[i]) != MPROC_OK) return 27;
    if (mproc_condition_release(conds[i]) != MPROC_OK) return 28;
    if (mproc_barrier_wait(barriers[i], nullptr) != MPROC_OK) return 29;
  }
  for (int i = 0; i < nothers; i++) {
    int set = 0;
    if (mproc_event_is_set(events[i], &set) != MPROC_OK || !set) return 30;
    unsigned sv = 9;
    if (mproc_semaphore_get_value(sems[i], &sv) != MPROC_OK || sv != 0)
      return 31;
    double d = -1;
    if (mproc_array_read(arrays[i], 49, 1, &d) != MPROC_OK || d != i)
      return 32;
  }
  for (auto *l : locks) mproc_lock_free(l);
  for (int i = 0; i < nothers; i++) {
    mproc_event_free(events[i]);
    mproc_semaphore_free(sems[i]);
    mproc_value_free(values[i]);
    mproc_array_free(arrays[i]);
    mproc_condition_free(conds[i]);
    mproc_barrier_free(barriers[i]);
  }
  return 0;
}

// Under the common limit of 1024 descriptors: 3000 Locks and 500 of every
// other kind, twice over, and the descriptor count is flat afterwards.
MPROC_TASK(many_objects_under_1024_fds) {
  (void)arg;
  (void)arg_len;
  struct rlimit lim;
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = 1024;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) return 2;
  int before = OpenFds();
  for (int pass = 0; pass < 2; pass++) {
    int step = CreateUseAndFreeMany(3000, 500);
    if (step != 0) return step + pass * 100;
  }
  int after = OpenFds();
  return after <= before + 8 ? 0 : 3;
}

TEST_P(AuditSyncTest, ThreeThousandLocksFitUnderAThousandDescriptors) {
  mproc_process_t *p = Start(many_objects_under_1024_fds, {});
  EXPECT_EQ(Finish(p), 0);
}

TEST(AuditArena, DescriptorsStayFlatAfterThousandsOfObjects) {
  int before = OpenFds();
  ASSERT_EQ(CreateUseAndFreeMany(2000, 300), 0);
  ASSERT_EQ(CreateUseAndFreeMany(2000, 300), 0);
  EXPECT_LE(OpenFds(), before + 8);
}

// Threads allocating and freeing at once never get the same slot: each
// holds every lock it made at the same time.
TEST(AuditArena, ThreadsAllocateDistinctSlots) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; t++)
    threads.emplace_back([t, &failures] {
      for (int round = 0; round < 5; round++) {
        std::vector<mproc_lock_t *> locks(300);
        for (auto &l : locks)
          if (mproc_lock_create(&l) != MPROC_OK) failures[t]++;
        for (auto *l : locks)
          if (mproc_lock_acquire(l, 0) != MPROC_OK) failures[t]++;
        for (auto *l : locks) mproc_lock_release(l);
        for (auto *l : locks) mproc_lock_free(l);
      }
    });
  for (auto &t : threads) t.join();
  for (int t = 0; t < 4; t++) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

// A child creates objects of its own while the parent does too: neither
// may hand out the other's slots (a forked child copies the parent's free
// list, but the slots behind it are shared).
MPROC_TASK(own_values_stay_put) {
  (void)arg;
  (void)arg_len;
  auto *ready = Attached<mproc_event_t>(0);
  auto *go = Attached<mproc_event_t>(1);
  std::vector<mproc_value_t *> mine(200);
  std::vector<mproc_lock_t *> locks(200);
  for (size_t i = 0; i < mine.size(); i++) {
    long long v = 7777;
    CHILD_EXPECT(mproc_value_create(&mine[i], 'q', &v) == MPROC_OK, 2);
    CHILD_EXPECT(mproc_lock_create(&locks[i]) == MPROC_OK, 3);
    CHILD_EXPECT(mproc_lock_acquire(locks[i], 0) == MPROC_OK, 4);
  }
  CHILD_EXPECT(mproc_event_set(ready) == MPROC_OK, 5);
  CHILD_EXPECT(mproc_event_wait(go, 20) == MPROC_OK, 6);
  for (size_t i = 0; i < mine.size(); i++) {
    long long v = 0;
    CHILD_EXPECT(mproc_value_get(mine[i], &v) == MPROC_OK, 7);
    CHILD_EXPECT(v == 7777, 8);
    CHILD_EXPECT(mproc_lock_release(locks[i]) == MPROC_OK, 9);
    mproc_value_free(mine[i]);
    mproc_lock_free(locks[i]);
  }
  return 0;
}

TEST_P(AuditSyncTest, ChildAndParentNeverShareNewSlots) {
  mproc_event_t *ready, *go;
  ASSERT_EQ(mproc_event_create(&ready), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&go), MPROC_OK);
  mproc_process_t *p = Start(own_values_stay_put, {ready, go});
  ASSERT_EQ(mproc_event_wait(ready, 30), MPROC_OK);
  std::vector<mproc_value_t *> ours(200);
  std::vector<mproc_lock_t *> locks(200);
  int free_locks = 0;
  for (size_t i = 0; i < ours.size(); i++) {
    long long v = 1;
    ASSERT_EQ(mproc_value_create(&ours[i], 'q', &v), MPROC_OK);
    ASSERT_EQ(mproc_lock_create(&locks[i]), MPROC_OK);
    free_locks += mproc_lock_acquire(locks[i], 0) == MPROC_OK;
  }
  EXPECT_EQ(free_locks, 200);  // none of them is a lock the child holds
  mproc_event_set(go);
  EXPECT_EQ(Finish(p), 0);
  for (size_t i = 0; i < ours.size(); i++) {
    long long v = 0;
    mproc_value_get(ours[i], &v);
    EXPECT_EQ(v, 1) << i;
    mproc_value_free(ours[i]);
    mproc_lock_free(locks[i]);
  }
  mproc_event_free(ready);
  mproc_event_free(go);
}

// 1500 Locks attached to one child: it holds a few descriptors for them
// (one per arena segment), not one each, and every lock works there.
MPROC_TASK(use_many_attached_locks) {
  (void)arg_len;
  int n = *static_cast<const int *>(arg);
  CHILD_EXPECT(OpenFds() < 100, 2);
  for (int i = 0; i < n; i++) {
    auto *lock = Attached<mproc_lock_t>(i);
    CHILD_EXPECT(mproc_lock_acquire(lock, 0) == MPROC_OK, 3);
  }
  for (int i = 0; i < n; i++)
    CHILD_EXPECT(mproc_lock_release(Attached<mproc_lock_t>(i)) == MPROC_OK, 4);
  return 0;
}

TEST_P(AuditSyncTest, ManyAttachedLocksCostTheChildFewDescriptors) {
  const int n = 1500;
  std::vector<mproc_lock_t *> locks(n);
  mproc_process_t *p = nullptr;
  ASSERT_EQ(mproc_process_create(&p, Ctx(), use_many_attached_locks, &n,
                                 sizeof n),
            MPROC_OK);
  for (auto &l : locks) {
    ASSERT_EQ(mproc_lock_create(&l), MPROC_OK);
    ASSERT_EQ(mproc_process_attach(p, l), MPROC_OK) << mproc_last_error();
  }
  ASSERT_EQ(mproc_process_start(p), MPROC_OK) << mproc_last_error();
  EXPECT_EQ(Finish(p), 0);
  for (auto *l : locks) {  // the child released them all
    EXPECT_EQ(mproc_lock_acquire(l, 0), MPROC_OK);
    mproc_lock_release(l);
    mproc_lock_free(l);
  }
}

// Every shared segment (memfd) this process has open, as (device, inode):
// a segment open twice shows as the same pair twice.
bool SomeFileIsOpenTwice() {
  std::set<std::pair<dev_t, ino_t>> seen;
  bool twice = false;
  if (DIR *d = opendir("/proc/self/fd")) {
    int self = dirfd(d);
    while (dirent *e = readdir(d)) {
      if (e->d_name[0] == '.' || atoi(e->d_name) == self) continue;
      // Shared segments only (memfds): standard output and error may well
      // be one file.
      char path[300], link[256];
      snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
      ssize_t n = readlink(path, link, sizeof link - 1);
      if (n <= 0) continue;
      link[n] = '\0';
      if (strncmp(link, "/memfd:", 7) != 0) continue;
      struct stat sb;
      if (fstat(atoi(e->d_name), &sb) != 0) continue;
      twice |= !seen.insert({sb.st_dev, sb.st_ino}).second;
    }
    closedir(d);
  }
  return twice;
}

MPROC_TASK(no_segment_open_twice) {
  (void)arg;
  (void)arg_len;
  CHILD_EXPECT(!SomeFileIsOpenTwice(), 2);
  CHILD_EXPECT(mproc_lock_acquire(Attached<mproc_lock_t>(0), 0) == MPROC_OK, 3);
  CHILD_EXPECT(mproc_event_set(Attached<mproc_event_t>(1)) == MPROC_OK, 4);
  return 0;
}

// Found in review: the sync kinds' imports duplicated the inherited handle
// but never closed the original, so a spawned child kept every arena
// segment (and every large array's segment) open twice.
TEST_P(AuditSyncTest, AChildKeepsNoInheritedCopyOfASegment) {
  mproc_lock_t *lock;
  mproc_event_t *event;
  mproc_array_t *big;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&event), MPROC_OK);
  ASSERT_EQ(mproc_array_create(&big, 'd', 100000, nullptr), MPROC_OK);
  mproc_process_t *p = nullptr;
  ASSERT_EQ(mproc_process_create(&p, Ctx(), no_segment_open_twice, nullptr, 0),
            MPROC_OK);
  for (void *o : {(void *)lock, (void *)event, (void *)big})
    ASSERT_EQ(mproc_process_attach(p, o), MPROC_OK);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK) << mproc_last_error();
  EXPECT_EQ(Finish(p), 0);
  int set = 0;
  EXPECT_EQ(mproc_event_is_set(event, &set), MPROC_OK);
  EXPECT_TRUE(set);
  mproc_array_free(big);
  mproc_event_free(event);
  mproc_lock_free(lock);
}

// A child that frees the objects it was given releases only its view: it
// never hands their slots out again, and the parent keeps using them.
MPROC_TASK(free_given_then_allocate) {
  (void)arg;
  (void)arg_len;
  auto *lock = Attached<mproc_lock_t>(0);
  auto *value = Attached<mproc_value_t>(1);
  auto *done = Attached<mproc_event_t>(2);
  auto *go = Attached<mproc_event_t>(3);
  CHILD_EXPECT(mproc_lock_free(lock) == MPROC_OK, 2);
  CHILD_EXPECT(mproc_value_free(value) == MPROC_OK, 3);
  std::vector<mproc_lock_t *> locks(50);
  std::vector<mproc_value_t *> values(50);
  for (size_t i = 0; i < locks.size(); i++) {
    long long v = 666;
    CHILD_EXPECT(mproc_lock_create(&locks[i]) == MPROC_OK, 4);
    CHILD_EXPECT(mproc_lock_acquire(locks[i], 0) == MPROC_OK, 5);
    CHILD_EXPECT(mproc_value_create(&values[i], 'q', &v) == MPROC_OK, 6);
  }
  CHILD_EXPECT(mproc_event_set(done) == MPROC_OK, 7);
  CHILD_EXPECT(mproc_event_wait(go, 20) == MPROC_OK, 8);
  for (size_t i = 0; i < locks.size(); i++) {
    mproc_lock_release(locks[i]);
    mproc_lock_free(locks[i]);
    mproc_value_free(values[i]);
  }
  return 0;
}

TEST_P(AuditSyncTest, ChildFreeingGivenObjectsLeavesThemToTheParent) {
  mproc_lock_t *lock;
  mproc_value_t *value;
  mproc_event_t *done, *go;
  long long five = 5;
  ASSERT_EQ(mproc_lock_create(&lock), MPROC_OK);
  ASSERT_EQ(mproc_value_create(&value, 'q', &five), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&done), MPROC_OK);
  ASSERT_EQ(mproc_event_create(&go), MPROC_OK);
  mproc_process_t *p = Start(free_given_then_allocate, {lock, value, done, go});
  EXPECT_EQ(mproc_event_wait(done, 30), MPROC_OK);
  EXPECT_EQ(mproc_lock_acquire(lock, 0), MPROC_OK);  // no child lock there
  EXPECT_EQ(mproc_lock_release(lock), MPROC_OK);
  long long v = 0;
  EXPECT_EQ(mproc_value_get(value, &v), MPROC_OK);
  EXPECT_EQ(v, 5);
  mproc_event_set(go);
  EXPECT_EQ(Finish(p), 0);
  mproc_lock_free(lock);
  mproc_value_free(value);
  mproc_event_free(done);
  mproc_event_free(go);
}

// Objects from the arena attached to a child work there: locked
// increments of values that share segments, and an own lock attached
// beside its value; a spawned child maps each shared segment once.
MPROC_TASK(increment_attached) {
  (void)arg_len;
  int n = *static_cast<const int *>(arg);
  int fds_before = OpenFds();
  for (int i = 0; i < n; i++) {
    auto *lock = Attached<mproc_lock_t>(2 * i);
    auto *value = Attached<mproc_value_t>(2 * i + 1);
    for (int k = 0; k < 100; k++) {
      CHILD_EXPECT(mproc_lock_acquire(lock, 10) == MPROC_OK, 2);
      long long v = 0;
      CHILD_EXPECT(mproc_value_get(value, &v) == MPROC_OK, 3);
      v++;
      CHILD_EXPECT(mproc_value_set(value, &v) == MPROC_OK, 4);
      CHILD_EXPECT(mproc_lock_release(lock) == MPROC_OK, 5);
    }
  }
  return OpenFds() == fds_before ? 0 : 6;
}

TEST_P(AuditSyncTest, AttachedArenaObjectsWorkInChildren) {
  const int n = 40;
  std::vector<mproc_lock_t *> locks(n);
  std::vector<mproc_value_t *> values(n);
  std::vector<void *> objects;
  for (int i = 0; i < n; i++) {
    ASSERT_EQ(mproc_lock_create(&locks[i]), MPROC_OK);
    ASSERT_EQ(mproc_value_create(&values[i], 'q', nullptr), MPROC_OK);
    objects.push_back(locks[i]);
    objects.push_back(values[i]);
  }
  int fds_before = OpenFds();
  std::vector<mproc_process_t *> children;
  for (int c = 0; c < 2; c++) {
    mproc_process_t *p = nullptr;
    ASSERT_EQ(mproc_process_create(&p, Ctx(), increment_attached, &n,
                                   sizeof n),
              MPROC_OK);
    for (void *o : objects)
      ASSERT_EQ(mproc_process_attach(p, o), MPROC_OK) << mproc_last_error();
    ASSERT_EQ(mproc_process_start(p), MPROC_OK) << mproc_last_error();
    children.push_back(p);
  }
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 100; k++) {
      ASSERT_EQ(mproc_lock_acquire(locks[i], 10), MPROC_OK);
      long long v = 0;
      mproc_value_get(values[i], &v);
      v++;
      mproc_value_set(values[i], &v);
      mproc_lock_release(locks[i]);
    }
  }
  for (auto *p : children) EXPECT_EQ(Finish(p), 0);
  for (int i = 0; i < n; i++) {
    long long v = 0;
    EXPECT_EQ(mproc_value_get(values[i], &v), MPROC_OK);
    EXPECT_EQ(v, 300) << i;
    mproc_value_free(values[i]);
    mproc_lock_free(locks[i]);
  }
  EXPECT_LE(OpenFds(), fds_before);
}

}  // namespace
