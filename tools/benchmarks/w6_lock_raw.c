/* SPDX-License-Identifier: Apache-2.0 */
/* W6 in raw C: a process-shared pthread mutex in shared memory, locked and
 * unlocked N times (default 1e6).
 * Clock window: the N pairs after an untimed pass of N.
 * Prints nanoseconds per pair. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>

#include "tools/benchmarks/bench_util.h"

int main(int argc, char **argv) {
  long n = bench_count_arg(argc, argv, "--iterations", 1000000);
  pthread_mutex_t *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) bench_die("mmap");
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (pthread_mutex_init(m, &attr) != 0) bench_die("pthread_mutex_init");
  for (int round = 0; round < 2; round++) {
    double start = bench_now();
    for (long i = 0; i < n; i++) {
      if (pthread_mutex_lock(m) != 0 || pthread_mutex_unlock(m) != 0)
        bench_die("mutex");
    }
    if (round == 1) bench_report((bench_now() - start) / (double)n * 1e9);
  }
  return 0;
}
