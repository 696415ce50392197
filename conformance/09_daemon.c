/* SPDX-License-Identifier: Apache-2.0 */
/* Guide example 09: a daemon process ends with its parent. */
#include <stdio.h>

#include "mproc.h"

MPROC_TASK(background_task) {
  (void)arg;
  (void)arg_len;
  do {
    printf("Background process running...\n");
    fflush(stdout); /* the parent ends us with SIGTERM: nothing may wait */
  } while (mproc_sleep(1) == MPROC_OK);
  return 0;
}

int main(int argc, char **argv) {
  mproc_process_t *p;
  if (mproc_init(argc, argv) != MPROC_OK ||
      mproc_process_create(&p, NULL, background_task, NULL, 0) != MPROC_OK ||
      mproc_process_set_daemon(p, 1) != MPROC_OK ||
      mproc_process_start(p) != MPROC_OK) {
    fprintf(stderr, "%s\n", mproc_last_error());
    return 1;
  }
  mproc_sleep(3);
  printf("Main process exiting, daemon will be terminated\n");
  return 0; /* mproc terminates the daemon at exit */
}
