/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 11: ProcessPoolExecutor, submit + as_completed, then map. */
#include <stdio.h>

#include "mproc.h"

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, mproc_last_error());
  return 1;
}

/* sum(i * i for i in range(n)); volatile: the loop really runs. */
MPROC_FUNCTION(compute) {
  int64_t n;
  mproc_status_t st = mproc_obj_get_int(in, &n);
  if (st != MPROC_OK) return st;
  volatile int64_t total = 0;
  for (int64_t i = 0; i < n; i++) total += i * i;
  return mproc_obj_int(out, total);
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return fail("mproc_init");
  const long long n = 1000000;
  mproc_obj_t *numbers;
  if (mproc_obj_build(&numbers, "[LLLL]", n, n, n, n) != MPROC_OK)
    return fail("obj_build");

  /* with ProcessPoolExecutor(max_workers=4) as executor: */
  mproc_executor_options_t opts;
  mproc_executor_options_init(&opts);
  opts.max_workers = 4;
  mproc_executor_t *executor;
  if (mproc_process_executor_create(&executor, &opts) != MPROC_OK)
    return fail("process_executor_create");

  /* Submit individual tasks */
  mproc_future_t *futures[4];
  for (size_t i = 0; i < 4; i++) {
    const mproc_obj_t *v;
    if (mproc_obj_list_get(numbers, i, &v) != MPROC_OK ||
        mproc_executor_submit(&futures[i], executor, compute, v) != MPROC_OK)
      return fail("executor_submit");
  }

  /* Process results as they complete */
  mproc_as_completed_t *done;
  if (mproc_as_completed(&done, futures, 4) != MPROC_OK)
    return fail("as_completed");
  mproc_future_t *f;
  while (mproc_as_completed_next(done, &f, MPROC_FOREVER) == MPROC_OK) {
    mproc_obj_t *result;
    int64_t x;
    if (mproc_future_result(f, &result, MPROC_FOREVER) != MPROC_OK ||
        mproc_obj_get_int(result, &x) != MPROC_OK)
      return fail("future_result");
    printf("Result: %lld\n", (long long)x);
    mproc_obj_free(result);
  }
  mproc_as_completed_free(done);
  for (size_t i = 0; i < 4; i++) mproc_future_free(futures[i]);

  /* Or use map for ordered results */
  mproc_executor_map_t *it;
  if (mproc_executor_map(&it, executor, compute, numbers, MPROC_FOREVER, 1,
                         0) != MPROC_OK)
    return fail("executor_map");
  printf("All results: [");
  mproc_obj_t *result;
  mproc_status_t st;
  for (int i = 0; (st = mproc_executor_map_next(it, &result)) == MPROC_OK;
       i++) {
    int64_t x = 0;
    mproc_obj_get_int(result, &x);
    printf("%s%lld", i ? ", " : "", (long long)x);
    mproc_obj_free(result);
  }
  if (st != MPROC_EOF) return fail("executor_map_next");
  printf("]\n");
  mproc_executor_map_free(it);
  if (mproc_executor_free(executor) != MPROC_OK) return fail("executor_free");
  mproc_obj_free(numbers);
  return 0;
}
