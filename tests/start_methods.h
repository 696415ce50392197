/* SPDX-License-Identifier: Apache-2.0 */
// The start methods every crossed test runs under: the platform's own list
// (mproc_all_start_methods()), never a hard-coded one, so a platform without
// fork skips those cases and a new start method is covered at once.
#ifndef MPROC_TESTS_START_METHODS_H
#define MPROC_TESTS_START_METHODS_H

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mproc.h"

namespace mproc_test {

inline std::vector<std::string> StartMethodNames() {
  std::vector<std::string> names;
  for (const char *const *m = mproc_all_start_methods(); *m; m++)
    names.push_back(*m);
  return names;
}

// The same names as C strings (static storage: they outlive the tests).
inline std::vector<const char *> StartMethodCStrings() {
  std::vector<const char *> names;
  for (const char *const *m = mproc_all_start_methods(); *m; m++)
    names.push_back(*m);
  return names;
}

// Whether this platform has the start method (fork is not everywhere).
inline bool HasStartMethod(const std::string &method) {
  for (const std::string &m : StartMethodNames())
    if (m == method) return true;
  return false;
}

}  // namespace mproc_test

// Skips a test that needs a start method the platform lacks.
#define MPROC_SKIP_WITHOUT_START_METHOD(method)                     \
  do {                                                              \
    if (!::mproc_test::HasStartMethod(method))                      \
      GTEST_SKIP() << "no '" << (method) << "' start method here"; \
  } while (0)

// Every start method, as a googletest parameter generator: for suites
// whose parameter is a std::string, and for those whose is a const char *.
#define MPROC_START_METHODS \
  ::testing::ValuesIn(::mproc_test::StartMethodNames())
#define MPROC_START_METHOD_CSTRS \
  ::testing::ValuesIn(::mproc_test::StartMethodCStrings())

#endif
