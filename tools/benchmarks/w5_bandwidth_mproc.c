/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W5 with mproc: a child sends 1 GiB in 64 KiB messages over a Pipe; this
 * process receives them (recv_bytes_into one reused buffer).
 *   w5_bandwidth_mproc [--mib N] [--method METHOD] (any of mproc_all_start_methods())
 * Clock window: from the end of the first (untimed) message to the last:
 * the other messages.
 * Prints milliseconds per GiB.
 */
#include <mproc.h>

#include "tools/benchmarks/bench_util.h"

#define MSG (64 * 1024)

MPROC_TASK(sender) {
  long count = *(const long *)arg;
  (void)arg_len;
  void *c;
  bench_check(mproc_attached(0, &c), "attached");
  static char buf[MSG];
  memset(buf, 'b', sizeof buf);
  for (long i = 0; i <= count; i++) /* one extra: the untimed first */
    bench_check(mproc_connection_send_bytes(c, buf, sizeof buf, 0, MPROC_REST,
                                      MPROC_FOREVER), "send");
  return 0;
}

int main(int argc, char **argv) {
  bench_check(mproc_init(argc, argv), "init");
  long mib = bench_count_arg(argc, argv, "--mib", 1024);
  long count = mib * 16;
  mproc_context_t *ctx;
  bench_check(mproc_get_context(bench_arg(argc, argv, "--method", "fork"), &ctx),
        "context");
  mproc_connection_t *mine, *theirs;
  bench_check(mproc_pipe(&mine, &theirs, 1), "pipe");
  mproc_process_t *p;
  bench_check(mproc_process_create(&p, ctx, sender, &count, sizeof count), "create");
  bench_check(mproc_process_attach(p, theirs), "attach");
  bench_check(mproc_process_start(p), "start");
  static char buf[MSG];
  size_t len;
  bench_check(mproc_connection_recv_bytes_into(mine, buf, sizeof buf, 0, &len,
                                         MPROC_FOREVER), "recv");
  double start = bench_now();
  for (long i = 0; i < count; i++) {
    bench_check(mproc_connection_recv_bytes_into(mine, buf, sizeof buf, 0, &len,
                                           MPROC_FOREVER), "recv");
    if (len != MSG) bench_die("short message");
  }
  double elapsed = bench_now() - start;
  bench_check(mproc_process_join(p, MPROC_FOREVER), "join");
  mproc_process_free(p);
  mproc_connection_free(mine);
  mproc_connection_free(theirs);
  bench_report(elapsed * 1e3 * 1024.0 / (double)mib);
  return 0;
}
