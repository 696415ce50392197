/* The bootstrap record: a magic, then fields in a fixed order. Strings are
 * NUL-terminated with a length prefix, integers are 64-bit little-endian,
 * so the record means the same to any build of the same program. */
#include "core/bootstrap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char magic[8] = "MPROC\0\0\1";

typedef struct {
  unsigned char *buf;
  size_t len;
} writer_t;

static void put_u64(writer_t *w, uint64_t v) {
  for (int i = 0; i < 8; i++) w->buf[w->len++] = (unsigned char)(v >> (8 * i));
}

static void put_bytes(writer_t *w, const void *p, size_t n) {
  put_u64(w, n);
  if (n) memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static void put_string(writer_t *w, const char *s) {
  put_bytes(w, s, strlen(s) + 1);
}

mproc_status_t mp_bootstrap_encode(const mp_bootstrap_t *b, void **out,
                                   size_t *len) {
  const char *strings[] = {b->task, b->name, b->identity, b->parent_name};
  size_t size = sizeof magic + 2 * 8 + 8 + b->arg_len;
  for (size_t i = 0; i < 4; i++) size += 8 + strlen(strings[i]) + 1;
  writer_t w = {malloc(size), 0};
  if (w.buf == NULL) return mp_fail(MPROC_ENOMEM, "bootstrap: %zu bytes", size);
  memcpy(w.buf, magic, sizeof magic);
  w.len = sizeof magic;
  for (size_t i = 0; i < 4; i++) put_string(&w, strings[i]);
  put_u64(&w, (uint64_t)(int64_t)b->parent_pid);
  put_u64(&w, (uint64_t)b->daemon);
  put_bytes(&w, b->arg, b->arg_len);
  *out = w.buf;
  *len = w.len;
  return MPROC_OK;
}

typedef struct {
  const unsigned char *buf;
  size_t len, pos;
  int bad;
} reader_t;

static uint64_t get_u64(reader_t *r) {
  if (r->bad || r->len - r->pos < 8) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)r->buf[r->pos++] << (8 * i);
  return v;
}

static const void *get_bytes(reader_t *r, size_t *n) {
  uint64_t size = get_u64(r);
  if (r->bad || size > r->len - r->pos) {
    r->bad = 1;
    *n = 0;
    return NULL;
  }
  const void *p = r->buf + r->pos;
  r->pos += (size_t)size;
  *n = (size_t)size;
  return p;
}

static const char *get_string(reader_t *r) {
  size_t n;
  const char *s = get_bytes(r, &n);
  if (s == NULL || n == 0 || s[n - 1] != '\0') {
    r->bad = 1;
    return "";
  }
  return s;
}

mproc_status_t mp_bootstrap_decode(const void *blob, size_t len,
                                   mp_bootstrap_t *b) {
  if (len < sizeof magic || memcmp(blob, magic, sizeof magic) != 0)
    return mp_fail(MPROC_ESPAWN, "bootstrap: not an mproc bootstrap record");
  reader_t r = {blob, len, sizeof magic, 0};
  b->task = get_string(&r);
  b->name = get_string(&r);
  b->identity = get_string(&r);
  b->parent_name = get_string(&r);
  b->parent_pid = (long)(int64_t)get_u64(&r);
  b->daemon = get_u64(&r) != 0;
  b->arg = get_bytes(&r, &b->arg_len);
  if (r.bad || r.pos != len)
    return mp_fail(MPROC_ESPAWN, "bootstrap: truncated or malformed record");
  return MPROC_OK;
}
