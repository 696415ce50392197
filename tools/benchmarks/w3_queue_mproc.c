/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3.queue with mproc: 1 producer process -> 1 consumer (this process), N
 * items of 64 bytes through a Queue (put_bytes / get_bytes_into) whose ring
 * has the raw baseline's size.
 *   w3_queue_mproc [--items N] [--capacity BYTES] [--method M]
 * Clock window: from the producer's first put (its timestamp travels in
 * item 0) to the consumer's last get: the whole transfer.
 * Prints nanoseconds per item.
 */
#include <mproc.h>

#include "tools/benchmarks/bench_util.h"

#define ITEM 64

MPROC_TASK(producer) {
  long n = *(const long *)arg;
  (void)arg_len;
  mproc_queue_t *q;
  bench_check(mproc_attached_queue(0, &q), "attached");
  char item[ITEM];
  memset(item, 'x', sizeof item);
  double start = bench_now();
  memcpy(item + 8, &start, sizeof start); /* read from item 0 */
  for (long i = 0; i < n; i++) {
    memcpy(item, &i, sizeof i);
    bench_check(mproc_queue_put_bytes(q, item, sizeof item, MPROC_FOREVER),
                "put");
  }
  return 0;
}

int main(int argc, char **argv) {
  bench_check(mproc_init(argc, argv), "init");
  long n = bench_count_arg(argc, argv, "--items", 200000);
  long capacity = bench_count_arg(argc, argv, "--capacity", 256 * 1024);
  mproc_context_t *ctx;
  bench_check(mproc_get_context(bench_arg(argc, argv, "--method", NULL), &ctx),
              "context");
  mproc_queue_t *q;
  bench_check(mproc_queue_create(&q, 0, (size_t)capacity), "queue");
  mproc_process_t *p;
  bench_check(mproc_process_create(&p, ctx, producer, &n, sizeof n), "create");
  bench_check(mproc_process_attach(p, q), "attach");
  bench_check(mproc_process_start(p), "start");
  char item[ITEM];
  size_t len;
  double start = 0;
  for (long i = 0; i < n; i++) {
    bench_check(mproc_queue_get_bytes_into(q, item, sizeof item, &len,
                                           MPROC_FOREVER),
                "get");
    long seq;
    memcpy(&seq, item, sizeof seq);
    if (len != ITEM || seq != i) bench_die("item %ld out of order", i);
    if (i == 0) memcpy(&start, item + 8, sizeof start);
  }
  double elapsed = bench_now() - start;
  bench_check(mproc_process_join(p, MPROC_FOREVER), "join");
  int code;
  bench_check(mproc_process_exitcode(p, &code), "exitcode");
  if (code != 0) bench_die("the producer exited with %d", code);
  mproc_process_free(p);
  mproc_queue_free(q);
  bench_report(elapsed / (double)n * 1e9);
  return 0;
}
