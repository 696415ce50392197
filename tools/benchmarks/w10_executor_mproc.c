/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W10 with mproc's executors (docs/executor.md):
 *   --submit   process executor, 2 workers: submit 10000 squares, then wait
 *              for all (mproc_futures_wait ALL_COMPLETED) and check them
 *   --map      executor map of 100000 squares, chunksize 1000
 *   --thread   the thread executor (2 workers) on --submit's work
 * One untimed run first (workers started). Prints ns per task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"
#include "tools/benchmarks/bench_util.h"
#include "tools/benchmarks/w10_submit.h"

static double run_map(mproc_executor_t *ex, int64_t n, size_t chunksize) {
  mproc_obj_t *items, *v;
  if (mproc_obj_list(&items) != MPROC_OK) bench_die("list");
  for (int64_t i = 0; i < n; i++)
    if (mproc_obj_int(&v, i) != MPROC_OK ||
        mproc_obj_list_append(items, v) != MPROC_OK)
      bench_die("range");
  double start = bench_now();
  mproc_executor_map_t *it;
  if (mproc_executor_map(&it, ex, square, items, MPROC_FOREVER, chunksize,
                         0) != MPROC_OK)
    bench_die("map: %s", mproc_last_error());
  for (int64_t i = 0; i < n; i++) {
    int64_t x;
    if (mproc_executor_map_next(it, &v) != MPROC_OK ||
        mproc_obj_get_int(v, &x) != MPROC_OK || x != i * i)
      bench_die("map result %lld: %s", (long long)i, mproc_last_error());
    mproc_obj_free(v);
  }
  double elapsed = bench_now() - start;
  mproc_executor_map_free(it);
  mproc_obj_free(items);
  return elapsed / (double)n * 1e9;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) bench_die("%s", mproc_last_error());
  const char *mode = argc > 1 ? argv[1] : "--submit";
  int threads = strcmp(mode, "--thread") == 0;
  mproc_executor_options_t opts;
  mproc_executor_options_init(&opts);
  opts.max_workers = 2;
  mproc_executor_t *ex;
  mproc_status_t st = threads ? mproc_thread_executor_create(&ex, &opts)
                              : mproc_process_executor_create(&ex, &opts);
  if (st != MPROC_OK) bench_die("executor: %s", mproc_last_error());
  double result;
  if (strcmp(mode, "--submit") == 0 || threads) {
    run_submit(ex, 1000);
    result = run_submit(ex, 10000);
  } else if (strcmp(mode, "--map") == 0) {
    run_map(ex, 10000, 1000);
    result = run_map(ex, 100000, 1000);
  } else {
    bench_die("unknown mode %s", mode);
  }
  mproc_executor_free(ex);
  bench_report(result);
  return 0;
}
