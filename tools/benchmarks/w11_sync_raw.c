/* SPDX-License-Identifier: Apache-2.0 */
/* W11 in raw C, 2 forked processes, N cycles (default 10000):
 *   --barrier  a process-shared pthread_barrier_t, waited on N times;
 *   --event    ping-pong over two futex flags (a hand-written event: set =
 *              store 1 + FUTEX_WAKE when someone sleeps, wait = FUTEX_WAIT
 *              while 0, clear = store 0).
 * Clock window: the N cycles after one untimed one.
 * Prints microseconds per cycle. */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

typedef struct {
  uint32_t flag;
  uint32_t sleepers;
} event_t;

typedef struct {
  pthread_barrier_t barrier;
  event_t ping, pong;
} shared_t;

static void event_set(event_t *e) {
  if (__atomic_exchange_n(&e->flag, 1, __ATOMIC_SEQ_CST) == 0 &&
      __atomic_load_n(&e->sleepers, __ATOMIC_SEQ_CST))
    syscall(SYS_futex, &e->flag, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void event_wait(event_t *e) {
  while (__atomic_load_n(&e->flag, __ATOMIC_ACQUIRE) == 0) {
    __atomic_fetch_add(&e->sleepers, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &e->flag, FUTEX_WAIT, 0, NULL, NULL, 0);
    __atomic_fetch_sub(&e->sleepers, 1, __ATOMIC_SEQ_CST);
  }
}

static void event_clear(event_t *e) {
  __atomic_store_n(&e->flag, 0, __ATOMIC_SEQ_CST);
}

static void barrier_child(shared_t *s, long n) {
  for (long i = 0; i < n + 1; i++) pthread_barrier_wait(&s->barrier);
  _exit(0);
}

static void event_child(shared_t *s, long n) {
  for (long i = 0; i < n + 1; i++) {
    event_wait(&s->ping);
    event_clear(&s->ping);
    event_set(&s->pong);
  }
  _exit(0);
}

int main(int argc, char **argv) {
  long n = bench_count_arg(argc, argv, "--iterations", 10000);
  int barrier = argc > 1 && strcmp(argv[1], "--barrier") == 0;
  if (!barrier && !(argc > 1 && strcmp(argv[1], "--event") == 0))
    bench_die("--barrier or --event first");
  shared_t *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) bench_die("mmap");
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_barrier_init(&s->barrier, &attr, 2);
  pid_t pid = fork();
  if (pid < 0) bench_die("fork");
  if (pid == 0) barrier ? barrier_child(s, n) : event_child(s, n);
  double t0 = 0;
  for (long i = 0; i < n + 1; i++) {
    if (i == 1) t0 = bench_now(); /* cycle 0 is the warm-up */
    if (barrier) {
      pthread_barrier_wait(&s->barrier);
      continue;
    }
    event_set(&s->ping);
    event_wait(&s->pong);
    event_clear(&s->pong);
  }
  double elapsed = bench_now() - t0;
  int status;
  if (waitpid(pid, &status, 0) != pid || status != 0) bench_die("child failed");
  bench_report(elapsed / (double)n * 1e6);
  return 0;
}
