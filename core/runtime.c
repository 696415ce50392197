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
 * mproc_register_task; never removed. Newest first. */
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

static int is_listed(const mproc_task_entry_t *entry) {
  for (const mproc_task_entry_t *e = task_list; e; e = e->next)
    if (e == entry) return 1;
  return 0;
}

void mproc_task_entry_add_(mproc_task_entry_t *entry) {
  /* An entry added twice would link to itself. */
  if (entry == NULL || entry->name == NULL || entry->fn == NULL ||
      is_listed(entry))
    return;
  entry->next = task_list;
  task_list = entry;
}

/* ---- task keys ----------------------------------------------------
 * MPROC_TASK functions are static: two files, or one header included by
 * two files, may each define a task of the same name. A key tells every
 * entry apart: its name, its file ("" for a public name) and its rank
 * among the entries of that name and file. Constructors run in the same
 * order in every process of the same program, so a spawned child finds
 * the entry its parent meant. */

/* Separates the fields of a key: appears in no name or file name. */
#define KEY_SEPARATOR '\x1f'

static const char *entry_file(const mproc_task_entry_t *e) {
  return e->file ? e->file : "";
}

static int same_origin(const mproc_task_entry_t *a,
                       const mproc_task_entry_t *b) {
  return strcmp(a->name, b->name) == 0 &&
         strcmp(entry_file(a), entry_file(b)) == 0;
}

/* The rank of e among the entries of its name and file (list order). */
static unsigned long entry_rank(const mproc_task_entry_t *e) {
  unsigned long rank = 0;
  for (const mproc_task_entry_t *o = task_list; o && o != e; o = o->next)
    if (same_origin(o, e)) rank++;
  return rank;
}

const mproc_task_entry_t *mp_task_by_fn(mproc_task_fn fn) {
  /* An MPROC_TASK entry first: it exists in every process at load time,
   * where a public name may have been registered here only. */
  const mproc_task_entry_t *found = NULL;
  for (const mproc_task_entry_t *e = task_list; e; e = e->next)
    if (e->fn == fn && (found == NULL || (found->file == NULL && e->file)))
      found = e;
  return found;
}

char *mp_task_key(const mproc_task_entry_t *e) {
  const char *file = entry_file(e);
  size_t size = strlen(e->name) + strlen(file) + 32;
  char *key = malloc(size);
  if (key)
    snprintf(key, size, "%s%c%s%c%lu", e->name, KEY_SEPARATOR, file,
             KEY_SEPARATOR, entry_rank(e));
  return key;
}

const mproc_task_entry_t *mp_task_by_key(const char *key) {
  const char *first = strchr(key, KEY_SEPARATOR);
  const char *last = strrchr(key, KEY_SEPARATOR);
  if (first == NULL || first == last) return NULL;
  size_t name_len = (size_t)(first - key);
  size_t file_len = (size_t)(last - first - 1);
  char *end;
  unsigned long rank = strtoul(last + 1, &end, 10);
  if (end == last + 1 || *end != '\0') return NULL;
  for (const mproc_task_entry_t *e = task_list; e; e = e->next) {
    const char *file = entry_file(e);
    if (strlen(e->name) != name_len || strncmp(e->name, key, name_len) != 0 ||
        strlen(file) != file_len || strncmp(file, first + 1, file_len) != 0)
      continue;
    if (rank-- == 0) return e;
  }
  return NULL;
}

void mp_task_key_describe(const char *key, char *out, size_t size) {
  const char *first = strchr(key, KEY_SEPARATOR);
  const char *last = strrchr(key, KEY_SEPARATOR);
  if (first == NULL || first == last) {
    snprintf(out, size, "'%s'", key);
  } else if (first + 1 == last) {
    snprintf(out, size, "'%.*s' (mproc_register_task)", (int)(first - key),
             key);
  } else {
    snprintf(out, size, "'%.*s' (MPROC_TASK in %.*s, #%s)", (int)(first - key),
             key, (int)(last - first - 1), first + 1, last + 1);
  }
}

/* Where e was registered, for error messages. */
static void describe_entry(const mproc_task_entry_t *e, char *out,
                           size_t size) {
  if (e->file)
    snprintf(out, size, "MPROC_TASK(%s) in %s", e->name, e->file);
  else
    snprintf(out, size, "mproc_register_task(\"%s\")", e->name);
}

mproc_status_t mproc_register_task(const char *name, mproc_task_fn fn) {
  if (name == NULL || name[0] == '\0' || fn == NULL)
    return mp_fail(MPROC_EINVAL, "register_task: NULL or empty name, or NULL fn");
  if (strchr(name, KEY_SEPARATOR) != NULL)
    return mp_fail(MPROC_EINVAL, "register_task: a name with a \\x1f byte");
  const mproc_task_entry_t *other = NULL;
  for (const mproc_task_entry_t *e = task_list; e; e = e->next) {
    if (strcmp(e->name, name) != 0) continue;
    if (e->fn == fn) return MPROC_OK; /* the same pair again */
    other = e;
  }
  if (other != NULL) {
    char where[512];
    describe_entry(other, where, sizeof where);
    return mp_fail(MPROC_ESTATE,
                   "register_task: '%s' is taken by another function, "
                   "registered by %s",
                   name, where);
  }
  mproc_task_entry_t *e = malloc(sizeof *e);
  if (e == NULL) return mp_fail(MPROC_ENOMEM, "register_task");
  e->name = mp_strdup(name);
  if (e->name == NULL) {
    free(e);
    return mp_fail(MPROC_ENOMEM, "register_task");
  }
  e->fn = fn;
  e->file = NULL;
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

mproc_status_t mp_context_check(const mproc_context_t *ctx, const char *call) {
  if (ctx == NULL || ctx == &fork_context || ctx == &spawn_context)
    return MPROC_OK;
  return mp_fail(MPROC_EINVAL,
                 "%s: not a context (mproc_get_context gives them)", call);
}

mproc_status_t mproc_context_method(const mproc_context_t *ctx,
                                    const char **out) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "context_method: out");
  if ((st = mp_context_check(ctx, "context_method")) != MPROC_OK) return st;
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

static const mproc_context_t *platform_default(void) {
  return mp_platform_can_fork() ? &fork_context : &spawn_context;
}

static mproc_status_t choose_default_method(void) {
  default_context = platform_default();
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
  if (is_child)
    default_context = platform_default(); /* until the bootstrap's */
  else if ((st = choose_default_method()) != MPROC_OK)
    return st;
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
