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

}  // namespace mproc_test

// Every start method, as a googletest parameter generator: for suites
// whose parameter is a std::string, and for those whose is a const char *.
#define MPROC_START_METHODS \
  ::testing::ValuesIn(::mproc_test::StartMethodNames())
#define MPROC_START_METHOD_CSTRS \
  ::testing::ValuesIn(::mproc_test::StartMethodCStrings())

#endif
