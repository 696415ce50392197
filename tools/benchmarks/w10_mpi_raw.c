/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W10.mpi's raw twin: a hand-written MPI master/worker loop doing the
 * mproc program's work (10000 squares over 2 workers, each task and each
 * result its own message): the master keeps two tasks in flight per
 * worker (one runs while the next travels) and takes the results as they
 * come. Modes: bench_mpi.h. One untimed run of 100 first. Prints ns per
 * task.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, readlink, execvp */
#include <mpi.h>
#include <stdint.h>

#include "tools/benchmarks/bench_mpi.h"

enum { TAG_TASK = 1, TAG_RESULT, TAG_STOP };

static void serve(MPI_Comm comm) {
  for (;;) {
    int64_t task[2];
    MPI_Status st;
    MPI_Recv(task, 2, MPI_INT64_T, 0, MPI_ANY_TAG, comm, &st);
    if (st.MPI_TAG == TAG_STOP) return;
    task[1] = task[1] * task[1];
    MPI_Send(task, 2, MPI_INT64_T, 0, TAG_RESULT, comm);
  }
}

/* n tasks over the workers (ranks first..first+1 of comm). */
static double farm(MPI_Comm comm, int first, int64_t n, int64_t *results) {
  double start = bench_now();
  int64_t next = 0, received = 0;
  for (int w = 0; w < BENCH_MPI_WORKERS; w++)
    for (int depth = 0; depth < 2 && next < n; depth++, next++) {
      int64_t task[2] = {next, next};
      MPI_Send(task, 2, MPI_INT64_T, first + w, TAG_TASK, comm);
    }
  while (received < n) {
    int64_t r[2];
    MPI_Status st;
    MPI_Recv(r, 2, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, comm, &st);
    results[r[0]] = r[1];
    received++;
    if (next < n) {
      int64_t task[2] = {next, next};
      next++;
      MPI_Send(task, 2, MPI_INT64_T, st.MPI_SOURCE, TAG_TASK, comm);
    }
  }
  return bench_now() - start;
}

int main(int argc, char **argv) {
  const char *mode = bench_mpi_mode(argc, argv);
  bench_mpi_env();
  bench_mpi_relaunch(mode, argv);
  MPI_Init(&argc, &argv);
  MPI_Comm parent, comm = MPI_COMM_WORLD;
  MPI_Comm_get_parent(&parent);
  int rank = 0, first = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (parent != MPI_COMM_NULL || rank > 0) {
    serve(parent != MPI_COMM_NULL ? parent : MPI_COMM_WORLD);
    if (parent != MPI_COMM_NULL) MPI_Comm_disconnect(&parent);
    MPI_Finalize();
    return 0;
  }
  if (strcmp(mode, "--spawn") == 0) {
    char *args[] = {"--spawn", NULL};
    if (MPI_Comm_spawn(argv[0], args, BENCH_MPI_WORKERS, MPI_INFO_NULL, 0,
                       MPI_COMM_SELF, &comm, MPI_ERRCODES_IGNORE) !=
        MPI_SUCCESS)
      bench_die("MPI_Comm_spawn failed");
    first = 0;
  }
  int64_t *results = calloc(BENCH_MPI_TASKS, sizeof *results);
  if (results == NULL) bench_die("no memory");
  (void)farm(comm, first, 100, results);
  double elapsed = farm(comm, first, BENCH_MPI_TASKS, results);
  for (int64_t i = 0; i < BENCH_MPI_TASKS; i++)
    if (results[i] != i * i) bench_die("result %lld is wrong", (long long)i);
  for (int w = 0; w < BENCH_MPI_WORKERS; w++)
    MPI_Send(NULL, 0, MPI_INT64_T, first + w, TAG_STOP, comm);
  if (comm != MPI_COMM_WORLD) MPI_Comm_disconnect(&comm);
  free(results);
  MPI_Finalize();
  bench_report(elapsed / BENCH_MPI_TASKS * 1e9);
  return 0;
}
