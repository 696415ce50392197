// SPDX-License-Identifier: Apache-2.0
// A program whose main calls mproc_init(0, NULL): its spawned children are
// recognised without argv, run their task, and leave nothing in the
// environment of what they start. This binary has its own main.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "mproc.h"
#include "platform/testing/testing.h"
#include "tests/test_util.h"

extern char **environ;

using namespace mproc_test;  // NOLINT: the suite's own helpers

namespace {

// Set by main before mproc_init: a process that gets past mproc_init with it
// set is a spawned child that was taken for a parent (it ran main again).
constexpr const char *kReranMain = "AUDIT_NOARGV_MAIN_RAN";
constexpr int kReranMainCode = 99;

MPROC_TASK(return_7) {
  (void)arg;
  (void)arg_len;
  return 7;
}

// 0 when no variable of mproc's spawn bootstrap is in the environment.
MPROC_TASK(check_environment) {
  (void)arg;
  (void)arg_len;
  for (char **e = environ; *e; e++)
    if (std::strncmp(*e, "MPROC_SPAWN", std::strlen("MPROC_SPAWN")) == 0)
      return 1;
  return 0;
}

// Starts a spawned grandchild and returns its exit code.
MPROC_TASK(spawn_grandchild) {
  (void)arg;
  (void)arg_len;
  mproc_context_t *ctx;
  mproc_process_t *p;
  int code = -1;
  if (mproc_get_context("spawn", &ctx) != MPROC_OK ||
      mproc_process_create(&p, ctx, return_7, nullptr, 0) != MPROC_OK ||
      mproc_process_start(p) != MPROC_OK ||
      mproc_process_join(p, 30) != MPROC_OK ||
      mproc_process_exitcode(p, &code) != MPROC_OK)
    return 200;
  mproc_process_free(p);
  return code;
}

class AuditNoArgv : public StartMethodTest {};

TEST_P(AuditNoArgv, AChildRunsItsTask) {
  Child c(ctx(), return_7);
  int code = c.RunToEnd();
  EXPECT_NE(kReranMainCode, code) << "the child ran main as a parent";
  EXPECT_EQ(7, code);
}

TEST_P(AuditNoArgv, TheChildsEnvironmentHoldsNoBootstrap) {
  Child c(ctx(), check_environment);
  EXPECT_EQ(0, c.RunToEnd());
}

TEST_P(AuditNoArgv, AChildCanSpawnAGrandchild) {
  Child c(ctx(), spawn_grandchild);
  EXPECT_EQ(7, c.RunToEnd(60));
}

MPROC_INSTANTIATE_FOR_START_METHODS(AuditNoArgv);

}  // namespace

int main(int argc, char **argv) {
  bool reran = getenv(kReranMain) != nullptr;
  mp_test_setenv(kReranMain, "1");
  if (mproc_init(0, nullptr) != MPROC_OK) {
    std::fprintf(stderr, "mproc_init: %s\n", mproc_last_error());
    return 1;
  }
  if (reran) return kReranMainCode;  // never run the tests again in a child
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
