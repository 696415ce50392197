/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3.queue raw-C baseline: 1 forked producer -> 1 consumer (this process),
 * N items of 64 bytes through the best hand-written channel: a
 * single-producer single-consumer ring of 64-byte slots in shared memory
 * (mmap MAP_SHARED), the same number of bytes as the mproc queue's ring.
 *   w3_queue_raw [--items N] [--capacity BYTES]
 *
 * What makes it good (and what mproc's queue must match):
 *  - each side caches the other side's index and reads it again only when
 *    the ring looks full (producer) or empty (consumer);
 *  - waiting spins briefly, then sleeps on a futex word of its own
 *    direction (data for the consumer, room for the producer);
 *  - the *waker* clears the sleeper's mark (an exchange), so a sleeper that
 *    has not run yet costs the other side one wake-up call, not one per
 *    item (the wake storm of a sleeper that clears its own mark).
 *
 * Clock window: from the producer's first put (its timestamp travels in
 * item 0) to the consumer's last get: the whole transfer.
 * Prints nanoseconds per item.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

#define ITEM 64
#define SPINS 200
static int spins; /* spins_for_this_machine() */

typedef struct {
  _Atomic uint32_t seq;     /* futex word: bumped by each wake-up */
  _Atomic uint32_t waiting; /* set by a sleeper, cleared by its waker */
} waitq_t;

typedef struct {
  uint64_t slots; /* a power of two */
  _Alignas(64) _Atomic uint64_t head;
  _Alignas(64) _Atomic uint64_t tail;
  _Alignas(64) waitq_t data; /* the consumer sleeps here */
  _Alignas(64) waitq_t room; /* the producer sleeps here */
  _Alignas(64) char ring[][ITEM];
} ring_t;

static void sleep_on(waitq_t *q, uint32_t seq) {
  syscall(SYS_futex, &q->seq, FUTEX_WAIT, seq, NULL, NULL, 0);
}

static void wake(waitq_t *q) {
  if (atomic_load(&q->waiting) && atomic_exchange(&q->waiting, 0)) {
    atomic_fetch_add(&q->seq, 1);
    syscall(SYS_futex, &q->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
  }
}

/* Spins, then sleeps on q until ready(r, arg) is nonzero. */
static void wait_for(waitq_t *q, int (*ready)(ring_t *, uint64_t), ring_t *r,
                     uint64_t arg) {
  for (int spin = 0; !ready(r, arg); spin++) {
    if (spin < spins) {
      __builtin_ia32_pause();
      continue;
    }
    uint32_t seq = atomic_load(&q->seq);
    atomic_store(&q->waiting, 1);
    if (!ready(r, arg)) sleep_on(q, seq);
  }
}

static int has_room(ring_t *r, uint64_t tail) {
  return tail - atomic_load(&r->head) < r->slots;
}

static int has_data(ring_t *r, uint64_t head) {
  return atomic_load(&r->tail) != head;
}

static void produce(ring_t *r, long n) {
  char item[ITEM];
  memset(item, 'x', sizeof item);
  uint64_t tail = 0, head_seen = 0;
  double start = bench_now();
  memcpy(item + 8, &start, sizeof start); /* read from item 0 */
  for (long i = 0; i < n; i++) {
    if (tail - head_seen >= r->slots) {
      wait_for(&r->room, has_room, r, tail);
      head_seen = atomic_load(&r->head);
    }
    memcpy(item, &i, sizeof i);
    memcpy(r->ring[tail & (r->slots - 1)], item, ITEM);
    atomic_store(&r->tail, ++tail);
    wake(&r->data);
  }
}

/* Spinning only pays when the other side can run meanwhile: with one CPU
 * to run on (taskset, a cgroup), sleep at once. */
static int spins_for_this_machine(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return SPINS;
  return CPU_COUNT(&set) > 1 ? SPINS : 0;
}

int main(int argc, char **argv) {
  spins = spins_for_this_machine();
  long n = bench_count_arg(argc, argv, "--items", 200000);
  long capacity = bench_count_arg(argc, argv, "--capacity", 256 * 1024);
  uint64_t slots = 1;
  while (slots * ITEM < (uint64_t)capacity) slots *= 2;
  size_t size = sizeof(ring_t) + slots * ITEM;
  ring_t *r = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) bench_die("mmap");
  r->slots = slots;
  pid_t pid = fork();
  if (pid < 0) bench_die("fork");
  if (pid == 0) {
    produce(r, n);
    _exit(0);
  }
  char item[ITEM];
  double start = 0;
  uint64_t head = 0, tail_seen = 0;
  for (long i = 0; i < n; i++) {
    if (head == tail_seen) {
      wait_for(&r->data, has_data, r, head);
      tail_seen = atomic_load(&r->tail);
    }
    memcpy(item, r->ring[head & (slots - 1)], ITEM);
    atomic_store(&r->head, ++head);
    wake(&r->room);
    long seq;
    memcpy(&seq, item, sizeof seq);
    if (seq != i) bench_die("item %ld out of order", i);
    if (i == 0) memcpy(&start, item + 8, sizeof start);
  }
  double elapsed = bench_now() - start;
  int status;
  if (waitpid(pid, &status, 0) != pid || status != 0)
    bench_die("the producer failed");
  bench_report(elapsed / (double)n * 1e9);
  return 0;
}
