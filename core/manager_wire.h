/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the manager's wire protocol (docs/manager.md), shared by the
 * server (core/manager_server.c) and the client (core/manager.c).
 *
 * Every request and every reply is one connection message (the Listener's
 * length-prefixed framing, after its authkey handshake), one request, one
 * reply, in order. A request is
 *   op (1 byte) | name length n (1 byte) | oid (8 bytes, little endian)
 *   | name (n bytes: a method or a type id) | args (the rest: one
 *   MessagePack value, the argument list; empty: no arguments)
 * and a reply is
 *   status (1 byte: an mproc_status_t, 0 for success) | kind (1 byte)
 *   | body: for success a MessagePack value (kind VALUE; empty: None) or
 *     oid (8 bytes) and type id (kind PROXY); for a failure the message.
 */
#ifndef MPROC_CORE_MANAGER_WIRE_H
#define MPROC_CORE_MANAGER_WIRE_H

#include <stdint.h>
#include <string.h>

enum {
  MP_MOP_HELLO = 1,    /* oid: the client's session id; binds the connection */
  MP_MOP_CREATE = 2,   /* name: type id; reply PROXY */
  MP_MOP_CALL = 3,     /* oid, name: method; reply VALUE or PROXY */
  MP_MOP_INCREF = 4,   /* oid */
  MP_MOP_DECREF = 5,   /* oid */
  MP_MOP_SHUTDOWN = 6, /* the server stops accepting and serve returns */
  MP_MOP_COUNT = 7     /* reply VALUE: the number of live objects */
};

enum { MP_MREPLY_VALUE = 0, MP_MREPLY_PROXY = 1 };

#define MP_MREQ_HEADER 10
#define MP_MREPLY_HEADER 2
/* The largest request or reply a side accepts (a larger one is refused). */
#define MP_MMSG_MAX ((size_t)1 << 30)

/* The key of a proxy token's one-entry dict (mproc_proxy_token). */
#define MP_PROXY_TOKEN_KEY "__mproc_proxy__"

static inline void mp_put_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t mp_get_le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

#endif
