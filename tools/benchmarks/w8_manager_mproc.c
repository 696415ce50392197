/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W8 with mproc: a manager's dict.
 *   w8_manager_mproc --dict      one client: N sets then N gets, us per op
 *   w8_manager_mproc --parallel  4 client processes, N/4 sets each on one
 *                                dict, wall time per update (us)
 *   [--ops N] (default 10000)
 * Clock window: the operations only (the manager and the dict exist, 100
 * untimed sets warm the connection; --parallel includes starting and
 * joining the 4 clients, as the CPython twin does).
 */
#include <stdint.h>
#include <string.h>

#include "mproc.h"
#include "tools/benchmarks/bench_util.h"

#define TRY(call)                                               \
  do {                                                          \
    if ((call) != MPROC_OK) bench_die("%s", mproc_last_error()); \
  } while (0)

typedef struct {
  long base, n;
} range_t;

MPROC_TASK(updater) {
  range_t r;
  memcpy(&r, arg, sizeof r);
  (void)arg_len;
  mproc_proxy_t *d;
  if (mproc_attached_proxy(0, &d) != MPROC_OK) return 1;
  for (long i = r.base; i < r.base + r.n; i++)
    if (mproc_proxy_callf(d, NULL, "__setitem__", "LL", (long long)i,
                          (long long)i) != MPROC_OK)
      return 2;
  return 0;
}

static double parallel(mproc_proxy_t *d, long ops) {
  long each = ops / 4;
  mproc_process_t *p[4];
  double start = bench_now();
  for (int k = 0; k < 4; k++) {
    range_t r = {k * each, each};
    TRY(mproc_process_create(&p[k], NULL, updater, &r, sizeof r));
    TRY(mproc_process_attach(p[k], d));
    TRY(mproc_process_start(p[k]));
  }
  for (int k = 0; k < 4; k++) {
    int code;
    TRY(mproc_process_join(p[k], MPROC_FOREVER));
    TRY(mproc_process_exitcode(p[k], &code));
    if (code != 0) bench_die("an updater failed (%d)", code);
    TRY(mproc_process_free(p[k]));
  }
  double elapsed = bench_now() - start;
  mproc_obj_t *len;
  int64_t n;
  TRY(mproc_proxy_call(d, "__len__", NULL, &len));
  TRY(mproc_obj_get_int(len, &n));
  mproc_obj_free(len);
  if (n != 4 * each + 100) bench_die("lost updates: %lld", (long long)n);
  return elapsed / (double)(4 * each) * 1e6;
}

static double one_client(mproc_proxy_t *d, long n) {
  double start = bench_now();
  for (long i = 0; i < n; i++)
    TRY(mproc_proxy_callf(d, NULL, "__setitem__", "LL", (long long)i,
                          (long long)i));
  for (long i = 0; i < n; i++) {
    mproc_obj_t *v;
    int64_t got;
    TRY(mproc_proxy_callf(d, &v, "__getitem__", "L", (long long)i));
    TRY(mproc_obj_get_int(v, &got));
    mproc_obj_free(v);
    if (got != i) bench_die("wrong value");
  }
  return (bench_now() - start) / (double)(2 * n) * 1e6;
}

int main(int argc, char **argv) {
  TRY(mproc_init(argc, argv));
  long ops = bench_count_arg(argc, argv, "--ops", 10000);
  int par = 0;
  for (int i = 1; i < argc; i++) par |= strcmp(argv[i], "--parallel") == 0;
  mproc_manager_t *m;
  mproc_proxy_t *d;
  TRY(mproc_manager_start(&m, NULL));
  TRY(mproc_manager_dict(&d, m));
  for (int i = 0; i < 100; i++)
    TRY(mproc_proxy_callf(d, NULL, "__setitem__", "ii", -1 - i, i));
  bench_report(par ? parallel(d, ops) : one_client(d, ops));
  TRY(mproc_proxy_free(d));
  TRY(mproc_manager_free(m));
  return 0;
}
