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

/* Handles a spawned child must inherit. */
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
   * handles the child must inherit. */
  mproc_status_t (*export_state)(void *obj, mp_buf_t *state,
                                 mp_handles_t *handles);
  /* Spawned child: rebuild the object from its state. */
  mproc_status_t (*import_state)(const void *state, size_t len, void **out);
  struct mp_object_ops *next; /* registry link: leave NULL */
} mp_object_ops_t;

#define MP_OBJECT_MAGIC 0x6d70726fu /* "mpro" */

typedef struct {
  uint32_t magic; /* MP_OBJECT_MAGIC while the object is alive */
  const mp_object_ops_t *ops;
} mp_object_t;

/* Sets up the header of a new object. */
void mp_object_init(mp_object_t *o, const mp_object_ops_t *ops);
/* Marks a header dead, so a stale pointer is refused by attach. */
void mp_object_invalidate(mp_object_t *o);

/* Spawned child, import_state: every import takes its own duplicate of an
 * inherited handle (mp_handle_duplicate, mp_shm_open_handle), so an object
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
