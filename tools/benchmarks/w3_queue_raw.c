/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3 raw-C baseline: 1 forked producer -> 1 consumer, N items of 64 bytes
 * through the best hand-written channel: a single-producer single-consumer
 * ring in shared memory (mmap MAP_SHARED), spin then futex to wait.
 *   w3_queue_raw [--items N]
 * Prints nanoseconds per item, timed from the producer's first item.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

#define ITEM 64
#define SLOTS 4096 /* power of two */

typedef struct {
  _Alignas(64) _Atomic uint64_t head;
  _Alignas(64) _Atomic uint64_t tail;
  _Alignas(64) _Atomic uint32_t seq; /* futex word for both sides */
  _Atomic uint32_t sleepers;
  _Alignas(64) char slots[SLOTS][ITEM];
} ring_t;

static void futex_wait(_Atomic uint32_t *w, uint32_t v) {
  syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w) {
  syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Spins, then sleeps until cond holds. */
#define WAIT_UNTIL(r, cond)                                  \
  do {                                                       \
    for (int spin = 0; !(cond); spin++) {                    \
      if (spin < 200) {                                      \
        __builtin_ia32_pause();                              \
        continue;                                            \
      }                                                      \
      atomic_fetch_add(&(r)->sleepers, 1);                   \
      uint32_t s = atomic_load(&(r)->seq);                   \
      if (!(cond)) futex_wait(&(r)->seq, s);                 \
      atomic_fetch_sub(&(r)->sleepers, 1);                   \
    }                                                        \
  } while (0)

static void wake(ring_t *r) {
  if (atomic_load(&r->sleepers)) {
    atomic_fetch_add(&r->seq, 1);
    futex_wake(&r->seq);
  }
}

static void produce(ring_t *r, long n) {
  char item[ITEM];
  memset(item, 'x', sizeof item);
  for (long i = -1; i < n; i++) { /* item -1 is the "go" */
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    WAIT_UNTIL(r, t - atomic_load(&r->head) < SLOTS);
    memcpy(item, &i, sizeof i);
    memcpy(r->slots[t % SLOTS], item, ITEM);
    atomic_store(&r->tail, t + 1);
    wake(r);
  }
}

static void consume_one(ring_t *r, char *item) {
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  WAIT_UNTIL(r, atomic_load(&r->tail) != h);
  memcpy(item, r->slots[h % SLOTS], ITEM);
  atomic_store(&r->head, h + 1);
  wake(r);
}

int main(int argc, char **argv) {
  long n = bench_count_arg(argc, argv, "--items", 200000);
  ring_t *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) bench_die("mmap");
  pid_t pid = fork();
  if (pid < 0) bench_die("fork");
  if (pid == 0) {
    produce(r, n);
    _exit(0);
  }
  char item[ITEM];
  consume_one(r, item);
  double start = bench_now();
  for (long i = 0; i < n; i++) {
    consume_one(r, item);
    long seq;
    memcpy(&seq, item, sizeof seq);
    if (seq != i) bench_die("item %ld out of order", i);
  }
  double elapsed = bench_now() - start;
  waitpid(pid, NULL, 0);
  bench_report(elapsed / (double)n * 1e9);
  return 0;
}
