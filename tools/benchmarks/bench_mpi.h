/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the W10.mpi programs share (w10_mpi_mproc.c, w10_mpi_raw.c): the
 * Open MPI environment of docs/mpi.md and the modes.
 *   --prelaunched  started plainly, the program runs itself again under
 *                  mpirun -np 3 (rank 0 master, ranks 1-2 workers)
 *   --tcp          the same with --mca btl self,tcp on loopback (the
 *                  transport between hosts)
 *   --spawn        started plainly, the master spawns its 2 workers
 */
#ifndef MPROC_BENCH_MPI_H
#define MPROC_BENCH_MPI_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

#ifndef BENCH_MPI_TASKS
#define BENCH_MPI_TASKS 10000
#endif
#define BENCH_MPI_WORKERS 2

/* Root, oversubscribed, yielding when idle, loopback only (defaults). */
static inline void bench_mpi_env(void) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
  setenv("OMPI_MCA_btl_tcp_if_include", "lo", 0);
  setenv("OMPI_MCA_oob_tcp_if_include", "lo", 0);
}

/* The mode of argv[1] (default --prelaunched); exits on another word. */
static inline const char *bench_mpi_mode(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "--prelaunched";
  if (strcmp(mode, "--prelaunched") && strcmp(mode, "--tcp") &&
      strcmp(mode, "--spawn"))
    bench_die("usage: %s [--prelaunched|--tcp|--spawn]", argv[0]);
  return mode;
}

/* Pre-launched modes started plainly: runs this program under mpirun
 * (never returns). Under mpirun, or in spawn mode, returns. */
static inline void bench_mpi_relaunch(const char *mode, char **argv) {
  if (strcmp(mode, "--spawn") == 0 || getenv("OMPI_COMM_WORLD_SIZE")) return;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) bench_die("no /proc/self/exe");
  self[n] = '\0';
  char *args[16];
  int k = 0;
  args[k++] = "mpirun";
  args[k++] = "-np";
  args[k++] = "3";
  args[k++] = "--bind-to";
  args[k++] = "none";
  if (strcmp(mode, "--tcp") == 0) {
    args[k++] = "--mca";
    args[k++] = "btl";
    args[k++] = "self,tcp";
  }
  args[k++] = self;
  args[k++] = (char *)mode;
  args[k] = NULL;
  (void)argv;
  execvp("mpirun", args);
  bench_die("cannot run mpirun (apt-get install openmpi-bin)");
}

#endif
