// SPDX-License-Identifier: Apache-2.0
// What a POSIX-only test binary is on Windows (tests/posix_only.bzl): one
// test that skips and says why, so that the Windows run of the suite
// lists it instead of silently leaving it out.
#include <gtest/gtest.h>

#ifndef MPROC_POSIX_ONLY_WHY
#error "tests/posix_only.bzl defines MPROC_POSIX_ONLY_WHY"
#endif
#define MPROC_STRINGIFY2(x) #x
#define MPROC_STRINGIFY(x) MPROC_STRINGIFY2(x)

TEST(Windows, PosixOnlyBinary) {
  GTEST_SKIP() << "POSIX-only test binary, not built for Windows: it "
               << MPROC_STRINGIFY(MPROC_POSIX_ONLY_WHY);
}
