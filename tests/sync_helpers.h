/* SPDX-License-Identifier: Apache-2.0 */
// Helpers shared by the tests of docs/sync.md: starting a child with
// objects attached, under the start method the test is parameterised on.
#ifndef MPROC_TESTS_SYNC_HELPERS_H
#define MPROC_TESTS_SYNC_HELPERS_H

#include <gtest/gtest.h>

#include "tests/start_methods.h"

#include <initializer_list>
#include <string>

#include "mproc.h"

// A test suite parameterised over every start method (mproc_all_start_methods).
class MethodTest : public ::testing::TestWithParam<const char *> {
 protected:
  mproc_context_t *Ctx() {
    mproc_context_t *ctx = nullptr;
    EXPECT_EQ(mproc_get_context(GetParam(), &ctx), MPROC_OK);
    return ctx;
  }

  // Starts task(arg) with objects attached in order; fails the test on error.
  mproc_process_t *Start(mproc_task_fn task,
                         std::initializer_list<void *> objects,
                         const void *arg = nullptr, size_t arg_len = 0) {
    mproc_process_t *p = nullptr;
    EXPECT_EQ(mproc_process_create(&p, Ctx(), task, arg, arg_len), MPROC_OK)
        << mproc_last_error();
    for (void *o : objects)
      EXPECT_EQ(mproc_process_attach(p, o), MPROC_OK) << mproc_last_error();
    EXPECT_EQ(mproc_process_start(p), MPROC_OK) << mproc_last_error();
    return p;
  }

  // Joins (within 30 s), closes, and returns the exit code.
  int Finish(mproc_process_t *p) {
    int code = -1000;
    EXPECT_EQ(mproc_process_join(p, 30), MPROC_OK) << mproc_last_error();
    EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
    EXPECT_EQ(mproc_process_free(p), MPROC_OK);
    return code;
  }
};

#define INSTANTIATE_METHODS(suite)                                       \
  INSTANTIATE_TEST_SUITE_P(Methods, suite,                               \
                           MPROC_START_METHOD_CSTRS,           \
                           [](const ::testing::TestParamInfo<const char *> \
                                  &info) { return std::string(info.param); })

// In a child: the index-th attached object, or exit code 100+index.
template <typename T>
T *Attached(size_t index) {
  void *o = nullptr;
  if (mproc_attached(index, &o) != MPROC_OK) exit(100 + (int)index);
  return static_cast<T *>(o);
}

// In a child: turns a failed expectation into a distinctive exit code.
#define CHILD_EXPECT(cond, code) \
  do {                           \
    if (!(cond)) return (code);  \
  } while (0)

#endif
