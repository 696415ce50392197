/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to core/: where an object's shared state lives. Blocks of
 * shared memory (arena slots or segments of their own, core/arena.c), how
 * a segment travels to a spawned child, and objects whose state is one
 * block (core/segment.c). Nothing here is specific to synchronization:
 * the lock word and sleeping are core/sync.h.
 */
#ifndef MPROC_CORE_SEGMENT_H
#define MPROC_CORE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/object.h"
#include "mproc.h"
#include "platform/platform.h"

/* ---- blocks: where an object's shared state lives (core/arena.c) -- */

/* A zeroed block of shared memory: a slot of the process-wide arena for
 * sizes up to 1 KiB (many objects per segment and descriptor), else a
 * segment of its own. See core/arena.c for who may free what. */
typedef struct mp_arena_seg mp_arena_seg_t;
typedef struct {
  mp_arena_seg_t *seg; /* the arena segment, NULL: a segment of its own */
  mp_shm_t *shm;       /* the segment the block is in */
  size_t offset;       /* of the block in shm */
  size_t size;         /* usable bytes (at least the size asked for) */
  void *base;          /* the block itself */
} mp_block_t;

/* Errors: MPROC_ENOMEM, MPROC_ESYS (those of mp_shm_create). */
mproc_status_t mp_block_alloc(mp_block_t *b, size_t size);
/* Releases this process's use of the block (a no-op on a zeroed one). */
void mp_block_free(mp_block_t *b);
/* What mp_block_import needs in a spawned child, and the handle to pass. */
void mp_block_export(const mp_block_t *b, mp_buf_t *state,
                     mp_handles_t *handles);
/* Maps the block mp_block_export described (at least min_size bytes).
 * Errors: MPROC_ESPAWN (malformed), those of mp_shm_import. */
mproc_status_t mp_block_import(mp_reader_t *r, mp_block_t *b,
                               size_t min_size);

/* ---- segments ----------------------------------------------------- */

/* Writes the size and handle of shm for a spawned child (mp_block_import
 * reads them back) and names the handle for inheritance, once however
 * many blocks of one segment are exported. */
void mp_segment_export(const mp_shm_t *shm, mp_buf_t *state,
                       mp_handles_t *handles);

/* ---- simple block objects ----------------------------------------- */

/* The head of an object whose shared state is one block of its own
 * (Semaphore, Event, Barrier, Condition): the state is at its base. */
typedef struct {
  mp_object_t obj;
  mp_block_t block;
} mp_segobj_t;

/* Allocates an object of obj_size bytes (starting with mp_segobj_t) and a
 * zeroed block of state_size bytes. Errors: MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mp_segobj_new(void **out, size_t obj_size,
                             const mp_object_ops_t *ops, size_t state_size);
/* The same, mapping the block described at r (a spawned child). */
mproc_status_t mp_segobj_import(mp_reader_t *r, void **out, size_t obj_size,
                                const mp_object_ops_t *ops,
                                size_t state_size);
void mp_segobj_export(const void *obj, mp_buf_t *state,
                      mp_handles_t *handles);
/* mp_segobj_export as an export_state operation. */
mproc_status_t mp_segobj_export_op(void *obj, mp_buf_t *state,
                                   mp_handles_t *handles);
void *mp_segobj_state(const void *obj);
void mp_segobj_free(void *obj);

#endif
