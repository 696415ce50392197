/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections: CPython's multiprocessing.connection.Connection over a
 * stream handle (a socketpair end, or an accepted/connected socket).
 *
 * Framing is CPython's: a 4-byte big-endian signed length, or -1 followed
 * by an 8-byte big-endian length for messages of 2 GiB and more; then the
 * bytes. A sender writes header and body with one call and never stops in
 * the middle of a message, so a stream is never torn by a timeout.
 *
 * A receiver reads ahead into a small buffer, so that a small message (its
 * header and body) costs one system call, not two. Bytes read ahead are
 * part of the connection: poll() and mproc_wait() count them (a
 * connection's sentinel names the connection for the latter), and spawn hands them to the
 * child with the handle.
 */
#include <stdlib.h>
#include <string.h>

#include "core/connection.h"
#include "core/internal.h"

/* ---- the object --------------------------------------------------- */

static mproc_status_t export_connection(void *obj, mp_buf_t *state,
                                        mp_handles_t *handles);
static mproc_status_t import_connection(const void *state, size_t len,
                                        void **out);

/* Bytes a receiver reads ahead at most (beyond what it was asked for). */
#define READ_AHEAD 4096

static mproc_status_t free_connection(void *obj) {
  return mproc_connection_free(obj);
}

/* No after_fork: a forked child shares the stream (its inherited handle)
 * and keeps its copy of the read-ahead, as its parent does. */
static mp_object_ops_t connection_ops = {
    .kind = "connection",
    .export_state = export_connection,
    .import_state = import_connection,
    .free = free_connection,
};
MP_OBJECT_KIND(connection_ops)

/* ---- sentinels (for mproc_wait) --------------------------------- */

mproc_sentinel_t mp_sentinel_make(int kind, mp_handle_t h,
                                  const mp_object_t *object) {
  mproc_sentinel_t s = {kind, h.os, object, object->serial};
  return s;
}

/* The connection sentinel s names while it is live and still has the
 * token's handle, else NULL. The connection is found through the token
 * (object memory is type-stable, so a stale pointer is still a header). */
static const mproc_connection_t *sentinel_connection(const mproc_sentinel_t *s) {
  const mproc_connection_t *c = s->object_;
  if (s->kind_ != MP_SENTINEL_CONNECTION || c == NULL ||
      c->obj.magic != MP_OBJECT_MAGIC || c->obj.ops != &connection_ops ||
      c->obj.serial != s->serial_ || c->closed || c->handle.os != s->os_)
    return NULL;
  return c;
}

/* Whether sentinel s names a live connection with read-ahead bytes. */
static int has_buffered(const mproc_sentinel_t *s) {
  const mproc_connection_t *c = sentinel_connection(s);
  return c != NULL && c->rlen > c->rpos;
}

/* Whether s still names what it was made for: a closed or freed object's
 * descriptor may belong to another object by now, which a wait on it
 * would watch instead. */
static int sentinel_live(const mproc_sentinel_t *s) {
  switch (s->kind_) {
    case MP_SENTINEL_CONNECTION:
      return sentinel_connection(s) != NULL;
    case MP_SENTINEL_PROCESS:
      return mp_process_sentinel_live(s->object_, s->serial_, s->os_);
    default:
      return 0;
  }
}

/* The typed handles of the sentinels, in a malloc'd array or stack. */
#define WAIT_STACK 16

/* mp_wait_handles over the typed handles of n sentinels, where a
 * connection's sentinel also counts as ready while the connection holds
 * read-ahead bytes. Errors: MPROC_EINVAL (an invalid sentinel), those of
 * mp_wait_handles. */
static mproc_status_t wait_sentinels(const mproc_sentinel_t *s, size_t n,
                                     double timeout, int *ready,
                                     size_t *nready) {
  mp_handle_t stack[WAIT_STACK];
  mp_handle_t *h = n <= WAIT_STACK ? stack : malloc(n * sizeof *h);
  if (h == NULL) return mp_fail(MPROC_ENOMEM, "wait: %zu sentinels", n);
  size_t buffered = 0;
  mproc_status_t st = MPROC_OK;
  for (size_t i = 0; i < n && st == MPROC_OK; i++) {
    h[i].os = s[i].os_;
    h[i].kind = s[i].kind_ == MP_SENTINEL_PROCESS      ? MP_HANDLE_CHILD
                : s[i].kind_ == MP_SENTINEL_CONNECTION ? MP_HANDLE_STREAM
                                                       : MP_HANDLE_NONE;
    if (h[i].kind == MP_HANDLE_NONE)
      st = mp_fail(MPROC_EINVAL, "wait: sentinel %zu is not a sentinel", i);
    else if (!sentinel_live(&s[i]))
      st = mp_fail(MPROC_EINVAL,
                   "wait: sentinel %zu is stale (its %s was closed or freed)",
                   i, s[i].kind_ == MP_SENTINEL_PROCESS ? "process"
                                                        : "connection");
    buffered += (size_t)has_buffered(&s[i]);
  }
  int *flags = ready;
  if (st == MPROC_OK && buffered == 0) {
    st = mp_wait_handles(h, n, timeout, ready, nready);
  } else if (st == MPROC_OK) {
    /* Some are ready already: look at the others without waiting. */
    if (flags == NULL) flags = calloc(n, sizeof *flags);
    if (flags == NULL) st = mp_fail(MPROC_ENOMEM, "wait");
    if (st == MPROC_OK) st = mp_wait_handles(h, n, 0, flags, NULL);
    size_t total = 0;
    for (size_t i = 0; i < n && st != MPROC_ESYS && st != MPROC_EINVAL &&
                       st != MPROC_ENOMEM;
         i++) {
      flags[i] = has_buffered(&s[i]) || (st == MPROC_OK && flags[i]);
      total += (size_t)flags[i];
    }
    if (st == MPROC_ETIMEDOUT) st = MPROC_OK;
    if (st == MPROC_OK && nready) *nready = total;
  }
  if (flags != ready) free(flags);
  if (h != stack) free(h);
  return st;
}

mproc_status_t mproc_wait(const mproc_sentinel_t *sentinels, size_t n,
                          int *ready, size_t *nready, double timeout) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  if (sentinels == NULL && n > 0)
    return mp_fail(MPROC_EINVAL, "wait: NULL sentinels with n %zu", n);
  if ((st = mp_check_timeout(timeout, "wait")) != MPROC_OK) return st;
  /* Connections count as ready while they hold read-ahead bytes. */
  st = wait_sentinels(sentinels, n, timeout, ready, nready);
  if (st == MPROC_ETIMEDOUT)
    return mp_fail(MPROC_ETIMEDOUT, "wait: none of %zu sentinels ready after %gs",
                   n, timeout);
  return st;
}

mproc_status_t mp_connection_wrap(mp_stream_t h, int readable, int writable,
                                  mproc_connection_t **out) {
  mproc_connection_t *c = mp_object_alloc(sizeof *c);
  if (c == NULL) {
    mp_stream_close(h);
    return mp_fail(MPROC_ENOMEM, "connection");
  }
  mp_object_init(&c->obj, &connection_ops);
  c->handle = h;
  c->readable = readable;
  c->writable = writable;
  *out = c;
  return MPROC_OK;
}

static mproc_status_t export_connection(void *obj, mp_buf_t *state,
                                        mp_handles_t *handles) {
  mproc_connection_t *c = obj;
  if (c->closed)
    return mp_fail(MPROC_ESTATE, "start: an attached connection is closed");
  mp_buf_put_u64(state, (uint64_t)(int64_t)c->handle.os);
  mp_buf_put_u64(state, (uint64_t)(c->readable | c->writable << 1 |
                                   c->broken << 2 | c->have_header << 3));
  mp_buf_put_u64(state, c->pending);
  mp_buf_put_u64(state, c->rlen - c->rpos);
  if (c->rlen > c->rpos)
    mp_buf_put(state, c->rbuf + c->rpos, c->rlen - c->rpos);
  mp_handles_add(handles, mp_stream_item(c->handle));
  return MPROC_OK;
}

static mproc_status_t import_connection(const void *state, size_t len,
                                        void **out) {
  mp_reader_t r = {state, len, 0, 0};
  mp_stream_t h = {(intptr_t)(int64_t)mp_read_u64(&r)};
  uint64_t flags = mp_read_u64(&r);
  uint64_t pending = mp_read_u64(&r);
  size_t buffered = (size_t)mp_read_u64(&r);
  const void *bytes = buffered <= READ_AHEAD ? mp_read(&r, buffered) : NULL;
  if (r.bad || r.pos != len || buffered > READ_AHEAD)
    return mp_fail(MPROC_ESPAWN, "bootstrap: malformed connection");
  mproc_connection_t *c = NULL;
  mp_stream_t own; /* a handle of its own: see mp_object_note_inherited */
  mproc_status_t st = mp_stream_duplicate(h, &own);
  if (st != MPROC_OK) return st;
  mp_object_note_inherited(mp_stream_item(h));
  st = mp_connection_wrap(own, flags & 1, (flags >> 1) & 1, &c);
  if (st != MPROC_OK) return st;
  c->broken = (flags >> 2) & 1;
  c->have_header = (flags >> 3) & 1;
  c->pending = pending;
  if (buffered) {
    c->rbuf = malloc(READ_AHEAD);
    if (c->rbuf == NULL) {
      mproc_connection_free(c);
      return mp_fail(MPROC_ENOMEM, "bootstrap: connection");
    }
    memcpy(c->rbuf, bytes, buffered);
    c->rlen = buffered;
  }
  *out = c;
  return MPROC_OK;
}

mproc_status_t mproc_pipe(mproc_connection_t **end1, mproc_connection_t **end2,
                          int duplex) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(end1, "pipe: end1");
  MP_REQUIRE(end2, "pipe: end2");
  mp_stream_t h[2]; /* not duplex: end1 receives, end2 sends */
  if ((st = mp_stream_pair(duplex, h)) != MPROC_OK) return st;
  mproc_connection_t *a = NULL, *b = NULL;
  if ((st = mp_connection_wrap(h[0], 1, duplex, &a)) != MPROC_OK) {
    mp_stream_close(h[1]);
    return st;
  }
  if ((st = mp_connection_wrap(h[1], duplex, 1, &b)) != MPROC_OK) {
    mproc_connection_free(a);
    return st;
  }
  *end1 = a;
  *end2 = b;
  return MPROC_OK;
}

/* ---- checks ------------------------------------------------------- */

static mproc_status_t require_open(const mproc_connection_t *c,
                                   const char *what) {
  MP_CHECK_KIND(c, &connection_ops, what);
  if (c->closed)
    return mp_fail(MPROC_ESTATE, "%s: the connection is closed", what);
  return MPROC_OK;
}

static mproc_status_t require_readable(const mproc_connection_t *c,
                                       const char *what) {
  mproc_status_t st = require_open(c, what);
  if (st == MPROC_OK && !c->readable)
    st = mp_fail(MPROC_ESTATE, "%s: the connection is write-only", what);
  return st;
}

static mproc_status_t require_writable(const mproc_connection_t *c,
                                       const char *what) {
  mproc_status_t st = require_open(c, what);
  if (st == MPROC_OK && !c->writable)
    st = mp_fail(MPROC_ESTATE, "%s: the connection is read-only", what);
  return st;
}

/* ---- sending ------------------------------------------------------ */

/* Writes one framed message of n bytes at p. */
static mproc_status_t send_message(mproc_connection_t *c, const void *p,
                                   size_t n, double timeout,
                                   const char *what) {
  if (timeout >= 0) {
    mproc_status_t st = mp_stream_wait_writable(c->handle, timeout);
    if (st == MPROC_ETIMEDOUT)
      return mp_fail(MPROC_ETIMEDOUT, "%s: no room to send in %gs", what,
                     timeout);
    if (st != MPROC_OK) return st;
  }
  unsigned char header[12];
  size_t hlen;
  if ((uint64_t)n < 0x7fffffff) {
    for (int i = 0; i < 4; i++) header[i] = (unsigned char)(n >> (24 - 8 * i));
    hlen = 4;
  } else {
    memset(header, 0xff, 4);
    for (int i = 0; i < 8; i++)
      header[4 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    hlen = 12;
  }
  mp_iovec_t iov[2] = {{header, hlen}, {p, n}};
  return mp_stream_write(c->handle, iov, n ? 2 : 1);
}

mproc_status_t mproc_connection_send_bytes(mproc_connection_t *c,
                                           const void *buf, size_t buflen,
                                           size_t offset, size_t size,
                                           double timeout) {
  mproc_status_t st = require_writable(c, "send_bytes");
  if (st != MPROC_OK) return st;
  if ((st = mp_check_timeout(timeout, "send_bytes")) != MPROC_OK) return st;
  if (buf == NULL && buflen > 0)
    return mp_fail(MPROC_EINVAL, "send_bytes: NULL buffer of %zu bytes",
                   buflen);
  if (offset > buflen)
    return mp_fail(MPROC_EINVAL, "send_bytes: buffer length < offset");
  if (size == MPROC_REST) size = buflen - offset;
  if (size > buflen - offset)
    return mp_fail(MPROC_EINVAL, "send_bytes: buffer length < offset + size");
  return send_message(c, buf ? (const char *)buf + offset : buf, size,
                      timeout, "send_bytes");
}

mproc_status_t mproc_connection_send(mproc_connection_t *c,
                                     const mproc_obj_t *v, double timeout) {
  mproc_status_t st = require_writable(c, "send");
  if (st != MPROC_OK) return st;
  if ((st = mp_check_timeout(timeout, "send")) != MPROC_OK) return st;
  void *data = NULL;
  size_t len;
  if ((st = mproc_obj_encode(v, &data, &len)) != MPROC_OK) return st;
  st = send_message(c, data, len, timeout, "send");
  free(data);
  return st;
}

/* ---- receiving ---------------------------------------------------- */

/* Receives into the read-ahead buffer; *got = 0 at end of stream. */
static mproc_status_t fill(mproc_connection_t *c, size_t *got) {
  if (c->rbuf == NULL && (c->rbuf = malloc(READ_AHEAD)) == NULL)
    return mp_fail(MPROC_ENOMEM, "connection: read buffer");
  c->rpos = c->rlen = 0;
  mproc_status_t st = mp_stream_read(c->handle, c->rbuf, READ_AHEAD, got);
  if (st == MPROC_OK) c->rlen = *got;
  return st;
}

/* Waits for the handle to be readable by deadline (negative: no wait,
 * the read blocks). */
static mproc_status_t await_bytes(mproc_connection_t *c, double deadline) {
  if (deadline < 0) return MPROC_OK;
  mp_handle_t item = mp_stream_item(c->handle);
  return mp_wait_handles(&item, 1, mp_time_left(deadline), NULL, NULL);
}

/* Reads exactly n bytes: first what was read ahead, then large remainders
 * straight into buf, small ones through the buffer. The first byte is
 * awaited until start, the others until rest (negative: no limit). A clean
 * end of stream, or start passing, before the first byte is MPROC_EOF or
 * MPROC_ETIMEDOUT with *none = 1. */
static mproc_status_t read_exact(mproc_connection_t *c, void *buf, size_t n,
                                 int *none, double start, double rest) {
  size_t done = 0;
  *none = 0;
  while (done < n) {
    size_t avail = c->rlen - c->rpos, got;
    if (avail) {
      size_t take = avail < n - done ? avail : n - done;
      memcpy((char *)buf + done, c->rbuf + c->rpos, take);
      c->rpos += take;
      done += take;
      continue;
    }
    mproc_status_t st = await_bytes(c, done == 0 ? start : rest);
    if (st == MPROC_ETIMEDOUT) *none = done == 0;
    if (st != MPROC_OK) return st;
    int direct = n - done >= READ_AHEAD;
    st = direct ? mp_stream_read(c->handle, (char *)buf + done, n - done, &got)
                : fill(c, &got);
    if (st != MPROC_OK) return st;
    if (got == 0) {
      *none = done == 0;
      return MPROC_EOF;
    }
    if (direct) done += got;
  }
  return MPROC_OK;
}

static mproc_status_t eof(mproc_connection_t *c, int clean, const char *what) {
  if (clean && !c->broken)
    return mp_fail(MPROC_EOF, "%s: the other end is closed", what);
  c->broken = 1;
  return mp_fail(MPROC_EOF, "%s: the other end closed in mid-message", what);
}

/* The deadline passed with part of a message read: the stream is out of
 * step for good. */
static mproc_status_t stalled(mproc_connection_t *c, const char *what) {
  c->broken = 1;
  return mp_fail(MPROC_ETIMEDOUT,
                 "%s: the peer stopped in mid-message; the connection is "
                 "unusable now", what);
}

/* Makes sure the next message's length is known (c->pending): a message
 * must start by start; once started, it must go on by rest (recv: no
 * limit, as CPython; the handshake: the same deadline). */
static mproc_status_t read_header(mproc_connection_t *c, double start,
                                  double rest, const char *what) {
  if (c->broken) return eof(c, 0, what);
  if (c->have_header) return MPROC_OK;
  unsigned char h[8];
  int none;
  mproc_status_t st = read_exact(c, h, 4, &none, start, rest);
  if (st == MPROC_EOF) return eof(c, none, what);
  if (st == MPROC_ETIMEDOUT && none)
    return mp_fail(MPROC_ETIMEDOUT, "%s: no message in time", what);
  if (st == MPROC_ETIMEDOUT) return stalled(c, what);
  if (st != MPROC_OK) return st;
  uint64_t n = (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 |
               (uint64_t)h[2] << 8 | h[3];
  if (n == 0xffffffffu) {
    st = read_exact(c, h, 8, &none, rest, rest);
    if (st == MPROC_EOF) return eof(c, 0, what);
    if (st == MPROC_ETIMEDOUT) return stalled(c, what);
    if (st != MPROC_OK) return st;
    n = 0;
    for (int i = 0; i < 8; i++) n = n << 8 | h[i];
  } else if (n > 0x7fffffff) {
    c->broken = 1;
    return mp_fail(MPROC_EBADMSG, "%s: negative message length", what);
  }
  c->have_header = 1;
  c->pending = n;
  return MPROC_OK;
}

/* Reads the pending message's body into buf (room for c->pending). */
static mproc_status_t read_body(mproc_connection_t *c, void *buf,
                                double rest, const char *what) {
  int none;
  mproc_status_t st = read_exact(c, buf, (size_t)c->pending, &none, rest, rest);
  if (st == MPROC_EOF) return eof(c, 0, what);
  if (st == MPROC_ETIMEDOUT) return stalled(c, what);
  if (st != MPROC_OK) {
    c->broken = 1;
    return st;
  }
  c->have_header = 0;
  return MPROC_OK;
}

static mproc_status_t recv_message(mproc_connection_t *c, size_t maxlength,
                                   void **out, size_t *len, double timeout,
                                   const char *what) {
  mproc_status_t st = read_header(c, mp_deadline(timeout), -1, what);
  if (st != MPROC_OK) return st;
  if ((maxlength && c->pending > maxlength) || c->pending >= SIZE_MAX) {
    *len = c->pending > SIZE_MAX ? SIZE_MAX : (size_t)c->pending;
    return mp_fail(MPROC_EMSGSIZE,
                   "%s: a message of %llu bytes, over maxlength %zu", what,
                   (unsigned long long)c->pending, maxlength);
  }
  void *buf = malloc(c->pending ? (size_t)c->pending : 1);
  if (buf == NULL)
    return mp_fail(MPROC_ENOMEM, "%s: a message of %llu bytes", what,
                   (unsigned long long)c->pending);
  size_t n = (size_t)c->pending;
  if ((st = read_body(c, buf, -1, what)) != MPROC_OK) {
    free(buf);
    return st;
  }
  *out = buf;
  *len = n;
  return MPROC_OK;
}

mproc_status_t mproc_connection_recv_bytes(mproc_connection_t *c,
                                           size_t maxlength, void **out,
                                           size_t *len, double timeout) {
  mproc_status_t st = require_readable(c, "recv_bytes");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "recv_bytes: out");
  MP_REQUIRE(len, "recv_bytes: len");
  if ((st = mp_check_timeout(timeout, "recv_bytes")) != MPROC_OK) return st;
  return recv_message(c, maxlength, out, len, timeout, "recv_bytes");
}

/* recv_bytes_into with its two deadlines (see read_header). */
static mproc_status_t recv_into(mproc_connection_t *c, void *buf,
                                size_t buflen, size_t offset, size_t *len,
                                double start, double rest, const char *what) {
  mproc_status_t st = read_header(c, start, rest, what);
  if (st != MPROC_OK) return st;
  if (c->pending > buflen - offset) {
    *len = c->pending > SIZE_MAX ? SIZE_MAX : (size_t)c->pending;
    return mp_fail(MPROC_EMSGSIZE, "%s: a message of %llu bytes, room for %zu",
                   what, (unsigned long long)c->pending, buflen - offset);
  }
  size_t n = (size_t)c->pending;
  if ((st = read_body(c, (char *)buf + offset, rest, what)) != MPROC_OK)
    return st;
  *len = n;
  return MPROC_OK;
}

mproc_status_t mproc_connection_recv_bytes_into(mproc_connection_t *c,
                                                void *buf, size_t buflen,
                                                size_t offset, size_t *len,
                                                double timeout) {
  const char *what = "recv_bytes_into";
  mproc_status_t st = require_readable(c, what);
  if (st != MPROC_OK) return st;
  MP_REQUIRE(len, "recv_bytes_into: len");
  if ((st = mp_check_timeout(timeout, what)) != MPROC_OK) return st;
  if (buf == NULL && buflen > 0)
    return mp_fail(MPROC_EINVAL, "%s: NULL buffer of %zu bytes", what, buflen);
  if (offset > buflen)
    return mp_fail(MPROC_EINVAL, "%s: offset %zu beyond the buffer (%zu)",
                   what, offset, buflen);
  return recv_into(c, buf, buflen, offset, len, mp_deadline(timeout), -1,
                   what);
}

mproc_status_t mp_connection_recv_whole(mproc_connection_t *c, void *buf,
                                        size_t cap, size_t *len,
                                        double deadline) {
  return recv_into(c, buf, cap, 0, len, deadline, deadline, "handshake");
}

mproc_status_t mproc_connection_recv(mproc_connection_t *c,
                                     mproc_obj_t **out, double timeout) {
  mproc_status_t st = require_readable(c, "recv");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "recv: out");
  if ((st = mp_check_timeout(timeout, "recv")) != MPROC_OK) return st;
  void *data = NULL;
  size_t len;
  if ((st = recv_message(c, 0, &data, &len, timeout, "recv")) != MPROC_OK)
    return st;
  st = mproc_obj_decode(out, data, len);
  free(data);
  return st;
}

/* ---- state -------------------------------------------------------- */

mproc_status_t mproc_connection_poll(mproc_connection_t *c, int *ready,
                                     double timeout) {
  mproc_status_t st = require_readable(c, "poll");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(ready, "poll: ready");
  if ((st = mp_check_timeout(timeout, "poll")) != MPROC_OK) return st;
  if (c->have_header || c->broken || c->rlen > c->rpos) {
    *ready = 1;
    return MPROC_OK;
  }
  mp_handle_t item = mp_stream_item(c->handle);
  st = mp_wait_handles(&item, 1, timeout, NULL, NULL);
  *ready = st == MPROC_OK;
  return st == MPROC_ETIMEDOUT ? MPROC_OK : st;
}

mproc_status_t mproc_connection_sentinel(const mproc_connection_t *c,
                                         mproc_sentinel_t *out) {
  mproc_status_t st = require_readable(c, "connection_sentinel");
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "connection_sentinel: out");
  *out = mp_sentinel_make(MP_SENTINEL_CONNECTION, mp_stream_item(c->handle),
                          &c->obj);
  return MPROC_OK;
}

/* The three flag queries: which field they read. */
typedef enum { FLAG_CLOSED, FLAG_READABLE, FLAG_WRITABLE } flag_t;

static mproc_status_t flag(const mproc_connection_t *c, flag_t which,
                           int *out, const char *what) {
  MP_CHECK_KIND(c, &connection_ops, what);
  MP_REQUIRE(out, what);
  *out = which == FLAG_CLOSED     ? c->closed
         : which == FLAG_READABLE ? c->readable
                                  : c->writable;
  return MPROC_OK;
}

mproc_status_t mproc_connection_closed(const mproc_connection_t *c,
                                       int *out) {
  return flag(c, FLAG_CLOSED, out, "connection_closed");
}

mproc_status_t mproc_connection_readable(const mproc_connection_t *c,
                                         int *out) {
  return flag(c, FLAG_READABLE, out, "connection_readable");
}

mproc_status_t mproc_connection_writable(const mproc_connection_t *c,
                                         int *out) {
  return flag(c, FLAG_WRITABLE, out, "connection_writable");
}

mproc_status_t mproc_connection_close(mproc_connection_t *c) {
  MP_CHECK_KIND(c, &connection_ops, "connection_close");
  if (!c->closed) mp_stream_close(c->handle);
  free(c->rbuf);
  c->rbuf = NULL;
  c->rpos = c->rlen = 0;
  c->closed = 1;
  c->handle.os = MP_NO_OS_HANDLE;
  return MPROC_OK;
}

mproc_status_t mproc_connection_free(mproc_connection_t *c) {
  if (c == NULL) return MPROC_OK;
  MP_CHECK_KIND(c, &connection_ops, "connection_free");
  mproc_connection_close(c);
  mp_object_release(c);
  return MPROC_OK;
}

mproc_status_t mproc_attached_connection(size_t index,
                                         mproc_connection_t **out) {
  return mp_attached_as(index, &connection_ops, (void **)out,
                        "attached_connection");
}
