/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's server (CPython's managers.Server): a listener, one thread
 * per client connection, a table of objects by id, and reference counts
 * kept per client session, so that every reference a client held goes
 * when its last connection closes, even when it was SIGKILLed.
 * The protocol is in core/manager_wire.h; the types in manager_types.c.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "core/error.h"
#include "core/internal.h"
#include "core/manager.h"
#include "core/manager_wire.h"
#include "core/object.h"
#include "core/payload.h"
#include "platform/platform.h"

/* ---- registered types ---------------------------------------------- */

static mp_mutex_t types_lock = MP_MUTEX_INIT;
static const mproc_manager_type_t **registered;
static size_t nregistered, registered_cap;

const mproc_manager_type_t *mp_manager_find_type(const char *type_id) {
  const mproc_manager_type_t *t = mp_manager_builtin_type(type_id);
  if (t) return t;
  mp_mutex_lock(&types_lock);
  for (size_t i = 0; i < nregistered && !t; i++)
    if (strcmp(registered[i]->type_id, type_id) == 0) t = registered[i];
  mp_mutex_unlock(&types_lock);
  return t;
}

mproc_status_t mproc_manager_register(const mproc_manager_type_t *type) {
  MP_REQUIRE(type, "manager_register: type");
  if (!type->type_id || !*type->type_id || !type->create || !type->methods)
    return mp_fail(MPROC_EINVAL,
                   "manager_register: a type needs a type_id, create and "
                   "methods");
  if (strlen(type->type_id) > 255)
    return mp_fail(MPROC_EINVAL, "manager_register: type_id over 255 bytes");
  for (const mproc_manager_method_t *m = type->methods; m->name; m++)
    if (!m->fn || strlen(m->name) > 255)
      return mp_fail(MPROC_EINVAL,
                     "manager_register: method '%s' of '%s' without fn, or "
                     "a name over 255 bytes", m->name, type->type_id);
  if (mp_manager_find_type(type->type_id))
    return mp_fail(MPROC_ESTATE, "manager_register: type_id '%s' is taken",
                   type->type_id);
  mp_mutex_lock(&types_lock);
  mproc_status_t st = MPROC_OK;
  if (nregistered == registered_cap) {
    size_t cap = registered_cap ? 2 * registered_cap : 8;
    const mproc_manager_type_t **n = realloc(registered, cap * sizeof *n);
    if (n == NULL) st = mp_fail(MPROC_ENOMEM, "manager_register");
    else registered = n, registered_cap = cap;
  }
  if (st == MPROC_OK) registered[nregistered++] = type;
  mp_mutex_unlock(&types_lock);
  return st;
}

/* The last error without the status text mp_fail put first. */
static const char *last_detail(mproc_status_t st) {
  const char *m = mproc_last_error(), *prefix = mproc_strerror(st);
  size_t n = strlen(prefix);
  if (strncmp(m, prefix, n) == 0 && m[n] == ':' && m[n + 1] == ' ')
    m += n + 2;
  return m;
}

mproc_status_t mp_manager_fail_with_last(mproc_status_t status,
                                         const char *what) {
  char detail[512];
  snprintf(detail, sizeof detail, "%s", mproc_last_error());
  return mp_fail(status, "%s: %s", what, detail);
}

/* ---- objects and sessions ------------------------------------------ */

typedef struct entry {
  uint64_t oid;
  const mproc_manager_type_t *type;
  void *self;
  mp_mutex_t lock; /* serialises the methods of a type not thread_safe */
  long refs;       /* references held by all sessions */
  long pins;       /* calls in progress */
  struct entry *next;
} entry_t;

typedef struct {
  uint64_t oid;
  long count;
} ref_t;

typedef struct session {
  uint64_t id;
  int conns; /* connections bound to it; at 0 its references go */
  ref_t *refs;
  size_t nrefs, cap;
  struct session *next;
} session_t;

#define BUCKETS 1024

struct mproc_manager_server {
  mp_object_t obj;
  mproc_listener_t *listener;
  mp_mutex_t lock; /* the table, the sessions, refcounts, pins, users */
  entry_t **buckets; /* BUCKETS chains (apart: object memory is small) */
  size_t nobjects;
  uint64_t next_oid;
  session_t *sessions;
  session_t internal; /* the references tokens stored in containers hold */
  int stop; /* atomic: set by a client's SHUTDOWN, read by the accept loop */
  int serving;
  long users; /* the owner and each connection thread */
  struct client_arg *finished; /* threads that ended, to be joined */
};

static mp_object_ops_t server_ops = {.kind = "manager server"};
MP_OBJECT_KIND(server_ops)

static entry_t *find(mproc_manager_server_t *s, uint64_t oid) {
  for (entry_t *e = s->buckets[oid % BUCKETS]; e; e = e->next)
    if (e->oid == oid) return e;
  return NULL;
}

/* Under s->lock: unlinks e if nothing refers to it or uses it any more;
 * returns it for destroy_entry (outside the lock), else NULL. */
static entry_t *unlink_if_unused(mproc_manager_server_t *s, entry_t *e) {
  if (e->refs > 0 || e->pins > 0) return NULL;
  entry_t **pp = &s->buckets[e->oid % BUCKETS];
  while (*pp != e) pp = &(*pp)->next;
  *pp = e->next;
  s->nobjects--;
  return e;
}

static void destroy_entry(mproc_manager_server_t *s, entry_t *e) {
  if (e == NULL) return;
  if (e->type->destroy) e->type->destroy(e->self);
  mp_mutex_destroy(&e->lock);
  free(e);
  (void)s;
}

static ref_t *session_ref(session_t *ss, uint64_t oid, int add) {
  for (size_t i = 0; i < ss->nrefs; i++)
    if (ss->refs[i].oid == oid) return &ss->refs[i];
  if (!add) return NULL;
  if (ss->nrefs == ss->cap) {
    size_t cap = ss->cap ? 2 * ss->cap : 8;
    ref_t *n = realloc(ss->refs, cap * sizeof *n);
    if (n == NULL) return NULL;
    ss->refs = n;
    ss->cap = cap;
  }
  ss->refs[ss->nrefs].oid = oid;
  ss->refs[ss->nrefs].count = 0;
  return &ss->refs[ss->nrefs++];
}

/* Under s->lock. */
static mproc_status_t incref_locked(mproc_manager_server_t *s,
                                    session_t *ss, uint64_t oid) {
  entry_t *e = find(s, oid);
  if (e == NULL)
    return mp_fail(MPROC_EINVAL, "manager: no object %llu",
                   (unsigned long long)oid);
  ref_t *r = session_ref(ss, oid, 1);
  if (r == NULL) return mp_fail(MPROC_ENOMEM, "manager: incref");
  r->count++;
  e->refs++;
  return MPROC_OK;
}

/* Under s->lock; returns an entry to destroy outside it, or NULL. */
static entry_t *decref_locked(mproc_manager_server_t *s, uint64_t oid,
                              long n) {
  entry_t *e = find(s, oid);
  if (e == NULL) return NULL;
  e->refs -= n;
  return unlink_if_unused(s, e);
}

static mproc_status_t incref(mproc_manager_server_t *s, session_t *ss,
                             uint64_t oid) {
  mp_mutex_lock(&s->lock);
  mproc_status_t st = incref_locked(s, ss, oid);
  mp_mutex_unlock(&s->lock);
  return st;
}

static mproc_status_t decref(mproc_manager_server_t *s, session_t *ss,
                             uint64_t oid) {
  mp_mutex_lock(&s->lock);
  ref_t *r = session_ref(ss, oid, 0);
  entry_t *dead = NULL;
  mproc_status_t st = MPROC_OK;
  if (r == NULL || r->count == 0) {
    st = mp_fail(MPROC_EINVAL, "manager: this client holds no reference "
                 "to object %llu", (unsigned long long)oid);
  } else {
    r->count--;
    dead = decref_locked(s, oid, 1);
    if (r->count == 0) *r = ss->refs[--ss->nrefs];
  }
  mp_mutex_unlock(&s->lock);
  destroy_entry(s, dead);
  return st;
}

/* The session of id (created with one connection), or NULL (no memory). */
static session_t *bind_session(mproc_manager_server_t *s, uint64_t id) {
  mp_mutex_lock(&s->lock);
  session_t *ss = s->sessions;
  while (ss && ss->id != id) ss = ss->next;
  if (ss == NULL && (ss = calloc(1, sizeof *ss)) != NULL) {
    ss->id = id;
    ss->next = s->sessions;
    s->sessions = ss;
  }
  if (ss) ss->conns++;
  mp_mutex_unlock(&s->lock);
  return ss;
}

/* A connection of ss closed: at the last one every reference it held
 * goes, as if its client had released each proxy. */
static void unbind_session(mproc_manager_server_t *s, session_t *ss) {
  if (ss == NULL) return;
  mp_mutex_lock(&s->lock);
  if (--ss->conns > 0) {
    mp_mutex_unlock(&s->lock);
    return;
  }
  session_t **pp = &s->sessions;
  while (*pp != ss) pp = &(*pp)->next;
  *pp = ss->next;
  entry_t *dead = NULL;
  for (size_t i = 0; i < ss->nrefs; i++) {
    entry_t *e = decref_locked(s, ss->refs[i].oid, ss->refs[i].count);
    if (e) e->next = dead, dead = e;
  }
  mp_mutex_unlock(&s->lock);
  while (dead) {
    entry_t *next = dead->next;
    destroy_entry(s, dead);
    dead = next;
  }
  free(ss->refs);
  free(ss);
}

/* ---- nested proxies: tokens held by containers --------------------- */

/* The oid a token value names, or 0 when v is no token. */
uint64_t mp_manager_token_oid(const mproc_obj_t *v) {
  if (v->kind != MPROC_DICT || v->len != 1) return 0;
  const mproc_obj_t *k = v->u.items[0], *val = v->u.items[1];
  if (k->kind != MPROC_STR || strcmp(k->u.s, MP_PROXY_TOKEN_KEY) != 0 ||
      val->kind != MPROC_LIST || val->len != 2 ||
      val->u.items[1]->kind != MPROC_INT)
    return 0;
  return (uint64_t)val->u.items[1]->u.i;
}

/* Walks v (bounded by MPROC_OBJ_MAX_DEPTH: it was decoded) calling fn on
 * the oid of every token inside. */
static void each_token(mproc_manager_server_t *s, const mproc_obj_t *v,
                       void (*fn)(mproc_manager_server_t *, uint64_t)) {
  if (v == NULL) return;
  uint64_t oid = mp_manager_token_oid(v);
  if (oid) {
    fn(s, oid);
    return;
  }
  if (v->kind != MPROC_LIST && v->kind != MPROC_DICT) return;
  size_t n = v->kind == MPROC_DICT ? 2 * v->len : v->len;
  for (size_t i = 0; i < n; i++) each_token(s, v->u.items[i], fn);
}

static void hold_token(mproc_manager_server_t *s, uint64_t oid) {
  (void)incref(s, &s->internal, oid);
}


/* ---- requests ------------------------------------------------------ */

static void reply_header(mp_buf_t *b, mproc_status_t st, int kind) {
  unsigned char h[MP_MREPLY_HEADER] = {(unsigned char)st,
                                       (unsigned char)kind};
  b->len = 0;
  mp_buf_put(b, h, sizeof h);
}

/* The failure's detail, without the status text mp_fail put first (the
 * client's mp_fail puts it back). */
static void reply_error(mp_buf_t *b, mproc_status_t st) {
  reply_header(b, st, MP_MREPLY_VALUE);
  const char *m = last_detail(st);
  mp_buf_put(b, m, strlen(m));
}

static void reply_value(mp_buf_t *b, const mproc_obj_t *v) {
  reply_header(b, MPROC_OK, MP_MREPLY_VALUE);
  if (v == NULL) return;
  void *data;
  size_t len;
  mproc_status_t st = mproc_obj_encode(v, &data, &len);
  if (st != MPROC_OK) {
    reply_error(b, st);
    return;
  }
  mp_buf_put(b, data, len);
  free(data);
}

static void reply_proxy(mp_buf_t *b, uint64_t oid, const char *type_id) {
  reply_header(b, MPROC_OK, MP_MREPLY_PROXY);
  unsigned char o[8];
  mp_put_le64(o, oid);
  mp_buf_put(b, o, 8);
  mp_buf_put(b, type_id, strlen(type_id));
}

/* A registered type's failure st as MPROC_EREMOTE: "Type.method: detail". */
static mproc_status_t fail_remote(mproc_status_t st, const char *type_id,
                                  const char *method) {
  char what[600];
  snprintf(what, sizeof what, "%s%s%s", type_id, *method == '(' ? "" : ".",
           method);
  char detail[512];
  snprintf(detail, sizeof detail, "%s", last_detail(st));
  return mp_fail(MPROC_EREMOTE, "%s: %s", what, detail);
}

/* Creates an object of type t from args, with one reference of ss. */
static mproc_status_t create_object(mproc_manager_server_t *s,
                                    session_t *ss,
                                    const mproc_manager_type_t *t,
                                    const mproc_obj_t *args, uint64_t *oid) {
  entry_t *e = calloc(1, sizeof *e);
  if (e == NULL) return mp_fail(MPROC_ENOMEM, "manager: a new object");
  mproc_status_t st = t->create(args, &e->self);
  if (st != MPROC_OK) {
    free(e);
    if (!mp_manager_is_builtin(t))
      return fail_remote(st, t->type_id, "()");
    return st;
  }
  e->type = t;
  mp_mutex_lock(&s->lock);
  e->oid = ++s->next_oid;
  e->next = s->buckets[e->oid % BUCKETS];
  s->buckets[e->oid % BUCKETS] = e;
  s->nobjects++;
  st = incref_locked(s, ss, e->oid);
  entry_t *dead = st != MPROC_OK ? unlink_if_unused(s, e) : NULL;
  mp_mutex_unlock(&s->lock);
  destroy_entry(s, dead);
  *oid = e->oid;
  return st;
}

static const mproc_manager_method_t *find_method(
    const mproc_manager_type_t *t, const char *name, size_t n) {
  for (const mproc_manager_method_t *m = t->methods; m->name; m++)
    if (strncmp(m->name, name, n) == 0 && m->name[n] == '\0') return m;
  return NULL;
}

static void do_call(mproc_manager_server_t *s, session_t *ss, uint64_t oid,
                    const char *name, size_t nlen, const mproc_obj_t *args,
                    mp_buf_t *b) {
  mp_mutex_lock(&s->lock);
  entry_t *e = find(s, oid);
  if (e) e->pins++;
  mp_mutex_unlock(&s->lock);
  if (e == NULL) {
    reply_error(b, mp_fail(MPROC_EINVAL, "manager: no object %llu",
                           (unsigned long long)oid));
    return;
  }
  const mproc_manager_method_t *m = find_method(e->type, name, nlen);
  mproc_status_t st;
  mproc_obj_t *result = NULL;
  if (m == NULL) {
    st = mp_fail(MPROC_EINVAL, "manager: '%s' has no method '%.*s'",
                 e->type->type_id, (int)nlen, name);
  } else {
    int builtin = mp_manager_is_builtin(e->type);
    if (builtin && mp_manager_type_holds_values(e->type))
      each_token(s, args, hold_token);
    if (!e->type->thread_safe) mp_mutex_lock(&e->lock);
    st = m->fn(e->self, args, &result);
    if (!e->type->thread_safe) mp_mutex_unlock(&e->lock);
    if (st != MPROC_OK && !builtin)
      st = fail_remote(st, e->type->type_id, m->name);
  }
  if (st == MPROC_OK && m->result_typeid) {
    const mproc_manager_type_t *rt = mp_manager_find_type(m->result_typeid);
    uint64_t roid = 0;
    mproc_obj_t *cargs = NULL;
    st = rt ? mproc_obj_list(&cargs)
            : mp_fail(MPROC_EINVAL, "manager: method_to_typeid names an "
                      "unknown type '%s'", m->result_typeid);
    /* The result is the new object's one constructor argument. */
    if (st == MPROC_OK && result &&
        (st = mproc_obj_list_append(cargs, result)) == MPROC_OK)
      result = NULL;
    if (st == MPROC_OK) st = create_object(s, ss, rt, cargs, &roid);
    mproc_obj_free(cargs);
    if (st == MPROC_OK) reply_proxy(b, roid, rt->type_id);
  } else if (st == MPROC_OK) {
    reply_value(b, result);
  }
  if (st != MPROC_OK) reply_error(b, st);
  mproc_obj_free(result);
  mp_mutex_lock(&s->lock);
  e->pins--;
  entry_t *dead = unlink_if_unused(s, e);
  mp_mutex_unlock(&s->lock);
  destroy_entry(s, dead);
}

/* Serves one request of len bytes into b. *bound is the connection's
 * session (HELLO binds another). */
static void serve_request(mproc_manager_server_t *s, session_t **bound,
                          const unsigned char *req, size_t len, mp_buf_t *b) {
  if (len < MP_MREQ_HEADER || len < (size_t)MP_MREQ_HEADER + req[1]) {
    reply_error(b, mp_fail(MPROC_EBADMSG, "manager: a request of %zu bytes "
                           "is shorter than its header", len));
    return;
  }
  int op = req[0];
  size_t nlen = req[1];
  uint64_t oid = mp_get_le64(req + 2);
  const char *name = (const char *)req + MP_MREQ_HEADER;
  const unsigned char *a = req + MP_MREQ_HEADER + nlen;
  size_t alen = len - MP_MREQ_HEADER - nlen;
  mproc_obj_t *args = NULL;
  mproc_status_t st = MPROC_OK;
  if (alen && (st = mproc_obj_decode(&args, a, alen)) != MPROC_OK) {
    reply_error(b, st);
    return;
  }
  switch (op) {
    case MP_MOP_HELLO: {
      session_t *ss = bind_session(s, oid);
      if (ss == NULL) {
        st = mp_fail(MPROC_ENOMEM, "manager: a session");
        break;
      }
      unbind_session(s, *bound);
      *bound = ss;
      reply_value(b, NULL);
      break;
    }
    case MP_MOP_CREATE: {
      char type_id[256];
      memcpy(type_id, name, nlen);
      type_id[nlen] = '\0';
      const mproc_manager_type_t *t = mp_manager_find_type(type_id);
      uint64_t noid = 0;
      st = t ? create_object(s, *bound, t, args, &noid)
             : mp_fail(MPROC_EINVAL, "manager: unknown type id '%s'", type_id);
      if (st == MPROC_OK) reply_proxy(b, noid, t->type_id);
      break;
    }
    case MP_MOP_CALL:
      do_call(s, *bound, oid, name, nlen, args, b);
      break;
    case MP_MOP_INCREF:
      if ((st = incref(s, *bound, oid)) == MPROC_OK) reply_value(b, NULL);
      break;
    case MP_MOP_DECREF:
      if ((st = decref(s, *bound, oid)) == MPROC_OK) reply_value(b, NULL);
      break;
    case MP_MOP_SHUTDOWN:
      __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
      reply_value(b, NULL);
      break;
    case MP_MOP_COUNT: {
      mproc_obj_t *n = NULL;
      mp_mutex_lock(&s->lock);
      size_t count = s->nobjects;
      mp_mutex_unlock(&s->lock);
      if ((st = mproc_obj_int(&n, (int64_t)count)) == MPROC_OK)
        reply_value(b, n);
      mproc_obj_free(n);
      break;
    }
    default:
      st = mp_fail(MPROC_EBADMSG, "manager: unknown request op %d", op);
  }
  if (st != MPROC_OK) reply_error(b, st);
  mproc_obj_free(args);
}

/* ---- connections and the server's life ----------------------------- */

struct client_arg;
static void server_release(mproc_manager_server_t *s, struct client_arg *self);

/* One client connection's thread. When it ends it moves itself to the
 * server's finished list, where the accept loop joins it. */
typedef struct client_arg {
  mproc_manager_server_t *server;
  mproc_connection_t *conn;
  mp_thread_t *thread;
  struct client_arg *next;
} client_arg_t;

/* Joins the threads that ended (outside s->lock). */
static void join_finished(mproc_manager_server_t *s) {
  mp_mutex_lock(&s->lock);
  client_arg_t *f = s->finished;
  s->finished = NULL;
  mp_mutex_unlock(&s->lock);
  while (f) {
    client_arg_t *next = f->next;
    mp_thread_join(f->thread);
    free(f);
    f = next;
  }
}

static void serve_client(void *arg) {
  client_arg_t *c = arg;
  mproc_manager_server_t *s = c->server;
  mproc_connection_t *conn = c->conn;
  uint64_t anonymous;
  randombytes_buf(&anonymous, sizeof anonymous);
  session_t *ss = bind_session(s, anonymous | 1);
  mp_buf_t b = {0};
  while (ss) {
    void *req = NULL;
    size_t len;
    mproc_status_t st =
        mproc_connection_recv_bytes(conn, MP_MMSG_MAX, &req, &len,
                                    MPROC_FOREVER);
    if (st != MPROC_OK) break; /* closed, broken or oversized: drop it */
    serve_request(s, &ss, req, len, &b);
    free(req);
    if (b.failed) {
      b.failed = 0;
      reply_error(&b, mp_fail(MPROC_ENOMEM, "manager: a reply"));
    }
    if (mproc_connection_send_bytes(conn, b.data, b.len, 0, MPROC_REST,
                                    MPROC_FOREVER) != MPROC_OK)
      break;
  }
  mp_buf_free(&b);
  unbind_session(s, ss);
  mproc_connection_free(conn);
  mp_mutex_lock(&s->lock);
  c->next = s->finished;
  s->finished = c;
  mp_mutex_unlock(&s->lock);
  server_release(s, c);
}

mproc_status_t mproc_manager_server_create(mproc_manager_server_t **out,
                                           const char *address,
                                           const void *authkey,
                                           size_t authkey_len) {
  MP_REQUIRE(out, "manager_server_create: out");
  if (authkey == NULL || authkey_len == 0)
    return mp_fail(MPROC_EINVAL, "manager_server_create: an authkey is "
                   "required");
  mproc_manager_server_t *s = mp_object_alloc(sizeof *s);
  if (s && (s->buckets = calloc(BUCKETS, sizeof *s->buckets)) == NULL) {
    mp_object_release(s);
    s = NULL;
  }
  if (s == NULL) return mp_fail(MPROC_ENOMEM, "manager_server_create");
  mproc_status_t st =
      mproc_listener_create(&s->listener, address, authkey, authkey_len);
  if (st != MPROC_OK) {
    free(s->buckets);
    mp_object_release(s);
    return st;
  }
  mp_object_init(&s->obj, &server_ops);
  s->users = 1;
  *out = s;
  return MPROC_OK;
}

mproc_status_t mproc_manager_server_address(const mproc_manager_server_t *s,
                                            const char **out) {
  MP_CHECK_KIND(s, &server_ops, "manager_server_address");
  MP_REQUIRE(out, "manager_server_address: out");
  return mproc_listener_address(s->listener, out);
}

mproc_status_t mproc_manager_server_serve_forever(mproc_manager_server_t *s) {
  MP_CHECK_KIND(s, &server_ops, "manager_server_serve_forever");
  if (s->serving)
    return mp_fail(MPROC_ESTATE, "manager_server_serve_forever: served "
                   "already");
  s->serving = 1;
  while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
    mproc_connection_t *conn;
    /* Short waits, so a shutdown request is seen within 0.1 s. */
    mproc_status_t st = mproc_listener_accept(s->listener, &conn, 0.1);
    if (st == MPROC_ETIMEDOUT || st == MPROC_EAUTH) continue;
    if (st != MPROC_OK) {
      mp_sleep(0.01); /* out of descriptors or memory: try again */
      continue;
    }
    join_finished(s);
    client_arg_t *c = calloc(1, sizeof *c);
    if (c) {
      c->server = s;
      c->conn = conn;
      mp_mutex_lock(&s->lock);
      s->users++;
      if (mp_thread_create(&c->thread, serve_client, c) != MPROC_OK) {
        s->users--;
        free(c);
        c = NULL;
      }
      mp_mutex_unlock(&s->lock);
    }
    if (c == NULL) mproc_connection_free(conn);
  }
  join_finished(s);
  mproc_listener_close(s->listener);
  return MPROC_OK;
}

/* Drops a user; the last one releases everything. self: the calling
 * client thread's record (it cannot join itself: its record and thread
 * handle are left behind), or NULL. */
static void server_release(mproc_manager_server_t *s, client_arg_t *self) {
  mp_mutex_lock(&s->lock);
  long left = --s->users;
  mp_mutex_unlock(&s->lock);
  if (left) return;
  for (client_arg_t *f = s->finished, *next; f; f = next) {
    next = f->next;
    if (f == self) continue;
    mp_thread_join(f->thread);
    free(f);
  }
  for (size_t i = 0; i < BUCKETS; i++)
    while (s->buckets[i]) {
      entry_t *e = s->buckets[i];
      s->buckets[i] = e->next;
      destroy_entry(s, e);
    }
  free(s->buckets);
  free(s->internal.refs);
  mproc_listener_free(s->listener);
  mp_mutex_destroy(&s->lock);
  mp_object_release(s);
}

mproc_status_t mproc_manager_server_free(mproc_manager_server_t *s) {
  if (s == NULL) return MPROC_OK;
  MP_CHECK_KIND(s, &server_ops, "manager_server_free");
  __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
  mproc_listener_close(s->listener);
  mp_object_invalidate(&s->obj);
  server_release(s, NULL);
  return MPROC_OK;
}
