// SPDX-License-Identifier: Apache-2.0
// Helpers for the POSIX-only suites (they wait for pids themselves).
#ifndef MPROC_TESTS_POSIX_TEST_UTIL_H
#define MPROC_TESTS_POSIX_TEST_UTIL_H

#include <errno.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "mproc.h"
#include "tests/test_util.h"

namespace mproc_test {

// Waits up to timeout seconds for our child (or an orphan we adopt, which
// may take a moment) pid to end; its wait status, or -1 if it did not.
inline int ReapWithin(pid_t pid, double timeout) {
  double deadline = Now() + timeout;
  for (;;) {
    int status = 0;
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return status;
    if ((got < 0 && errno != ECHILD) || Now() > deadline) return -1;
    mproc_sleep(0.01);
  }
}

}  // namespace mproc_test

#endif
