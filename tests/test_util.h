/* SPDX-License-Identifier: Apache-2.0 */
// Helpers shared by mproc's googletest suites: a process handle that always
// cleans up, a portable child-to-parent channel (small files in the test's
// temporary directory), and clocks.
//
// Tasks run in another process, where a gtest assertion means nothing: a
// task reports through its exit code, or by writing a report file the test
// reads after the child ended.
#ifndef MPROC_TESTS_TEST_UTIL_H
#define MPROC_TESTS_TEST_UTIL_H

#include <gtest/gtest.h>

#include "tests/start_methods.h"

#include <cstdint>
#include <string>

#include "mproc.h"

namespace mproc_test {

// The context of a start method (a name from mproc_all_start_methods());
// fails the test if absent.
mproc_context_t *Context(const char *method);

// Seconds on a monotonic clock.
double Now();

// A fresh path in the test's temporary directory (nothing exists there).
std::string TempPath(const std::string &tag);

// Child side: writes text to path atomically (a temporary file, then a
// rename), so a reader never sees half of it. Returns false on failure.
bool WriteFileAtomically(const char *path, const std::string &text);
// The content of path, or "" when it does not exist.
std::string ReadFile(const std::string &path);

// A local address (the platform's own form: a Unix socket path, a Windows
// named pipe) nobody listens on: a listener's default one, closed again.
std::string UnusedLocalAddress();

// The int in v, or -999999 when v holds none.
int64_t IntOf(const mproc_obj_t *v);
// A new int value, and a new list of the ints 0 .. n-1 (a failing call is
// a test failure).
mproc_obj_t *Int(int64_t x);
mproc_obj_t *Range(int64_t n);
// This process's pid, as mproc_current_process gives it (-1 if not).
long Pid();
bool FileExists(const std::string &path);
// Waits up to timeout seconds for path to appear.
bool WaitForFile(const std::string &path, double timeout);

// A fixed-size C string that can travel as a task argument.
struct PathArg {
  char path[1024];
};
PathArg MakePathArg(const std::string &path);

// A process object that is killed, joined and closed when the test leaves,
// whatever happened, so that one failing test cannot leave children behind.
class Child {
 public:
  Child(mproc_context_t *ctx, mproc_task_fn fn, const void *arg = nullptr,
        size_t arg_len = 0);
  ~Child();
  Child(const Child &) = delete;
  Child &operator=(const Child &) = delete;

  mproc_process_t *get() const { return p_; }
  // Hands the object over to the test (which then closes it itself).
  mproc_process_t *Release();
  // start, then wait up to timeout seconds for the child to create path
  // (its "ready" signal); records a test failure and returns false if not.
  bool StartAndWaitFor(const std::string &path, double timeout = 10);
  // start; join up to timeout; the exit code (or a sentinel value with a
  // test failure recorded when a step fails).
  int RunToEnd(double timeout = 30);
  // join up to timeout, then the exit code (a test failure if it still runs).
  int JoinCode(double timeout = 30);
  bool IsAlive();
  long Pid();

 private:
  mproc_process_t *p_ = nullptr;
};

// A suite run once per start method: instantiate it with
// MPROC_INSTANTIATE_FOR_START_METHODS(Suite).
class StartMethodTest : public ::testing::TestWithParam<std::string> {
 protected:
  mproc_context_t *ctx() { return Context(method()); }
  const char *method() const { return GetParam().c_str(); }
  // The child is a fresh copy of the program (every method but fork):
  // registered targets only, no inherited descriptors, objects exported.
  bool fresh_program() const { return GetParam() != "fork"; }
};

#define MPROC_INSTANTIATE_FOR_START_METHODS(suite)                        \
  INSTANTIATE_TEST_SUITE_P(                                               \
      StartMethods, suite, MPROC_START_METHODS,            \
      [](const ::testing::TestParamInfo<std::string> &info) {             \
        return info.param;                                                \
      })

// An exit code no task returns: what RunToEnd gives when a step failed.
constexpr int kNoExitCode = -1000;

}  // namespace mproc_test

#endif
