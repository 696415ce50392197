/* SPDX-License-Identifier: Apache-2.0 */
/* Starts a child with the default start method (MPROC_START_METHOD) that
 * sends a greeting through a pipe; prints it. `hello_c --methods` prints
 * mproc_all_start_methods(), one a line. */
#include <stdio.h>
#include <string.h>

#include "mproc.h"

MPROC_TASK(greeter) {
  mproc_connection_t *c;
  if (mproc_attached_connection(0, &c) != MPROC_OK) return 2;
  return mproc_connection_send_bytes(c, "hello from a child", 18, 0, MPROC_REST,
                                     MPROC_FOREVER) == MPROC_OK ? 0 : 3;
}

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return 1;
  if (argc > 1 && strcmp(argv[1], "--methods") == 0) {
    for (const char *const *m = mproc_all_start_methods(); *m; m++) puts(*m);
    return 0;
  }
  mproc_connection_t *mine, *theirs;
  mproc_process_t *p;
  void *msg;
  size_t len;
  int code = -1;
  if (mproc_pipe(&mine, &theirs, 1) != MPROC_OK ||
      mproc_process_create(&p, NULL, greeter, NULL, 0) != MPROC_OK ||
      mproc_process_attach(p, theirs) != MPROC_OK ||
      mproc_process_start(p) != MPROC_OK ||
      mproc_connection_recv_bytes(mine, 0, &msg, &len, 30) != MPROC_OK ||
      mproc_process_join(p, 30) != MPROC_OK ||
      mproc_process_exitcode(p, &code) != MPROC_OK) {
    fprintf(stderr, "%s\n", mproc_last_error());
    return 1;
  }
  printf("%.*s (exit code %d, mproc %s)\n", (int)len, (const char *)msg, code,
         mproc_version_string());
  return code;
}
