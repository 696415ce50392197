/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W10.mpi with mproc's MPI executor (docs/mpi.md): submit 10000 squares
 * over 2 MPI workers, wait for all (mproc_futures_wait ALL_COMPLETED) and
 * check them. Modes: bench_mpi.h. One untimed run of 100 first. Prints ns
 * per task.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, readlink, execvp */
#include <stdint.h>

#include "mproc.h"
#include "mproc_mpi.h"
#include "tools/benchmarks/bench_mpi.h"
#include "tools/benchmarks/w10_submit.h"

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
