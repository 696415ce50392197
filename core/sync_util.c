/* SPDX-License-Identifier: Apache-2.0 */
/* Sleeping, segment export/import and block objects shared by the sync
 * objects. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/sync.h"

static size_t offset_in(const mp_shm_t *seg, const uint32_t *word) {
  return (size_t)((const char *)word - (const char *)mp_shm_base(seg));
}

mproc_status_t mp_wait_word(const mp_shm_t *seg, const uint32_t *word,
                            uint32_t expected, double timeout) {
  return mp_wait_on(seg, offset_in(seg, word), expected, timeout);
}

void mp_wake_word(const mp_shm_t *seg, const uint32_t *word, int count) {
  mp_wake(seg, offset_in(seg, word), count);
}

mproc_status_t mp_sleep_while(const mp_shm_t *seg, uint32_t *word,
                              uint32_t value, uint32_t *sleepers,
                              double left) {
  __atomic_store_n(sleepers, 1, __ATOMIC_SEQ_CST);
  return mp_wait_word(seg, word, value, left);
}

int mp_take_sleepers(uint32_t *sleepers) {
  /* A plain load first: with nobody asleep the line is not written. */
  return __atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0 &&
         __atomic_exchange_n(sleepers, 0, __ATOMIC_SEQ_CST) != 0;
}

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

mproc_status_t mp_segment_import(mp_reader_t *r, mp_shm_t **out) {
  uint64_t size = mp_read_u64(r);
  mp_handle_t handle = {MP_HANDLE_SHM, (intptr_t)(int64_t)mp_read_u64(r)};
  if (r->bad || size == 0 || size > SIZE_MAX)
    return mp_fail(MPROC_ESPAWN, "import: malformed segment state");
  return mp_shm_import(out, handle, (size_t)size);
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
