/* SPDX-License-Identifier: Apache-2.0 */
/* core/'s process-wide locks and the at-fork hooks that make them
 * fork-safe (core/locks.h). */
#include "core/locks.h"

#include "platform/platform.h"

static mp_mutex_t registry = MP_MUTEX_INIT;
static mp_mutex_t arena = MP_MUTEX_INIT;
static mp_mutex_t objects = MP_MUTEX_INIT; /* a leaf: nothing is taken under it */
static mp_once_t hooks_once = MP_ONCE_INIT;

/* In lock order; released in the reverse one. */
static void before_fork(void) {
  mp_mutex_lock(&registry);
  mp_mutex_lock(&arena);
  mp_mutex_lock(&objects);
}

static void after_fork(void) {
  mp_mutex_unlock(&objects);
  mp_mutex_unlock(&arena);
  mp_mutex_unlock(&registry);
}

/* At the first use of either lock (after mp_platform_init, whose own
 * hooks must be registered first: see platform/posix/runtime.c). Should
 * the registration fail (out of memory), the locks still lock; a fork
 * racing a holder could then leave the child with one held. */
static void install_hooks(void) {
  (void)mp_atfork_register(before_fork, after_fork, after_fork);
}

void mp_registry_lock(void) {
  mp_once(&hooks_once, install_hooks);
  mp_mutex_lock(&registry);
}

void mp_registry_unlock(void) { mp_mutex_unlock(&registry); }

void mp_arena_lock(void) {
  mp_once(&hooks_once, install_hooks);
  mp_mutex_lock(&arena);
}

void mp_arena_unlock(void) { mp_mutex_unlock(&arena); }

void mp_objects_lock(void) {
  mp_once(&hooks_once, install_hooks);
  mp_mutex_lock(&objects);
}

void mp_objects_unlock(void) { mp_mutex_unlock(&objects); }
