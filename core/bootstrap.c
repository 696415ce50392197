/* SPDX-License-Identifier: Apache-2.0 */
/* The bootstrap record: a magic, then fields in a fixed order. Strings are
 * NUL-terminated with a length prefix, integers are 64-bit little-endian
 * (core/object.h's mp_buf_t), so the record means the same to any build of
 * the same program. */
#include "core/bootstrap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/object.h"

/* Version 4: the parent's default start method follows the parent name
 * (version 3: the task is a key, mp_task_key, no longer a bare name). */
static const char magic[8] = "MPROC\0\0\4";

static void put_bytes(mp_buf_t *b, const void *p, size_t n) {
  mp_buf_put_u64(b, n);
  mp_buf_put(b, p, n);
}

static void put_string(mp_buf_t *b, const char *s) {
  put_bytes(b, s, strlen(s) + 1);
}

mproc_status_t mp_bootstrap_encode(const mp_bootstrap_t *b, void **out,
                                   size_t *len) {
  mp_buf_t buf = {0};
  mp_buf_put(&buf, magic, sizeof magic);
  put_string(&buf, b->task);
  put_string(&buf, b->name);
  put_string(&buf, b->identity);
  put_string(&buf, b->parent_name);
  put_string(&buf, b->start_method);
  mp_buf_put_u64(&buf, (uint64_t)(int64_t)b->parent_pid);
  mp_buf_put_u64(&buf, (uint64_t)b->daemon);
  put_bytes(&buf, b->arg, b->arg_len);
  mp_buf_put_u64(&buf, b->nobjects);
  put_bytes(&buf, b->objects, b->objects_len);
  if (buf.failed) {
    mp_buf_free(&buf);
    return mp_fail(MPROC_ENOMEM, "bootstrap record");
  }
  *out = buf.data;
  *len = buf.len;
  return MPROC_OK;
}

static const void *get_bytes(mp_reader_t *r, size_t *n) {
  uint64_t size = mp_read_u64(r);
  const void *p = size <= SIZE_MAX ? mp_read(r, (size_t)size) : NULL;
  if (p == NULL) r->bad = 1;
  *n = p ? (size_t)size : 0;
  return p;
}

static const char *get_string(mp_reader_t *r) {
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
  mp_reader_t r = {blob, len, sizeof magic, 0};
  b->task = get_string(&r);
  b->name = get_string(&r);
  b->identity = get_string(&r);
  b->parent_name = get_string(&r);
  b->start_method = get_string(&r);
  b->parent_pid = (long)(int64_t)mp_read_u64(&r);
  b->daemon = mp_read_u64(&r) != 0;
  b->arg = get_bytes(&r, &b->arg_len);
  b->nobjects = (size_t)mp_read_u64(&r);
  b->objects = get_bytes(&r, &b->objects_len);
  if (r.bad || r.pos != len)
    return mp_fail(MPROC_ESPAWN, "bootstrap: truncated or malformed record");
  return MPROC_OK;
}
