/* SPDX-License-Identifier: Apache-2.0 */
/* Segment export and block objects (core/segment.h). */
#include "core/segment.h"

#include "core/error.h"

static int already_passed(const mp_handles_t *handles, mp_handle_t h) {
  for (size_t i = 0; i < handles->len; i++)
    if (mp_handle_equal(handles->items[i], h)) return 1;
  return 0;
}

void mp_segment_export(const mp_shm_t *shm, mp_buf_t *state,
                       mp_handles_t *handles) {
  mp_handle_t h = mp_shm_handle(shm);
  mp_buf_put_u64(state, mp_shm_size(shm));
  mp_buf_put_u64(state, (uint64_t)(int64_t)h.os);
  /* Objects in one arena segment share its handle: pass it once. */
  if (!already_passed(handles, h)) mp_handles_add(handles, h);
}

static mproc_status_t segobj_wrap(void **out, size_t obj_size,
                                  const mp_object_ops_t *ops,
                                  const mp_block_t *block) {
  mp_segobj_t *o = mp_object_alloc(obj_size);
  if (o == NULL) return mp_fail(MPROC_ENOMEM, "%s", ops->kind);
  mp_object_init(&o->obj, ops);
  o->block = *block;
  *out = o;
  return MPROC_OK;
}

mproc_status_t mp_segobj_new(void **out, size_t obj_size,
                             const mp_object_ops_t *ops, size_t state_size) {
  mp_block_t block;
  mproc_status_t st = mp_block_alloc(&block, state_size);
  if (st != MPROC_OK) return st;
  st = segobj_wrap(out, obj_size, ops, &block);
  if (st != MPROC_OK) mp_block_free(&block);
  return st;
}

mproc_status_t mp_segobj_import(mp_reader_t *r, void **out, size_t obj_size,
                                const mp_object_ops_t *ops,
                                size_t state_size) {
  mp_block_t block;
  mproc_status_t st = mp_block_import(r, &block, state_size);
  if (st != MPROC_OK) return st;
  st = segobj_wrap(out, obj_size, ops, &block);
  if (st != MPROC_OK) mp_block_free(&block);
  return st;
}

void mp_segobj_export(const void *obj, mp_buf_t *state,
                      mp_handles_t *handles) {
  mp_block_export(&((const mp_segobj_t *)obj)->block, state, handles);
}

mproc_status_t mp_segobj_export_op(void *obj, mp_buf_t *state,
                                   mp_handles_t *handles) {
  mp_segobj_export(obj, state, handles);
  return MPROC_OK;
}

void *mp_segobj_state(const void *obj) {
  return ((const mp_segobj_t *)obj)->block.base;
}

void mp_segobj_free(void *obj) {
  mp_segobj_t *o = obj;
  mp_block_free(&o->block);
  mp_object_release(o);
}
