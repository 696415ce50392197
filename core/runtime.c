/* SPDX-License-Identifier: Apache-2.0 */
/* Library start-up, the task registry and the start-method contexts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static int initialized;

static mproc_context_t fork_context = {"fork", 0};
static mproc_context_t spawn_context = {"spawn", 1};
static const mproc_context_t *default_context;

/* Entries pushed by MPROC_TASK constructors before main, and by
 * mproc_register_task; never removed. */
static mproc_task_entry_t *task_list;

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

const mproc_context_t *mp_default_context(void) { return default_context; }

void mproc_task_entry_add_(mproc_task_entry_t *entry) {
  if (entry == NULL || entry->name == NULL || entry->fn == NULL) return;
  entry->next = task_list;
  task_list = entry;
}

const mproc_task_entry_t *mp_task_by_name(const char *name) {
  for (const mproc_task_entry_t *e = task_list; e; e = e->next)
    if (strcmp(e->name, name) == 0) return e;
  return NULL;
}

const mproc_task_entry_t *mp_task_by_fn(mproc_task_fn fn, int *ambiguous) {
  *ambiguous = 0;
  const mproc_task_entry_t *found = NULL;
  for (const mproc_task_entry_t *e = task_list; e && !found; e = e->next)
    if (e->fn == fn) found = e;
  if (found)
    for (const mproc_task_entry_t *e = task_list; e; e = e->next)
      if (e->fn != fn && strcmp(e->name, found->name) == 0) *ambiguous = 1;
  return found;
}

mproc_status_t mproc_register_task(const char *name, mproc_task_fn fn) {
  if (name == NULL || name[0] == '\0' || fn == NULL)
    return mp_fail(MPROC_EINVAL, "register_task: NULL or empty name, or NULL fn");
  const mproc_task_entry_t *same = mp_task_by_name(name);
  if (same != NULL)
    return same->fn == fn ? MPROC_OK
                          : mp_fail(MPROC_ESTATE,
                                    "register_task: '%s' names another task",
                                    name);
  mproc_task_entry_t *e = malloc(sizeof *e);
  if (e == NULL) return mp_fail(MPROC_ENOMEM, "register_task");
  e->name = mp_strdup(name);
  if (e->name == NULL) {
    free(e);
    return mp_fail(MPROC_ENOMEM, "register_task");
  }
  e->fn = fn;
  mproc_task_entry_add_(e);
  return MPROC_OK;
}

static const char *const fork_methods[] = {"fork", "spawn", NULL};
static const char *const spawn_methods[] = {"spawn", NULL};

const char *const *mproc_all_start_methods(void) {
  return mp_platform_can_fork() ? fork_methods : spawn_methods;
}

static mproc_status_t lookup_method(const char *method,
                                    const mproc_context_t **out) {
  if (strcmp(method, "fork") == 0) {
    if (!mp_platform_can_fork())
      return mp_fail(MPROC_ENOTSUP, "start method 'fork' on this platform");
    *out = &fork_context;
  } else if (strcmp(method, "spawn") == 0) {
    *out = &spawn_context;
  } else {
    return mp_fail(MPROC_EINVAL, "unknown start method '%s' (fork, spawn)",
                   method);
  }
  return MPROC_OK;
}

mproc_status_t mproc_get_context(const char *method, mproc_context_t **out) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "get_context: out");
  const mproc_context_t *ctx = default_context;
  if (method != NULL && (st = lookup_method(method, &ctx)) != MPROC_OK)
    return st;
  *out = (mproc_context_t *)ctx;
  return MPROC_OK;
}

mproc_status_t mproc_context_method(const mproc_context_t *ctx,
                                    const char **out) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "context_method: out");
  *out = (ctx ? ctx : default_context)->method;
  return MPROC_OK;
}

mproc_status_t mproc_set_start_method(const char *method) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(method, "set_start_method: method");
  const mproc_context_t *ctx;
  if ((st = lookup_method(method, &ctx)) != MPROC_OK) return st;
  default_context = ctx;
  return MPROC_OK;
}

static void exit_function(void) { mp_process_exit_cleanup(); }

static mproc_status_t choose_default_method(void) {
  default_context = mp_platform_can_fork() ? &fork_context : &spawn_context;
  const char *env = getenv("MPROC_START_METHOD");
  if (env == NULL || env[0] == '\0') return MPROC_OK;
  return lookup_method(env, &default_context);
}

mproc_status_t mproc_init(int argc, char **argv) {
  if (argc < 0 || (argv == NULL && argc > 0))
    return mp_fail(MPROC_EINVAL, "init: argc < 0 or argv NULL");
  if (initialized) return MPROC_OK;
  mproc_status_t st = mp_platform_init(argc > 0 ? argv[0] : NULL);
  if (st != MPROC_OK) return st;
  if ((st = choose_default_method()) != MPROC_OK) return st;
  mp_process_module_init();
  initialized = 1;
  if (atexit(exit_function) != 0)
    return mp_fail(MPROC_ESYS, "init: atexit");

  int is_child = 0;
  void *blob = NULL;
  size_t len = 0;
  st = mp_spawned_bootstrap(argc, argv, &is_child, &blob, &len);
  if (st != MPROC_OK) {
    /* A broken bootstrap is only possible in a child: report and end it. */
    fprintf(stderr, "mproc: %s\n", mproc_last_error());
    exit(255);
  }
  if (!is_child) return MPROC_OK;
  int code = mp_process_run_spawned(blob, len);
  free(blob);
  exit(code); /* runs exit_function: this child's own children are joined */
}
