// SPDX-License-Identifier: Apache-2.0
// join without a timeout sleeps in waitid(WNOWAIT) and reaps under the
// reap lock (platform/posix/process.c): exit codes, signals, two threads
// joining one child, and a join after one that timed out.
#include <gtest/gtest.h>

#include "tests/start_methods.h"

#include <string>
#include <thread>

#include "mproc.h"

namespace {

// Returns the int it is given as its exit code.
MPROC_TASK(exit_with) {
  return arg_len == sizeof(int) ? *static_cast<const int *>(arg) : 100;
}

// Sleeps for the double it is given, then returns 5.
MPROC_TASK(sleep_then_5) {
  if (arg_len != sizeof(double)) return 100;
  mproc_sleep(*static_cast<const double *>(arg));
  return 5;
}

class JoinTest : public ::testing::TestWithParam<std::string> {
 protected:
  mproc_process_t *Start(mproc_task_fn task, const void *arg, size_t len) {
    mproc_context_t *ctx = nullptr;
    EXPECT_EQ(mproc_get_context(GetParam().c_str(), &ctx), MPROC_OK);
    mproc_process_t *p = nullptr;
    EXPECT_EQ(mproc_process_create(&p, ctx, task, arg, len), MPROC_OK);
    EXPECT_EQ(mproc_process_start(p), MPROC_OK) << mproc_last_error();
    return p;
  }
  static int ExitCode(mproc_process_t *p) {
    int code = 1000;
    EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK)
        << mproc_last_error();
    return code;
  }
};

TEST_P(JoinTest, WithoutTimeoutReturnsTheExitCode) {
  int code = 7;
  mproc_process_t *p = Start(exit_with, &code, sizeof code);
  ASSERT_EQ(mproc_process_join(p, MPROC_FOREVER), MPROC_OK)
      << mproc_last_error();
  EXPECT_EQ(ExitCode(p), 7);
  EXPECT_EQ(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);  // again: same
  EXPECT_EQ(ExitCode(p), 7);
  EXPECT_EQ(mproc_process_free(p), MPROC_OK);
}

TEST_P(JoinTest, WithoutTimeoutSeesAKill) {
  double seconds = 60;
  mproc_process_t *p = Start(sleep_then_5, &seconds, sizeof seconds);
  ASSERT_EQ(mproc_process_kill(p), MPROC_OK);
  ASSERT_EQ(mproc_process_join(p, MPROC_FOREVER), MPROC_OK)
      << mproc_last_error();
  EXPECT_EQ(ExitCode(p), -9);
  EXPECT_EQ(mproc_process_free(p), MPROC_OK);
}

TEST_P(JoinTest, TwoThreadsJoinOneChild) {
  double seconds = 0.2;
  mproc_process_t *p = Start(sleep_then_5, &seconds, sizeof seconds);
  mproc_status_t in_thread = MPROC_ESTATUS_COUNT_;
  std::thread other([&] { in_thread = mproc_process_join(p, MPROC_FOREVER); });
  mproc_status_t here = mproc_process_join(p, MPROC_FOREVER);
  other.join();
  EXPECT_EQ(here, MPROC_OK) << mproc_last_error();
  EXPECT_EQ(in_thread, MPROC_OK);
  EXPECT_EQ(ExitCode(p), 5);
  EXPECT_EQ(mproc_process_free(p), MPROC_OK);
}

TEST_P(JoinTest, WithoutTimeoutAfterOneThatTimedOut) {
  double seconds = 0.3;
  mproc_process_t *p = Start(sleep_then_5, &seconds, sizeof seconds);
  EXPECT_EQ(mproc_process_join(p, 0.01), MPROC_ETIMEDOUT);
  ASSERT_EQ(mproc_process_join(p, MPROC_FOREVER), MPROC_OK)
      << mproc_last_error();
  EXPECT_EQ(ExitCode(p), 5);
  EXPECT_EQ(mproc_process_free(p), MPROC_OK);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, JoinTest,
                         MPROC_START_METHODS,
                         [](const auto &info) { return info.param; });

}  // namespace
