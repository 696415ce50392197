/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a POSIX raw baseline (futexes, fork, socketpair, posix_spawn) is
 * when built for Windows (--config=windows): a program that says so and
 * fails. The Windows baseline is w9_process_win32_raw (tools/bench
 * --windows W9.spawn).
 */
#include <stdio.h>

int main(void) {
  fputs("bench: this raw baseline is POSIX-only; on Windows see "
        "w9_process_win32_raw\n",
        stderr);
  return 2;
}
