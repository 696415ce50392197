/* SPDX-License-Identifier: Apache-2.0 */
#define _POSIX_C_SOURCE 200809L /* setenv, readlink, execvp */

/*
 * W10.mpi with mproc's MPI executor (docs/mpi.md): submit 10000 squares
 * over 2 MPI workers, wait for all (mproc_futures_wait ALL_COMPLETED) and
 * check them. Modes: bench_mpi.h. One untimed run of 100 first. Prints ns
 * per task.
 */
#include <stdint.h>

#include "mproc.h"
#include "mproc_mpi.h"
#include "tools/benchmarks/bench_mpi.h"

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

int main(int argc, char **argv) {
  const char *mode = bench_mpi_mode(argc, argv);
  bench_mpi_env();
  bench_mpi_relaunch(mode, argv);
  if (mproc_init(argc, argv) != MPROC_OK) bench_die("%s", mproc_last_error());
  int role = 0;
  if (mproc_mpi_start(&argc, &argv, &role) != MPROC_OK)
    bench_die("mpi_start: %s", mproc_last_error());
  if (role == MPROC_MPI_WORKER) return mproc_mpi_finalize() == MPROC_OK ? 0 : 1;
  mproc_mpi_executor_options_t opts;
  mproc_mpi_executor_options_init(&opts);
  opts.max_workers = BENCH_MPI_WORKERS;
  char *args[] = {"--spawn", NULL};
  opts.args = args;
  mproc_executor_t *ex;
  if (mproc_mpi_executor_create(&ex, &opts) != MPROC_OK)
    bench_die("mpi_executor_create: %s", mproc_last_error());
  (void)run_submit(ex, 100);
  double ns = run_submit(ex, BENCH_MPI_TASKS);
  if (mproc_executor_free(ex) != MPROC_OK || mproc_mpi_finalize() != MPROC_OK)
    bench_die("shutdown: %s", mproc_last_error());
  bench_report(ns);
  return 0;
}
