// SPDX-License-Identifier: Apache-2.0
// Two translation units each define MPROC_TASK(worker) (and both include a
// header that defines MPROC_TASK(header_worker)): under every start method
// each process object runs its own function, and a spawned child finds the
// right one. A public name registered twice for different functions is
// still a clear error that names the first registration.
#include <gtest/gtest.h>

#include <string>

#include "mproc.h"
#include "tests/test_util.h"

#define AUDIT_TWIN_CODE 10
#include "tests/audit_twin_tasks.h"

mproc_task_fn WorkerOfFileB();
mproc_task_fn HeaderWorkerOfFileB();
mproc_task_fn BarrierActionOfFileB();

using namespace mproc_test;  // NOLINT: the suite's own helpers

namespace {

MPROC_TASK(worker) {
  (void)arg;
  (void)arg_len;
  return 10;
}

// Succeeds, where file B's action of the same name fails.
MPROC_TASK(barrier_action) {
  (void)arg;
  (void)arg_len;
  return 0;
}

// Waits on the attached one-party barrier: its action runs here.
// 0: the action succeeded; 1: it broke the barrier; 2: another failure.
MPROC_TASK(pass_barrier) {
  (void)arg;
  (void)arg_len;
  void *obj = nullptr;
  if (mproc_attached(0, &obj) != MPROC_OK) return 2;
  mproc_status_t st =
      mproc_barrier_wait_timeout(static_cast<mproc_barrier_t *>(obj), nullptr, 10);
  return st == MPROC_OK ? 0 : st == MPROC_EBROKEN ? 1 : 2;
}

int public_task(const void *, size_t) { return 30; }
int other_public_task(const void *, size_t) { return 31; }

class AuditTwinTasks : public StartMethodTest {};

TEST_P(AuditTwinTasks, SameNameInTwoFilesRunsEachOwnFunction) {
  Child ours(ctx(), worker), theirs(ctx(), WorkerOfFileB());
  EXPECT_EQ(10, ours.RunToEnd()) << mproc_last_error();
  EXPECT_EQ(20, theirs.RunToEnd()) << mproc_last_error();
}

TEST_P(AuditTwinTasks, SameNameInOneHeaderIncludedTwiceRunsEachOwnFunction) {
  Child ours(ctx(), header_worker), theirs(ctx(), HeaderWorkerOfFileB());
  EXPECT_EQ(11, ours.RunToEnd()) << mproc_last_error();
  EXPECT_EQ(21, theirs.RunToEnd()) << mproc_last_error();
}

// A barrier's action travels by the same key: the child runs the right one.
TEST_P(AuditTwinTasks, BarrierActionsOfTheSameNameStayApart) {
  mproc_task_fn actions[] = {barrier_action, BarrierActionOfFileB()};
  for (int i = 0; i < 2; i++) {
    mproc_barrier_t *b = nullptr;
    ASSERT_EQ(MPROC_OK, mproc_barrier_create(&b, 1, actions[i], nullptr, 0, 10))
        << mproc_last_error();
    Child c(ctx(), pass_barrier);
    ASSERT_EQ(MPROC_OK, mproc_process_attach(c.get(), b));
    EXPECT_EQ(i, c.RunToEnd()) << "action of file " << (i ? "b" : "a");
    mproc_barrier_free(b);
  }
}

MPROC_INSTANTIATE_FOR_START_METHODS(AuditTwinTasks);

TEST(AuditTwinRegister, APublicNameTakenTwiceNamesTheFirst) {
  ASSERT_EQ(MPROC_OK, mproc_register_task("twin_public", public_task));
  EXPECT_EQ(MPROC_OK, mproc_register_task("twin_public", public_task))
      << "the same pair again is fine";
  EXPECT_EQ(MPROC_ESTATE,
            mproc_register_task("twin_public", other_public_task));
  std::string why = mproc_last_error();
  EXPECT_NE(std::string::npos, why.find("twin_public")) << why;
  EXPECT_NE(std::string::npos, why.find("mproc_register_task")) << why;
  // A name MPROC_TASK uses is named with its file.
  EXPECT_EQ(MPROC_ESTATE, mproc_register_task("worker", other_public_task));
  why = mproc_last_error();
  EXPECT_NE(std::string::npos, why.find("audit_twin_")) << why;
}

// A name that could not be told apart from a task key is refused, and a
// load-time entry added twice is not linked to itself (the registry would
// loop for ever on the next lookup).
TEST(AuditTwinRegister, OddNamesAndEntriesAddedTwice) {
  EXPECT_EQ(MPROC_EINVAL, mproc_register_task("a\x1f" "b", public_task));
  static mproc_task_entry_t twice = {"added_twice", other_public_task, nullptr,
                                     nullptr};
  mproc_task_entry_add_(&twice);
  mproc_task_entry_add_(&twice);
  EXPECT_EQ(MPROC_OK, mproc_register_task("added_twice", other_public_task));
  EXPECT_EQ(MPROC_OK, mproc_register_task("after_twice", public_task));
}

}  // namespace
