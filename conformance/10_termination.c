/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 10: terminate, join with a timeout, kill if still alive. */
#include <stdio.h>

#include "mproc.h"

MPROC_TASK(long_running_task) {
  (void)arg;
  (void)arg_len;
  /* Python's version catches KeyboardInterrupt (SIGINT) to print
   * "Graceful shutdown"; terminate() sends SIGTERM, so neither prints it. */
  do {
    printf("Working...\n");
    fflush(stdout);
  } while (mproc_sleep(1) == MPROC_OK);
  return 0;
}

int main(int argc, char **argv) {
  mproc_process_t *p;
  if (mproc_init(argc, argv) != MPROC_OK ||
      mproc_process_create(&p, NULL, long_running_task, NULL, 0) !=
          MPROC_OK ||
      mproc_process_start(p) != MPROC_OK) {
    fprintf(stderr, "%s\n", mproc_last_error());
    return 1;
  }
  mproc_sleep(3);

  /* Graceful termination (SIGTERM) */
  mproc_process_terminate(p);
  mproc_process_join(p, 2);

  /* Force kill if still alive */
  int alive = 0;
  mproc_process_is_alive(p, &alive);
  if (alive) {
    mproc_process_kill(p);
    mproc_process_join(p, MPROC_FOREVER);
  }

  int code;
  if (mproc_process_exitcode(p, &code) != MPROC_OK) {
    fprintf(stderr, "%s\n", mproc_last_error());
    return 1;
  }
  printf("Exit code: %d\n", code);
  mproc_process_free(p);
  return 0;
}
