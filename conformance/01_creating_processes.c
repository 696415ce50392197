/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 01: creating processes. */
#include <stdio.h>

#include "mproc.h"

MPROC_TASK(worker) {
  (void)arg_len;
  int name = *(const int *)arg;
  mproc_process_t *self;
  long pid;
  mproc_current_process(&self);
  mproc_process_pid(self, &pid);
  printf("Worker %d, PID: %ld\n", name, pid);
  return 0;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) {
    fprintf(stderr, "%s\n", mproc_last_error());
    return 1;
  }
  mproc_process_t *processes[4];
  for (int i = 0; i < 4; i++) {
    if (mproc_process_create(&processes[i], NULL, worker, &i, sizeof i) !=
            MPROC_OK ||
        mproc_process_start(processes[i]) != MPROC_OK) {
      fprintf(stderr, "%s\n", mproc_last_error());
      return 1;
    }
  }
  for (int i = 0; i < 4; i++) {
    mproc_process_join(processes[i], MPROC_FOREVER);
    mproc_process_free(processes[i]);
  }
  mproc_process_t *self;
  long pid;
  mproc_current_process(&self);
  mproc_process_pid(self, &pid);
  printf("Main process PID: %ld\n", pid);
  return 0;
}
