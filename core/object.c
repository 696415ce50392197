/* Shareable objects: the kind registry and the byte helpers. */
#include "core/object.h"

#include <stdlib.h>
#include <string.h>

static mp_object_ops_t *kinds;

void mp_object_kind_add(mp_object_ops_t *ops) {
  ops->next = kinds;
  kinds = ops;
}

const mp_object_ops_t *mp_object_kind(const char *kind) {
  for (const mp_object_ops_t *k = kinds; k; k = k->next)
    if (strcmp(k->kind, kind) == 0) return k;
  return NULL;
}

/* Inherited handles an import duplicated (spawned child, bootstrap only:
 * one thread). */
static mp_handles_t inherited;

void mp_object_note_inherited(mp_handle_t h) {
  for (size_t i = 0; i < inherited.len; i++)
    if (inherited.items[i] == h) return;
  /* Out of memory: the original stays open, a leak but no harm to the
   * imported views. */
  mp_handles_add(&inherited, h);
}

void mp_object_close_inherited(void) {
  for (size_t i = 0; i < inherited.len; i++)
    mp_handle_close(inherited.items[i]);
  mp_handles_free(&inherited);
}

void mp_object_init(mp_object_t *o, const mp_object_ops_t *ops) {
  o->magic = MP_OBJECT_MAGIC;
  o->ops = ops;
}

void mp_object_invalidate(mp_object_t *o) { o->magic = 0; }

static int grow(void **items, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 1;
  size_t cap2 = *cap ? *cap : 16;
  while (cap2 < need) cap2 *= 2;
  void *p = realloc(*items, cap2 * size);
  if (p == NULL) return 0;
  *items = p;
  *cap = cap2;
  return 1;
}

void mp_buf_put(mp_buf_t *b, const void *p, size_t n) {
  if (b->failed || n == 0) return;
  if (!grow((void **)&b->data, &b->cap, b->len + n, 1)) {
    b->failed = 1;
    return;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void mp_buf_put_u64(mp_buf_t *b, uint64_t v) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(v >> (8 * i));
  mp_buf_put(b, bytes, sizeof bytes);
}

void mp_buf_free(mp_buf_t *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

uint64_t mp_read_u64(mp_reader_t *r) {
  const unsigned char *p = mp_read(r, 8);
  uint64_t v = 0;
  for (int i = 0; p && i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

const void *mp_read(mp_reader_t *r, size_t n) {
  if (r->bad || n > r->len - r->pos) {
    r->bad = 1;
    return NULL;
  }
  const void *p = r->data + r->pos;
  r->pos += n;
  return p;
}

void mp_handles_add(mp_handles_t *h, mp_handle_t handle) {
  if (h->failed) return;
  if (!grow((void **)&h->items, &h->cap, h->len + 1, sizeof *h->items)) {
    h->failed = 1;
    return;
  }
  h->items[h->len++] = handle;
}

void mp_handles_free(mp_handles_t *h) {
  free(h->items);
  memset(h, 0, sizeof *h);
}
