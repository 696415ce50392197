/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 02: CPU-bound work, sequential and with Pool(4).map. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "mproc.h"

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, mproc_last_error());
  return 1;
}

/* total = sum of i * i for i < n. The volatile accumulator keeps the
 * compiler from folding the loop into a formula: the work is really done. */
static int64_t cpu_intensive_c(int64_t n) {
  /* Modulo 2^63 (unsigned arithmetic wraps, a signed sum would overflow:
   * Python's integers do not), so the result fits an int payload. */
  volatile uint64_t total = 0;
  for (uint64_t i = 0; i < (uint64_t)n; i++) total += i * i;
  return (int64_t)(total & (uint64_t)INT64_MAX);
}

MPROC_FUNCTION(cpu_intensive) {
  int64_t n;
  mproc_status_t st = mproc_obj_get_int(in, &n);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, cpu_intensive_c(n));
}

static double now(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC); /* C11 */
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return fail("mproc_init");
  /* Python's 10**6 takes CPython ~0.1 s; C needs more to be measurable. */
  const int64_t n = 200000000;
  mproc_obj_t *numbers;
  if (mproc_obj_build(&numbers, "[LLLL]", (long long)n, (long long)n,
                      (long long)n, (long long)n) != MPROC_OK)
    return fail("obj_build");

  /* Sequential execution */
  double start = now();
  int64_t results[4];
  for (int i = 0; i < 4; i++) results[i] = cpu_intensive_c(n);
  printf("Sequential: %.2fs\n", now() - start);

  /* Parallel execution with Pool */
  start = now();
  mproc_pool_t *pool;
  mproc_obj_t *parallel = NULL;
  if (mproc_pool_create(&pool, 4) != MPROC_OK) return fail("pool_create");
  if (mproc_pool_map(pool, cpu_intensive, numbers, MPROC_DEFAULT_CHUNKSIZE,
                     &parallel, MPROC_FOREVER) != MPROC_OK)
    return fail("pool_map");
  mproc_pool_free(pool); /* leaving `with Pool(4) as pool:` */
  printf("Parallel: %.2fs\n", now() - start);

  for (size_t i = 0; i < 4; i++) {
    const mproc_obj_t *v;
    int64_t x;
    if (mproc_obj_list_get(parallel, i, &v) != MPROC_OK ||
        mproc_obj_get_int(v, &x) != MPROC_OK || x != results[i]) {
      fprintf(stderr, "result %zu differs\n", i);
      return 1;
    }
  }
  mproc_obj_free(parallel);
  mproc_obj_free(numbers);
  return 0;
}
