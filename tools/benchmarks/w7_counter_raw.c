/* SPDX-License-Identifier: Apache-2.0 */
/* W7 in raw C: 4 forked processes x 100k increments of an int in shared
 * memory under a process-shared pthread mutex, or with --atomic a
 * __atomic_fetch_add. Children wait for a go flag; timed from go to the
 * last waitpid. Prints nanoseconds per increment. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

typedef struct {
  pthread_mutex_t mutex;
  int counter;
  int ready;
  int go;
} shared_t;

static void child(shared_t *s, long n, int atomic) {
  __atomic_fetch_add(&s->ready, 1, __ATOMIC_SEQ_CST);
  while (!__atomic_load_n(&s->go, __ATOMIC_ACQUIRE)) sched_yield();
  for (long i = 0; i < n; i++) {
    if (atomic) {
      __atomic_fetch_add(&s->counter, 1, __ATOMIC_SEQ_CST);
      continue;
    }
    pthread_mutex_lock(&s->mutex);
    s->counter += 1;
    pthread_mutex_unlock(&s->mutex);
  }
  _exit(0);
}

static double run(long n, int processes, int atomic) {
  shared_t *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) bench_die("mmap");
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&s->mutex, &attr);
  pid_t pids[64];
  for (int i = 0; i < processes; i++) {
    pids[i] = fork();
    if (pids[i] < 0) bench_die("fork");
    if (pids[i] == 0) child(s, n, atomic);
  }
  while (__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) < processes)
    sched_yield();
  double start = bench_now();
  __atomic_store_n(&s->go, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < processes; i++) {
    int status;
    if (waitpid(pids[i], &status, 0) != pids[i] || status != 0)
      bench_die("child failed");
  }
  double elapsed = bench_now() - start;
  if (s->counter != processes * n) bench_die("lost increments");
  munmap(s, sizeof *s);
  return elapsed;
}

int main(int argc, char **argv) {
  long n = bench_count_arg(argc, argv, "--iterations", 100000);
  int processes = (int)bench_count_arg(argc, argv, "--processes", 4);
  int atomic = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--atomic") == 0) atomic = 1;
  if (processes > 64) bench_die("at most 64 processes");
  run(n, processes, atomic);
  double elapsed = run(n, processes, atomic);
  bench_report(elapsed / ((double)processes * (double)n) * 1e9);
  return 0;
}
