/* SPDX-License-Identifier: Apache-2.0 */
/* The task registry (core/task_registry.h). */
#include "core/task_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/internal.h"

/* Entries pushed by MPROC_TASK constructors before main, and by
 * mproc_register_task; never removed. Newest first. */
static mproc_task_entry_t *task_list;

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

/* "name<sep>file<sep>rank", malloc'd (NULL when out of memory): tasks and
 * pool functions share the format. */
static char *format_key(const char *name, const char *file,
                        unsigned long rank) {
  size_t size = strlen(name) + strlen(file) + 32;
  char *key = malloc(size);
  if (key)
    snprintf(key, size, "%s%c%s%c%lu", name, KEY_SEPARATOR, file,
             KEY_SEPARATOR, rank);
  return key;
}

/* A key taken apart: name and file point into it (not terminated). */
typedef struct {
  const char *name, *file;
  size_t name_len, file_len;
  unsigned long rank;
} parsed_key_t;

static int parse_key(const char *key, parsed_key_t *k) {
  const char *first = strchr(key, KEY_SEPARATOR);
  const char *last = strrchr(key, KEY_SEPARATOR);
  if (first == NULL || first == last) return 0;
  char *end;
  k->rank = strtoul(last + 1, &end, 10);
  if (end == last + 1 || *end != '\0') return 0;
  k->name = key;
  k->name_len = (size_t)(first - key);
  k->file = first + 1;
  k->file_len = (size_t)(last - first - 1);
  return 1;
}

/* Whether an entry of that name and file is one the key may name. */
static int key_origin_is(const parsed_key_t *k, const char *name,
                         const char *file) {
  return strlen(name) == k->name_len &&
         strncmp(name, k->name, k->name_len) == 0 &&
         strlen(file) == k->file_len &&
         strncmp(file, k->file, k->file_len) == 0;
}

char *mp_task_key(const mproc_task_entry_t *e) {
  return format_key(e->name, entry_file(e), entry_rank(e));
}

const mproc_task_entry_t *mp_task_by_key(const char *key) {
  parsed_key_t k;
  if (!parse_key(key, &k)) return NULL;
  for (const mproc_task_entry_t *e = task_list; e; e = e->next)
    if (key_origin_is(&k, e->name, entry_file(e)) && k.rank-- == 0) return e;
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


/* ---- pool functions ----------------------------------------------
 * The second entry type of the registry: an object in, an object out. Same
 * key scheme as tasks (name, file, rank), in a list of their own: a key
 * travels to a pool worker, which knows it names a function. */

static mproc_function_entry_t *function_list;
static unsigned function_generation; /* bumped by every addition (__atomic) */

unsigned mp_function_generation(void) {
  return __atomic_load_n(&function_generation, __ATOMIC_ACQUIRE);
}

static int function_listed(const mproc_function_entry_t *entry) {
  for (const mproc_function_entry_t *e = function_list; e; e = e->next)
    if (e == entry) return 1;
  return 0;
}

void mproc_function_entry_add_(mproc_function_entry_t *entry) {
  if (entry == NULL || entry->name == NULL || entry->fn == NULL ||
      function_listed(entry))
    return;
  entry->next = function_list;
  function_list = entry;
  /* A new entry of the same name and file changes the others' ranks, so
   * their keys: a cached key is stale. */
  __atomic_fetch_add(&function_generation, 1, __ATOMIC_RELEASE);
}

static const char *function_file(const mproc_function_entry_t *e) {
  return e->file ? e->file : "";
}

const mproc_function_entry_t *mp_function_by_fn(mproc_function_fn fn) {
  const mproc_function_entry_t *found = NULL;
  for (const mproc_function_entry_t *e = function_list; e; e = e->next)
    if (e->fn == fn && (found == NULL || (found->file == NULL && e->file)))
      found = e;
  return found;
}

char *mp_function_key(const mproc_function_entry_t *e) {
  const char *file = function_file(e);
  unsigned long rank = 0;
  for (const mproc_function_entry_t *o = function_list; o && o != e;
       o = o->next)
    if (strcmp(o->name, e->name) == 0 && strcmp(function_file(o), file) == 0)
      rank++;
  return format_key(e->name, file, rank);
}

const mproc_function_entry_t *mp_function_by_key(const char *key) {
  parsed_key_t k;
  if (!parse_key(key, &k)) return NULL;
  for (const mproc_function_entry_t *e = function_list; e; e = e->next)
    if (key_origin_is(&k, e->name, function_file(e)) && k.rank-- == 0)
      return e;
  return NULL;
}

mproc_status_t mproc_register_function(const char *name,
                                       mproc_function_fn fn) {
  if (name == NULL || name[0] == '\0' || fn == NULL)
    return mp_fail(MPROC_EINVAL,
                   "register_function: NULL or empty name, or NULL fn");
  if (strchr(name, KEY_SEPARATOR) != NULL)
    return mp_fail(MPROC_EINVAL, "register_function: a name with a \\x1f byte");
  const mproc_function_entry_t *other = NULL;
  for (const mproc_function_entry_t *e = function_list; e; e = e->next) {
    if (strcmp(e->name, name) != 0) continue;
    if (e->fn == fn) return MPROC_OK;
    other = e;
  }
  if (other != NULL) {
    if (other->file)
      return mp_fail(MPROC_ESTATE,
                     "register_function: '%s' is taken by another function, "
                     "registered by MPROC_FUNCTION(%s) in %s",
                     name, other->name, other->file);
    return mp_fail(MPROC_ESTATE,
                   "register_function: '%s' is taken by another function, "
                   "registered by mproc_register_function(\"%s\")",
                   name, other->name);
  }
  mproc_function_entry_t *e = malloc(sizeof *e);
  if (e == NULL) return mp_fail(MPROC_ENOMEM, "register_function");
  e->name = mp_strdup(name);
  if (e->name == NULL) {
    free(e);
    return mp_fail(MPROC_ENOMEM, "register_function");
  }
  e->fn = fn;
  e->file = NULL;
  mproc_function_entry_add_(e);
  return MPROC_OK;
}
