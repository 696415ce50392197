/* SPDX-License-Identifier: Apache-2.0 */
/* W11 with mproc, 2 processes (fork), N cycles (default 10000):
 *   --barrier  both call Barrier(2).wait() N times;
 *   --event    ping-pong: the parent sets `ping` and waits for `pong`, the
 *              child waits for `ping`, clears it and sets `pong`.
 * Clock window: the N cycles after one untimed one.
 * Prints microseconds per cycle. */
#include <string.h>

#include "mproc.h"
#include "tools/benchmarks/bench_util.h"

static int fail(void) {
  fprintf(stderr, "bench: %s\n", mproc_last_error());
  return 1;
}

MPROC_TASK(barrier_party) {
  (void)arg_len;
  long n = *(const long *)arg;
  mproc_barrier_t *b;
  if (mproc_attached(0, (void **)&b) != MPROC_OK) return fail();
  for (long i = 0; i < n + 1; i++)
    if (mproc_barrier_wait(b, NULL) != MPROC_OK) return fail();
  return 0;
}

MPROC_TASK(ponger) {
  (void)arg_len;
  long n = *(const long *)arg;
  mproc_event_t *ping, *pong;
  if (mproc_attached(0, (void **)&ping) != MPROC_OK ||
      mproc_attached(1, (void **)&pong) != MPROC_OK)
    return fail();
  for (long i = 0; i < n + 1; i++) {
    if (mproc_event_wait(ping, 60) != MPROC_OK) return fail();
    mproc_event_clear(ping);
    mproc_event_set(pong);
  }
  return 0;
}

static void finish(mproc_process_t *p) {
  int code = -1;
  if (mproc_process_join(p, 60) != MPROC_OK ||
      mproc_process_exitcode(p, &code) != MPROC_OK || code != 0)
    bench_die("the child failed (%d)", code);
  mproc_process_free(p);
}

static mproc_process_t *start(mproc_task_fn task, long *n, void *a, void *b) {
  mproc_process_t *p;
  if (mproc_process_create(&p, NULL, task, n, sizeof *n) != MPROC_OK ||
      mproc_process_attach(p, a) != MPROC_OK ||
      (b && mproc_process_attach(p, b) != MPROC_OK) ||
      mproc_process_start(p) != MPROC_OK)
    bench_die("%s", mproc_last_error());
  return p;
}

static double barrier_cycles(long n) {
  mproc_barrier_t *b;
  if (mproc_barrier_create(&b, 2, NULL, NULL, 0, MPROC_FOREVER) != MPROC_OK)
    bench_die("%s", mproc_last_error());
  mproc_process_t *p = start(barrier_party, &n, b, NULL);
  if (mproc_barrier_wait(b, NULL) != MPROC_OK) bench_die("warm-up");
  double t0 = bench_now();
  for (long i = 0; i < n; i++)
    if (mproc_barrier_wait(b, NULL) != MPROC_OK)
      bench_die("%s", mproc_last_error());
  double elapsed = bench_now() - t0;
  finish(p);
  mproc_barrier_free(b);
  return elapsed;
}

static double event_cycles(long n) {
  mproc_event_t *ping, *pong;
  if (mproc_event_create(&ping) != MPROC_OK ||
      mproc_event_create(&pong) != MPROC_OK)
    bench_die("%s", mproc_last_error());
  mproc_process_t *p = start(ponger, &n, ping, pong);
  double t0 = 0;
  for (long i = 0; i < n + 1; i++) {
    if (i == 1) t0 = bench_now(); /* cycle 0 is the warm-up */
    mproc_event_set(ping);
    if (mproc_event_wait(pong, 60) != MPROC_OK)
      bench_die("%s", mproc_last_error());
    mproc_event_clear(pong);
  }
  double elapsed = bench_now() - t0;
  finish(p);
  mproc_event_free(ping);
  mproc_event_free(pong);
  return elapsed;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) bench_die("%s", mproc_last_error());
  long n = bench_count_arg(argc, argv, "--iterations", 10000);
  int barrier = argc > 1 && strcmp(argv[1], "--barrier") == 0;
  int event = argc > 1 && strcmp(argv[1], "--event") == 0;
  if (!barrier && !event) bench_die("--barrier or --event first");
  double elapsed = barrier ? barrier_cycles(n) : event_cycles(n);
  bench_report(elapsed / (double)n * 1e6);
  return 0;
}
