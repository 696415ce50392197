/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W9 with mproc: start+join of a trivial process, N times (default 200).
 *   w9_process_mproc --method METHOD [--iterations N]
 * METHOD: any of mproc_all_start_methods() (fork, spawn, forkserver here).
 * Prints microseconds per process (create, start, join, exitcode, free).
 * Clock window: the N start+joins after one untimed one, as in the other
 * two W9 programs.
 */
#include <mproc.h>

#include "tools/benchmarks/bench_util.h"

MPROC_TASK(trivial) {
  (void)arg;
  (void)arg_len;
  return 0;
}

static void start_and_join(mproc_context_t *ctx) {
  mproc_process_t *p;
  bench_check(mproc_process_create(&p, ctx, trivial, NULL, 0), "create");
  bench_check(mproc_process_start(p), "start");
  bench_check(mproc_process_join(p, MPROC_FOREVER), "join");
  int code;
  bench_check(mproc_process_exitcode(p, &code), "exitcode");
  if (code != 0) bench_die("the child exited with %d", code);
  bench_check(mproc_process_free(p), "close");
}

int main(int argc, char **argv) {
  bench_check(mproc_init(argc, argv), "init"); /* a spawned child ends in here */
  const char *method = bench_method_arg(argc, argv);
  long iterations = bench_count_arg(argc, argv, "--iterations", 200);
  mproc_context_t *ctx;
  bench_check(mproc_get_context(method, &ctx), "get_context");
  start_and_join(ctx);
  double start = bench_now();
  for (long i = 0; i < iterations; i++) start_and_join(ctx);
  bench_report((bench_now() - start) / (double)iterations * 1e6);
  return 0;
}
