/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to core/: its process-wide locks (core/locks.c), on the seam's
 * mp_mutex_t. Each does one job, and the at-fork hooks core/ registers
 * with mp_atfork_register make all of them fork-safe: they are held across
 * every fork (the program's own too), so a forked child never inherits one
 * held by a thread it does not have. (The pipe ends of a child being made
 * are the platform's to guard, inside mp_child_fork/mp_child_spawn.)
 * Order: the registry lock before the arena lock.
 */
#ifndef MPROC_CORE_LOCKS_H
#define MPROC_CORE_LOCKS_H

/* Guards core's process-wide tables: the children (process.c), the
 * listeners with a local endpoint to remove (listener.c), the lock blocks
 * kept for later freeing (lock.c). */
void mp_registry_lock(void);
void mp_registry_unlock(void);

/* Guards core's arena of shared blocks (core/arena.c). */
void mp_arena_lock(void);
void mp_arena_unlock(void);

/* Guards object memory (core/object.c: the size classes and the list of
 * live objects). A leaf: no other lock is taken while it is held. */
void mp_objects_lock(void);
void mp_objects_unlock(void);

#endif
