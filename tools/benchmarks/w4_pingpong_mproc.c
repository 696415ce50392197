/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W4 with mproc: N round trips of 8 bytes over a Pipe between this process
 * and a child (send_bytes / recv_bytes_into on both sides).
 *   w4_pingpong_mproc [--rounds N] [--method METHOD] (any of mproc_all_start_methods())
 * Clock window: the N round trips after 100 untimed ones.
 * Prints microseconds per round trip.
 */
#include <mproc.h>
#include <stdint.h>

#include "tools/benchmarks/bench_util.h"

MPROC_TASK(echo) {
  (void)arg, (void)arg_len;
  void *c, *parents_end;
  bench_check(mproc_attached(0, &c), "attached");
  /* A forked child holds a copy of the parent's end too: close it, or
   * the end of stream never comes. */
  bench_check(mproc_attached(1, &parents_end), "attached");
  mproc_connection_close(parents_end);
  uint64_t v;
  size_t len;
  for (;;) {
    mproc_status_t st = mproc_connection_recv_bytes_into(c, &v, sizeof v, 0,
                                                         &len, MPROC_FOREVER);
    if (st == MPROC_EOF) return 0;
    bench_check(st, "child recv");
    bench_check(mproc_connection_send_bytes(c, &v, sizeof v, 0, MPROC_REST,
                                      MPROC_FOREVER), "child send");
  }
}

int main(int argc, char **argv) {
  bench_check(mproc_init(argc, argv), "init");
  long n = bench_count_arg(argc, argv, "--rounds", 50000);
  mproc_context_t *ctx;
  bench_check(mproc_get_context(bench_arg(argc, argv, "--method", "fork"), &ctx),
        "context");
  mproc_connection_t *mine, *theirs;
  bench_check(mproc_pipe(&mine, &theirs, 1), "pipe");
  mproc_process_t *p;
  bench_check(mproc_process_create(&p, ctx, echo, NULL, 0), "create");
  bench_check(mproc_process_attach(p, theirs), "attach");
  bench_check(mproc_process_attach(p, mine), "attach");
  bench_check(mproc_process_start(p), "start");
  mproc_connection_close(theirs);
  uint64_t v = 0, back;
  size_t len;
  double start = 0;
  for (long i = -100; i < n; i++) { /* 100 untimed warm-up rounds */
    if (i == 0) start = bench_now();
    v = (uint64_t)i;
    bench_check(mproc_connection_send_bytes(mine, &v, sizeof v, 0, MPROC_REST,
                                      MPROC_FOREVER), "send");
    bench_check(mproc_connection_recv_bytes_into(mine, &back, sizeof back, 0, &len,
                                           MPROC_FOREVER), "recv");
    if (back != v) bench_die("round %ld: wrong echo", i);
  }
  double elapsed = bench_now() - start;
  mproc_connection_free(mine);
  bench_check(mproc_process_join(p, MPROC_FOREVER), "join");
  mproc_process_free(p);
  mproc_connection_free(theirs);
  bench_report(elapsed / (double)n * 1e6);
  return 0;
}
