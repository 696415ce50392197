/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3.latency raw-C baseline: N round trips of one 64-byte item between
 * this process and a forked child through two one-slot mailboxes in shared
 * memory, each a futex word: the best hand-written ping-pong (spin
 * briefly, then FUTEX_WAIT; the writer wakes only a reader that said it
 * sleeps).
 *   w3_latency_raw [--rounds N]
 * Clock window: N round trips after 100 untimed ones.
 * Prints microseconds per round trip.
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
#define SLEEPING 0x80000000u

/* seq: the number of items written (low 31 bits), SLEEPING set by a
 * reader about to sleep and cleared by the writer that wakes it. */
typedef struct {
  _Alignas(64) _Atomic uint32_t seq;
  char item[ITEM];
} mailbox_t;

static void post(mailbox_t *m, const char *item, uint32_t n) {
  memcpy(m->item, item, ITEM);
  if (atomic_exchange(&m->seq, n) & SLEEPING)
    syscall(SYS_futex, &m->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void take(mailbox_t *m, char *item, uint32_t n) {
  for (int spin = 0;; spin++) {
    uint32_t s = atomic_load(&m->seq);
    if ((s & ~SLEEPING) == n) break;
    if (spin < spins) {
      __builtin_ia32_pause();
      continue;
    }
    if (atomic_compare_exchange_strong(&m->seq, &s, s | SLEEPING))
      syscall(SYS_futex, &m->seq, FUTEX_WAIT, s | SLEEPING, NULL, NULL, 0);
  }
  memcpy(item, m->item, ITEM);
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
  long n = bench_count_arg(argc, argv, "--rounds", 50000);
  mailbox_t *box = mmap(NULL, 2 * sizeof *box, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (box == MAP_FAILED) bench_die("mmap");
  mailbox_t *ping = &box[0], *pong = &box[1];
  char item[ITEM];
  memset(item, 'x', sizeof item);
  pid_t pid = fork();
  if (pid < 0) bench_die("fork");
  if (pid == 0) {
    for (uint32_t i = 1; i <= (uint32_t)(n + 100); i++) {
      take(ping, item, i);
      post(pong, item, i);
    }
    _exit(0);
  }
  double start = 0;
  for (uint32_t i = 1; i <= (uint32_t)(n + 100); i++) {
    if (i == 101) start = bench_now();
    memcpy(item, &i, sizeof i);
    post(ping, item, i);
    take(pong, item, i);
    uint32_t back;
    memcpy(&back, item, sizeof back);
    if (back != i) bench_die("wrong echo");
  }
  double elapsed = bench_now() - start;
  int status;
  if (waitpid(pid, &status, 0) != pid || status != 0)
    bench_die("the child failed");
  bench_report(elapsed / (double)n * 1e6);
  return 0;
}
