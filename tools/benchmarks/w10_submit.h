/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W10's submit work, shared by the executor programs (w10_executor_mproc.c,
 * w10_mpi_mproc.c): the registered square, and run_submit: submit n
 * squares, wait for all (mproc_futures_wait ALL_COMPLETED), check them;
 * ns per task. The same code on every executor, as the API promises.
 */
#ifndef MPROC_BENCH_W10_SUBMIT_H
#define MPROC_BENCH_W10_SUBMIT_H

#include <stdint.h>
#include <stdlib.h>

#include "mproc.h"
#include "tools/benchmarks/bench_util.h"

MPROC_FUNCTION(square) {
  int64_t x;
  mproc_status_t st = mproc_obj_get_int(in, &x);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, x * x);
}

static double run_submit(mproc_executor_t *ex, int64_t n) {
  mproc_future_t **fs = calloc((size_t)n, sizeof *fs);
  int *done = calloc((size_t)n, sizeof *done);
  if (fs == NULL || done == NULL) bench_die("no memory");
  double start = bench_now();
  for (int64_t i = 0; i < n; i++) {
    mproc_obj_t *arg;
    if (mproc_obj_int(&arg, i) != MPROC_OK ||
        mproc_executor_submit(&fs[i], ex, square, arg) != MPROC_OK)
      bench_die("submit: %s", mproc_last_error());
    mproc_obj_free(arg);
  }
  size_t ndone = 0;
  if (mproc_futures_wait(fs, (size_t)n, MPROC_ALL_COMPLETED, done, &ndone,
                         MPROC_FOREVER) != MPROC_OK ||
      ndone != (size_t)n)
    bench_die("wait: %s", mproc_last_error());
  double elapsed = bench_now() - start;
  for (int64_t i = 0; i < n; i++) {
    mproc_obj_t *v;
    int64_t x;
    if (mproc_future_result(fs[i], &v, 0) != MPROC_OK ||
        mproc_obj_get_int(v, &x) != MPROC_OK || x != i * i)
      bench_die("result %lld is wrong", (long long)i);
    mproc_obj_free(v);
    mproc_future_free(fs[i]);
  }
  free(fs);
  free(done);
  return elapsed / (double)n * 1e9;
}

#endif
