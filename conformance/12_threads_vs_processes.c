/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 12: CPU-bound work sequential, in threads, in processes.
 * C threads are truly parallel (no GIL): the times differ from CPython's,
 * the output's shape does not. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "mproc.h"

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, mproc_last_error());
  return 1;
}

/* sum(i * i for i in range(n)); volatile: the loop really runs. */
static int64_t cpu_bound_c(int64_t n) {
  /* Modulo 2^63 (unsigned arithmetic wraps, a signed sum would overflow:
   * Python's integers do not), so the result fits an int payload. */
  volatile uint64_t total = 0;
  for (uint64_t i = 0; i < (uint64_t)n; i++) total += i * i;
  return (int64_t)(total & (uint64_t)INT64_MAX);
}

MPROC_FUNCTION(cpu_bound) {
  int64_t n;
  mproc_status_t st = mproc_obj_get_int(in, &n);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, cpu_bound_c(n));
}

/* Python's 10**7 takes CPython ~0.5 s; C needs more to be measurable. */
static const int64_t n = 100000000;

static void thread_target(void *arg) { *(int64_t *)arg = cpu_bound_c(n); }

static double now(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC); /* C11 */
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return fail("mproc_init");
  enum { count = 4 };

  /* Sequential */
  double start = now();
  int64_t expected = 0;
  for (int i = 0; i < count; i++) expected = cpu_bound_c(n);
  printf("Sequential: %.2fs\n", now() - start);

  /* Threads (in C, not limited by a GIL) */
  start = now();
  mproc_thread_t *threads[count];
  int64_t sums[count];
  for (int i = 0; i < count; i++)
    if (mproc_thread_create(&threads[i], thread_target, &sums[i]) != MPROC_OK)
      return fail("thread_create");
  for (int i = 0; i < count; i++)
    if (mproc_thread_join(threads[i], MPROC_FOREVER) != MPROC_OK)
      return fail("thread_join");
  printf("Threads: %.2fs\n", now() - start);
  for (int i = 0; i < count; i++) {
    mproc_thread_free(threads[i]);
    if (sums[i] != expected) {
      fprintf(stderr, "thread %d: wrong sum\n", i);
      return 1;
    }
  }

  /* Processes (true parallelism) */
  start = now();
  mproc_pool_t *pool;
  mproc_obj_t *items, *results = NULL;
  if (mproc_obj_build(&items, "[LLLL]", (long long)n, (long long)n,
                      (long long)n, (long long)n) != MPROC_OK)
    return fail("obj_build");
  if (mproc_pool_create(&pool, count) != MPROC_OK) return fail("pool_create");
  if (mproc_pool_map(pool, cpu_bound, items, MPROC_DEFAULT_CHUNKSIZE, &results,
                     MPROC_FOREVER) != MPROC_OK)
    return fail("pool_map");
  mproc_pool_free(pool); /* leaving `with Pool(count) as pool:` */
  printf("Processes: %.2fs\n", now() - start);
  for (size_t i = 0; i < count; i++) {
    const mproc_obj_t *v;
    int64_t x;
    if (mproc_obj_list_get(results, i, &v) != MPROC_OK ||
        mproc_obj_get_int(v, &x) != MPROC_OK || x != expected) {
      fprintf(stderr, "result %zu differs\n", i);
      return 1;
    }
  }
  mproc_obj_free(results);
  mproc_obj_free(items);
  return 0;
}
