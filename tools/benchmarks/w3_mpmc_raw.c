/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3.mpmc raw-C baseline: P forked producers -> P forked consumers, N items
 * of 64 bytes in all, through a ring of 64-byte slots in shared memory with
 * one process-shared mutex per side (producers serialise on one, consumers
 * on the other), futex waits with the waker clearing the sleeper's mark.
 *   w3_mpmc_raw [--items N] [--processes P] [--capacity BYTES]
 * Every item is counted: consumers add up how many they got and a checksum
 * of (producer, sequence); the parent checks both.
 * Clock window: from the go signal to the last consumer's end (the parent
 * puts one stop item per consumer after the producers are done).
 * Prints nanoseconds per item.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
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
#define STOP UINT32_MAX

typedef struct {
  _Atomic uint32_t seq;
  _Atomic uint32_t waiting;
} waitq_t;

typedef struct {
  uint32_t producer, seq;
  char pad[ITEM - 8];
} item_t;

typedef struct {
  uint64_t slots;
  _Alignas(64) pthread_mutex_t put_lock;
  _Alignas(64) pthread_mutex_t get_lock;
  _Alignas(64) _Atomic uint64_t head;
  _Alignas(64) _Atomic uint64_t tail;
  _Alignas(64) waitq_t data, room, go;
  _Alignas(64) _Atomic uint64_t got, checksum;
  _Alignas(64) item_t ring[];
} ring_t;

static int spins;

static void wake(waitq_t *q, int all) {
  if (atomic_load(&q->waiting) && atomic_exchange(&q->waiting, 0)) {
    atomic_fetch_add(&q->seq, 1);
    syscall(SYS_futex, &q->seq, FUTEX_WAKE, all ? INT32_MAX : 1, NULL, NULL,
            0);
  }
}

static void wait_for(waitq_t *q, int (*ready)(ring_t *), ring_t *r) {
  for (int spin = 0; !ready(r); spin++) {
    if (spin < spins) {
      __builtin_ia32_pause();
      continue;
    }
    uint32_t seq = atomic_load(&q->seq);
    atomic_store(&q->waiting, 1);
    if (!ready(r))
      syscall(SYS_futex, &q->seq, FUTEX_WAIT, seq, NULL, NULL, 0);
  }
}

static int has_room(ring_t *r) {
  return atomic_load(&r->tail) - atomic_load(&r->head) < r->slots;
}
static int has_data(ring_t *r) {
  return atomic_load(&r->tail) != atomic_load(&r->head);
}
static int started(ring_t *r) { return atomic_load(&r->go.seq) != 0; }

static void put(ring_t *r, const item_t *it) {
  pthread_mutex_lock(&r->put_lock);
  wait_for(&r->room, has_room, r);
  uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  r->ring[t & (r->slots - 1)] = *it;
  atomic_store(&r->tail, t + 1);
  pthread_mutex_unlock(&r->put_lock);
  /* Consumers wait under their lock: one woken consumer is enough. */
  wake(&r->data, 0);
}

static void get(ring_t *r, item_t *it) {
  pthread_mutex_lock(&r->get_lock);
  wait_for(&r->data, has_data, r);
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  *it = r->ring[h & (r->slots - 1)];
  atomic_store(&r->head, h + 1);
  pthread_mutex_unlock(&r->get_lock);
  wake(&r->room, 0);
}

static uint64_t mix(uint32_t producer, uint32_t seq) {
  return ((uint64_t)producer << 32 | seq) * 0x9e3779b97f4a7c15u;
}

static void producer(ring_t *r, uint32_t id, long n) {
  wait_for(&r->go, started, r);
  item_t it;
  memset(&it, 'x', sizeof it);
  it.producer = id;
  for (long i = 0; i < n; i++) {
    it.seq = (uint32_t)i;
    put(r, &it);
  }
}

static void consumer(ring_t *r) {
  uint64_t got = 0, sum = 0;
  for (item_t it;;) {
    get(r, &it);
    if (it.seq == STOP) break;
    got++;
    sum += mix(it.producer, it.seq);
  }
  atomic_fetch_add(&r->got, got);
  atomic_fetch_add(&r->checksum, sum);
}

static void init_shared_mutex(pthread_mutex_t *m) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
}

static pid_t start_child(void (*fn)(ring_t *, uint32_t, long), ring_t *r,
                         uint32_t id, long n) {
  pid_t pid = fork();
  if (pid < 0) bench_die("fork");
  if (pid == 0) {
    fn(r, id, n);
    _exit(0);
  }
  return pid;
}

static void consumer_main(ring_t *r, uint32_t id, long n) {
  (void)id;
  (void)n;
  consumer(r);
}

static void wait_all(pid_t *pids, long count) {
  for (long i = 0; i < count; i++) {
    int status;
    if (waitpid(pids[i], &status, 0) != pids[i] || status != 0)
      bench_die("a child failed");
  }
}

static int spins_for_this_machine(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return SPINS;
  return CPU_COUNT(&set) > 1 ? SPINS : 0;
}

int main(int argc, char **argv) {
  spins = spins_for_this_machine();
  long n = bench_count_arg(argc, argv, "--items", 200000);
  long procs = bench_count_arg(argc, argv, "--processes", 4);
  long capacity = bench_count_arg(argc, argv, "--capacity", 256 * 1024);
  long per = n / procs;
  n = per * procs;
  uint64_t slots = 1;
  while (slots * ITEM < (uint64_t)capacity) slots *= 2;
  ring_t *r = mmap(NULL, sizeof(ring_t) + slots * ITEM,
                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) bench_die("mmap");
  r->slots = slots;
  init_shared_mutex(&r->put_lock);
  init_shared_mutex(&r->get_lock);
  pid_t producers[procs], consumers[procs];
  for (long i = 0; i < procs; i++) {
    producers[i] = start_child(producer, r, (uint32_t)i, per);
    consumers[i] = start_child(consumer_main, r, 0, 0);
  }
  double start = bench_now();
  atomic_store(&r->go.seq, 1);
  atomic_store(&r->go.waiting, 1); /* wake them all, whoever sleeps */
  wake(&r->go, 1);
  wait_all(producers, procs);
  item_t stop;
  memset(&stop, 0, sizeof stop);
  stop.seq = STOP;
  for (long i = 0; i < procs; i++) put(r, &stop);
  wait_all(consumers, procs);
  double elapsed = bench_now() - start;
  uint64_t want = 0;
  for (long p = 0; p < procs; p++)
    for (long i = 0; i < per; i++) want += mix((uint32_t)p, (uint32_t)i);
  if (atomic_load(&r->got) != (uint64_t)n || atomic_load(&r->checksum) != want)
    bench_die("items lost or damaged: got %lu of %ld",
              (unsigned long)atomic_load(&r->got), n);
  bench_report(elapsed / (double)n * 1e9);
  return 0;
}
