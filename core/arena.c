/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocks of shared memory for the sync objects and small values: a
 * process-wide arena of shared segments carved into slots, so that
 * thousands of Locks, Events or Values cost a handful of descriptors (one
 * per segment) instead of one each. Larger blocks get a segment of their
 * own. CPython's multiprocessing/heap.py is the model.
 *
 * Slots come in size classes (128 bytes to 1 KiB, powers of two); each
 * arena segment serves one class. 128 bytes is the floor so that two
 * objects never share a cache line, nor the pair of lines that x86's
 * adjacent-line prefetcher fetches together (two busy Locks side by side
 * would slow each other down).
 *
 * Lifetime rule (as heap.py): a slot belongs to the process that
 * allocated it. Its free list is private memory, so:
 *  - after fork, the child allocates only from arenas it creates itself
 *    (the parent's free list, copied into the child, would hand out slots
 *    the parent hands out too); objects it inherited stay usable, and
 *    freeing one there returns nothing;
 *  - a spawned child maps each arena segment it is given once (cached by
 *    the inherited handle) and never frees slots in it; the mapping goes
 *    when its last imported object is freed;
 *  - the creator's free returns the slot to its free list at once, so the
 *    creator must free an object only when no other process uses it any
 *    more (join them first), as with CPython's heap.
 * All of this runs under mp_arena_lock (threads; never inherited locked
 * by a forked child).
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/locks.h"
#include "core/segment.h"

#define MIN_SLOT 128
#define MAX_SLOT 1024
#define SEGMENT_SIZE (64 * 1024)
#define NCLASSES 4 /* 128, 256, 512, 1024 */

struct mp_arena_seg {
  mp_shm_t *shm;
  mp_arena_seg_t *next;
  long creator;       /* pid that allocates here; 0: imported */
  size_t slot_size;   /* own: the class */
  uint32_t nslots;
  uint32_t nfree;
  uint32_t *free_slots; /* own: a stack of free slot indices */
  mp_handle_t imported_from; /* imported: the inherited handle */
  size_t refs;        /* imported: blocks mapped through it */
};

static struct {
  long pid;                        /* whose arenas `own` lists */
  mp_arena_seg_t *own[NCLASSES];   /* per class */
  mp_arena_seg_t *imported;
} arena;

static int class_of(size_t size) {
  int c = 0;
  for (size_t slot = MIN_SLOT; slot < size; slot *= 2) c++;
  return c;
}

static size_t class_size(int c) { return (size_t)MIN_SLOT << c; }

/* A forked child forgets its parent's arenas (without unmapping them: the
 * objects it inherited live there) and starts its own. */
static void adopt_after_fork(void) {
  long me = mp_getpid();
  if (arena.pid == me) return;
  memset(arena.own, 0, sizeof arena.own);
  arena.pid = me;
}

static mproc_status_t new_segment(int c, mp_arena_seg_t **out) {
  mp_arena_seg_t *seg = calloc(1, sizeof *seg);
  uint32_t nslots = (uint32_t)(SEGMENT_SIZE / class_size(c));
  uint32_t *free_slots = malloc(nslots * sizeof *free_slots);
  if (seg == NULL || free_slots == NULL) {
    free(seg);
    free(free_slots);
    return mp_fail(MPROC_ENOMEM, "arena: segment bookkeeping");
  }
  mproc_status_t st = mp_shm_create(&seg->shm, SEGMENT_SIZE);
  if (st != MPROC_OK) {
    free(seg);
    free(free_slots);
    return st;
  }
  seg->creator = arena.pid;
  seg->slot_size = class_size(c);
  seg->nslots = seg->nfree = nslots;
  seg->imported_from.kind = MP_HANDLE_NONE;
  seg->imported_from.os = MP_NO_OS_HANDLE;
  /* Hand out low addresses first (popped from the end). */
  for (uint32_t i = 0; i < nslots; i++) free_slots[i] = nslots - 1 - i;
  seg->free_slots = free_slots;
  seg->next = arena.own[c];
  arena.own[c] = seg;
  *out = seg;
  return MPROC_OK;
}

static void release_segment(mp_arena_seg_t **link) {
  mp_arena_seg_t *seg = *link;
  *link = seg->next;
  mp_shm_close(seg->shm);
  free(seg->free_slots);
  free(seg);
}

static mproc_status_t alloc_slot(mp_block_t *b, size_t size) {
  int c = class_of(size);
  adopt_after_fork();
  mp_arena_seg_t *seg = arena.own[c];
  while (seg && seg->nfree == 0) seg = seg->next;
  if (seg == NULL) {
    mproc_status_t st = new_segment(c, &seg);
    if (st != MPROC_OK) return st;
  }
  uint32_t slot = seg->free_slots[--seg->nfree];
  b->seg = seg;
  b->shm = seg->shm;
  b->offset = (size_t)slot * seg->slot_size;
  b->size = seg->slot_size;
  return MPROC_OK;
}

mproc_status_t mp_block_alloc(mp_block_t *b, size_t size) {
  memset(b, 0, sizeof *b);
  if (size > MAX_SLOT) {
    mproc_status_t st = mp_shm_create(&b->shm, size);
    if (st != MPROC_OK) return st;
    b->size = size;
  } else {
    mp_arena_lock();
    mproc_status_t st = alloc_slot(b, size);
    mp_arena_unlock();
    if (st != MPROC_OK) return st;
  }
  b->base = (char *)mp_shm_base(b->shm) + b->offset;
  /* A reused slot held another object; a new segment is zero already (and
   * touching a large one would commit all of its memory). */
  if (b->seg) memset(b->base, 0, b->size);
  return MPROC_OK;
}

/* Under the lock: the creator gets the slot back; an empty segment goes,
 * unless it is the last of its class (create/free in a loop would make
 * and unmap one each time). */
static void return_slot(mp_block_t *b) {
  mp_arena_seg_t *seg = b->seg;
  if (seg->creator == 0) {
    if (--seg->refs > 0) return;
    for (mp_arena_seg_t **l = &arena.imported; *l; l = &(*l)->next)
      if (*l == seg) {
        release_segment(l);
        return;
      }
    return;
  }
  if (seg->creator != mp_getpid()) return; /* inherited: not ours */
  seg->free_slots[seg->nfree++] = (uint32_t)(b->offset / seg->slot_size);
  int c = class_of(seg->slot_size);
  if (seg->nfree < seg->nslots || (arena.own[c] == seg && seg->next == NULL))
    return;
  for (mp_arena_seg_t **l = &arena.own[c]; *l; l = &(*l)->next)
    if (*l == seg) {
      release_segment(l);
      return;
    }
}

void mp_block_free(mp_block_t *b) {
  if (b->shm == NULL) return;
  if (b->seg == NULL) {
    mp_shm_close(b->shm);
  } else {
    mp_arena_lock();
    return_slot(b);
    mp_arena_unlock();
  }
  memset(b, 0, sizeof *b);
}

/* ---- spawn -------------------------------------------------------- */

void mp_block_export(const mp_block_t *b, mp_buf_t *state,
                     mp_handles_t *handles) {
  mp_buf_put_u64(state, b->seg != NULL);
  mp_segment_export(b->shm, state, handles);
  mp_buf_put_u64(state, b->offset);
  mp_buf_put_u64(state, b->size);
}

/* Under the lock: the mapping of the arena segment behind handle, made
 * once per process. */
static mproc_status_t map_imported(mp_handle_t handle, size_t size,
                                   mp_arena_seg_t **out) {
  for (mp_arena_seg_t *s = arena.imported; s; s = s->next)
    if (mp_handle_equal(s->imported_from, handle) &&
        mp_shm_size(s->shm) == size) {
      s->refs++;
      *out = s;
      return MPROC_OK;
    }
  mp_arena_seg_t *seg = calloc(1, sizeof *seg);
  if (seg == NULL) return mp_fail(MPROC_ENOMEM, "arena: import");
  mproc_status_t st = mp_shm_import(&seg->shm, handle, size);
  if (st != MPROC_OK) {
    free(seg);
    return st;
  }
  seg->imported_from = handle;
  seg->refs = 1;
  seg->next = arena.imported;
  arena.imported = seg;
  *out = seg;
  return MPROC_OK;
}

static mproc_status_t import_arena_block(mp_block_t *b, uint64_t size,
                                         mp_handle_t handle) {
  mp_arena_lock();
  mproc_status_t st = map_imported(handle, (size_t)size, &b->seg);
  mp_arena_unlock();
  if (st == MPROC_OK) b->shm = b->seg->shm;
  return st;
}

mproc_status_t mp_block_import(mp_reader_t *r, mp_block_t *b,
                               size_t min_size) {
  memset(b, 0, sizeof *b);
  uint64_t in_arena = mp_read_u64(r);
  uint64_t seg_size = mp_read_u64(r);
  mp_handle_t handle = {MP_HANDLE_SHM, (intptr_t)(int64_t)mp_read_u64(r)};
  uint64_t offset = mp_read_u64(r);
  uint64_t size = mp_read_u64(r);
  if (r->bad || in_arena > 1 || seg_size == 0 || seg_size > SIZE_MAX ||
      size < min_size || offset > seg_size || size > seg_size - offset)
    return mp_fail(MPROC_ESPAWN, "import: malformed block state");
  mproc_status_t st =
      in_arena ? import_arena_block(b, seg_size, handle)
               : mp_shm_import(&b->shm, handle, (size_t)seg_size);
  if (st != MPROC_OK) return st;
  /* Both paths mapped a duplicate (or the cached mapping of one): the
   * inherited original is closed once every object is imported. */
  mp_object_note_inherited(handle);
  b->offset = (size_t)offset;
  b->size = (size_t)size;
  b->base = (char *)mp_shm_base(b->shm) + b->offset;
  return MPROC_OK;
}
