// Found by the outside audit (docs/sync.md): a Barrier's action calling its
// own barrier, under every start method.
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
  if (mode == kWait) st = mproc_barrier_wait_timeout(g_barrier, 1, nullptr);
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
  Record(kLastStatus, (int)mproc_barrier_wait_timeout(g_barrier, 20, nullptr));
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
      [&] { run.first = mproc_barrier_wait_timeout(b, 15, nullptr); });
  if (mproc_process_join(p, 10) != MPROC_OK) {
    ADD_FAILURE() << "the last party hangs in the barrier's action";
    mproc_process_kill(p);
    mproc_process_join(p, 10);
  }
  waiter.join();
  int code = -1;
  mproc_process_exitcode(p, &code);
  EXPECT_EQ(code, 0);
  mproc_process_close(p);
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

}  // namespace
