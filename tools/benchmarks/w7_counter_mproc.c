/* SPDX-License-Identifier: Apache-2.0 */
/* W7 with mproc: 4 processes x 100k increments of a shared int, each under
 * the Value's own lock (CPython's `with counter.get_lock(): ...`), or with
 * --atomic as one lock-free fetch_add (beyond CPython). Children start
 * first and wait on an Event; the timed part is from the go signal to the
 * last join. Prints nanoseconds per increment.
 *   w7_counter_mproc [--atomic] [--processes P] [--iterations N] */
#include <string.h>

#include "mproc.h"
#include "tools/benchmarks/bench_util.h"

typedef struct {
  long iterations;
  int atomic;
} job_t;

static int fail(void) {
  fprintf(stderr, "bench: %s\n", mproc_last_error());
  return 1;
}

MPROC_TASK(incrementer) {
  (void)arg_len;
  const job_t *job = arg;
  mproc_value_t *counter;
  mproc_semaphore_t *ready;
  mproc_event_t *go;
  mproc_lock_t *lock;
  int *value;
  if (mproc_attached(0, (void **)&counter) != MPROC_OK ||
      mproc_attached(1, (void **)&ready) != MPROC_OK ||
      mproc_attached(2, (void **)&go) != MPROC_OK ||
      mproc_value_get_lock(counter, &lock) != MPROC_OK ||
      mproc_value_get_obj(counter, (void **)&value) != MPROC_OK)
    return fail();
  mproc_semaphore_release(ready);
  if (mproc_event_wait(go, 60) != MPROC_OK) return fail();
  for (long i = 0; i < job->iterations; i++) {
    if (job->atomic) {
      if (mproc_value_fetch_add(counter, 1, NULL) != MPROC_OK) return fail();
      continue;
    }
    if (mproc_lock_acquire(lock, MPROC_FOREVER) != MPROC_OK) return fail();
    *value += 1;
    if (mproc_lock_release(lock) != MPROC_OK) return fail();
  }
  return 0;
}

/* One run; returns seconds from the go signal to the last join. */
static double run(const job_t *job, int processes) {
  mproc_value_t *counter;
  mproc_semaphore_t *ready;
  mproc_event_t *go;
  mproc_process_t *p[64];
  if (mproc_value_create(&counter, 'i', NULL) != MPROC_OK ||
      mproc_semaphore_create(&ready, 0) != MPROC_OK ||
      mproc_event_create(&go) != MPROC_OK)
    bench_die("%s", mproc_last_error());
  for (int i = 0; i < processes; i++) {
    if (mproc_process_create(&p[i], NULL, incrementer, job, sizeof *job) ||
        mproc_process_attach(p[i], counter) ||
        mproc_process_attach(p[i], ready) || mproc_process_attach(p[i], go) ||
        mproc_process_start(p[i]))
      bench_die("%s", mproc_last_error());
  }
  for (int i = 0; i < processes; i++)
    if (mproc_semaphore_acquire(ready, 60) != MPROC_OK)
      bench_die("%s", mproc_last_error());
  double start = bench_now();
  mproc_event_set(go);
  for (int i = 0; i < processes; i++) {
    int code = -1;
    if (mproc_process_join(p[i], 60) != MPROC_OK ||
        mproc_process_exitcode(p[i], &code) != MPROC_OK || code != 0)
      bench_die("child %d failed (%d)", i, code);
    mproc_process_free(p[i]);
  }
  double elapsed = bench_now() - start;
  int total;
  mproc_value_get(counter, &total);
  if (total != processes * job->iterations)
    bench_die("counter %d, expected %ld", total, processes * job->iterations);
  mproc_value_free(counter);
  mproc_semaphore_free(ready);
  mproc_event_free(go);
  return elapsed;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) bench_die("%s", mproc_last_error());
  job_t job = {bench_count_arg(argc, argv, "--iterations", 100000), 0};
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--atomic") == 0) job.atomic = 1;
  int processes = (int)bench_count_arg(argc, argv, "--processes", 4);
  if (processes > 64) bench_die("at most 64 processes");
  run(&job, processes); /* warm-up */
  double elapsed = run(&job, processes);
  bench_report(elapsed / ((double)processes * (double)job.iterations) * 1e9);
  return 0;
}
