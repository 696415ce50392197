// SPDX-License-Identifier: Apache-2.0
// Calls made before mproc_init() return MPROC_ENOINIT (the ones that need
// the runtime), and mproc_init honours MPROC_START_METHOD. This binary has
// its own main, which does not call mproc_init, and it never starts a
// child (a spawned one would not find its task without mproc_init).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "mproc.h"
#include "platform/testing/testing.h"

namespace {

MPROC_TASK(never_run) {
  (void)arg;
  (void)arg_len;
  return 0;
}

int saved_argc;
char **saved_argv;

void ExpectNoInit(mproc_status_t got, const char *call) {
  EXPECT_EQ(MPROC_ENOINIT, got) << call;
  EXPECT_NE(std::string::npos, std::string(mproc_last_error()).find("mproc_init"))
      << call << ": " << mproc_last_error();
}
#define EXPECT_NOINIT(call) ExpectNoInit((call), #call)

// One test, in order: before init, a refused init, then a good one.
TEST(Init, CallsBeforeInitAreRefusedThenInitEnablesThem) {
  mproc_context_t *ctx = nullptr;
  const char *method = nullptr;
  mproc_process_t *p = nullptr;
  void *object = nullptr;
  size_t count = 0;
  mproc_sentinel_t sentinel{};
  EXPECT_NOINIT(mproc_get_context("fork", &ctx));
  EXPECT_NOINIT(mproc_context_method(nullptr, &method));
  EXPECT_NOINIT(mproc_set_start_method("spawn"));
  EXPECT_NOINIT(mproc_process_create(&p, nullptr, never_run, nullptr, 0));
  EXPECT_NOINIT(mproc_attached(0, &object));
  EXPECT_NOINIT(mproc_current_process(&p));
  EXPECT_NOINIT(mproc_parent_process(&p));
  EXPECT_NOINIT(mproc_active_children(nullptr, 0, &count));
  EXPECT_NOINIT(mproc_wait(&sentinel, 1, nullptr, nullptr, 0));
  // These need no runtime.
  int cpus = 0;
  EXPECT_EQ(MPROC_OK, mproc_cpu_count(&cpus));
  EXPECT_EQ(MPROC_OK, mproc_sleep(0));
  EXPECT_NE(nullptr, mproc_all_start_methods());
  EXPECT_EQ(MPROC_OK, mproc_register_task("late", never_run));

  // An unknown MPROC_START_METHOD makes init fail, and changes nothing.
  ASSERT_EQ(0, mp_test_setenv("MPROC_START_METHOD", "teleport"));
  EXPECT_EQ(MPROC_EINVAL, mproc_init(saved_argc, saved_argv));
  EXPECT_NE(std::string::npos, std::string(mproc_last_error()).find("teleport"))
      << mproc_last_error();
  EXPECT_NOINIT(mproc_get_context("fork", &ctx));

  ASSERT_EQ(0, mp_test_setenv("MPROC_START_METHOD", "spawn"));
  ASSERT_EQ(MPROC_OK, mproc_init(saved_argc, saved_argv)) << mproc_last_error();
  ASSERT_EQ(0, mp_test_unsetenv("MPROC_START_METHOD"));
  EXPECT_EQ(MPROC_OK, mproc_context_method(nullptr, &method));
  EXPECT_STREQ("spawn", method) << "MPROC_START_METHOD chose the default";
  // Any context of the platform's own list now works (Windows has no fork).
  EXPECT_EQ(MPROC_OK, mproc_get_context(mproc_all_start_methods()[0], &ctx));
  EXPECT_EQ(MPROC_OK, mproc_current_process(&p));
  EXPECT_EQ(MPROC_OK, mproc_init(saved_argc, saved_argv)) << "twice is fine";
}

}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  saved_argc = argc;
  saved_argv = argv;
  return RUN_ALL_TESTS();
}
