/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 06: a shared Value and Array. */
#include <stdio.h>

#include "mproc.h"

#define CHECK(call)                                     \
  do {                                                  \
    if ((call) != MPROC_OK) {                           \
      fprintf(stderr, "%s\n", mproc_last_error());      \
      return 1;                                         \
    }                                                   \
  } while (0)

/* with counter.get_lock(): counter.value += 1, 10000 times. */
MPROC_TASK(increment) {
  (void)arg;
  (void)arg_len;
  mproc_value_t *counter;
  mproc_lock_t *lock;
  int *value;
  CHECK(mproc_attached(0, (void **)&counter));
  CHECK(mproc_value_get_lock(counter, &lock));
  CHECK(mproc_value_get_obj(counter, (void **)&value));
  for (int i = 0; i < 10000; i++) {
    CHECK(mproc_lock_acquire(lock, MPROC_FOREVER));
    *value += 1;
    CHECK(mproc_lock_release(lock));
  }
  return 0;
}

MPROC_TASK(modify_array) {
  (void)arg;
  (void)arg_len;
  mproc_array_t *arr;
  double *items;
  size_t n;
  CHECK(mproc_attached(0, (void **)&arr));
  CHECK(mproc_array_length(arr, &n));
  CHECK(mproc_array_get_obj(arr, (void **)&items));
  for (size_t i = 0; i < n; i++) items[i] = items[i] * 2;
  return 0;
}

/* Starts target in a child with object attached, and joins it. */
static int run_with(mproc_task_fn target, void *object, mproc_process_t **p) {
  CHECK(mproc_process_create(p, NULL, target, NULL, 0));
  CHECK(mproc_process_attach(*p, object));
  CHECK(mproc_process_start(*p));
  return 0;
}

int main(int argc, char **argv) {
  CHECK(mproc_init(argc, argv));
  int zero = 0;
  mproc_value_t *counter;
  CHECK(mproc_value_create(&counter, 'i', &zero));
  mproc_process_t *processes[4];
  for (int i = 0; i < 4; i++)
    if (run_with(increment, counter, &processes[i]) != 0) return 1;
  for (int i = 0; i < 4; i++) {
    CHECK(mproc_process_join(processes[i], MPROC_FOREVER));
    CHECK(mproc_process_free(processes[i]));
  }
  int total;
  CHECK(mproc_value_get(counter, &total));
  printf("Counter: %d\n", total);

  double initial[4] = {1.0, 2.0, 3.0, 4.0};
  mproc_array_t *arr;
  CHECK(mproc_array_create(&arr, 'd', 4, initial));
  mproc_process_t *p;
  if (run_with(modify_array, arr, &p) != 0) return 1;
  CHECK(mproc_process_join(p, MPROC_FOREVER));
  CHECK(mproc_process_free(p));
  double items[4];
  CHECK(mproc_array_read(arr, 0, 4, items));
  printf("Array: [%.1f, %.1f, %.1f, %.1f]\n", items[0], items[1], items[2],
         items[3]);
  CHECK(mproc_value_free(counter));
  CHECK(mproc_array_free(arr));
  return 0;
}
