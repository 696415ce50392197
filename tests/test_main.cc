// SPDX-License-Identifier: Apache-2.0
// main() for mproc's googletest binaries. mproc_init() comes first: in a
// child started by "spawn" (this same binary re-executed) it runs the
// child's MPROC_TASK and never returns, so gtest never starts there.
#include <gtest/gtest.h>

#include <cstdio>

#include "mproc.h"

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) {
    std::fprintf(stderr, "mproc_init: %s\n", mproc_last_error());
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
