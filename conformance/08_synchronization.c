/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 08: a Lock guarding a shared Value. */
#include <stdio.h>

#include "mproc.h"

#define CHECK(call)                                     \
  do {                                                  \
    if ((call) != MPROC_OK) {                           \
      fprintf(stderr, "%s\n", mproc_last_error());      \
      return 1;                                         \
    }                                                   \
  } while (0)

/* with lock: counter.value += 1, 10000 times (counter.value takes the
 * value's own lock too, as in CPython). */
MPROC_TASK(safe_increment) {
  (void)arg;
  (void)arg_len;
  mproc_value_t *counter;
  mproc_lock_t *lock;
  CHECK(mproc_attached(0, (void **)&counter));
  CHECK(mproc_attached(1, (void **)&lock));
  for (int i = 0; i < 10000; i++) {
    int value;
    CHECK(mproc_lock_acquire(lock, MPROC_FOREVER));
    CHECK(mproc_value_get(counter, &value));
    value += 1;
    CHECK(mproc_value_set(counter, &value));
    CHECK(mproc_lock_release(lock));
  }
  return 0;
}

int main(int argc, char **argv) {
  CHECK(mproc_init(argc, argv));
  mproc_lock_t *lock;
  mproc_value_t *counter;
  int zero = 0;
  CHECK(mproc_lock_create(&lock));
  CHECK(mproc_value_create(&counter, 'i', &zero));
  mproc_process_t *processes[4];
  for (int i = 0; i < 4; i++) {
    CHECK(mproc_process_create(&processes[i], NULL, safe_increment, NULL, 0));
    CHECK(mproc_process_attach(processes[i], counter));
    CHECK(mproc_process_attach(processes[i], lock));
    CHECK(mproc_process_start(processes[i]));
  }
  for (int i = 0; i < 4; i++) {
    CHECK(mproc_process_join(processes[i], MPROC_FOREVER));
    CHECK(mproc_process_free(processes[i]));
  }
  int total;
  CHECK(mproc_value_get(counter, &total));
  printf("Counter: %d\n", total);
  CHECK(mproc_value_free(counter));
  CHECK(mproc_lock_free(lock));
  return 0;
}
