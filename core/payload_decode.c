/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Values in: a bounded MessagePack decoder.
 *
 * Whatever the input, it never reads outside it, never recurses deeper than
 * MPROC_OBJ_MAX_DEPTH, and never allocates for elements it has not got
 * the bytes for: an array or map header announcing more entries than bytes
 * remain (each entry takes at least one byte) is refused before any
 * allocation. Memory is therefore at most a small multiple of the input.
 * (That is why this is not msgpack-c's unpacker: see payload.c.)
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/payload.h"

typedef mp_cursor_t reader_t;

static mproc_status_t bad(const reader_t *r, const char *why) {
  return mp_fail(MPROC_EBADMSG, "obj_decode: %s at byte %zu", why, r->pos);
}

static size_t left(const reader_t *r) { return r->len - r->pos; }

/* Reads an n-byte big-endian unsigned integer (n <= 8). */
static int read_be(reader_t *r, size_t n, uint64_t *out) {
  if (left(r) < n) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = (v << 8) | r->p[r->pos + i];
  r->pos += n;
  *out = v;
  return 1;
}

static mproc_status_t decode(reader_t *r, int depth, mproc_obj_t **out);

static mproc_status_t new_value(mproc_kind_t kind, mproc_obj_t **out) {
  *out = mp_obj_new(kind);
  return *out ? MPROC_OK : mp_fail(MPROC_ENOMEM, "obj_decode");
}

static mproc_status_t decode_data(reader_t *r, mproc_kind_t kind, size_t n,
                                  mproc_obj_t **out) {
  if (left(r) < n) return bad(r, "truncated str/bin");
  const unsigned char *data = r->p + r->pos;
  if (kind == MPROC_STR && !mp_utf8_valid(data, n))
    return bad(r, "str is not UTF-8");
  mproc_status_t st = new_value(kind, out);
  if (st != MPROC_OK) return st;
  if (!mp_obj_set_data(*out, data, n)) {
    mp_node_release(*out);
    return mp_fail(MPROC_ENOMEM, "obj_decode: %zu bytes", n);
  }
  r->pos += n;
  return MPROC_OK;
}

/* Dict keys must be distinct: indexing them finds a repeat in O(n).
 * Refused rather than "last wins", so that a value's encoding is the only
 * one that decodes to it (the fuzzer's round trip relies on that). */
static mproc_status_t check_keys(reader_t *r, mproc_obj_t *d) {
  int repeated;
  if (!mp_dict_index_entries(d, &repeated))
    return mp_fail(MPROC_ENOMEM, "obj_decode: dict index");
  return repeated ? bad(r, "repeated dict key") : MPROC_OK;
}

static mproc_status_t decode_container(reader_t *r, mproc_kind_t kind,
                                       uint64_t n, int depth,
                                       mproc_obj_t **out) {
  int dict = kind == MPROC_DICT;
  if (depth >= MPROC_OBJ_MAX_DEPTH) return bad(r, "nested too deep");
  if (n > left(r) / (dict ? 2 : 1)) return bad(r, "more entries than bytes");
  mproc_obj_t *c;
  mproc_status_t st = new_value(kind, &c);
  if (st != MPROC_OK) return st;
  if (n && !mp_obj_reserve(c, (size_t)n)) {
    mp_obj_destroy(c);
    return mp_fail(MPROC_ENOMEM, "obj_decode: %llu entries",
                   (unsigned long long)n);
  }
  size_t slots = (size_t)n * (dict ? 2 : 1), filled = 0;
  for (; filled < slots; filled++) {
    mproc_obj_t *item;
    st = decode(r, depth + 1, &item);
    if (st != MPROC_OK) break;
    c->u.items[filled] = item;
    item->parent = c;
    if (dict && filled % 2 == 0 && item->kind != MPROC_INT &&
        item->kind != MPROC_STR) {
      st = bad(r, "dict key is not int or str");
      filled++;
      break;
    }
  }
  c->len = dict ? filled / 2 : filled;
  if (dict && filled % 2) mp_obj_destroy(c->u.items[filled - 1]);
  if (st == MPROC_OK && dict) st = check_keys(r, c);
  if (st != MPROC_OK) {
    mp_obj_destroy(c);
    return st;
  }
  *out = c;
  return MPROC_OK;
}

/* Reads an n-byte int (n <= 8, sign-extended when is_signed) into v. */
static mproc_status_t read_int(reader_t *r, int is_signed, size_t n,
                               mproc_obj_t *v) {
  uint64_t u;
  if (!read_be(r, n, &u)) return bad(r, "truncated integer");
  if (is_signed) {
    /* sign-extend an n-byte two's complement number */
    unsigned shift = (unsigned)(64 - 8 * n);
    v->u.i = (int64_t)(u << shift) >> shift;
  } else {
    if (u > INT64_MAX) return bad(r, "integer beyond int64");
    v->u.i = (int64_t)u;
  }
  v->kind = MPROC_INT;
  return MPROC_OK;
}

static mproc_status_t read_float(reader_t *r, size_t n, mproc_obj_t *v) {
  uint64_t u;
  if (!read_be(r, n, &u)) return bad(r, "truncated float");
  if (n == 4) {
    uint32_t w = (uint32_t)u;
    float f;
    memcpy(&f, &w, sizeof f);
    v->u.f = f;
  } else {
    memcpy(&v->u.f, &u, sizeof v->u.f);
  }
  v->kind = MPROC_FLOAT;
  return MPROC_OK;
}

/* A scalar (None, bool, int, float) at r: 1 with its kind and content in
 * v (nothing allocated) and *st its outcome (MPROC_EBADMSG when
 * truncated), or 0 when the next value is not a scalar (r unmoved). */
static inline int scalar(reader_t *r, mproc_obj_t *v, mproc_status_t *st) {
  if (left(r) == 0) return 0;
  unsigned char c = r->p[r->pos];
  *st = MPROC_OK;
  v->u.i = 0;
  if (c <= 0x7f || c >= 0xe0) { /* positive and negative fixint */
    v->kind = MPROC_INT;
    v->u.i = c <= 0x7f ? c : (int8_t)c;
  } else if (c == 0xc0) {
    v->kind = MPROC_NONE;
  } else if (c == 0xc2 || c == 0xc3) {
    v->kind = MPROC_BOOL;
    v->u.b = c == 0xc3;
  } else if (c == 0xca || c == 0xcb) {
    r->pos++;
    *st = read_float(r, c == 0xca ? 4 : 8, v);
    return 1;
  } else if (c >= 0xcc && c <= 0xd3) { /* uint, int 8/16/32/64 */
    r->pos++;
    *st = read_int(r, c >= 0xd0, (size_t)1 << (c & 3), v);
    return 1;
  } else {
    return 0;
  }
  r->pos++;
  return 1;
}

/* Reads a length of n bytes then decodes what it announces. */
static mproc_status_t sized(reader_t *r, size_t n, mproc_kind_t kind,
                            int depth, mproc_obj_t **out) {
  uint64_t count;
  if (!read_be(r, n, &count)) return bad(r, "truncated length");
  if (kind == MPROC_STR || kind == MPROC_BYTES) {
    if (count > left(r)) return bad(r, "truncated str/bin");
    return decode_data(r, kind, (size_t)count, out);
  }
  return decode_container(r, kind, count, depth, out);
}

static mproc_status_t decode(reader_t *r, int depth, mproc_obj_t **out) {
  if (left(r) == 0) return bad(r, "truncated");
  mproc_obj_t v;
  mproc_status_t st;
  if (scalar(r, &v, &st)) {
    if (st == MPROC_OK && (st = new_value(v.kind, out)) == MPROC_OK)
      (*out)->u = v.u;
    return st;
  }
  unsigned char c = r->p[r->pos++];
  if ((c & 0xe0) == 0xa0) return decode_data(r, MPROC_STR, c & 0x1f, out);
  if ((c & 0xf0) == 0x90)
    return decode_container(r, MPROC_LIST, c & 0x0f, depth, out);
  if ((c & 0xf0) == 0x80)
    return decode_container(r, MPROC_DICT, c & 0x0f, depth, out);
  switch (c) {
    case 0xc4: return sized(r, 1, MPROC_BYTES, depth, out);
    case 0xc5: return sized(r, 2, MPROC_BYTES, depth, out);
    case 0xc6: return sized(r, 4, MPROC_BYTES, depth, out);
    case 0xd9: return sized(r, 1, MPROC_STR, depth, out);
    case 0xda: return sized(r, 2, MPROC_STR, depth, out);
    case 0xdb: return sized(r, 4, MPROC_STR, depth, out);
    case 0xdc: return sized(r, 2, MPROC_LIST, depth, out);
    case 0xdd: return sized(r, 4, MPROC_LIST, depth, out);
    case 0xde: return sized(r, 2, MPROC_DICT, depth, out);
    case 0xdf: return sized(r, 4, MPROC_DICT, depth, out);
    default:
      r->pos--;
      return bad(r, "unsupported type (ext or reserved)");
  }
}

mproc_status_t mproc_obj_decode(mproc_obj_t **out, const void *buf,
                                  size_t len) {
  MP_REQUIRE(out, "obj_decode: out");
  if (buf == NULL && len > 0)
    return mp_fail(MPROC_EINVAL, "obj_decode: NULL buffer of %zu bytes",
                   len);
  reader_t r = {buf, len, 0};
  mproc_obj_t *v;
  mproc_status_t st = decode(&r, 0, &v);
  if (st != MPROC_OK) return st;
  if (r.pos != len) {
    mp_obj_destroy(v);
    return bad(&r, "trailing bytes");
  }
  *out = v;
  return MPROC_OK;
}

/* ---- one value at a time (the pool's chunks and replies) ---------- */

mproc_status_t mp_cursor_value(mp_cursor_t *c, mproc_obj_t **out) {
  size_t at = c->pos;
  mproc_status_t st = decode(c, 0, out);
  if (st != MPROC_OK) c->pos = at;
  return st;
}

int mp_cursor_scalar(mp_cursor_t *c, mproc_obj_t *v) {
  size_t at = c->pos;
  mproc_status_t st;
  if (scalar(c, v, &st) && st == MPROC_OK) return 1;
  c->pos = at;
  return 0;
}

int mp_cursor_array(mp_cursor_t *c, size_t *n) {
  if (left(c) == 0) return 0;
  unsigned char t = c->p[c->pos];
  uint64_t count;
  size_t at = c->pos++;
  if ((t & 0xf0) == 0x90) {
    count = t & 0x0f;
  } else if (t != 0xdc && t != 0xdd) {
    c->pos = at;
    return 0;
  } else if (!read_be(c, t == 0xdc ? 2 : 4, &count)) {
    c->pos = at;
    return 0;
  }
  if (count > left(c)) { /* each entry takes a byte at least */
    c->pos = at;
    return 0;
  }
  *n = (size_t)count;
  return 1;
}
