/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Values out: MessagePack encoding (msgpack-c's packer) and Python's repr().
 */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/object.h"
#include "core/payload.h"

/* ---- MessagePack -------------------------------------------------- */

static int buf_write(void *data, const char *p, size_t n) {
  mp_buf_t *b = data;
  mp_buf_put(b, p, n);
  return b->failed ? -1 : 0;
}

/* MessagePack lengths are 32-bit. */
static int too_long(size_t n) { return (uint64_t)n > UINT32_MAX; }

/* Writes n bytes of u, big-endian, at h. */
static void put_be(unsigned char *h, uint64_t u, size_t n) {
  for (size_t k = 0; k < n; k++) h[k] = (unsigned char)(u >> (8 * (n - 1 - k)));
}

/* Appends a scalar (None, bool, int, float) to b and returns 1; 0 for
 * another kind. Written here, not through msgpack-c's packer: a map's
 * items are mostly ints, and the packer's call and write callback per
 * value cost more than its bytes. Every int in its shortest form (what
 * msgpack-c writes too), so a value keeps one encoding: the decoder's
 * round trip relies on that (payload_decode.c). */
static int put_scalar(mp_buf_t *b, const mproc_obj_t *v) {
  if (v->kind > MPROC_FLOAT) return 0;
  unsigned char *h = mp_buf_room(b, 9); /* written in place: no copy */
  if (h == NULL) return 1; /* b->failed tells */
  size_t n = 1;
  switch (v->kind) {
    case MPROC_NONE: h[0] = 0xc0; break;
    case MPROC_BOOL: h[0] = v->u.b ? 0xc3 : 0xc2; break;
    case MPROC_INT: {
      int64_t i = v->u.i;
      if (i >= -32 && i < 128) { /* positive or negative fixint */
        h[0] = (unsigned char)i;
        break;
      }
      /* uint 8/16/32/64 (0xcc..0xcf), int 8/16/32/64 (0xd0..0xd3): the
       * tag's low two bits give the size, 1 << bits bytes. */
      unsigned bits = i >= 0 ? (i < 0x100 ? 0 : i < 0x10000 ? 1
                                : i <= (int64_t)UINT32_MAX ? 2 : 3)
                             : (i >= INT8_MIN ? 0 : i >= INT16_MIN ? 1
                                : i >= INT32_MIN ? 2 : 3);
      h[0] = (unsigned char)((i >= 0 ? 0xcc : 0xd0) | bits);
      n = (size_t)1 << bits;
      put_be(h + 1, (uint64_t)i, n);
      n++;
      break;
    }
    case MPROC_FLOAT: {
      uint64_t u;
      memcpy(&u, &v->u.f, sizeof u);
      h[0] = 0xcb; /* float 64, as msgpack_pack_double */
      put_be(h + 1, u, 8);
      n = 9;
      break;
    }
    default: break;
  }
  b->len += n;
  return 1;
}

static mproc_status_t pack(msgpack_packer *pk, const mproc_obj_t *v,
                           int depth) {
  if (depth > MPROC_OBJ_MAX_DEPTH)
    return mp_fail(MPROC_EINVAL, "obj_encode: nested deeper than %d",
                   MPROC_OBJ_MAX_DEPTH);
  if (v->kind >= MPROC_STR && too_long(v->len))
    return mp_fail(MPROC_EMSGSIZE, "obj_encode: a %s of %zu entries",
                   mp_kind_name(v->kind), v->len);
  /* The packer writes into an mp_buf_t (buf_write): so do the scalars. */
  if (put_scalar(pk->data, v)) return MPROC_OK;
  switch (v->kind) {
    case MPROC_STR:
      msgpack_pack_str(pk, v->len);
      msgpack_pack_str_body(pk, v->u.s, v->len);
      break;
    case MPROC_BYTES:
      msgpack_pack_bin(pk, v->len);
      msgpack_pack_bin_body(pk, v->u.s, v->len);
      break;
    default: { /* list, dict */
      int dict = v->kind == MPROC_DICT;
      dict ? msgpack_pack_map(pk, v->len) : msgpack_pack_array(pk, v->len);
      size_t n = dict ? 2 * v->len : v->len;
      for (size_t i = 0; i < n; i++) {
        mproc_status_t st = pack(pk, v->u.items[i], depth + 1);
        if (st != MPROC_OK) return st;
      }
      break;
    }
  }
  return MPROC_OK;
}

mproc_status_t mp_obj_encode_append(mp_buf_t *b, const mproc_obj_t *v) {
  MP_CHECK_PAYLOAD(v, "obj_encode");
  if (put_scalar(b, v)) /* a map's item: no packer to set up */
    return b->failed ? mp_fail(MPROC_ENOMEM, "obj_encode") : MPROC_OK;
  msgpack_packer pk;
  msgpack_packer_init(&pk, b, buf_write);
  mproc_status_t st = pack(&pk, v, 0);
  if (st == MPROC_OK && b->failed) st = mp_fail(MPROC_ENOMEM, "obj_encode");
  return st;
}

mproc_status_t mproc_obj_encode(const mproc_obj_t *v, void **out,
                                  size_t *len) {
  MP_CHECK_PAYLOAD(v, "obj_encode");
  MP_REQUIRE(out, "obj_encode: out");
  MP_REQUIRE(len, "obj_encode: len");
  mp_buf_t b = {0};
  mproc_status_t st = mp_obj_encode_append(&b, v);
  if (st == MPROC_OK && b.data == NULL) /* never: a value is >= 1 byte */
    st = mp_fail(MPROC_ENOMEM, "obj_encode");
  if (st != MPROC_OK) {
    mp_buf_free(&b);
    return st;
  }
  *out = b.data;
  *len = b.len;
  return MPROC_OK;
}

/* ---- repr --------------------------------------------------------- */

static void put_str(mp_buf_t *b, const char *s) { mp_buf_put(b, s, strlen(s)); }

/* Python's float repr: the shortest digits that read back as d, written
 * positionally when the exponent is in [-4, 16), else as 1.5e+16. */
static void repr_float(mp_buf_t *b, double d) {
  if (isnan(d)) {
    put_str(b, "nan");
    return;
  }
  if (isinf(d)) {
    put_str(b, d < 0 ? "-inf" : "inf");
    return;
  }
  char sci[40];
  for (int prec = 0; prec < 17; prec++) {
    snprintf(sci, sizeof sci, "%.*e", prec, d);
    if (strtod(sci, NULL) == d) break;
  }
  /* sci is [-]D[.DDD]e[+-]XX: split into sign, digits, exponent. */
  const char *p = sci;
  if (*p == '-') put_str(b, "-"), p++;
  char digits[24];
  size_t nd = 0;
  for (; *p != 'e'; p++)
    if (*p != '.') digits[nd++] = *p;
  int exp = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  char out[64];
  size_t o = 0;
  if (exp >= 16 || exp < -4) {
    out[o++] = digits[0];
    if (nd > 1) {
      out[o++] = '.';
      for (size_t i = 1; i < nd; i++) out[o++] = digits[i];
    }
    o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d",
                          exp < 0 ? '-' : '+', abs(exp));
  } else if (exp < 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = -1; i > exp; i--) out[o++] = '0';
    for (size_t i = 0; i < nd; i++) out[o++] = digits[i];
  } else {
    for (int i = 0; i <= exp; i++)
      out[o++] = (size_t)i < nd ? digits[i] : '0';
    out[o++] = '.';
    if ((size_t)exp + 1 >= nd) out[o++] = '0';
    for (size_t i = (size_t)exp + 1; i < nd; i++) out[o++] = digits[i];
  }
  mp_buf_put(b, out, o);
}

/* Python picks '...' unless the text has a ' and no ". */
static char pick_quote(const char *s, size_t len) {
  int single = memchr(s, '\'', len) != NULL;
  int dbl = memchr(s, '"', len) != NULL;
  return single && !dbl ? '"' : '\'';
}

/* An escape for the ASCII byte c, or NULL when it prints as itself. */
static const char *ascii_escape(unsigned char c, char quote, char tmp[8]) {
  if (c == '\\') return "\\\\";
  if (c == (unsigned char)quote) return quote == '\'' ? "\\'" : "\\\"";
  if (c == '\n') return "\\n";
  if (c == '\r') return "\\r";
  if (c == '\t') return "\\t";
  if (c < 0x20 || c >= 0x7f) {
    snprintf(tmp, 8, "\\x%02x", c);
    return tmp;
  }
  return NULL;
}

/* Non-ASCII code points Python does not print as themselves (an
 * approximation of str.isprintable: C1 controls, separators, format). */
static int unprintable(uint32_t cp) {
  return cp < 0xa1 || cp == 0xad || (cp >= 0x2028 && cp <= 0x202e) ||
         (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2060 && cp <= 0x206f) ||
         cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
         (cp >= 0xe000 && cp <= 0xf8ff) || (cp & 0xfffe) == 0xfffe;
}

static void repr_text(mp_buf_t *b, const char *s, size_t len, int bytes) {
  char quote = pick_quote(s, len), tmp[16];
  if (bytes) put_str(b, "b");
  mp_buf_put(b, &quote, 1);
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = !bytes && p[i] >= 0x80 ? mp_utf8_next(p + i, len - i, &cp) : 0;
    if (n == 0) {
      const char *esc = ascii_escape(p[i], quote, tmp);
      esc ? put_str(b, esc) : mp_buf_put(b, p + i, 1);
      i++;
      continue;
    }
    if (unprintable(cp)) {
      snprintf(tmp, sizeof tmp, cp < 0x100 ? "\\x%02x" : cp < 0x10000
                                                ? "\\u%04x" : "\\U%08x", cp);
      put_str(b, tmp);
    } else {
      mp_buf_put(b, p + i, n);
    }
    i += n;
  }
  mp_buf_put(b, &quote, 1);
}

static mproc_status_t repr(mp_buf_t *b, const mproc_obj_t *v, int depth) {
  if (depth > MPROC_OBJ_MAX_DEPTH)
    return mp_fail(MPROC_EINVAL, "obj_repr: nested deeper than %d",
                   MPROC_OBJ_MAX_DEPTH);
  char tmp[32];
  switch (v->kind) {
    case MPROC_NONE: put_str(b, "None"); break;
    case MPROC_BOOL: put_str(b, v->u.b ? "True" : "False"); break;
    case MPROC_INT:
      snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i);
      put_str(b, tmp);
      break;
    case MPROC_FLOAT: repr_float(b, v->u.f); break;
    case MPROC_STR: repr_text(b, v->u.s, v->len, 0); break;
    case MPROC_BYTES: repr_text(b, v->u.s, v->len, 1); break;
    case MPROC_LIST:
    case MPROC_DICT: {
      int dict = v->kind == MPROC_DICT;
      put_str(b, dict ? "{" : "[");
      for (size_t i = 0; i < v->len; i++) {
        if (i) put_str(b, ", ");
        mproc_status_t st = repr(b, v->u.items[dict ? 2 * i : i], depth + 1);
        if (st == MPROC_OK && dict) {
          put_str(b, ": ");
          st = repr(b, v->u.items[2 * i + 1], depth + 1);
        }
        if (st != MPROC_OK) return st;
      }
      put_str(b, dict ? "}" : "]");
      break;
    }
  }
  return MPROC_OK;
}

mproc_status_t mproc_obj_repr(const mproc_obj_t *v, char **out) {
  MP_CHECK_PAYLOAD(v, "obj_repr");
  MP_REQUIRE(out, "obj_repr: out");
  mp_buf_t b = {0};
  mproc_status_t st = repr(&b, v, 0);
  mp_buf_put(&b, "", 1);
  if (st == MPROC_OK && b.failed) st = mp_fail(MPROC_ENOMEM, "obj_repr");
  if (st != MPROC_OK) {
    mp_buf_free(&b);
    return st;
  }
  *out = (char *)b.data;
  return MPROC_OK;
}

mproc_status_t mproc_obj_format(const mproc_obj_t *v, char **out) {
  MP_CHECK_PAYLOAD(v, "obj_format");
  MP_REQUIRE(out, "obj_format: out");
  if (v->kind != MPROC_STR) return mproc_obj_repr(v, out);
  *out = malloc(v->len + 1);
  if (*out == NULL) return mp_fail(MPROC_ENOMEM, "obj_format");
  memcpy(*out, v->u.s, v->len + 1);
  return MPROC_OK;
}
