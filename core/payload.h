/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the value tree behind mproc_obj_t, shared by payload*.c. */
#ifndef MPROC_CORE_PAYLOAD_H
#define MPROC_CORE_PAYLOAD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/object.h"
#include "mproc.h"

struct mproc_obj {
  union {
    mp_object_t obj; /* kind "payload": checked by every call */
    struct {
      uint32_t obj_magic_; /* obj.magic */
      mproc_kind_t kind;   /* obj.spare: 64 bytes in all (MP_NODE_SIZE) */
    };
  };
  struct mproc_obj *parent; /* the container holding it, or NULL */
  size_t len;                 /* str/bytes: bytes; list/dict: entries */
  size_t cap;                 /* list/dict: allocated item slots */
  struct mp_dict_index *index; /* dict: hash index of its keys, or NULL */
  union {
    int b;
    int64_t i;
    double f;
    char *s;                      /* str/bytes, NUL-terminated */
    struct mproc_obj **items;   /* list; dict: key, value, key, ... */
  } u;
};

/* MPROC_OK when v is a live payload value (mp_object_check), else
 * MPROC_EINVAL naming call and what v is. */
mproc_status_t mp_payload_check(const mproc_obj_t *v, const char *call);
/* mproc_obj_encode's bytes appended to b (no buffer of their own). */
mproc_status_t mp_obj_encode_append(mp_buf_t *b, const mproc_obj_t *v);
/* Returns from the calling function unless v is a live payload value. */
#define MP_CHECK_PAYLOAD(v, call)                                  \
  do {                                                             \
    mproc_status_t mp_payload_st_ = mp_payload_check((v), (call)); \
    if (mp_payload_st_ != MPROC_OK) return mp_payload_st_;         \
  } while (0)

/* A new value (type-stable object memory, mp_object_alloc), or NULL. */
mproc_obj_t *mp_obj_new(mproc_kind_t kind);
/* Copies len bytes (plus a NUL) into a str/bytes value; 0 on no memory. */
int mp_obj_set_data(mproc_obj_t *v, const void *p, size_t len);
/* Room for more entries in a list/dict; 0 on no memory. */
int mp_obj_reserve(mproc_obj_t *c, size_t more);
/* Frees a whole tree, whatever its parent. */
void mp_obj_destroy(mproc_obj_t *v);
/* Orders dict keys (int or str): 0 when equal. */
int mp_key_compare(const mproc_obj_t *a, const mproc_obj_t *b);
/* The key slot of dict's entry whose key equals key (the value follows
 * it), or NULL: O(1) on average. */
mproc_obj_t **mp_dict_find(const mproc_obj_t *dict, const mproc_obj_t *key);
/* Indexes the entries a decoder put in dict->u.items directly, in O(n).
 * Returns 0 when out of memory; *repeated is 1 when two keys are equal. */
int mp_dict_index_entries(mproc_obj_t *dict, int *repeated);
const char *mp_kind_name(mproc_kind_t kind);
/* mproc_obj_build with a va_list (mproc_proxy_callf). */
mproc_status_t mp_obj_vbuild(mproc_obj_t **out, const char *fmt, va_list ap);
/* Removes dict's entry index (its key and value are freed); O(n). */
void mp_dict_remove_at(mproc_obj_t *dict, size_t index);

/* Values decoded one at a time from MessagePack bytes p[pos, len) (a
 * pool's chunk of items, a worker's reply), bounded as mproc_obj_decode
 * is; a failed call leaves pos where the value starts. */
typedef struct {
  const unsigned char *p;
  size_t len, pos;
} mp_cursor_t;
/* The next value, a tree of its own (nested MPROC_OBJ_MAX_DEPTH at most).
 * Errors: MPROC_EBADMSG (malformed, truncated), MPROC_ENOMEM. */
mproc_status_t mp_cursor_value(mp_cursor_t *c, mproc_obj_t **out);
/* When the next value is a well-formed scalar (None, bool, int, float):
 * sets v's kind and content in place (v is the caller's, reused: nothing
 * is allocated) and returns 1; else 0. */
int mp_cursor_scalar(mp_cursor_t *c, mproc_obj_t *v);
/* When the next bytes are an array header announcing no more entries than
 * bytes are left: its count in *n, and 1; else 0. */
int mp_cursor_array(mp_cursor_t *c, size_t *n);

size_t mp_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);
int mp_utf8_valid(const void *s, size_t len);

#endif
