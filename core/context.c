/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Contexts and the default start method. The table below is the only list
 * of start methods in mproc: mproc_all_start_methods, the errors for
 * unknown names, the tests, the replay and the bench all derive from it.
 * Its order is the preference order: the first method the platform has
 * is the default (see docs/architecture.md, "The default start method").
 */
#include "core/context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static const mp_start_method_t *const methods[] = {
    &mp_popen_fork,
    &mp_popen_spawn,
    &mp_popen_forkserver,
};
#define NMETHODS (sizeof methods / sizeof methods[0])

static mproc_context_t contexts[NMETHODS] = {
    {&mp_popen_fork},
    {&mp_popen_spawn},
    {&mp_popen_forkserver},
};

static const mproc_context_t *default_context;

/* Built once (the methods' availability never changes). */
static const char *available_names[NMETHODS + 1];
static mp_once_t available_once = MP_ONCE_INIT;

static void list_available(void) {
  size_t n = 0;
  for (size_t i = 0; i < NMETHODS; i++)
    if (methods[i]->available()) available_names[n++] = methods[i]->name;
}

const char *const *mproc_all_start_methods(void) {
  mp_once(&available_once, list_available);
  return available_names;
}

/* "fork, spawn, forkserver": the platform's methods, for messages. */
static void list_methods(char *out, size_t size) {
  out[0] = '\0';
  size_t used = 0;
  for (const char *const *m = mproc_all_start_methods(); *m && used < size;
       m++) {
    int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", *m);
    if (n < 0) break;
    used += (size_t)n;
  }
}

static mproc_status_t lookup_method(const char *method,
                                    const mproc_context_t **out) {
  for (size_t i = 0; i < NMETHODS; i++) {
    if (strcmp(method, methods[i]->name) != 0) continue;
    if (!methods[i]->available()) {
      char have[128];
      list_methods(have, sizeof have);
      return mp_fail(MPROC_ENOTSUP,
                     "start method '%s' on this platform (it has: %s)",
                     method, have);
    }
    *out = &contexts[i];
    return MPROC_OK;
  }
  char have[128];
  list_methods(have, sizeof have);
  return mp_fail(MPROC_EINVAL, "unknown start method '%s' (%s)", method, have);
}

const mproc_context_t *mp_default_context(void) { return default_context; }

const mp_start_method_t *mp_context_strategy(const mproc_context_t *ctx) {
  return (ctx ? ctx : default_context)->method;
}

mproc_status_t mp_context_check(const mproc_context_t *ctx, const char *call) {
  if (ctx == NULL) return MPROC_OK;
  for (size_t i = 0; i < NMETHODS; i++)
    if (ctx == &contexts[i]) return MPROC_OK;
  return mp_fail(MPROC_EINVAL,
                 "%s: not a context (mproc_get_context gives them)", call);
}

mproc_status_t mp_context_init(int use_env) {
  const char *first = mproc_all_start_methods()[0];
  if (first == NULL) return mp_fail(MPROC_ENOMEM, "init: start methods");
  mproc_status_t st = lookup_method(first, &default_context);
  if (st != MPROC_OK || !use_env) return st;
  const char *env = getenv("MPROC_START_METHOD");
  if (env == NULL || env[0] == '\0') return MPROC_OK;
  return lookup_method(env, &default_context);
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
  if ((st = mp_context_check(ctx, "context_method")) != MPROC_OK) return st;
  *out = mp_context_strategy(ctx)->name;
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
