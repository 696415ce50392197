/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3.latency with mproc: N round trips of one 64-byte item between this
 * process and a child through two Queues (ping and pong): the child gets
 * from one and puts into the other. Each queue's ring is 64 KiB
 * (--capacity), not the 16 MiB default: one item is in flight, and a run
 * that never wraps a fresh 16 MiB ring measures its first-touch page
 * faults (~3,600 in the two processes for 50,000 round trips, against 93
 * for the raw mailboxes), which a longer run does not pay.
 *   w3_latency_mproc [--rounds N] [--capacity BYTES] [--method M]
 * Clock window: N round trips after 100 untimed ones.
 * Prints microseconds per round trip.
 */
#include <mproc.h>

#include "tools/benchmarks/bench_util.h"

#define ITEM 64
#define WARMUP 100

MPROC_TASK(echo) {
  long n = *(const long *)arg;
  (void)arg_len;
  mproc_queue_t *ping, *pong;
  bench_check(mproc_attached_queue(0, &ping), "attached ping");
  bench_check(mproc_attached_queue(1, &pong), "attached pong");
  char item[ITEM];
  size_t len;
  for (long i = 0; i < n + WARMUP; i++) {
    bench_check(mproc_queue_get_bytes_into(ping, item, sizeof item, &len,
                                           MPROC_FOREVER),
                "get");
    bench_check(mproc_queue_put_bytes(pong, item, len, MPROC_FOREVER), "put");
  }
  return 0;
}

int main(int argc, char **argv) {
  bench_check(mproc_init(argc, argv), "init");
  long n = bench_count_arg(argc, argv, "--rounds", 50000);
  long capacity = bench_count_arg(argc, argv, "--capacity", 64 * 1024);
  mproc_context_t *ctx;
  bench_check(mproc_get_context(bench_arg(argc, argv, "--method", NULL), &ctx),
              "context");
  mproc_queue_t *ping, *pong;
  bench_check(mproc_queue_create(&ping, 0, (size_t)capacity), "queue");
  bench_check(mproc_queue_create(&pong, 0, (size_t)capacity), "queue");
  mproc_process_t *p;
  bench_check(mproc_process_create(&p, ctx, echo, &n, sizeof n), "create");
  bench_check(mproc_process_attach(p, ping), "attach");
  bench_check(mproc_process_attach(p, pong), "attach");
  bench_check(mproc_process_start(p), "start");
  char item[ITEM];
  memset(item, 'x', sizeof item);
  size_t len;
  double start = 0;
  for (long i = 0; i < n + WARMUP; i++) {
    if (i == WARMUP) start = bench_now();
    memcpy(item, &i, sizeof i);
    bench_check(mproc_queue_put_bytes(ping, item, sizeof item, MPROC_FOREVER),
                "put");
    bench_check(mproc_queue_get_bytes_into(pong, item, sizeof item, &len,
                                           MPROC_FOREVER),
                "get");
    long back;
    memcpy(&back, item, sizeof back);
    if (len != ITEM || back != i) bench_die("wrong echo");
  }
  double elapsed = bench_now() - start;
  bench_check(mproc_process_join(p, MPROC_FOREVER), "join");
  int code;
  bench_check(mproc_process_exitcode(p, &code), "exitcode");
  if (code != 0) bench_die("the child exited with %d", code);
  mproc_process_free(p);
  mproc_queue_free(ping);
  mproc_queue_free(pong);
  bench_report(elapsed / (double)n * 1e6);
  return 0;
}
