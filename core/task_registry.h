/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the registry of what a child may run by name (core/task_registry.c).
 *
 * A child started by spawn or forkserver runs a fresh copy of the program
 * and finds the code its parent meant by a key (mp_task_key), so every such
 * target must be registered (MPROC_TASK, mproc_register_task). fork needs
 * no registry: the child runs the parent's function pointer.
 *
 * Two kinds of entries, one key space:
 *   tasks      int fn(const void *arg, size_t arg_len): the exit code of a
 *              Process (mproc_task_entry_t, include/mproc.h). Implemented.
 *   functions  the pool's (core/pool_engine.c): object in, object out,
 *              as CPython's Pool.map/apply pickle them
 *              (mproc_function_fn, MPROC_FUNCTION,
 *              mproc_register_function). Their own entry type and list, the
 *              same key scheme (name, file, rank), found by
 *              mp_function_by_fn / mp_function_by_key, so that a worker
 *              looks a function up the way a spawned child looks its task
 *              up. A key travels where only one kind is meant (a bootstrap
 *              record names a task, a pool message a function), so it
 *              carries no kind field.
 * Depends on nothing but the error module: process.c, the start methods
 * and the (future) pool include it, it includes none of them.
 */
#ifndef MPROC_CORE_TASK_REGISTRY_H
#define MPROC_CORE_TASK_REGISTRY_H

#include <stddef.h>

#include "mproc.h"

/* The entry of fn (an MPROC_TASK one if fn has both kinds), or NULL. */
const mproc_task_entry_t *mp_task_by_fn(mproc_task_fn fn);
/* A string naming entry e apart from every other entry, in any process
 * running this program: a spawned child looks it up with mp_task_by_key.
 * malloc'd; NULL when out of memory. */
char *mp_task_key(const mproc_task_entry_t *e);
/* The entry a key names, or NULL (unknown or malformed key). */
const mproc_task_entry_t *mp_task_by_key(const char *key);
/* A readable form of a key for messages: "'worker' (MPROC_TASK in a.c, #0)". */
void mp_task_key_describe(const char *key, char *out, size_t size);

/* The same three for pool functions. */
const mproc_function_entry_t *mp_function_by_fn(mproc_function_fn fn);
char *mp_function_key(const mproc_function_entry_t *e);
const mproc_function_entry_t *mp_function_by_key(const char *key);
/* Changes whenever a function is registered (keys may change then). */
unsigned mp_function_generation(void);

#endif
