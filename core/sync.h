/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to core/: the process-shared lock word every primitive of
 * docs/sync.md stands on, and sleeping on a shared word. Where the shared
 * state lives (blocks, segments, block objects) is core/segment.h.
 */
#ifndef MPROC_CORE_SYNC_H
#define MPROC_CORE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"
#include "core/object.h"
#include "core/segment.h"
#include "mproc.h"
#include "platform/platform.h"

/* ---- the lock word ------------------------------------------------ */

/* owned: the lock word (0 when free, else the owner's mp_thread_id() with
 * the MP_OWNER_* flags of platform/platform.h) and the platform's
 * bookkeeping that has the OS tell of the owner's death.
 * count: an RLock's recursion depth, touched only by the owner.
 * 64 bytes: a Value reserves that much for its own lock. */
typedef struct {
  mp_owned_word_t owned;
  uint32_t count;
  uint32_t recursive;
  uint32_t reserved[4];
} mp_lock_state_t;

void mp_lock_state_init(mp_lock_state_t *s, int recursive);
/* seg: the segment s is in (its sleepers wait on a word of it).
 * OK, MPROC_EOWNERDEAD (acquired from a dead owner), MPROC_ETIMEDOUT,
 * MPROC_ESTATE (recursion overflow), MPROC_ESYS. timeout is not NaN. */
mproc_status_t mp_lock_state_acquire(const mp_shm_t *seg, mp_lock_state_t *s,
                                     double timeout);
/* OK or MPROC_ESTATE (not locked; RLock not held by the caller). */
mproc_status_t mp_lock_state_release(const mp_shm_t *seg, mp_lock_state_t *s);
/* Whether the calling thread holds it. */
int mp_lock_state_is_mine(const mp_lock_state_t *s);
/* Releases every recursion level (returns how many) / takes them back:
 * what Condition.wait does around its sleep. */
uint32_t mp_lock_state_release_all(const mp_shm_t *seg, mp_lock_state_t *s);
mproc_status_t mp_lock_state_reacquire(const mp_shm_t *seg, mp_lock_state_t *s,
                                       uint32_t depth);

/* Before the memory of s is unmapped or reused for anything else (an
 * arena slot): 1 if it may be, 0 while its word is still on another live
 * thread's robust list (mp_owner_detach), which would be corrupted. */
int mp_lock_state_detach(mp_lock_state_t *s);

/* Frees block, which holds a lock state at offset: at once, or, while the
 * word is still on another live thread's robust list (mp_owner_detach),
 * at a later call once that thread let go (an arena slot is not reused
 * and a segment not unmapped before). */
void mp_lock_block_free(mp_block_t *block, size_t offset);

/* The state of a public lock object (Condition and Value use it). */
mp_lock_state_t *mp_lock_state_of(mproc_lock_t *lock);
/* The segment that state is in. */
const mp_shm_t *mp_lock_segment_of(const mproc_lock_t *lock);
/* MPROC_OK when lock is a live lock object (mp_object_check), for the
 * calls of other kinds that take a lock (Condition, Value). */
mproc_status_t mp_lock_check(const mproc_lock_t *lock, const char *call);

/* The lock becomes another object's (the RLock a Condition made, the
 * imported copy of a given lock): mproc_lock_free refuses it (a user who
 * freed it would make the owner's free hit whatever reused the memory);
 * the owner frees it with mp_lock_free_adopted. */
void mp_lock_adopt(mproc_lock_t *lock);
void mp_lock_free_adopted(mproc_lock_t *lock);

/* A lock object that views the lock state at offset in block, which
 * belongs to another object (a Value's own RLock): it is freed with
 * mp_lock_free_view, and mproc_lock_free refuses it. */
mproc_status_t mp_lock_view(mproc_lock_t **out, const mp_block_t *block,
                            size_t offset);
void mp_lock_free_view(mproc_lock_t *lock);

/* Nesting a lock in another object's exported state (a Condition's lock,
 * a Value's given lock); the imported lock is a new object of its own. */
mproc_status_t mp_lock_export(mproc_lock_t *lock, mp_buf_t *state,
                              mp_handles_t *handles);
mproc_status_t mp_lock_import(mp_reader_t *r, mproc_lock_t **out);

/* Timeouts: mp_check_timeout, mp_deadline, mp_time_left (core/internal.h). */

/* Wait/wake on a word of segment seg: mp_wait_on/mp_wake at the word's
 * offset in seg (one subtraction; Windows keys its wait object on the
 * segment and the offset). */
mproc_status_t mp_wait_word(const mp_shm_t *seg, const uint32_t *word,
                            uint32_t expected, double timeout);
void mp_wake_word(const mp_shm_t *seg, const uint32_t *word, int count);

/* Sleeps on word (in seg) while it equals value, at most left seconds (-1:
 * no limit), after setting the mark *sleepers so that wakers know to make
 * the wake-up call. MPROC_OK (woken, changed or spurious), MPROC_ETIMEDOUT,
 * MPROC_ESYS. */
mproc_status_t mp_sleep_while(const mp_shm_t *seg, uint32_t *word,
                              uint32_t value, uint32_t *sleepers,
                              double left);
/* The waker's side, after it changed the word: 1 when a sleeper left its
 * mark, which this clears; the caller then wakes every sleeper of the word
 * (each one marks it again if it must sleep on). The waker clearing the
 * mark, not the sleeper, is what spares a burst of releases one wake-up
 * call each while a woken sleeper has not run yet (the wake storm). */
int mp_take_sleepers(uint32_t *sleepers);

#endif
