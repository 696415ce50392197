/* SPDX-License-Identifier: Apache-2.0 */
/* Library start-up: what mproc_init makes of this process (a program, a
 * spawned child, or a forkserver). The task registry is in
 * core/task_registry.c, the contexts in core/context.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/internal.h"

static int initialized;

char *mp_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy) memcpy(copy, s, n);
  return copy;
}

mproc_status_t mp_require_init(void) {
  return initialized ? MPROC_OK
                     : mp_fail(MPROC_ENOINIT, "call mproc_init() first");
}

static void exit_function(void) { mp_process_exit_cleanup(); }

/* A child the forkserver forked: it runs the spawned-child path on the
 * record its parent sent, and exits as a spawned child does (atexit: its
 * own children are joined). */
static int forkserver_child_main(const void *blob, size_t len) {
  mp_process_module_init(); /* this process's pid, not the server's */
  exit(mp_process_run_spawned(blob, len));
}

mproc_status_t mproc_init(int argc, char **argv) {
  if (argc < 0 || (argv == NULL && argc > 0))
    return mp_fail(MPROC_EINVAL, "init: argc < 0 or argv NULL");
  if (initialized) return MPROC_OK;
  mproc_status_t st = mp_platform_init(argc > 0 ? argv[0] : NULL);
  if (st != MPROC_OK) return st;
  if (mp_forkserver_is_server()) {
    /* Started by the forkserver start method: serve, never return to
     * main. The children it forks inherit this initialised state. */
    if (mp_context_init(0) != MPROC_OK || atexit(exit_function) != 0) {
      fprintf(stderr, "mproc: forkserver: init failed\n");
      _Exit(255);
    }
    mp_process_module_init();
    initialized = 1;
    mp_forkserver_serve(forkserver_child_main);
  }
  /* The bootstrap first: a spawned child must run its task, whatever the
   * environment says (its default start method is the parent's). */
  int is_child = 0;
  void *blob = NULL;
  size_t len = 0;
  st = mp_spawned_bootstrap(argc, argv, &is_child, &blob, &len);
  if (st != MPROC_OK) {
    /* A broken bootstrap is only possible in a child: report and end it. */
    fprintf(stderr, "mproc: %s\n", mproc_last_error());
    exit(255);
  }
  /* A child: the platform's default until the bootstrap's. */
  if ((st = mp_context_init(!is_child)) != MPROC_OK) {
    if (!is_child) return st;
    fprintf(stderr, "mproc: spawned child: %s\n", mproc_last_error());
    exit(255);
  }
  mp_process_module_init();
  initialized = 1;
  if (atexit(exit_function) != 0) {
    if (!is_child) return mp_fail(MPROC_ESYS, "init: atexit");
    fprintf(stderr, "mproc: spawned child: init: atexit failed\n");
    exit(255);
  }
  if (!is_child) return MPROC_OK;
  int code = mp_process_run_spawned(blob, len);
  free(blob);
  exit(code); /* runs exit_function: this child's own children are joined */
}
