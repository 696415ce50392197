/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: shareable objects, the way a queue, a connection, a lock or a
 * shared value reaches a child process.
 *
 * Every shareable object starts with an mp_object_t. The parent attaches it
 * to a process before start (mproc_process_attach); the child gets it back
 * with mproc_attached(index):
 *  - under fork the child sees the very same object (its memory was copied
 *    and its OS handles inherited), so nothing is encoded;
 *  - under spawn the parent calls ops->export_state, which writes the bytes
 *    the child needs and names the OS handles the child must inherit; the
 *    child's bootstrap finds the ops by kind and calls ops->import_state.
 * A module registers its kind once at load time with MP_OBJECT_KIND(ops).
 * The ops of a kind are {export, import, after-fork, free}: what a new
 * kind implements (NULL where the kind needs nothing).
 */
#ifndef MPROC_CORE_OBJECT_H
#define MPROC_CORE_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "platform/platform.h"

/* A growable byte buffer for exported state. */
typedef struct {
  unsigned char *data;
  size_t len, cap;
  int failed; /* an allocation failed: the content is incomplete */
} mp_buf_t;

void mp_buf_put(mp_buf_t *b, const void *p, size_t n);
/* Room for n more bytes at the end of b, to write in place and then count
 * in b->len; NULL (and failed) when out of memory. Inline while the room
 * is there (a map encodes a value each). */
unsigned char *mp_buf_grow_room(mp_buf_t *b, size_t n);
static inline unsigned char *mp_buf_room(mp_buf_t *b, size_t n) {
  if (!b->failed && b->data != NULL && b->cap - b->len >= n)
    return b->data + b->len;
  return mp_buf_grow_room(b, n);
}
void mp_buf_put_u64(mp_buf_t *b, uint64_t v);
void mp_buf_free(mp_buf_t *b);

/* Reads what mp_buf_put_* wrote; any overrun sets bad and yields zeros. */
typedef struct {
  const unsigned char *data;
  size_t len, pos;
  int bad;
} mp_reader_t;

uint64_t mp_read_u64(mp_reader_t *r);
/* A pointer to the next n bytes, or NULL (and bad) if there are fewer. */
const void *mp_read(mp_reader_t *r, size_t n);

/* Handles a spawned child must inherit (typed: streams and segments). */
typedef struct {
  mp_handle_t *items;
  size_t len, cap;
  int failed;
} mp_handles_t;

void mp_handles_add(mp_handles_t *h, mp_handle_t handle);
void mp_handles_free(mp_handles_t *h);

typedef struct mp_object_ops {
  const char *kind; /* unique: "queue", "connection", "lock", ... */
  /* Parent, spawn only: append to state what import_state needs, and the
   * handles the child must inherit. NULL: not attachable. */
  mproc_status_t (*export_state)(void *obj, mp_buf_t *state,
                                 mp_handles_t *handles);
  /* Spawned child: rebuild the object from its state, with handles of its
   * own (every import duplicates: mp_object_note_inherited). */
  mproc_status_t (*import_state)(const void *state, size_t len, void **out);
  /* Forked child (the fork start method), before its task runs: called
   * once for each live object of the kind (from mp_object_alloc) that
   * the child inherited, to make its process-local state right for the
   * child. One thread; it may neither allocate nor release objects.
   * NULL: nothing to do (state in shared memory, or checked by pid). */
  void (*after_fork)(void *obj);
  /* Releases the object as the kind's public _free does, so generic code
   * (mp_object_free: a pool, the runtime) can release any object. */
  mproc_status_t (*free)(void *obj);
  struct mp_object_ops *next; /* registry link: leave NULL */
} mp_object_ops_t;

#define MP_OBJECT_MAGIC 0x6d70726fu /* "mpro" */

typedef struct {
  uint32_t magic; /* MP_OBJECT_MAGIC while the object is alive */
  /* The kind's own (0 unless it uses it): a payload value keeps its kind
   * here, in what would be padding, so that it fits a 64-byte node. */
  uint32_t spare;
  const mp_object_ops_t *ops;
  /* Unique in this process for each mp_object_init (0 for the static
   * objects): a token that names an object (a sentinel) stays stale when
   * reused memory holds a new object of the same kind. */
  uint64_t serial;
} mp_object_t;

/* Sets up the header of a new object. */
void mp_object_init(mp_object_t *o, const mp_object_ops_t *ops);
/* Marks a header dead, so a stale pointer is refused (mp_object_release
 * does it for objects from mp_object_alloc). */
void mp_object_invalidate(mp_object_t *o);

/* Object memory is type-stable: an object released with mp_object_release
 * is marked dead and its memory kept for later objects, never handed back
 * to malloc. A stale pointer (an object used after its _free, or freed
 * twice) therefore still points at an object header, a dead one, and every
 * entry point refuses it with MPROC_EINVAL instead of touching freed
 * memory. (Once a later object reuses the memory, the stale pointer names
 * that object: the same hazard as a reused file descriptor. Released memory
 * is reused oldest first, which keeps that window as long as it can be.)
 * mp_object_alloc returns size zeroed bytes starting with an mp_object_t,
 * or NULL when out of memory. */
void *mp_object_alloc(size_t size);
/* Marks the object dead and keeps its memory for reuse. NULL is ignored. */
void mp_object_release(void *object);
/* Small objects without an after_fork hook (payload values, made and
 * freed by the million in a map) come from mp_node_alloc: the same
 * type-stable memory, carved from slabs and kept in a cache per thread, so
 * the common path takes no lock. A released node waits behind the
 * MP_NODE_QUARANTINE nodes its thread released after it before it is
 * reused (a stale pointer stays dead that long at least), and a thread's
 * cache above MP_NODE_CACHE_MAX nodes hands its oldest half, as one batch
 * of addresses, to a shared pool where other threads take them batch by
 * batch (newest first, so warm). Nodes are not in the live list: no
 * after_fork walk sees them.
 * mp_node_alloc returns MP_NODE_SIZE zeroed bytes, or NULL. */
#define MP_NODE_SIZE 64 /* one cache line each (slabs are aligned) */
#define MP_NODE_QUARANTINE 64
#define MP_NODE_CACHE_MAX 512
void *mp_node_alloc(void);
/* Marks the node dead and caches it for reuse. NULL is ignored. */
void mp_node_release(void *node);
/* Hands the calling thread's cached nodes to the shared list: called by
 * mproc's threads before they end (a thread mproc did not start keeps at
 * most MP_NODE_CACHE_MAX nodes, 40 KiB, unused when it ends). */
void mp_node_flush_thread_cache(void);

/* In a forked child, the one hook of the fork start method: each live
 * object's kind gets its after_fork call (object memory itself is kept
 * consistent across every fork by mp_objects_lock's at-fork hooks). */
void mp_object_after_fork(void);
/* Releases any live object through its kind's free (NULL: MPROC_OK).
 * Errors: MPROC_EINVAL (not a live object, or a kind without free), and
 * those of the kind's _free. */
mproc_status_t mp_object_free(void *object);

/* MPROC_OK when p is a live object of kind ops; else MPROC_EINVAL with a
 * detail naming call, the kind expected and what p is ("queue_put: expected
 * a queue, got a lock"). Two compares on the good path: every entry point
 * of every object kind calls it, the lock and queue fast paths included. */
mproc_status_t mp_object_mismatch(const void *p, const mp_object_ops_t *ops,
                                  const char *call);
/* "a" or "an", for a message naming a kind ("a lock", "an event"). */
const char *mp_kind_article(const char *kind);
static inline mproc_status_t mp_object_check(const void *p,
                                             const mp_object_ops_t *ops,
                                             const char *call) {
  const mp_object_t *o = (const mp_object_t *)p;
  if (o != NULL && o->magic == MP_OBJECT_MAGIC && o->ops == ops)
    return MPROC_OK;
  return mp_object_mismatch(p, ops, call);
}
/* Returns from the calling function unless p is a live object of kind ops. */
#define MP_CHECK_KIND(p, ops, call)                             \
  do {                                                          \
    mproc_status_t mp_kind_st_ = mp_object_check((p), (ops), (call)); \
    if (mp_kind_st_ != MPROC_OK) return mp_kind_st_;            \
  } while (0)

/* In a child: the index-th attached object, which must be of kind ops
 * (the typed mproc_attached_* accessors). Errors: MPROC_ENOINIT,
 * MPROC_EINVAL (NULL out, index out of range, another kind). */
mproc_status_t mp_attached_as(size_t index, const mp_object_ops_t *ops,
                              void **out, const char *call);
/* Spawned child, import_state: every import takes its own duplicate of an
 * inherited handle (mp_stream_duplicate, mp_shm_import), so an object
 * attached twice gives two views that never close each other's handle,
 * as CPython's reduction duplicates a descriptor per unpickling. The
 * import names the inherited original here; once every object is imported
 * the bootstrap closes the originals (each once), so no hidden copy keeps
 * a stream open (a peer would never see end of stream). */
void mp_object_note_inherited(mp_handle_t h);
/* Closes the noted originals; from then on the list is empty. */
void mp_object_close_inherited(void);

void mp_object_kind_add(mp_object_ops_t *ops);
const mp_object_ops_t *mp_object_kind(const char *kind);

#define MP_OBJECT_KIND(ops)                                          \
  __attribute__((constructor)) static void mp_object_kind_##ops##_( \
      void) {                                                        \
    mp_object_kind_add(&ops);                                        \
  }

#endif
