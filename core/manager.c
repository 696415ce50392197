/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Managers and proxies, the client side (CPython's BaseManager and
 * BaseProxy); the server is core/manager_server.c, the protocol
 * core/manager_wire.h.
 *
 * Every process keeps one client record per manager (address and key):
 * a session id the server counts references under, and one authenticated
 * connection per thread that called (CPython's thread-local connection):
 * a call uses its thread's connection (opening it on the first call),
 * sends one request and reads one reply, so one proxy serves several
 * threads at once, a blocking call (a lock's acquire) never holds up
 * another thread's, and an RLock or Condition the server holds for a
 * connection is owned by one thread, as in CPython. A forked child finds the
 * record's pid is not its own and starts over: a new session, its own
 * connections (the inherited ones are closed, never used: they belong to
 * the parent's conversation with the server).
 */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/internal.h"
#include "core/manager.h"
#include "core/manager_wire.h"
#include "core/object.h"
#include "core/payload.h"
#include "core/task_registry.h"
#include "platform/platform.h"

/* How long opening a connection to a running server may take. */
#define CONNECT_TIMEOUT 10.0
/* How long a new server may take to start listening. */
#define START_TIMEOUT 60.0

/* ---- client records ------------------------------------------------ */

typedef struct mclient {
  char *address;
  unsigned char *key;
  size_t keylen;
  uint64_t session;
  long pid; /* the process the session and the pool belong to */
  mp_mutex_t lock;
  struct slot *slots; /* the threads' connections */
  size_t nslots, cap, appended;
  long users; /* managers and proxies of this process using it */
  struct mclient *next;
} mclient_t;

/* A thread's connection. */
typedef struct slot {
  uint32_t tid; /* mp_thread_id() of the thread it serves */
  int busy;     /* that thread's call is using it */
  int doomed;   /* dropped while busy: freed when the call ends */
  mproc_connection_t *conn;
} slot_t;

static mp_mutex_t clients_lock = MP_MUTEX_INIT;
static mclient_t *clients;

/* strdup is not C11. */
static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = malloc(n);
  if (c) memcpy(c, s, n);
  return c;
}

static uint64_t new_session_id(void) {
  uint64_t id;
  randombytes_buf(&id, sizeof id);
  return id & ~(uint64_t)1; /* odd ids are the server's anonymous ones */
}

static void remove_slot(mclient_t *c, size_t i) {
  mproc_connection_free(c->slots[i].conn);
  c->slots[i] = c->slots[--c->nslots];
}

/* Under c->lock (or alone): closes the connections no call uses (all:
 * every one, in a forked child where no thread of ours uses any); a busy
 * one is closed when its call ends. */
static void drop_connections(mclient_t *c, int all) {
  for (size_t i = c->nslots; i-- > 0;) {
    if (all || !c->slots[i].busy) remove_slot(c, i);
    else c->slots[i].doomed = 1;
  }
}

/* The record for address and key, with one more user; NULL: no memory. */
static mclient_t *client_get(const char *address, const void *key,
                             size_t keylen) {
  mp_mutex_lock(&clients_lock);
  mclient_t *c = clients;
  while (c && !(strcmp(c->address, address) == 0 && c->keylen == keylen &&
                memcmp(c->key, key, keylen) == 0))
    c = c->next;
  if (c == NULL && (c = calloc(1, sizeof *c)) != NULL) {
    c->address = copy_string(address);
    c->key = malloc(keylen ? keylen : 1);
    if (c->address == NULL || c->key == NULL) {
      free(c->address);
      free(c->key);
      free(c);
      c = NULL;
    } else {
      memcpy(c->key, key, keylen);
      c->keylen = keylen;
      c->session = new_session_id();
      c->pid = mp_getpid();
      c->next = clients;
      clients = c;
    }
  }
  if (c) c->users++;
  mp_mutex_unlock(&clients_lock);
  return c;
}

static void client_put(mclient_t *c) {
  mp_mutex_lock(&clients_lock);
  if (--c->users > 0) {
    mp_mutex_unlock(&clients_lock);
    return;
  }
  mclient_t **pp = &clients;
  while (*pp != c) pp = &(*pp)->next;
  *pp = c->next;
  mp_mutex_unlock(&clients_lock);
  drop_connections(c, 1); /* no user: no call in progress */
  free(c->slots);
  free(c->address);
  free(c->key);
  mp_mutex_destroy(&c->lock);
  free(c);
}

/* After fork (from the objects' after_fork hooks; one thread, no
 * allocation): the locks may have been held by threads that are gone. */
static void clients_after_fork(void) {
  static long done_for;
  if (done_for == mp_getpid()) return;
  done_for = mp_getpid();
  mp_mutex_t fresh = MP_MUTEX_INIT;
  clients_lock = fresh;
  for (mclient_t *c = clients; c; c = c->next) c->lock = fresh;
}

/* Under c->lock: a forked child's first use starts its own session. */
static void client_check_pid(mclient_t *c) {
  long me = mp_getpid();
  if (c->pid == me) return;
  /* The parent's: closing our copies leaves its own open. */
  drop_connections(c, 1);
  c->pid = me;
  c->session = new_session_id();
}

/* ---- requests ------------------------------------------------------ */

static mproc_status_t gone(const char *what) {
  return mp_manager_fail_with_last(MPROC_EMANAGER, what);
}

/* One request/reply on conn; *reply is malloc'd. Transport failures are
 * MPROC_EMANAGER (conn is unusable then). */
static mproc_status_t exchange(mproc_connection_t *conn,
                               const unsigned char *req, size_t len,
                               void **reply, size_t *rlen, const char *what) {
  if (mproc_connection_send_bytes(conn, req, len, 0, MPROC_REST,
                                  MPROC_FOREVER) != MPROC_OK ||
      mproc_connection_recv_bytes(conn, MP_MMSG_MAX, reply, rlen,
                                  MPROC_FOREVER) != MPROC_OK)
    return gone(what);
  return MPROC_OK;
}

/* The status of a reply, its failure recorded as mproc_last_error(). */
static mproc_status_t reply_status(const unsigned char *r, size_t len,
                                   const char *what) {
  if (len < MP_MREPLY_HEADER)
    return mp_fail(MPROC_EBADMSG, "%s: a reply shorter than its header",
                   what);
  if (r[0] == MPROC_OK) return MPROC_OK;
  if (len >= 11 && memcmp(r, "#CHALLENGE#", 11) == 0)
    return mp_fail(MPROC_EAUTH, "%s: the server wants an authkey", what);
  if (r[0] >= MPROC_ESTATUS_COUNT_)
    return mp_fail(MPROC_EBADMSG, "%s: not a manager's reply", what);
  return mp_fail((mproc_status_t)r[0], "%.*s",
                 (int)(len - MP_MREPLY_HEADER), r + MP_MREPLY_HEADER);
}

static void put_header(unsigned char *h, int op, size_t nlen, uint64_t oid) {
  h[0] = (unsigned char)op;
  h[1] = (unsigned char)nlen;
  mp_put_le64(h + 2, oid);
}

/* Opens a connection within timeout and binds it to c's session. */
static mproc_status_t open_connection(mclient_t *c, uint64_t session,
                                      mproc_connection_t **out,
                                      double timeout, const char *what) {
  mproc_connection_t *conn;
  mproc_status_t st =
      mproc_client(&conn, c->address, c->keylen ? c->key : NULL, c->keylen,
                   timeout);
  if (st == MPROC_EAUTH || st == MPROC_ENOMEM || st == MPROC_EINVAL)
    return st;
  if (st != MPROC_OK) return gone(what);
  unsigned char hello[MP_MREQ_HEADER];
  put_header(hello, MP_MOP_HELLO, 0, session);
  void *reply = NULL;
  size_t rlen = 0;
  st = exchange(conn, hello, sizeof hello, &reply, &rlen, what);
  if (st == MPROC_OK) st = reply_status(reply, rlen, what);
  free(reply);
  if (st != MPROC_OK) {
    mproc_connection_free(conn);
    return st;
  }
  *out = conn;
  return MPROC_OK;
}

/* Under c->lock: every 8th new connection, those of threads that ended
 * are closed. */
static void prune_dead_threads(mclient_t *c) {
  if (++c->appended % 8) return;
  for (size_t i = c->nslots; i-- > 0;)
    if (!c->slots[i].busy && !mp_thread_alive(c->slots[i].tid))
      remove_slot(c, i);
}

/* The calling thread's connection, marked busy (opened within timeout
 * if it has none). */
static mproc_status_t take_connection(mclient_t *c, mproc_connection_t **out,
                                      double timeout, const char *what) {
  uint32_t me = mp_thread_id();
  mp_mutex_lock(&c->lock);
  client_check_pid(c);
  uint64_t session = c->session;
  for (size_t i = 0; i < c->nslots; i++) {
    slot_t *sl = &c->slots[i];
    if (sl->tid == me && !sl->busy && !sl->doomed) {
      sl->busy = 1;
      *out = sl->conn;
      mp_mutex_unlock(&c->lock);
      return MPROC_OK;
    }
  }
  mp_mutex_unlock(&c->lock);
  mproc_connection_t *conn = NULL;
  mproc_status_t st = open_connection(c, session, &conn, timeout, what);
  if (st != MPROC_OK) return st;
  mp_mutex_lock(&c->lock);
  prune_dead_threads(c);
  if (c->nslots == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 4;
    slot_t *n = realloc(c->slots, cap * sizeof *n);
    if (n) c->slots = n, c->cap = cap;
  }
  /* No room: the connection serves this call only (give closes it). */
  if (c->nslots < c->cap)
    c->slots[c->nslots++] = (slot_t){me, 1, 0, conn};
  mp_mutex_unlock(&c->lock);
  *out = conn;
  return MPROC_OK;
}

/* The call on conn ended (ok: the connection is still in step). */
static void give_connection(mclient_t *c, mproc_connection_t *conn, int ok) {
  mp_mutex_lock(&c->lock);
  size_t i = 0;
  while (i < c->nslots && c->slots[i].conn != conn) i++;
  if (i < c->nslots && ok && !c->slots[i].doomed) {
    c->slots[i].busy = 0;
    conn = NULL; /* kept for the thread's next call */
  } else if (i < c->nslots) {
    c->slots[i] = c->slots[--c->nslots];
  }
  mp_mutex_unlock(&c->lock);
  if (conn) mproc_connection_free(conn);
}

/* Sends op (oid, name, args) and returns the reply (malloc'd, at least
 * the header, status OK), or the failure. */
static mproc_status_t rpc(mclient_t *c, int op, uint64_t oid,
                          const char *name, const mproc_obj_t *args,
                          unsigned char **reply, size_t *rlen,
                          const char *what) {
  size_t nlen = name ? strlen(name) : 0;
  if (nlen > 255)
    return mp_fail(MPROC_EINVAL, "%s: the name '%s' is over 255 bytes", what,
                   name);
  void *enc = NULL;
  size_t elen = 0;
  mproc_status_t st = args ? mproc_obj_encode(args, &enc, &elen) : MPROC_OK;
  if (st != MPROC_OK) return st;
  unsigned char small[256];
  size_t len = MP_MREQ_HEADER + nlen + elen;
  unsigned char *req = len <= sizeof small ? small : malloc(len);
  if (req == NULL) {
    free(enc);
    return mp_fail(MPROC_ENOMEM, "%s: a request of %zu bytes", what, len);
  }
  put_header(req, op, nlen, oid);
  if (nlen) memcpy(req + MP_MREQ_HEADER, name, nlen);
  if (elen) memcpy(req + MP_MREQ_HEADER + nlen, enc, elen);
  free(enc);
  mproc_connection_t *conn = NULL;
  void *r = NULL;
  if ((st = take_connection(c, &conn, CONNECT_TIMEOUT, what)) == MPROC_OK) {
    st = exchange(conn, req, len, &r, rlen, what);
    give_connection(c, conn, st == MPROC_OK);
  }
  if (req != small) free(req);
  if (st == MPROC_OK && (st = reply_status(r, *rlen, what)) != MPROC_OK) {
    free(r);
    return st;
  }
  *reply = r;
  return st;
}

/* A request whose reply carries nothing (INCREF, DECREF, SHUTDOWN). */
static mproc_status_t rpc_simple(mclient_t *c, int op, uint64_t oid,
                                 const char *what) {
  unsigned char *r = NULL;
  size_t rlen;
  mproc_status_t st = rpc(c, op, oid, NULL, NULL, &r, &rlen, what);
  if (st == MPROC_OK) free(r);
  return st;
}

/* A reply's value (kind VALUE): *out new, or NULL when out is NULL. */
static mproc_status_t reply_value(const unsigned char *r, size_t len,
                                  mproc_obj_t **out, const char *what) {
  if (r[1] != MP_MREPLY_VALUE)
    return mp_fail(MPROC_EINVAL, "%s: the method returns a proxy "
                   "(mproc_proxy_call_proxy)", what);
  if (out == NULL) return MPROC_OK;
  if (len == MP_MREPLY_HEADER) return mproc_obj_none(out);
  return mproc_obj_decode(out, r + MP_MREPLY_HEADER, len - MP_MREPLY_HEADER);
}

/* ---- proxies ------------------------------------------------------- */

struct mproc_proxy {
  mp_object_t obj;
  mclient_t *client;
  uint64_t oid;
  char *type_id;
  long owner; /* the process whose session holds this proxy's reference
                 (0: none yet: a copy in a child increfs on first use) */
};

static mproc_status_t export_proxy(void *obj, mp_buf_t *state,
                                   mp_handles_t *handles);
static mproc_status_t import_proxy(const void *state, size_t len, void **out);
static void proxy_after_fork(void *obj) {
  (void)obj;
  clients_after_fork();
}
static mproc_status_t free_proxy(void *obj) { return mproc_proxy_free(obj); }

static mp_object_ops_t proxy_ops = {
    .kind = "proxy",
    .export_state = export_proxy,
    .import_state = import_proxy,
    .after_fork = proxy_after_fork,
    .free = free_proxy,
};
MP_OBJECT_KIND(proxy_ops)

/* A proxy object for oid of type_id on c (takes one user of c). */
static mproc_status_t proxy_new(mclient_t *c, uint64_t oid,
                                const char *type_id, size_t tlen, long owner,
                                mproc_proxy_t **out) {
  mproc_proxy_t *p = mp_object_alloc(sizeof *p);
  char *t = malloc(tlen + 1);
  if (p == NULL || t == NULL) {
    mp_object_release(p);
    free(t);
    client_put(c);
    return mp_fail(MPROC_ENOMEM, "proxy");
  }
  memcpy(t, type_id, tlen);
  t[tlen] = '\0';
  mp_object_init(&p->obj, &proxy_ops);
  p->client = c;
  p->oid = oid;
  p->type_id = t;
  p->owner = owner;
  *out = p;
  return MPROC_OK;
}

/* A reply of kind PROXY (its reference is this session's) as a proxy. */
static mproc_status_t proxy_from_reply(mclient_t *c, const unsigned char *r,
                                       size_t len, mproc_proxy_t **out,
                                       const char *what) {
  if (r[1] != MP_MREPLY_PROXY || len < MP_MREPLY_HEADER + 8)
    return mp_fail(MPROC_EINVAL, "%s: the method returns a value, not a "
                   "proxy", what);
  mp_mutex_lock(&clients_lock);
  c->users++;
  mp_mutex_unlock(&clients_lock);
  return proxy_new(c, mp_get_le64(r + MP_MREPLY_HEADER),
                   (const char *)r + MP_MREPLY_HEADER + 8,
                   len - MP_MREPLY_HEADER - 8, mp_getpid(), out);
}

/* A copy of the proxy in another process takes its own reference first. */
static mproc_status_t proxy_own(mproc_proxy_t *p, const char *what) {
  long me = mp_getpid();
  if (__atomic_load_n(&p->owner, __ATOMIC_ACQUIRE) == me) return MPROC_OK;
  mproc_status_t st = rpc_simple(p->client, MP_MOP_INCREF, p->oid, what);
  if (st != MPROC_OK) return st;
  long prev = __atomic_exchange_n(&p->owner, me, __ATOMIC_ACQ_REL);
  /* Another thread took a reference meanwhile: one is enough. */
  if (prev == me) (void)rpc_simple(p->client, MP_MOP_DECREF, p->oid, what);
  return MPROC_OK;
}

/* Calls method; *r is the reply (malloc'd, status OK). */
static mproc_status_t proxy_rpc(mproc_proxy_t *p, const char *method,
                                const mproc_obj_t *args, unsigned char **r,
                                size_t *rlen, const char *what) {
  MP_CHECK_KIND(p, &proxy_ops, what);
  if (method == NULL) return mp_fail(MPROC_EINVAL, "%s: NULL method", what);
  mproc_status_t st = proxy_own(p, what);
  if (st != MPROC_OK) return st;
  return rpc(p->client, MP_MOP_CALL, p->oid, method, args, r, rlen, what);
}

mproc_status_t mproc_proxy_call(mproc_proxy_t *p, const char *method,
                                const mproc_obj_t *args,
                                mproc_obj_t **result) {
  if (result) *result = NULL;
  unsigned char *r;
  size_t rlen;
  mproc_status_t st = proxy_rpc(p, method, args, &r, &rlen, "proxy_call");
  if (st != MPROC_OK) return st;
  if (r[1] == MP_MREPLY_PROXY && rlen >= MP_MREPLY_HEADER + 8)
    /* Nobody will hold the new object: let it go again. */
    (void)rpc_simple(p->client, MP_MOP_DECREF,
                     mp_get_le64(r + MP_MREPLY_HEADER), "proxy_call");
  st = reply_value(r, rlen, result, "proxy_call");
  free(r);
  return st;
}

mproc_status_t mproc_proxy_callf(mproc_proxy_t *p, mproc_obj_t **result,
                                 const char *method, const char *fmt, ...) {
  MP_CHECK_KIND(p, &proxy_ops, "proxy_callf");
  if (result) *result = NULL;
  if (fmt == NULL || *fmt == '\0') return mproc_proxy_call(p, method, NULL,
                                                           result);
  size_t n = strlen(fmt);
  char small[64];
  char *wrapped = n + 3 <= sizeof small ? small : malloc(n + 3);
  if (wrapped == NULL) return mp_fail(MPROC_ENOMEM, "proxy_callf");
  wrapped[0] = '[';
  memcpy(wrapped + 1, fmt, n);
  wrapped[n + 1] = ']';
  wrapped[n + 2] = '\0';
  mproc_obj_t *args = NULL;
  va_list ap;
  va_start(ap, fmt);
  mproc_status_t st = mp_obj_vbuild(&args, wrapped, ap);
  va_end(ap);
  if (wrapped != small) free(wrapped);
  if (st != MPROC_OK) return st;
  st = mproc_proxy_call(p, method, args, result);
  mproc_obj_free(args);
  return st;
}

mproc_status_t mproc_proxy_call_proxy(mproc_proxy_t *p, const char *method,
                                      const mproc_obj_t *args,
                                      mproc_proxy_t **out) {
  MP_REQUIRE(out, "proxy_call_proxy: out");
  unsigned char *r;
  size_t rlen;
  mproc_status_t st =
      proxy_rpc(p, method, args, &r, &rlen, "proxy_call_proxy");
  if (st != MPROC_OK) return st;
  if (r[1] == MP_MREPLY_VALUE) {
    free(r);
    return mp_fail(MPROC_EINVAL, "proxy_call_proxy: '%s' returns a value, "
                   "not a proxy (mproc_proxy_call)", method);
  }
  st = proxy_from_reply(p->client, r, rlen, out, "proxy_call_proxy");
  free(r);
  return st;
}

mproc_status_t mproc_proxy_typeid(const mproc_proxy_t *p, const char **out) {
  MP_CHECK_KIND(p, &proxy_ops, "proxy_typeid");
  MP_REQUIRE(out, "proxy_typeid: out");
  *out = p->type_id;
  return MPROC_OK;
}

mproc_status_t mproc_proxy_token(mproc_obj_t **out, const mproc_proxy_t *p) {
  MP_CHECK_KIND(p, &proxy_ops, "proxy_token");
  MP_REQUIRE(out, "proxy_token: out");
  return mproc_obj_build(out, "{s:[sL]}", MP_PROXY_TOKEN_KEY, p->type_id,
                         (long long)p->oid);
}

mproc_status_t mproc_proxy_from_token(mproc_proxy_t **out,
                                      const mproc_proxy_t *via,
                                      const mproc_obj_t *token) {
  MP_CHECK_KIND(via, &proxy_ops, "proxy_from_token");
  MP_REQUIRE(out, "proxy_from_token: out");
  MP_CHECK_PAYLOAD(token, "proxy_from_token");
  uint64_t oid = mp_manager_token_oid(token);
  const mproc_obj_t *type_id = oid ? token->u.items[1]->u.items[0] : NULL;
  if (type_id == NULL || type_id->kind != MPROC_STR)
    return mp_fail(MPROC_EINVAL, "proxy_from_token: not a proxy token");
  mclient_t *c = via->client;
  mp_mutex_lock(&clients_lock);
  c->users++;
  mp_mutex_unlock(&clients_lock);
  mproc_proxy_t *p;
  mproc_status_t st = proxy_new(c, oid, type_id->u.s, type_id->len, 0, &p);
  if (st == MPROC_OK && (st = proxy_own(p, "proxy_from_token")) != MPROC_OK) {
    p->owner = 0;
    mproc_proxy_free(p);
    return st;
  }
  if (st == MPROC_OK) *out = p;
  return st;
}

mproc_status_t mproc_proxy_free(mproc_proxy_t *p) {
  if (p == NULL) return MPROC_OK;
  MP_CHECK_KIND(p, &proxy_ops, "proxy_free");
  /* A manager already gone has nothing left to release. */
  if (p->owner == mp_getpid())
    (void)rpc_simple(p->client, MP_MOP_DECREF, p->oid, "proxy_free");
  client_put(p->client);
  free(p->type_id);
  mp_object_release(p);
  return MPROC_OK;
}

mproc_status_t mproc_attached_proxy(size_t index, mproc_proxy_t **out) {
  return mp_attached_as(index, &proxy_ops, (void **)out, "attached_proxy");
}

/* spawn/forkserver: the child rebuilds the proxy from its address, key,
 * type_id and oid (no handle crosses: it connects on first use). */
static void put_string(mp_buf_t *b, const void *s, size_t n) {
  mp_buf_put_u64(b, n);
  mp_buf_put(b, s, n);
}

static mproc_status_t export_proxy(void *obj, mp_buf_t *state,
                                   mp_handles_t *handles) {
  (void)handles;
  mproc_proxy_t *p = obj;
  mp_buf_put_u64(state, p->oid);
  put_string(state, p->client->address, strlen(p->client->address));
  put_string(state, p->client->key, p->client->keylen);
  put_string(state, p->type_id, strlen(p->type_id));
  return state->failed ? mp_fail(MPROC_ENOMEM, "proxy: export") : MPROC_OK;
}

static const char *read_string(mp_reader_t *r, size_t *n) {
  *n = (size_t)mp_read_u64(r);
  return r->bad ? NULL : mp_read(r, *n);
}

static mproc_status_t import_proxy(const void *state, size_t len,
                                   void **out) {
  mp_reader_t r = {state, len, 0, 0};
  uint64_t oid = mp_read_u64(&r);
  size_t alen, klen, tlen;
  const char *a = read_string(&r, &alen);
  const char *k = read_string(&r, &klen);
  const char *t = read_string(&r, &tlen);
  if (r.bad || a == NULL || k == NULL || t == NULL)
    return mp_fail(MPROC_EBADMSG, "proxy: a malformed export");
  char *address = malloc(alen + 1);
  if (address == NULL) return mp_fail(MPROC_ENOMEM, "proxy: import");
  memcpy(address, a, alen);
  address[alen] = '\0';
  mclient_t *c = client_get(address, k, klen);
  free(address);
  if (c == NULL) return mp_fail(MPROC_ENOMEM, "proxy: import");
  return proxy_new(c, oid, t, tlen, 0, (mproc_proxy_t **)out);
}

/* ---- managers ------------------------------------------------------ */

struct mproc_manager {
  mp_object_t obj;
  mclient_t *client;
  mproc_process_t *proc; /* the server this process started, or NULL */
  long creator;          /* the process that started or connected it */
  double shutdown_timeout;
  int shut;
};

static void manager_after_fork(void *obj) {
  (void)obj;
  clients_after_fork();
}
static mproc_status_t free_manager(void *obj) {
  return mproc_manager_free(obj);
}

static mp_object_ops_t manager_ops = {
    .kind = "manager",
    .after_fork = manager_after_fork,
    .free = free_manager,
};
MP_OBJECT_KIND(manager_ops)

static mproc_status_t manager_new(mclient_t *c, mproc_manager_t **out) {
  mproc_manager_t *m = mp_object_alloc(sizeof *m);
  if (m == NULL) {
    client_put(c);
    return mp_fail(MPROC_ENOMEM, "manager");
  }
  mp_object_init(&m->obj, &manager_ops);
  m->client = c;
  m->creator = mp_getpid();
  m->shutdown_timeout = 1.0;
  *out = m;
  return MPROC_OK;
}

/* The server process: config [address|None, key, initializer, initarg];
 * attached 0 is the pipe it reports [0, address] or [status, message] on. */
static int run_server(mproc_connection_t *report, const mproc_obj_t *cfg) {
  const mproc_obj_t *addr = cfg->u.items[0], *key = cfg->u.items[1];
  const mproc_obj_t *init = cfg->u.items[2], *initarg = cfg->u.items[3];
  mproc_status_t st = MPROC_OK;
  if (init->kind == MPROC_STR) {
    const mproc_task_entry_t *e = mp_task_by_key(init->u.s);
    if (e == NULL) st = mp_fail(MPROC_ENOTREGISTERED, "manager: the "
                                "initializer is not registered here");
    else if (e->fn(initarg->u.s, initarg->len) != 0)
      st = mp_fail(MPROC_ESPAWN, "manager: the initializer failed");
  }
  mproc_manager_server_t *s = NULL;
  if (st == MPROC_OK)
    st = mproc_manager_server_create(
        &s, addr->kind == MPROC_STR ? addr->u.s : NULL, key->u.s, key->len);
  const char *address = NULL;
  if (st == MPROC_OK) st = mproc_manager_server_address(s, &address);
  mproc_obj_t *msg = NULL;
  if (st == MPROC_OK) mproc_obj_build(&msg, "[is]", 0, address);
  else mproc_obj_build(&msg, "[is]", (int)st, mproc_last_error());
  mproc_status_t sent = msg ? mproc_connection_send(report, msg, 10.0)
                            : MPROC_ENOMEM;
  mproc_obj_free(msg);
  mproc_connection_free(report);
  if (st != MPROC_OK || sent != MPROC_OK) {
    mproc_manager_server_free(s);
    return 1;
  }
  mproc_manager_server_serve_forever(s);
  mproc_manager_server_free(s);
  return 0;
}

MPROC_TASK(mp_manager_server_main) {
  mproc_connection_t *report;
  mproc_obj_t *cfg = NULL;
  if (mproc_attached_connection(0, &report) != MPROC_OK) return 70;
  if (mproc_obj_decode(&cfg, arg, arg_len) != MPROC_OK ||
      cfg->kind != MPROC_LIST || cfg->len != 4 ||
      cfg->u.items[1]->kind != MPROC_BYTES ||
      cfg->u.items[3]->kind != MPROC_BYTES) {
    mproc_obj_free(cfg);
    return 71;
  }
  int rc = run_server(report, cfg);
  mproc_obj_free(cfg);
  return rc;
}

static mproc_status_t server_config(const mproc_manager_options_t *o,
                                    const unsigned char *key, size_t keylen,
                                    void **enc, size_t *len) {
  char *init = NULL;
  if (o->initializer) {
    const mproc_task_entry_t *e = mp_task_by_fn(o->initializer);
    if (e == NULL)
      return mp_fail(MPROC_ENOTREGISTERED, "manager_start: the initializer "
                     "is not an MPROC_TASK");
    if ((init = mp_task_key(e)) == NULL)
      return mp_fail(MPROC_ENOMEM, "manager_start");
  }
  mproc_obj_t *cfg = NULL;
  mproc_status_t st = mproc_obj_build(
      &cfg, "[s y# s y#]", o->address, key, keylen, init,
      o->initarg ? o->initarg : "", o->initarg ? o->initarg_len : 0);
  free(init);
  if (st == MPROC_OK) st = mproc_obj_encode(cfg, enc, len);
  mproc_obj_free(cfg);
  return st;
}

/* Starts the server process; *address gets where it listens (malloc'd). */
static mproc_status_t start_server(const mproc_manager_options_t *o,
                                   const unsigned char *key, size_t keylen,
                                   mproc_process_t **proc, char **address) {
  void *enc = NULL;
  size_t len;
  mproc_status_t st = server_config(o, key, keylen, &enc, &len);
  if (st != MPROC_OK) return st;
  mproc_connection_t *r = NULL, *w = NULL;
  mproc_process_t *p = NULL;
  if ((st = mproc_pipe(&r, &w, 0)) == MPROC_OK &&
      (st = mproc_process_create(&p, o->ctx, mp_manager_server_main, enc,
                                 len)) == MPROC_OK &&
      (st = mproc_process_attach(p, w)) == MPROC_OK &&
      (st = mproc_process_set_daemon(p, 1)) == MPROC_OK &&
      (st = mproc_process_set_name(p, "SyncManager")) == MPROC_OK)
    st = mproc_process_start(p);
  free(enc);
  mproc_connection_free(w);
  mproc_obj_t *msg = NULL;
  if (st == MPROC_OK) {
    st = mproc_connection_recv(r, &msg, START_TIMEOUT);
    if (st != MPROC_OK) {
      st = mp_manager_fail_with_last(MPROC_ESPAWN, "manager_start: the "
                                     "server did not report");
    } else if (msg->kind != MPROC_LIST || msg->len != 2 ||
               msg->u.items[0]->kind != MPROC_INT ||
               msg->u.items[1]->kind != MPROC_STR) {
      st = mp_fail(MPROC_ESPAWN, "manager_start: a malformed report");
    } else if (msg->u.items[0]->u.i != 0) {
      st = mp_fail(MPROC_ESPAWN, "manager_start: the server failed: %s",
                   msg->u.items[1]->u.s);
    } else if ((*address = copy_string(msg->u.items[1]->u.s)) == NULL) {
      st = mp_fail(MPROC_ENOMEM, "manager_start");
    }
  }
  mproc_obj_free(msg);
  mproc_connection_free(r);
  if (st != MPROC_OK && p) {
    int alive = 0;
    if (mproc_process_is_alive(p, &alive) == MPROC_OK && alive)
      mproc_process_kill(p);
    mproc_process_join(p, 5.0);
    mproc_process_free(p);
    p = NULL;
  }
  *proc = p;
  return st;
}

mproc_status_t mproc_manager_start(mproc_manager_t **out,
                                   const mproc_manager_options_t *options) {
  MP_REQUIRE(out, "manager_start: out");
  mproc_manager_options_t o = {0};
  if (options) o = *options;
  if (o.authkey == NULL && o.authkey_len > 0)
    return mp_fail(MPROC_EINVAL, "manager_start: NULL authkey of %zu bytes",
                   o.authkey_len);
  if (o.initarg == NULL && o.initarg_len > 0)
    return mp_fail(MPROC_EINVAL, "manager_start: NULL initarg of %zu bytes",
                   o.initarg_len);
  if (!(o.shutdown_timeout >= 0))
    return mp_fail(MPROC_EINVAL, "manager_start: shutdown_timeout must be "
                   ">= 0");
  unsigned char random_key[32];
  const unsigned char *key = o.authkey;
  size_t keylen = o.authkey_len;
  if (key == NULL) {
    randombytes_buf(random_key, sizeof random_key);
    key = random_key;
    keylen = sizeof random_key;
  }
  if (keylen == 0)
    return mp_fail(MPROC_EINVAL, "manager_start: an empty authkey");
  mproc_process_t *proc = NULL;
  char *address = NULL;
  mproc_status_t st = start_server(&o, key, keylen, &proc, &address);
  if (st != MPROC_OK) return st;
  mclient_t *c = client_get(address, key, keylen);
  free(address);
  mproc_manager_t *m = NULL;
  st = c ? manager_new(c, &m) : mp_fail(MPROC_ENOMEM, "manager_start");
  if (st != MPROC_OK) {
    mproc_process_kill(proc);
    mproc_process_join(proc, 5.0);
    mproc_process_free(proc);
    return st;
  }
  m->proc = proc;
  if (o.shutdown_timeout > 0) m->shutdown_timeout = o.shutdown_timeout;
  *out = m;
  return MPROC_OK;
}

mproc_status_t mproc_manager_connect(mproc_manager_t **out,
                                     const char *address, const void *authkey,
                                     size_t authkey_len, double timeout) {
  MP_REQUIRE(out, "manager_connect: out");
  MP_REQUIRE(address, "manager_connect: address");
  mproc_status_t st = mp_check_timeout(timeout, "manager_connect");
  if (st != MPROC_OK) return st;
  if (authkey == NULL && authkey_len > 0)
    return mp_fail(MPROC_EINVAL, "manager_connect: NULL authkey of %zu "
                   "bytes", authkey_len);
  mclient_t *c = client_get(address, authkey ? authkey : "", authkey_len);
  if (c == NULL) return mp_fail(MPROC_ENOMEM, "manager_connect");
  /* Prove the address and key now: one connection, kept in the pool. */
  mproc_connection_t *conn;
  if ((st = take_connection(c, &conn, timeout, "manager_connect")) !=
      MPROC_OK) {
    client_put(c);
    return st;
  }
  give_connection(c, conn, 1);
  mproc_manager_t *m;
  if ((st = manager_new(c, &m)) != MPROC_OK) return st;
  *out = m;
  return MPROC_OK;
}

mproc_status_t mproc_manager_address(const mproc_manager_t *m,
                                     const char **out) {
  MP_CHECK_KIND(m, &manager_ops, "manager_address");
  MP_REQUIRE(out, "manager_address: out");
  *out = m->client->address;
  return MPROC_OK;
}

mproc_status_t mproc_manager_authkey(const mproc_manager_t *m,
                                     const void **out, size_t *len) {
  MP_CHECK_KIND(m, &manager_ops, "manager_authkey");
  MP_REQUIRE(out, "manager_authkey: out");
  MP_REQUIRE(len, "manager_authkey: len");
  *out = m->client->key;
  *len = m->client->keylen;
  return MPROC_OK;
}

/* join within t; 1 when the process ended. */
static int ended_within(mproc_process_t *p, double t) {
  return mproc_process_join(p, t) == MPROC_OK;
}

mproc_status_t mproc_manager_shutdown(mproc_manager_t *m) {
  MP_CHECK_KIND(m, &manager_ops, "manager_shutdown");
  if (m->shut || m->creator != mp_getpid()) return MPROC_OK;
  m->shut = 1;
  (void)rpc_simple(m->client, MP_MOP_SHUTDOWN, 0, "manager_shutdown");
  mproc_status_t st = MPROC_OK;
  if (m->proc) {
    if (!ended_within(m->proc, m->shutdown_timeout)) {
      mproc_process_terminate(m->proc);
      if (!ended_within(m->proc, m->shutdown_timeout)) {
        mproc_process_kill(m->proc);
        st = mproc_process_join(m->proc, MPROC_FOREVER);
      }
    }
  }
  mp_mutex_lock(&m->client->lock);
  client_check_pid(m->client);
  drop_connections(m->client, 0);
  mp_mutex_unlock(&m->client->lock);
  return st;
}

mproc_status_t mproc_manager_free(mproc_manager_t *m) {
  if (m == NULL) return MPROC_OK;
  MP_CHECK_KIND(m, &manager_ops, "manager_free");
  if (m->proc) mproc_manager_shutdown(m);
  /* A process copy in a forked child is not ours to close. */
  if (m->proc && m->creator == mp_getpid())
    (void)mproc_process_free(m->proc); /* fails only if it survived kill */
  client_put(m->client);
  mp_object_release(m);
  return MPROC_OK;
}

mproc_status_t mproc_manager_create(mproc_proxy_t **out, mproc_manager_t *m,
                                    const char *type_id,
                                    const mproc_obj_t *args) {
  MP_CHECK_KIND(m, &manager_ops, "manager_create");
  MP_REQUIRE(out, "manager_create: out");
  MP_REQUIRE(type_id, "manager_create: type_id");
  unsigned char *r;
  size_t rlen;
  mproc_status_t st = rpc(m->client, MP_MOP_CREATE, 0, type_id, args, &r,
                          &rlen, "manager_create");
  if (st != MPROC_OK) return st;
  st = proxy_from_reply(m->client, r, rlen, out, "manager_create");
  free(r);
  return st;
}

mproc_status_t mproc_manager_dict(mproc_proxy_t **out, mproc_manager_t *m) {
  return mproc_manager_create(out, m, "dict", NULL);
}

mproc_status_t mproc_manager_list(mproc_proxy_t **out, mproc_manager_t *m) {
  return mproc_manager_create(out, m, "list", NULL);
}

mproc_status_t mproc_manager_object_count(mproc_manager_t *m, size_t *out) {
  MP_CHECK_KIND(m, &manager_ops, "manager_object_count");
  MP_REQUIRE(out, "manager_object_count: out");
  unsigned char *r;
  size_t rlen;
  mproc_status_t st = rpc(m->client, MP_MOP_COUNT, 0, NULL, NULL, &r, &rlen,
                          "manager_object_count");
  if (st != MPROC_OK) return st;
  mproc_obj_t *v = NULL;
  int64_t n = 0;
  st = reply_value(r, rlen, &v, "manager_object_count");
  if (st == MPROC_OK) st = mproc_obj_get_int(v, &n);
  mproc_obj_free(v);
  free(r);
  if (st == MPROC_OK) *out = (size_t)n;
  return st;
}
