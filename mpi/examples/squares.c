/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One program, two executors (docs/mpi.md): the work below is written
 * once against mproc_executor_t; only the line that creates the executor
 * differs.
 *   ./squares                     the process executor (this machine)
 *   ./squares --mpi               spawn mode: 2 MPI workers spawned
 *   mpirun -np 3 ./squares --mpi  pre-launched: ranks 1-2 are the workers
 * It prints the sum of the squares of 0..99 (a map), three submitted
 * squares, and the error a failing function gives (the same text on both).
 */
#include <stdio.h>
#include <string.h>

#include "mproc.h"
#include "mproc_mpi.h"

MPROC_FUNCTION(square) {
  int64_t x;
  mproc_status_t st = mproc_obj_get_int(in, &x);
  if (st != MPROC_OK) return st;
  return mproc_obj_int(out, x * x);
}

MPROC_FUNCTION(checked_inverse) {
  int64_t x;
  mproc_status_t st = mproc_obj_get_int(in, &x);
  if (st != MPROC_OK) return st;
  if (x == 0) return mproc_function_error(MPROC_ETASK, "no inverse of 0");
  return mproc_obj_float(out, 1.0 / (double)x);
}

/* The user's work: the same on every executor. */
static int work(mproc_executor_t *ex) {
  mproc_obj_t *items, *v;
  if (mproc_obj_list(&items) != MPROC_OK) return 1;
  for (int64_t i = 0; i < 100; i++)
    if (mproc_obj_int(&v, i) != MPROC_OK ||
        mproc_obj_list_append(items, v) != MPROC_OK)
      return 1;
  mproc_executor_map_t *it;
  if (mproc_executor_map(&it, ex, square, items, 60, 10, 0) != MPROC_OK)
    return 1;
  int64_t sum = 0, x;
  while (mproc_executor_map_next(it, &v) == MPROC_OK) {
    mproc_obj_get_int(v, &x);
    sum += x;
    mproc_obj_free(v);
  }
  mproc_executor_map_free(it);
  mproc_obj_free(items);
  printf("sum of squares 0..99: %lld\n", (long long)sum);

  mproc_future_t *fs[3];
  for (int i = 0; i < 3; i++) {
    mproc_obj_int(&v, 10 + i);
    if (mproc_executor_submit(&fs[i], ex, square, v) != MPROC_OK) return 1;
    mproc_obj_free(v);
  }
  for (int i = 0; i < 3; i++) {
    if (mproc_future_result(fs[i], &v, 60) != MPROC_OK) return 1;
    mproc_obj_get_int(v, &x);
    printf("square(%d) = %lld\n", 10 + i, (long long)x);
    mproc_obj_free(v);
    mproc_future_free(fs[i]);
  }

  mproc_future_t *f;
  mproc_obj_int(&v, 0);
  if (mproc_executor_submit(&f, ex, checked_inverse, v) != MPROC_OK) return 1;
  mproc_obj_free(v);
  mproc_status_t st = mproc_future_result(f, &v, 60);
  printf("checked_inverse(0): %s: %s\n", mproc_status_name(st),
         mproc_last_error());
  mproc_future_free(f);
  return st == MPROC_ETASK ? 0 : 1;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return 1;
  int use_mpi = argc > 1 && strcmp(argv[1], "--mpi") == 0;
  mproc_executor_t *ex;
  mproc_status_t st;
  if (use_mpi) {
    int role;
    if (mproc_mpi_start(&argc, &argv, &role) != MPROC_OK) return 1;
    if (role == MPROC_MPI_WORKER) return mproc_mpi_finalize() != MPROC_OK;
    mproc_mpi_executor_options_t opts;
    mproc_mpi_executor_options_init(&opts);
    char *args[] = {"--mpi", NULL}; /* spawned workers take this branch */
    opts.args = args;
    st = mproc_mpi_executor_create(&ex, &opts);
  } else {
    st = mproc_process_executor_create(&ex, NULL);
  }
  if (st != MPROC_OK) {
    fprintf(stderr, "squares: %s\n", mproc_last_error());
    return 1;
  }
  int rc = work(ex);
  if (mproc_executor_free(ex) != MPROC_OK) rc = 1;
  if (use_mpi && mproc_mpi_finalize() != MPROC_OK) rc = 1;
  return rc;
}
