/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3.mpmc with mproc: P producer processes -> P consumer processes, N items
 * of 64 bytes in all, through one Queue whose ring has the raw baseline's
 * size.
 *   w3_mpmc_mproc [--items N] [--processes P] [--capacity BYTES] [--method M]
 * Every item is counted: consumers add up how many they got and a checksum
 * of (producer, sequence) into two shared atomic values; the parent checks.
 * Clock window: from the go signal to the last consumer's end (the parent
 * puts one stop item per consumer after the producers are done).
 * Prints nanoseconds per item.
 */
#include <mproc.h>
#include <stdint.h>

#include "tools/benchmarks/bench_util.h"

#define ITEM 64
#define STOP UINT32_MAX

typedef struct {
  uint32_t producer, seq;
  char pad[ITEM - 8];
} item_t;

typedef struct {
  uint32_t id;
  long per;
} job_t;

/* Attached: 0 the queue, 1 the go event, 2 the count, 3 the checksum. */
static mproc_queue_t *queue_of_child(void) {
  mproc_queue_t *q;
  bench_check(mproc_attached_queue(0, &q), "attached queue");
  mproc_event_t *go;
  bench_check(mproc_attached_event(1, &go), "attached go");
  bench_check(mproc_event_wait(go, 60), "go");
  return q;
}

static uint64_t mix(uint32_t producer, uint32_t seq) {
  return ((uint64_t)producer << 32 | seq) * 0x9e3779b97f4a7c15u;
}

MPROC_TASK(producer) {
  (void)arg_len;
  const job_t *job = arg;
  mproc_queue_t *q = queue_of_child();
  item_t it;
  memset(&it, 'x', sizeof it);
  it.producer = job->id;
  for (long i = 0; i < job->per; i++) {
    it.seq = (uint32_t)i;
    bench_check(mproc_queue_put_bytes(q, &it, sizeof it, MPROC_FOREVER),
                "put");
  }
  return 0;
}

MPROC_TASK(consumer) {
  (void)arg;
  (void)arg_len;
  mproc_queue_t *q = queue_of_child();
  mproc_value_t *got_total, *sum_total;
  bench_check(mproc_attached_value(2, &got_total), "attached count");
  bench_check(mproc_attached_value(3, &sum_total), "attached checksum");
  uint64_t got = 0, sum = 0;
  for (item_t it;;) {
    size_t len;
    bench_check(mproc_queue_get_bytes_into(q, &it, sizeof it, &len,
                                           MPROC_FOREVER),
                "get");
    if (len != sizeof it) bench_die("an item of %zu bytes", len);
    if (it.seq == STOP) break;
    got++;
    sum += mix(it.producer, it.seq);
  }
  bench_check(mproc_value_fetch_add(got_total, (int64_t)got, NULL), "count");
  bench_check(mproc_value_fetch_add(sum_total, (int64_t)sum, NULL), "sum");
  return 0;
}

static mproc_process_t *start(mproc_context_t *ctx, mproc_task_fn fn,
                              const job_t *job, void **objects, int n) {
  mproc_process_t *p;
  bench_check(mproc_process_create(&p, ctx, fn, job, sizeof *job), "create");
  for (int i = 0; i < n; i++)
    bench_check(mproc_process_attach(p, objects[i]), "attach");
  bench_check(mproc_process_start(p), "start");
  return p;
}

static void join_all(mproc_process_t **ps, long n) {
  for (long i = 0; i < n; i++) {
    int code;
    bench_check(mproc_process_join(ps[i], MPROC_FOREVER), "join");
    bench_check(mproc_process_exitcode(ps[i], &code), "exitcode");
    if (code != 0) bench_die("a child exited with %d", code);
    mproc_process_free(ps[i]);
  }
}

int main(int argc, char **argv) {
  bench_check(mproc_init(argc, argv), "init");
  long n = bench_count_arg(argc, argv, "--items", 200000);
  long procs = bench_count_arg(argc, argv, "--processes", 4);
  long capacity = bench_count_arg(argc, argv, "--capacity", 256 * 1024);
  long per = n / procs;
  n = per * procs;
  mproc_context_t *ctx;
  bench_check(mproc_get_context(bench_arg(argc, argv, "--method", NULL), &ctx),
              "context");
  mproc_queue_t *q;
  mproc_event_t *go;
  mproc_value_t *got, *sum;
  bench_check(mproc_queue_create(&q, 0, (size_t)capacity), "queue");
  bench_check(mproc_event_create(&go), "event");
  bench_check(mproc_raw_value_create(&got, 'Q', NULL), "value");
  bench_check(mproc_raw_value_create(&sum, 'Q', NULL), "value");
  void *objects[] = {q, go, got, sum};
  mproc_process_t *producers[procs], *consumers[procs];
  for (long i = 0; i < procs; i++) {
    job_t job = {(uint32_t)i, per};
    producers[i] = start(ctx, producer, &job, objects, 2);
    consumers[i] = start(ctx, consumer, &job, objects, 4);
  }
  double begin = bench_now();
  bench_check(mproc_event_set(go), "go");
  join_all(producers, procs);
  item_t stop;
  memset(&stop, 0, sizeof stop);
  stop.seq = STOP;
  for (long i = 0; i < procs; i++)
    bench_check(mproc_queue_put_bytes(q, &stop, sizeof stop, MPROC_FOREVER),
                "put stop");
  join_all(consumers, procs);
  double elapsed = bench_now() - begin;
  uint64_t want = 0;
  for (long p = 0; p < procs; p++)
    for (long i = 0; i < per; i++) want += mix((uint32_t)p, (uint32_t)i);
  int64_t total, checksum;
  bench_check(mproc_value_load(got, &total), "count");
  bench_check(mproc_value_load(sum, &checksum), "sum");
  if (total != n || (uint64_t)checksum != want)
    bench_die("items lost or damaged: got %lld of %ld", (long long)total, n);
  mproc_queue_free(q);
  mproc_event_free(go);
  mproc_value_free(got);
  mproc_value_free(sum);
  bench_report(elapsed / (double)n * 1e9);
  return 0;
}
