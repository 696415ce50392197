// SPDX-License-Identifier: Apache-2.0
// What a POSIX-only test binary is on Windows (tests/posix_only.bzl): one
// test that skips and says why, so that the Windows run of the suite
// lists it instead of silently leaving it out.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#ifndef MPROC_POSIX_ONLY_WHY
#error "tests/posix_only.bzl defines MPROC_POSIX_ONLY_WHY"
#endif
#define MPROC_STRINGIFY2(x) #x
#define MPROC_STRINGIFY(x) MPROC_STRINGIFY2(x)

TEST(Windows, PosixOnlyBinary) {
  std::string why = MPROC_STRINGIFY(MPROC_POSIX_ONLY_WHY);
  std::replace(why.begin(), why.end(), '_', ' ');
  GTEST_SKIP() << "POSIX-only test binary, not built for Windows: it drives "
               << why;
}
