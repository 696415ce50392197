/* SPDX-License-Identifier: Apache-2.0 */
/* W6 with mproc: uncontended Lock acquire+release, N times (default 1e6).
 * Clock window: the N pairs after an untimed pass of N.
 * Prints nanoseconds per acquire+release pair. */
#include "mproc.h"
#include "tools/benchmarks/bench_util.h"

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) bench_die("%s", mproc_last_error());
  long n = bench_count_arg(argc, argv, "--iterations", 1000000);
  mproc_lock_t *lock;
  if (mproc_lock_create(&lock) != MPROC_OK) bench_die("%s", mproc_last_error());
  for (int round = 0; round < 2; round++) { /* untimed warm-up, then timed */
    double start = bench_now();
    for (long i = 0; i < n; i++) {
      if (mproc_lock_acquire(lock, MPROC_FOREVER) != MPROC_OK ||
          mproc_lock_release(lock) != MPROC_OK)
        bench_die("%s", mproc_last_error());
    }
    if (round == 1) bench_report((bench_now() - start) / (double)n * 1e9);
  }
  mproc_lock_free(lock);
  return 0;
}
