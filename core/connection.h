/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: connections, shared by connection.c and listener.c. */
#ifndef MPROC_CORE_CONNECTION_H
#define MPROC_CORE_CONNECTION_H

#include "core/object.h"
#include "mproc.h"

struct mproc_connection {
  mp_object_t obj;
  mp_stream_t handle;
  int readable, writable;
  int closed;
  int broken;         /* the peer closed in mid-message: nothing more */
  int have_header;    /* a message's length is read, its body is not */
  uint64_t pending;   /* that length */
  unsigned char *rbuf; /* read-ahead: bytes received, not yet delivered */
  size_t rpos, rlen;   /* rbuf[rpos, rlen) is unread */
};

/* Whether a recv on c would find what to give without reading the OS
 * handle: read-ahead bytes, a half-read message, or a broken stream. */
static inline int mp_connection_buffered(const mproc_connection_t *c) {
  return c->have_header || c->broken || c->rlen > c->rpos;
}

/* The sentinel kinds (mproc_sentinel_t.kind_). */
#define MP_SENTINEL_PROCESS 1
#define MP_SENTINEL_CONNECTION 2

/* A public sentinel of kind for handle h, naming object (the process or
 * the connection) by address and serial number, so that it goes stale
 * with that object. */
mproc_sentinel_t mp_sentinel_make(int kind, mp_handle_t h,
                                  const mp_object_t *object);

/* A connection object over an open stream handle (owned from now on; on
 * failure the handle is closed). */
mproc_status_t mp_connection_wrap(mp_stream_t h, int readable, int writable,
                                  mproc_connection_t **out);

/* Receives one message of at most cap bytes, the whole of it by deadline
 * (negative: no limit): for the handshake, where a peer that stops in
 * mid-message must not hold the other side. ETIMEDOUT after part of a
 * message leaves the connection unusable. Errors: those of
 * mproc_connection_recv_bytes_into. */
mproc_status_t mp_connection_recv_whole(mproc_connection_t *c, void *buf,
                                        size_t cap, size_t *len,
                                        double deadline);

#endif
