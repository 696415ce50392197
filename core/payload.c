/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Values: the object layer of send/recv and put/get.
 *
 * A value is a small tree (struct mproc_obj). Each value knows its
 * container (parent), which is how list_append/dict_set refuse to make a
 * cycle or to put one value in two places.
 *
 * The wire format is MessagePack. Encoding goes through msgpack-c's packer.
 * Decoding is our own (payload_decode.c): msgpack-c's unpacker allocates the
 * room an array or map header announces before it has seen the elements,
 * so a 5-byte message can make it ask for gigabytes; ours never accepts a
 * count larger than the bytes left to read.
 */
#include <math.h>
#include <stddef.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/payload.h"

/* ---- construction ------------------------------------------------- */

/* Payload values are not attachable: they travel by value (encoded). */
static mproc_status_t payload_free_op(void *obj) { return mproc_obj_free(obj); }

static mp_object_ops_t payload_ops = {.kind = "payload",
                                      .free = payload_free_op};

mproc_status_t mp_payload_check(const mproc_obj_t *v, const char *call) {
  return mp_object_check(v, &payload_ops, call);
}

_Static_assert(sizeof(mproc_obj_t) <= MP_NODE_SIZE,
               "a payload value must fit a node");
_Static_assert(offsetof(mproc_obj_t, kind) == offsetof(mp_object_t, spare) &&
                   sizeof(mproc_kind_t) == sizeof(uint32_t),
               "a payload value's kind is its header's spare word");

mproc_obj_t *mp_obj_new(mproc_kind_t kind) {
  mproc_obj_t *v = mp_node_alloc();
  if (v) {
    /* No serial: no token names a payload value (mp_object_init's
     * process-wide counter would be one contended cache line per value). */
    v->obj.magic = MP_OBJECT_MAGIC;
    v->obj.ops = &payload_ops;
    v->kind = kind;
  }
  return v;
}

static mproc_status_t make(mproc_kind_t kind, mproc_obj_t **out,
                           const char *what) {
  MP_REQUIRE(out, what);
  *out = mp_obj_new(kind);
  return *out ? MPROC_OK : mp_fail(MPROC_ENOMEM, "%s", what);
}

mproc_status_t mproc_obj_none(mproc_obj_t **out) {
  return make(MPROC_NONE, out, "obj_none");
}

mproc_status_t mproc_obj_bool(mproc_obj_t **out, int b) {
  mproc_status_t st = make(MPROC_BOOL, out, "obj_bool");
  if (st == MPROC_OK) (*out)->u.b = b != 0;
  return st;
}

mproc_status_t mproc_obj_int(mproc_obj_t **out, int64_t i) {
  mproc_status_t st = make(MPROC_INT, out, "obj_int");
  if (st == MPROC_OK) (*out)->u.i = i;
  return st;
}

mproc_status_t mproc_obj_float(mproc_obj_t **out, double d) {
  mproc_status_t st = make(MPROC_FLOAT, out, "obj_float");
  if (st == MPROC_OK) (*out)->u.f = d;
  return st;
}

/* Sets the byte content of a str or bytes value; NUL-terminated copy. */
int mp_obj_set_data(mproc_obj_t *v, const void *p, size_t len) {
  if (len == SIZE_MAX) return 0;
  v->u.s = malloc(len + 1);
  if (v->u.s == NULL) return 0;
  if (len) memcpy(v->u.s, p, len);
  v->u.s[len] = '\0';
  v->len = len;
  return 1;
}

static mproc_status_t make_data(mproc_kind_t kind, const void *p, size_t len,
                                mproc_obj_t **out, const char *what) {
  MP_REQUIRE(out, what);
  if (p == NULL && len > 0)
    return mp_fail(MPROC_EINVAL, "%s: NULL data with length %zu", what, len);
  if (kind == MPROC_STR && !mp_utf8_valid(p, len))
    return mp_fail(MPROC_EINVAL, "%s: not valid UTF-8", what);
  mproc_obj_t *v = mp_obj_new(kind);
  if (v == NULL || !mp_obj_set_data(v, p, len)) {
    mp_node_release(v);
    return mp_fail(MPROC_ENOMEM, "%s: %zu bytes", what, len);
  }
  *out = v;
  return MPROC_OK;
}

mproc_status_t mproc_obj_str(mproc_obj_t **out, const char *s) {
  MP_REQUIRE(s, "obj_str: s");
  return make_data(MPROC_STR, s, strlen(s), out, "obj_str");
}

mproc_status_t mproc_obj_strn(mproc_obj_t **out, const char *s,
                                size_t len) {
  return make_data(MPROC_STR, s, len, out, "obj_strn");
}

mproc_status_t mproc_obj_bytes(mproc_obj_t **out, const void *p,
                                 size_t len) {
  return make_data(MPROC_BYTES, p, len, out, "obj_bytes");
}

mproc_status_t mproc_obj_list(mproc_obj_t **out) {
  return make(MPROC_LIST, out, "obj_list");
}

mproc_status_t mproc_obj_dict(mproc_obj_t **out) {
  return make(MPROC_DICT, out, "obj_dict");
}

/* ---- containers --------------------------------------------------- */

/* Room for n more slots (a dict uses two per entry). */
int mp_obj_reserve(mproc_obj_t *c, size_t more) {
  size_t slots = c->kind == MPROC_DICT ? 2 : 1;
  if (more > (SIZE_MAX / sizeof(void *)) / slots - c->len) return 0;
  size_t need = (c->len + more) * slots;
  if (need <= c->cap) return 1;
  size_t cap = c->cap ? c->cap : 4;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  mproc_obj_t **items = realloc(c->u.items, cap * sizeof *items);
  if (items == NULL) return 0;
  c->u.items = items;
  c->cap = cap;
  return 1;
}

/* Whether item may go into container: free-standing, and not an ancestor. */
static mproc_status_t check_insertable(const mproc_obj_t *container,
                                       const mproc_obj_t *item,
                                       const char *what) {
  if (item->parent != NULL)
    return mp_fail(MPROC_EINVAL, "%s: the value is inside a container already",
                   what);
  for (const mproc_obj_t *a = container; a; a = a->parent)
    if (a == item)
      return mp_fail(MPROC_EINVAL, "%s: that would make a cycle", what);
  return MPROC_OK;
}

mproc_status_t mproc_obj_list_append(mproc_obj_t *list, mproc_obj_t *item) {
  MP_CHECK_PAYLOAD(list, "obj_list_append");
  MP_CHECK_PAYLOAD(item, "obj_list_append");
  if (list->kind != MPROC_LIST)
    return mp_fail(MPROC_EINVAL, "obj_list_append: not a list");
  mproc_status_t st = check_insertable(list, item, "obj_list_append");
  if (st != MPROC_OK) return st;
  if (!mp_obj_reserve(list, 1))
    return mp_fail(MPROC_ENOMEM, "obj_list_append");
  list->u.items[list->len++] = item;
  item->parent = list;
  return MPROC_OK;
}

static int is_key_kind(const mproc_obj_t *k) {
  return k->kind == MPROC_INT || k->kind == MPROC_STR;
}

/* Keys are int or str: equal when same kind and same content. */
int mp_key_compare(const mproc_obj_t *a, const mproc_obj_t *b) {
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  if (a->kind == MPROC_INT)
    return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->u.s, b->u.s, n);
  if (c) return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

/* ---- the dict index ---------------------------------------------- */

/* A dict keeps its entries in insertion order (u.items: key, value, ...)
 * and, once it has DICT_INDEX_MIN entries, an open-addressing hash table
 * of entry numbers beside them, so set and get are O(1) on average. The
 * hash is SipHash with a key drawn per table: a decoder fed hostile input
 * cannot choose keys that collide (Python randomises str hashes too). */
#define DICT_INDEX_MIN 8

struct mp_dict_index {
  unsigned char key[crypto_shorthash_KEYBYTES];
  size_t mask;    /* slot count - 1 (a power of two) */
  size_t slot[];  /* entry number + 1; 0: empty */
};

static uint64_t key_hash(const struct mp_dict_index *x, const mproc_obj_t *k) {
  unsigned char out[crypto_shorthash_BYTES], buf[8];
  const unsigned char *p = buf;
  size_t n = sizeof buf;
  if (k->kind == MPROC_INT) {
    for (int i = 0; i < 8; i++)
      buf[i] = (unsigned char)((uint64_t)k->u.i >> (8 * i));
  } else {
    p = (const unsigned char *)k->u.s;
    n = k->len;
  }
  crypto_shorthash(out, p, n, x->key);
  uint64_t h = 0;
  for (int i = 0; i < 8; i++) h = h << 8 | out[i];
  return h;
}

static mproc_obj_t *entry_key(const mproc_obj_t *d, size_t e) {
  return d->u.items[2 * e];
}

/* The slot holding key, or the empty slot where it would go. */
static size_t probe(const mproc_obj_t *d, const mproc_obj_t *key) {
  const struct mp_dict_index *x = d->index;
  size_t i = (size_t)key_hash(x, key) & x->mask;
  while (x->slot[i] &&
         mp_key_compare(entry_key(d, x->slot[i] - 1), key) != 0)
    i = (i + 1) & x->mask;
  return i;
}

/* Rebuilds d's index with room for `entries` keys, indexing the first
 * d->len entries. 0 on no memory (the old index stays); *repeated set
 * when two of them are equal (only the first is indexed). */
static int reindex(mproc_obj_t *d, size_t entries, int *repeated) {
  size_t slots = 16;
  while (slots / 2 < entries) {
    if (slots > SIZE_MAX / (4 * sizeof(size_t))) return 0;
    slots *= 2;
  }
  struct mp_dict_index *x =
      calloc(1, sizeof *x + slots * sizeof x->slot[0]);
  if (x == NULL || sodium_init() < 0) {
    free(x);
    return 0;
  }
  crypto_shorthash_keygen(x->key);
  x->mask = slots - 1;
  free(d->index);
  d->index = x;
  *repeated = 0;
  for (size_t e = 0; e < d->len; e++) {
    size_t i = probe(d, entry_key(d, e));
    if (x->slot[i]) *repeated = 1;
    else x->slot[i] = e + 1;
  }
  return 1;
}

mproc_obj_t **mp_dict_find(const mproc_obj_t *dict, const mproc_obj_t *key) {
  if (dict->index) {
    size_t e = dict->index->slot[probe(dict, key)];
    return e ? &dict->u.items[2 * (e - 1)] : NULL;
  }
  for (size_t e = 0; e < dict->len; e++) /* small: a scan is cheaper */
    if (mp_key_compare(entry_key(dict, e), key) == 0)
      return &dict->u.items[2 * e];
  return NULL;
}

int mp_dict_index_entries(mproc_obj_t *dict, int *repeated) {
  *repeated = 0;
  if (dict->len >= DICT_INDEX_MIN) return reindex(dict, dict->len, repeated);
  for (size_t e = 1; e < dict->len && !*repeated; e++)
    for (size_t f = 0; f < e && !*repeated; f++)
      *repeated = mp_key_compare(entry_key(dict, f), entry_key(dict, e)) == 0;
  return 1;
}

void mp_dict_remove_at(mproc_obj_t *dict, size_t index) {
  mp_obj_destroy(dict->u.items[2 * index]);
  mp_obj_destroy(dict->u.items[2 * index + 1]);
  memmove(&dict->u.items[2 * index], &dict->u.items[2 * index + 2],
          (dict->len - index - 1) * 2 * sizeof dict->u.items[0]);
  dict->len--;
  int repeated;
  /* Entry numbers moved: index again (no memory: scan without index). */
  if (dict->index && !reindex(dict, dict->len * 2, &repeated)) {
    free(dict->index);
    dict->index = NULL;
  }
}

/* Makes sure one more key can be indexed (growing the table at half
 * full). 0 on no memory; the dict is unchanged then. */
static int index_room_for_one(mproc_obj_t *d) {
  size_t want = d->len + 1;
  if (want < DICT_INDEX_MIN) return 1;
  if (d->index && want <= (d->index->mask + 1) / 2) return 1;
  int repeated;
  return reindex(d, want * 2, &repeated);
}

/* Appends key/value as a new entry (the caller checked it is absent and
 * made room in items and in the index). */
static void append_entry(mproc_obj_t *d, mproc_obj_t *key,
                         mproc_obj_t *value) {
  if (d->index) d->index->slot[probe(d, key)] = d->len + 1;
  d->u.items[2 * d->len] = key;
  d->u.items[2 * d->len + 1] = value;
  d->len++;
}

mproc_status_t mproc_obj_dict_set(mproc_obj_t *dict, mproc_obj_t *key,
                              mproc_obj_t *value) {
  MP_CHECK_PAYLOAD(dict, "obj_dict_set");
  MP_CHECK_PAYLOAD(key, "obj_dict_set");
  MP_CHECK_PAYLOAD(value, "obj_dict_set");
  if (dict->kind != MPROC_DICT)
    return mp_fail(MPROC_EINVAL, "obj_dict_set: not a dict");
  if (!is_key_kind(key))
    return mp_fail(MPROC_EINVAL, "obj_dict_set: keys are int or str");
  mproc_status_t st = check_insertable(dict, key, "obj_dict_set");
  if (st == MPROC_OK) st = check_insertable(dict, value, "obj_dict_set");
  if (st == MPROC_OK && key == value)
    st = mp_fail(MPROC_EINVAL, "obj_dict_set: key and value are one value");
  if (st != MPROC_OK) return st;
  mproc_obj_t **slot = mp_dict_find(dict, key);
  if (slot) { /* Python keeps the first key and its place */
    slot[1]->parent = NULL;
    mproc_obj_free(slot[1]);
    mproc_obj_free(key);
    slot[1] = value;
  } else {
    if (!mp_obj_reserve(dict, 1) || !index_room_for_one(dict))
      return mp_fail(MPROC_ENOMEM, "obj_dict_set");
    append_entry(dict, key, value);
    key->parent = dict;
  }
  value->parent = dict;
  return MPROC_OK;
}

/* Frees a tree without recursion on the C stack: children are unlinked
 * into a work list through their parent pointers. */
void mp_obj_destroy(mproc_obj_t *v) {
  mproc_obj_t *work = v;
  if (v) v->parent = NULL;
  while (work) {
    mproc_obj_t *cur = work;
    work = cur->parent;
    if (cur->kind == MPROC_LIST || cur->kind == MPROC_DICT) {
      size_t n = cur->kind == MPROC_DICT ? 2 * cur->len : cur->len;
      for (size_t i = 0; i < n; i++) {
        cur->u.items[i]->parent = work;
        work = cur->u.items[i];
      }
      free(cur->u.items);
      free(cur->index);
    } else if (cur->kind == MPROC_STR || cur->kind == MPROC_BYTES) {
      free(cur->u.s);
    }
    mp_node_release(cur);
  }
}

mproc_status_t mproc_obj_free(mproc_obj_t *v) {
  if (v == NULL) return MPROC_OK;
  MP_CHECK_PAYLOAD(v, "obj_free");
  if (v->parent)
    return mp_fail(MPROC_EINVAL,
                   "obj_free: the value belongs to a container");
  mp_obj_destroy(v);
  return MPROC_OK;
}

/* ---- accessors ---------------------------------------------------- */

static mproc_status_t require_kind(const mproc_obj_t *v, mproc_kind_t kind,
                                   const void *out, const char *what) {
  MP_CHECK_PAYLOAD(v, what);
  MP_REQUIRE(out, what);
  if (v->kind != kind)
    return mp_fail(MPROC_EINVAL, "%s: the value is a %s", what,
                   mp_kind_name(v->kind));
  return MPROC_OK;
}

const char *mp_kind_name(mproc_kind_t kind) {
  static const char *const names[] = {"None", "bool",  "int",  "float",
                                      "str",  "bytes", "list", "dict"};
  return (unsigned)kind < sizeof names / sizeof *names ? names[kind] : "?";
}

mproc_status_t mproc_obj_kind(const mproc_obj_t *v, mproc_kind_t *out) {
  MP_CHECK_PAYLOAD(v, "obj_kind");
  MP_REQUIRE(out, "obj_kind: out");
  *out = v->kind;
  return MPROC_OK;
}

mproc_status_t mproc_obj_get_bool(const mproc_obj_t *v, int *out) {
  mproc_status_t st = require_kind(v, MPROC_BOOL, out, "obj_get_bool");
  if (st == MPROC_OK) *out = v->u.b;
  return st;
}

mproc_status_t mproc_obj_get_int(const mproc_obj_t *v, int64_t *out) {
  mproc_status_t st = require_kind(v, MPROC_INT, out, "obj_get_int");
  if (st == MPROC_OK) *out = v->u.i;
  return st;
}

mproc_status_t mproc_obj_get_float(const mproc_obj_t *v, double *out) {
  mproc_status_t st = require_kind(v, MPROC_FLOAT, out, "obj_get_float");
  if (st == MPROC_OK) *out = v->u.f;
  return st;
}

mproc_status_t mproc_obj_get_str(const mproc_obj_t *v, const char **s,
                                   size_t *len) {
  mproc_status_t st = require_kind(v, MPROC_STR, s, "obj_get_str");
  if (st != MPROC_OK) return st;
  *s = v->u.s;
  if (len) *len = v->len;
  return MPROC_OK;
}

mproc_status_t mproc_obj_get_bytes(const mproc_obj_t *v, const void **p,
                                     size_t *len) {
  mproc_status_t st = require_kind(v, MPROC_BYTES, p, "obj_get_bytes");
  if (st != MPROC_OK) return st;
  *p = v->u.s;
  if (len) *len = v->len;
  return MPROC_OK;
}

mproc_status_t mproc_obj_len(const mproc_obj_t *v, size_t *out) {
  MP_CHECK_PAYLOAD(v, "obj_len");
  MP_REQUIRE(out, "obj_len: out");
  if (v->kind < MPROC_STR)
    return mp_fail(MPROC_EINVAL, "obj_len: a %s has no length",
                   mp_kind_name(v->kind));
  *out = v->len;
  return MPROC_OK;
}

mproc_status_t mproc_obj_list_get(const mproc_obj_t *list, size_t index,
                              const mproc_obj_t **out) {
  mproc_status_t st = require_kind(list, MPROC_LIST, out, "obj_list_get");
  if (st != MPROC_OK) return st;
  if (index >= list->len)
    return mp_fail(MPROC_EINVAL, "obj_list_get: index %zu of %zu", index,
                   list->len);
  *out = list->u.items[index];
  return MPROC_OK;
}

mproc_status_t mproc_obj_dict_item(const mproc_obj_t *dict, size_t index,
                               const mproc_obj_t **key,
                               const mproc_obj_t **value) {
  mproc_status_t st = require_kind(dict, MPROC_DICT, key, "obj_dict_item");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(value, "obj_dict_item: value");
  if (index >= dict->len)
    return mp_fail(MPROC_EINVAL, "obj_dict_item: index %zu of %zu", index,
                   dict->len);
  *key = dict->u.items[2 * index];
  *value = dict->u.items[2 * index + 1];
  return MPROC_OK;
}

mproc_status_t mproc_obj_dict_get(const mproc_obj_t *dict,
                              const mproc_obj_t *key,
                              const mproc_obj_t **out) {
  mproc_status_t st = require_kind(dict, MPROC_DICT, out, "obj_dict_get");
  if (st != MPROC_OK) return st;
  MP_CHECK_PAYLOAD(key, "obj_dict_get");
  mproc_obj_t **slot = is_key_kind(key) ? mp_dict_find(dict, key) : NULL;
  *out = slot ? slot[1] : NULL;
  return MPROC_OK;
}

/* ---- equality ----------------------------------------------------- */

static int is_number(const mproc_obj_t *v) {
  return v->kind == MPROC_BOOL || v->kind == MPROC_INT ||
         v->kind == MPROC_FLOAT;
}

static int numbers_equal(const mproc_obj_t *a, const mproc_obj_t *b) {
  if (a->kind == MPROC_FLOAT || b->kind == MPROC_FLOAT) {
    double x = a->kind == MPROC_FLOAT ? a->u.f
               : a->kind == MPROC_INT ? (double)a->u.i : a->u.b;
    double y = b->kind == MPROC_FLOAT ? b->u.f
               : b->kind == MPROC_INT ? (double)b->u.i : b->u.b;
    return x == y;
  }
  int64_t x = a->kind == MPROC_INT ? a->u.i : a->u.b;
  int64_t y = b->kind == MPROC_INT ? b->u.i : b->u.b;
  return x == y;
}

static int values_equal(const mproc_obj_t *a, const mproc_obj_t *b,
                        int depth) {
  if (depth > MPROC_OBJ_MAX_DEPTH) return 0;
  if (is_number(a) && is_number(b)) return numbers_equal(a, b);
  if (a->kind != b->kind) return 0;
  switch (a->kind) {
    case MPROC_NONE: return 1;
    case MPROC_STR:
    case MPROC_BYTES:
      return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
    case MPROC_LIST:
      if (a->len != b->len) return 0;
      for (size_t i = 0; i < a->len; i++)
        if (!values_equal(a->u.items[i], b->u.items[i], depth + 1)) return 0;
      return 1;
    case MPROC_DICT:
      if (a->len != b->len) return 0;
      for (size_t i = 0; i < a->len; i++) {
        mproc_obj_t **other = mp_dict_find(b, a->u.items[2 * i]);
        if (!other || !values_equal(a->u.items[2 * i + 1], other[1],
                                    depth + 1))
          return 0;
      }
      return 1;
    default: return 0;
  }
}

mproc_status_t mproc_obj_equal(const mproc_obj_t *a,
                                 const mproc_obj_t *b, int *out) {
  MP_CHECK_PAYLOAD(a, "obj_equal");
  MP_CHECK_PAYLOAD(b, "obj_equal");
  MP_REQUIRE(out, "obj_equal: out");
  *out = values_equal(a, b, 0);
  return MPROC_OK;
}

/* ---- UTF-8 -------------------------------------------------------- */

/* Length of the UTF-8 sequence at p (n bytes left) and its code point, or
 * 0 when it is not well-formed (overlong, surrogate, beyond U+10FFFF). */
size_t mp_utf8_next(const unsigned char *p, size_t n, uint32_t *cp) {
  if (n == 0) return 0;
  unsigned char c = p[0];
  size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  uint32_t v = len == 1 ? c : c & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (p[i] & 0x3f);
  }
  static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

int mp_utf8_valid(const void *s, size_t len) {
  const unsigned char *p = s;
  uint32_t cp;
  for (size_t i = 0; i < len;) {
    if (p[i] < 0x80) { /* the common case */
      i++;
      continue;
    }
    size_t n = mp_utf8_next(p + i, len - i, &cp);
    if (n == 0) return 0;
    i += n;
  }
  return 1;
}
