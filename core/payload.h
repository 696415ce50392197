/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the value tree behind mproc_obj_t, shared by payload*.c. */
#ifndef MPROC_CORE_PAYLOAD_H
#define MPROC_CORE_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"

struct mproc_obj {
  mproc_kind_t kind;
  struct mproc_obj *parent; /* the container holding it, or NULL */
  size_t len;                 /* str/bytes: bytes; list/dict: entries */
  size_t cap;                 /* list/dict: allocated item slots */
  union {
    int b;
    int64_t i;
    double f;
    char *s;                      /* str/bytes, NUL-terminated */
    struct mproc_obj **items;   /* list; dict: key, value, key, ... */
  } u;
};

mproc_obj_t *mp_value_new(mproc_kind_t kind);
/* Copies len bytes (plus a NUL) into a str/bytes value; 0 on no memory. */
int mp_value_set_data(mproc_obj_t *v, const void *p, size_t len);
/* Room for more entries in a list/dict; 0 on no memory. */
int mp_value_reserve(mproc_obj_t *c, size_t more);
/* Frees a whole tree, whatever its parent. */
void mp_value_destroy(mproc_obj_t *v);
/* Orders dict keys (int or str): 0 when equal. */
int mp_key_compare(const mproc_obj_t *a, const mproc_obj_t *b);
const char *mp_kind_name(mproc_kind_t kind);

size_t mp_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);
int mp_utf8_valid(const void *s, size_t len);

#endif
