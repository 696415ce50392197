/* SPDX-License-Identifier: Apache-2.0 */
#define _POSIX_C_SOURCE 200809L
/*
 * W1/W2 with mproc's Pool (docs/pool.md):
 *   --map      Pool(2).map(square, range(100000)), default chunksize
 *   --map1     the same over 20000 items, chunksize 1
 *   --thread   ThreadPool(2).map of the 100000 items
 *   --apply    10000 x apply_async(square, (i,)).get(), one at a time
 *   --array    the typed zero-copy map of the 100000 squares over shared
 *              memory (mproc_pool_map_shared), default chunksize
 * One untimed run first (workers started, pages touched). Prints ns per
 * task (W1) or us per call (W2).
 */
#include <stdio.h>
#include <string.h>

#include "mproc.h"
#include "tools/benchmarks/bench_util.h"

MPROC_FUNCTION(square) {
  int64_t x;
  mproc_status_t st = mproc_obj_get_int(in, &x);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, x * x);
}

MPROC_KERNEL(square_kernel) {
  const int64_t *a = in;
  int64_t *b = out;
  for (size_t i = 0; i < count; i++) b[i] = a[i] * a[i];
  return MPROC_OK;
}

static double run_array(mproc_pool_t *pool, int64_t n) {
  mproc_shared_memory_t *in, *out;
  void *ib, *ob;
  if (mproc_shared_memory_create(&in, NULL, (size_t)n * 8, 0) != MPROC_OK ||
      mproc_shared_memory_create(&out, NULL, (size_t)n * 8, 0) != MPROC_OK ||
      mproc_shared_memory_buf(in, &ib) != MPROC_OK ||
      mproc_shared_memory_buf(out, &ob) != MPROC_OK)
    bench_die("shared memory: %s", mproc_last_error());
  int64_t *a = ib, *b = ob;
  for (int64_t i = 0; i < n; i++) a[i] = i;
  double start = bench_now();
  if (mproc_pool_map_shared(pool, square_kernel, in, 8, out, 8, (size_t)n,
                            MPROC_DEFAULT_CHUNKSIZE, MPROC_FOREVER) != MPROC_OK)
    bench_die("map_shared: %s", mproc_last_error());
  double elapsed = bench_now() - start;
  for (int64_t i = 0; i < n; i++)
    if (b[i] != i * i) bench_die("result %lld is wrong", (long long)i);
  mproc_shared_memory_unlink(in);
  mproc_shared_memory_unlink(out);
  mproc_shared_memory_free(in);
  mproc_shared_memory_free(out);
  return elapsed / (double)n * 1e9;
}

static mproc_obj_t *range(int64_t n) {
  mproc_obj_t *list, *v;
  if (mproc_obj_list(&list) != MPROC_OK) bench_die("list");
  for (int64_t i = 0; i < n; i++)
    if (mproc_obj_int(&v, i) != MPROC_OK ||
        mproc_obj_list_append(list, v) != MPROC_OK)
      bench_die("range");
  return list;
}

static void check(const mproc_obj_t *results, int64_t n) {
  for (int64_t i = 0; i < n; i += n / 7 + 1) {
    const mproc_obj_t *v;
    int64_t x;
    if (mproc_obj_list_get(results, (size_t)i, &v) != MPROC_OK ||
        mproc_obj_get_int(v, &x) != MPROC_OK || x != i * i)
      bench_die("result %lld is wrong", (long long)i);
  }
}

static double run_map(mproc_pool_t *pool, int64_t n, size_t chunksize) {
  mproc_obj_t *items = range(n), *results;
  double start = bench_now();
  if (mproc_pool_map(pool, square, items, chunksize, &results,
                     MPROC_FOREVER) != MPROC_OK)
    bench_die("map: %s", mproc_last_error());
  double elapsed = bench_now() - start;
  check(results, n);
  mproc_obj_free(results);
  mproc_obj_free(items);
  return elapsed / (double)n * 1e9;
}

static double run_apply(mproc_pool_t *pool, int64_t n) {
  double start = bench_now();
  for (int64_t i = 0; i < n; i++) {
    mproc_obj_t *args, *v;
    mproc_async_result_t *r;
    int64_t x;
    if (mproc_obj_int(&args, i) != MPROC_OK ||
        mproc_pool_apply_async(&r, pool, square, args, NULL, NULL, NULL) !=
            MPROC_OK ||
        mproc_async_result_get(r, &v, MPROC_FOREVER) != MPROC_OK ||
        mproc_obj_get_int(v, &x) != MPROC_OK || x != i * i)
      bench_die("apply: %s", mproc_last_error());
    mproc_obj_free(v);
    mproc_obj_free(args);
    mproc_async_result_free(r);
  }
  return (bench_now() - start) / (double)n * 1e6;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) bench_die("%s", mproc_last_error());
  const char *mode = argc > 1 ? argv[1] : "--map";
  mproc_pool_t *pool;
  int threads = strcmp(mode, "--thread") == 0;
  mproc_status_t st = threads ? mproc_thread_pool_create(&pool, 2)
                              : mproc_pool_create(&pool, 2);
  if (st != MPROC_OK) bench_die("pool: %s", mproc_last_error());
  double result;
  if (strcmp(mode, "--map") == 0 || threads) {
    run_map(pool, 100000, MPROC_DEFAULT_CHUNKSIZE);
    result = run_map(pool, 100000, MPROC_DEFAULT_CHUNKSIZE);
  } else if (strcmp(mode, "--map1") == 0) {
    run_map(pool, 2000, 1);
    result = run_map(pool, 20000, 1);
  } else if (strcmp(mode, "--array") == 0) {
    run_array(pool, 100000);
    result = run_array(pool, 100000);
  } else if (strcmp(mode, "--apply") == 0) {
    run_apply(pool, 1000);
    result = run_apply(pool, 10000);
  } else {
    bench_die("unknown mode %s", mode);
  }
  mproc_pool_free(pool);
  bench_report(result);
  return 0;
}
