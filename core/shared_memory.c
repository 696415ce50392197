/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SharedMemory by name over the platform's named segments (see
 * platform/posix/named_shm.c for how nothing is left behind).
 *
 * Attached to a child it travels by name, as CPython pickles it: the
 * spawned child attaches again (so it must not be unlinked before the
 * child starts; under fork the child simply shares the mapping).
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/object.h"

struct mproc_shared_memory {
  mp_object_t obj;
  mp_named_shm_t *shm; /* NULL once closed */
  size_t size;         /* kept past close, as CPython's .size */
  char name[MP_SHM_NAME_MAX + 1];
};

static mproc_status_t shm_export(void *obj, mp_buf_t *state,
                                 mp_handles_t *handles) {
  (void)handles;
  const mproc_shared_memory_t *s = obj;
  if (s->shm == NULL)
    return mp_fail(MPROC_ESTATE, "attach: the shared memory is closed");
  mp_buf_put(state, s->name, strlen(s->name) + 1);
  return MPROC_OK;
}

static mproc_status_t shm_import(const void *state, size_t len, void **out) {
  const char *name = state;
  if (len == 0 || name[len - 1] != '\0')
    return mp_fail(MPROC_ESPAWN, "import: malformed shared memory state");
  return mproc_shared_memory_attach((mproc_shared_memory_t **)out, name);
}

static mproc_status_t shm_free_op(void *obj) {
  return mproc_shared_memory_free(obj);
}

/* No after_fork: a forked child shares the mapping. */
static mp_object_ops_t shm_ops = {.kind = "shared_memory",
                                  .export_state = shm_export,
                                  .import_state = shm_import,
                                  .free = shm_free_op};
MP_OBJECT_KIND(shm_ops)

/* CPython accepts "/name" for "name". */
static const char *strip_slash(const char *name) {
  return name[0] == '/' ? name + 1 : name;
}

/* The wrapper is allocated before the segment, so that a failure cannot
 * leave a just-created persistent segment behind in /dev/shm. */
static mproc_status_t new_wrapper(mproc_shared_memory_t **out,
                                  const char *name) {
  mproc_shared_memory_t *s = mp_object_alloc(sizeof *s);
  if (s == NULL) return mp_fail(MPROC_ENOMEM, "shared_memory");
  mp_object_init(&s->obj, &shm_ops);
  s->shm = NULL;
  strncpy(s->name, name, MP_SHM_NAME_MAX);
  s->name[MP_SHM_NAME_MAX] = '\0';
  *out = s;
  return MPROC_OK;
}

/* Keeps *out only when st is MPROC_OK. */
static mproc_status_t finish(mproc_shared_memory_t **out,
                             mproc_shared_memory_t *s, mproc_status_t st) {
  if (st != MPROC_OK) {
    mp_object_release(s);
    return st;
  }
  s->size = mp_named_shm_size(s->shm);
  *out = s;
  return MPROC_OK;
}

mproc_status_t mproc_shared_memory_create(mproc_shared_memory_t **out,
                                          const char *name, size_t size,
                                          int flags) {
  MP_REQUIRE(out, "shared_memory_create: out");
  if (flags & ~MPROC_SHM_PERSISTENT)
    return mp_fail(MPROC_EINVAL, "shared_memory_create: unknown flags %#x",
                   (unsigned)flags);
  char random_name[32];
  if (name == NULL) {
    mp_named_shm_random_name(random_name, sizeof random_name);
    name = random_name;
  }
  name = strip_slash(name);
  mproc_shared_memory_t *s = NULL;
  mproc_status_t st = new_wrapper(&s, name);
  if (st != MPROC_OK) return st;
  st = mp_named_shm_create(&s->shm, name, size,
                           (flags & MPROC_SHM_PERSISTENT) != 0);
  return finish(out, s, st);
}

mproc_status_t mproc_shared_memory_attach(mproc_shared_memory_t **out,
                                          const char *name) {
  MP_REQUIRE(out, "shared_memory_attach: out");
  MP_REQUIRE(name, "shared_memory_attach: name");
  name = strip_slash(name);
  mproc_shared_memory_t *s = NULL;
  mproc_status_t st = new_wrapper(&s, name);
  if (st != MPROC_OK) return st;
  return finish(out, s, mp_named_shm_open(&s->shm, name));
}

/* This view is mapped (not closed). */
static mproc_status_t require_open(const mproc_shared_memory_t *shm,
                                   const char *what) {
  MP_CHECK_KIND(shm, &shm_ops, what);
  if (shm->shm == NULL)
    return mp_fail(MPROC_ESTATE, "%s: the shared memory is closed", what);
  return MPROC_OK;
}

mproc_status_t mproc_shared_memory_buf(const mproc_shared_memory_t *shm,
                                       void **out) {
  mproc_status_t st = require_open(shm, "shared_memory_buf");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "shared_memory_buf: out");
  *out = mp_named_shm_base(shm->shm);
  return MPROC_OK;
}

mproc_status_t mproc_shared_memory_size(const mproc_shared_memory_t *shm,
                                        size_t *out) {
  MP_CHECK_KIND(shm, &shm_ops, "shared_memory_size");
  MP_REQUIRE(out, "shared_memory_size: out");
  *out = shm->size;
  return MPROC_OK;
}

mproc_status_t mproc_shared_memory_name(const mproc_shared_memory_t *shm,
                                        const char **out) {
  MP_CHECK_KIND(shm, &shm_ops, "shared_memory_name");
  MP_REQUIRE(out, "shared_memory_name: out");
  *out = shm->name;
  return MPROC_OK;
}

/* After close (CPython's usual close(); unlink()), by name: the segment is
 * opened for the moment of the unlink. */
mproc_status_t mproc_shared_memory_unlink(mproc_shared_memory_t *shm) {
  MP_CHECK_KIND(shm, &shm_ops, "shared_memory_unlink");
  if (shm->shm != NULL) return mp_named_shm_unlink(shm->shm);
  mp_named_shm_t *again = NULL;
  mproc_status_t st = mp_named_shm_open(&again, shm->name);
  if (st != MPROC_OK) return st;
  st = mp_named_shm_unlink(again);
  mp_named_shm_close(again);
  return st;
}

/* CPython's SharedMemory.close: unmaps this view; name and size stay. */
mproc_status_t mproc_shared_memory_close(mproc_shared_memory_t *shm) {
  MP_CHECK_KIND(shm, &shm_ops, "shared_memory_close");
  mp_named_shm_close(shm->shm);
  shm->shm = NULL;
  return MPROC_OK;
}

mproc_status_t mproc_shared_memory_free(mproc_shared_memory_t *shm) {
  if (shm == NULL) return MPROC_OK;
  MP_CHECK_KIND(shm, &shm_ops, "shared_memory_free");
  mp_named_shm_close(shm->shm);
  mp_object_release(shm);
  return MPROC_OK;
}

mproc_status_t mproc_attached_shared_memory(size_t index,
                                            mproc_shared_memory_t **out) {
  return mp_attached_as(index, &shm_ops, (void **)out,
                        "attached_shared_memory");
}
