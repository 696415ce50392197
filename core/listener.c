/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listener and Client, with CPython's authkey handshake.
 *
 * The handshake is CPython 3.11's (multiprocessing.connection
 * deliver_challenge / answer_challenge), run in both directions, with
 * HMAC-SHA256 in place of HMAC-MD5 and libsodium for the randomness, the
 * HMAC and the constant-time comparison:
 *   server -> client  "#CHALLENGE#" + 32 random bytes
 *   client -> server  HMAC-SHA256(authkey, those 32 bytes)
 *   server -> client  "#WELCOME#" or "#FAILURE#" (then it hangs up)
 * and then the same with the roles swapped. Each handshake message is
 * read with a 256-byte limit, so a peer without the key cannot make the
 * other side read its payload: the server's first read is the answer.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/connection.h"
#include "core/internal.h"

#define CHALLENGE "#CHALLENGE#"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
#define NONCE_BYTES 32
#define HANDSHAKE_MAX 256

struct mproc_listener {
  mp_object_t obj;
  mp_listener_t handle;
  char *address;   /* as clients give it (the port filled in) */
  char *local;     /* a local address whose endpoint to remove, or NULL */
  long creator_pid; /* the process that bound local: it alone removes it */
  struct mproc_listener *next_live; /* in live_paths */
  unsigned char *authkey;
  size_t authkey_len;
  double handshake_timeout;
  int closed; /* mproc_listener_close: no longer listening */
};

/* A listener has a kind, so every call can check it is given one, but it
 * cannot be attached to a process (CPython cannot pickle one either). */
static mproc_status_t listener_free_op(void *obj) {
  return mproc_listener_free(obj);
}

/* No after_fork: the socket file's removal is checked by pid. */
static mp_object_ops_t listener_ops = {.kind = "listener",
                                       .free = listener_free_op};

/* ---- addresses ---------------------------------------------------- */

/* A local address (mp_is_local_address: the platform's own form) is the
 * platform's to parse; any other is HOST:PORT. */
typedef struct {
  char *host;
  int port;
} address_t;

static void address_free(address_t *a) { free(a->host); }

/* HOST:PORT. */
static mproc_status_t parse_address(const char *text, address_t *a) {
  memset(a, 0, sizeof *a);
  const char *colon = strrchr(text, ':');
  char *end;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || colon == text || colon[1] == '\0' || *end != '\0' ||
      port < 0 || port > 65535)
    return mp_fail(MPROC_EINVAL,
                   "address '%s': want a local address or HOST:PORT", text);
  a->host = malloc((size_t)(colon - text) + 1);
  if (a->host == NULL) return mp_fail(MPROC_ENOMEM, "address");
  memcpy(a->host, text, (size_t)(colon - text));
  a->host[colon - text] = '\0';
  a->port = (int)port;
  return MPROC_OK;
}

static mproc_status_t check_authkey(const void *key, size_t len,
                                    const char *what) {
  if (key == NULL && len > 0)
    return mp_fail(MPROC_EINVAL, "%s: NULL authkey of %zu bytes", what, len);
  if (key != NULL && len == 0)
    return mp_fail(MPROC_EINVAL, "%s: empty authkey", what);
  if (sodium_init() < 0)
    return mp_fail(MPROC_ESYS, "%s: libsodium failed to start", what);
  return MPROC_OK;
}

/* ---- the handshake ------------------------------------------------ */

static void hmac(const unsigned char *key, size_t key_len,
                 const unsigned char *msg, size_t len,
                 unsigned char out[crypto_auth_hmacsha256_BYTES]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, key_len);
  crypto_auth_hmacsha256_update(&st, msg, len);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

/* Receives one handshake message (at most HANDSHAKE_MAX bytes, the whole
 * of it by deadline). A length prefix announcing more, or a negative one,
 * is refused at once: nothing is allocated or awaited for it. */
static mproc_status_t recv_small(mproc_connection_t *c, unsigned char *buf,
                                 size_t *len, double deadline) {
  mproc_status_t st = mp_connection_recv_whole(c, buf, HANDSHAKE_MAX, len,
                                              deadline);
  if (st == MPROC_EMSGSIZE)
    return mp_fail(MPROC_EAUTH, "authentication: an oversized message");
  if (st == MPROC_EBADMSG)
    return mp_fail(MPROC_EAUTH, "authentication: a malformed message");
  return st;
}

static mproc_status_t send_small(mproc_connection_t *c, const void *p,
                                 size_t n, double deadline) {
  return mproc_connection_send_bytes(c, p, n, 0, n, mp_time_left(deadline));
}

static mproc_status_t deliver_challenge(mproc_connection_t *c,
                                        const unsigned char *key,
                                        size_t key_len, double deadline) {
  unsigned char msg[sizeof CHALLENGE - 1 + NONCE_BYTES];
  memcpy(msg, CHALLENGE, sizeof CHALLENGE - 1);
  randombytes_buf(msg + sizeof CHALLENGE - 1, NONCE_BYTES);
  mproc_status_t st = send_small(c, msg, sizeof msg, deadline);
  unsigned char answer[HANDSHAKE_MAX], expected[crypto_auth_hmacsha256_BYTES];
  size_t len;
  if (st == MPROC_OK) st = recv_small(c, answer, &len, deadline);
  if (st != MPROC_OK) return st;
  hmac(key, key_len, msg + sizeof CHALLENGE - 1, NONCE_BYTES, expected);
  if (len == sizeof expected && sodium_memcmp(answer, expected, len) == 0)
    return send_small(c, WELCOME, sizeof WELCOME - 1, deadline);
  send_small(c, FAILURE, sizeof FAILURE - 1, deadline);
  return mp_fail(MPROC_EAUTH, "authentication: the peer's digest is wrong");
}

static mproc_status_t answer_challenge(mproc_connection_t *c,
                                       const unsigned char *key,
                                       size_t key_len, double deadline) {
  unsigned char msg[HANDSHAKE_MAX], digest[crypto_auth_hmacsha256_BYTES];
  size_t len;
  mproc_status_t st = recv_small(c, msg, &len, deadline);
  if (st != MPROC_OK) return st;
  size_t prefix = sizeof CHALLENGE - 1;
  if (len < prefix || memcmp(msg, CHALLENGE, prefix) != 0)
    return mp_fail(MPROC_EAUTH, "authentication: no challenge from the peer");
  hmac(key, key_len, msg + prefix, len - prefix, digest);
  if ((st = send_small(c, digest, sizeof digest, deadline)) != MPROC_OK)
    return st;
  if ((st = recv_small(c, msg, &len, deadline)) == MPROC_EOF)
    return mp_fail(MPROC_EAUTH, "authentication: the peer hung up");
  if (st != MPROC_OK) return st;
  if (len != sizeof WELCOME - 1 || memcmp(msg, WELCOME, len) != 0)
    return mp_fail(MPROC_EAUTH, "authentication: the peer refused our digest");
  return MPROC_OK;
}

/* Runs the handshake; on failure the connection is freed. */
static mproc_status_t authenticate(mproc_connection_t *c, int server,
                                   const unsigned char *key, size_t key_len,
                                   double deadline) {
  mproc_status_t st = MPROC_OK;
  if (key && server) {
    st = deliver_challenge(c, key, key_len, deadline);
    if (st == MPROC_OK) st = answer_challenge(c, key, key_len, deadline);
  } else if (key) {
    st = answer_challenge(c, key, key_len, deadline);
    if (st == MPROC_OK) st = deliver_challenge(c, key, key_len, deadline);
  }
  if (st != MPROC_OK) mproc_connection_free(c);
  return st;
}

/* ---- Listener ----------------------------------------------------- */

/* Atomic: listeners made by several threads at once get distinct numbers
 * (and unsigned: it wraps instead of overflowing). */
static unsigned temp_counter;

/* A fresh local address (CPython's arbitrary_address): the platform makes
 * it from a unique part, the pid, a counter and random bytes. NULL when out
 * of memory. */
static char *arbitrary_address(void) {
  unsigned char rnd[6];
  randombytes_buf(rnd, sizeof rnd);
  char unique[64];
  snprintf(unique, sizeof unique, "%ld-%u-%02x%02x%02x%02x%02x%02x",
           mp_getpid(), __atomic_fetch_add(&temp_counter, 1, __ATOMIC_SEQ_CST),
           rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
  char *address = NULL;
  return mp_local_default_address(unique, &address) == MPROC_OK ? address
                                                                 : NULL;
}

/* ---- what local listeners leave behind -------------------------- */

/* Listeners with a local endpoint (a socket file on POSIX), so that the process that bound one removes
 * it at exit even if the program never closed it (CPython's Finalize of
 * the path). Only that process ever removes it: a forked child inherits
 * this list and the listeners but owns none of their files. Guarded by
 * the registry lock, which fork holds, so a child never copies it torn. */
static mproc_listener_t *live_paths;

static void track_path(mproc_listener_t *l) {
  mp_registry_lock();
  l->next_live = live_paths;
  live_paths = l;
  mp_registry_unlock();
}

static void untrack_path(mproc_listener_t *l) {
  mp_registry_lock();
  for (mproc_listener_t **p = &live_paths; *p; p = &(*p)->next_live)
    if (*p == l) {
      *p = l->next_live;
      break;
    }
  mp_registry_unlock();
}

/* Removes what l's endpoint left if this process bound it; never again
 * after. */
static void remove_own_path(mproc_listener_t *l) {
  if (l->local && l->creator_pid == mp_getpid()) mp_local_remove(l->local);
  free(l->local);
  l->local = NULL;
}

void mp_listener_exit_cleanup(void) {
  mp_registry_lock();
  mproc_listener_t *l = live_paths;
  live_paths = NULL;
  mp_registry_unlock();
  for (mproc_listener_t *next; l; l = next) {
    next = l->next_live;
    remove_own_path(l);
  }
}

static mproc_status_t listen_on(mproc_listener_t *l, const char *text) {
  if (mp_is_local_address(text)) {
    char *local = mp_strdup(text);
    if (local == NULL) return mp_fail(MPROC_ENOMEM, "listener_create");
    mproc_status_t st = mp_listen_local(text, 128, &l->handle);
    if (st != MPROC_OK) {
      free(local);
      return st;
    }
    l->local = local;
    l->creator_pid = mp_getpid();
    l->address = mp_strdup(text);
    track_path(l);
    return l->address ? MPROC_OK : mp_fail(MPROC_ENOMEM, "listener_create");
  }
  address_t a;
  mproc_status_t st = parse_address(text, &a);
  if (st != MPROC_OK) return st;
  {
    int port;
    st = mp_listen_tcp(a.host, a.port, 128, &l->handle, &port);
    size_t size = strlen(a.host) + 16;
    if (st == MPROC_OK && (l->address = malloc(size)) != NULL)
      snprintf(l->address, size, "%s:%d", a.host, port);
  }
  address_free(&a);
  if (st == MPROC_OK && l->address == NULL)
    st = mp_fail(MPROC_ENOMEM, "listener_create");
  return st;
}

mproc_status_t mproc_listener_create(mproc_listener_t **out,
                                     const char *address,
                                     const void *authkey, size_t authkey_len) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(out, "listener_create: out");
  if ((st = check_authkey(authkey, authkey_len, "listener_create")) != MPROC_OK)
    return st;
  mproc_listener_t *l = mp_object_alloc(sizeof *l);
  char *chosen = address ? NULL : arbitrary_address();
  if (l == NULL || (address == NULL && chosen == NULL)) {
    mp_object_release(l);
    return mp_fail(MPROC_ENOMEM, "listener_create");
  }
  mp_object_init(&l->obj, &listener_ops);
  l->handle.os = MP_NO_OS_HANDLE;
  l->handshake_timeout = MPROC_HANDSHAKE_TIMEOUT;
  st = listen_on(l, address ? address : chosen);
  free(chosen);
  if (st == MPROC_OK && authkey) {
    l->authkey = malloc(authkey_len);
    if (l->authkey == NULL) st = mp_fail(MPROC_ENOMEM, "listener_create");
    else memcpy(l->authkey, authkey, authkey_len);
    l->authkey_len = authkey_len;
  }
  if (st != MPROC_OK) {
    mproc_listener_free(l);
    return st;
  }
  *out = l;
  return MPROC_OK;
}

mproc_status_t mproc_listener_address(const mproc_listener_t *l,
                                      const char **out) {
  MP_CHECK_KIND(l, &listener_ops, "listener_address");
  MP_REQUIRE(out, "listener_address: out");
  *out = l->address;
  return MPROC_OK;
}

/* Waits for a client by deadline and accepts it. */
static mproc_status_t next_client(mproc_listener_t *l, double deadline,
                                  mp_stream_t *out) {
  mproc_status_t st;
  mp_handle_t item = mp_listener_item(l->handle);
  do { /* mp_accept: ETIMEDOUT when the client vanished after the wait */
    st = mp_wait_handles(&item, 1, mp_time_left(deadline), NULL, NULL);
    if (st == MPROC_OK) st = mp_accept(l->handle, out);
  } while (st == MPROC_ETIMEDOUT && mp_time_left(deadline) != 0);
  return st;
}

/* A client that went silent, stalled in mid-message or hung up during the
 * handshake said nothing about the key: it is dropped, and accept goes on
 * with the next one. A wrong answer (MPROC_EAUTH) is the caller's to see,
 * as CPython's AuthenticationError. */
static int dropped(mproc_status_t st) {
  return st == MPROC_ETIMEDOUT || st == MPROC_EOF;
}

/* The least time an accepted client gets to answer (capped by the
 * listener's handshake timeout): accept polling with timeout 0 works. */
#define HANDSHAKE_FLOOR_SECONDS 1.0

/* When the handshake with a client accepted now must be over: never later
 * than the listener's handshake timeout, whatever accept's timeout (so a
 * silent client cannot hold accept(MPROC_FOREVER)); within accept's own
 * deadline, but with at least the floor. */
static double handshake_deadline(const mproc_listener_t *l,
                                 double accept_deadline) {
  double own = mp_deadline(l->handshake_timeout);
  if (accept_deadline < 0) return own;
  double floor = l->handshake_timeout < HANDSHAKE_FLOOR_SECONDS
                     ? own
                     : mp_deadline(HANDSHAKE_FLOOR_SECONDS);
  double by = accept_deadline > floor ? accept_deadline : floor;
  return by < own ? by : own;
}

mproc_status_t mproc_listener_accept(mproc_listener_t *l,
                                     mproc_connection_t **out,
                                     double timeout) {
  MP_CHECK_KIND(l, &listener_ops, "listener_accept");
  MP_REQUIRE(out, "listener_accept: out");
  if (l->closed)
    return mp_fail(MPROC_ESTATE, "listener_accept: the listener is closed");
  mproc_status_t st = mp_check_timeout(timeout, "listener_accept");
  if (st != MPROC_OK) return st;
  double deadline = mp_deadline(timeout);
  size_t drops = 0; /* wide: accept(MPROC_FOREVER) may drop many */
  for (;;) {
    mp_stream_t h = {MP_NO_OS_HANDLE};
    /* After a drop, only within accept's deadline: a stream of bad clients
     * cannot keep accept(0) going. */
    st = drops && mp_time_left(deadline) == 0 ? MPROC_ETIMEDOUT
                                              : next_client(l, deadline, &h);
    if (st == MPROC_ETIMEDOUT && drops)
      return mp_fail(MPROC_ETIMEDOUT,
                     "listener_accept: no client completed the handshake in "
                     "%gs (%zu dropped: silent, stalled or gone)",
                     timeout, drops);
    if (st == MPROC_ETIMEDOUT)
      return mp_fail(MPROC_ETIMEDOUT, "listener_accept: no client in %gs",
                     timeout);
    mproc_connection_t *c = NULL;
    if (st == MPROC_OK) st = mp_connection_wrap(h, 1, 1, &c);
    if (st == MPROC_OK)
      st = authenticate(c, 1, l->authkey, l->authkey_len,
                        handshake_deadline(l, deadline));
    if (st == MPROC_OK) *out = c; /* authenticate freed it otherwise */
    if (!dropped(st)) return st;
    drops++;
  }
}

mproc_status_t mproc_listener_set_handshake_timeout(mproc_listener_t *l,
                                                    double seconds) {
  MP_CHECK_KIND(l, &listener_ops, "listener_set_handshake_timeout");
  if (l->closed)
    return mp_fail(MPROC_ESTATE,
                   "listener_set_handshake_timeout: the listener is closed");
  if (!(seconds > 0 && seconds < HUGE_VAL))
    return mp_fail(MPROC_EINVAL,
                   "listener_set_handshake_timeout: %g (want finite, > 0)",
                   seconds);
  l->handshake_timeout = seconds;
  return MPROC_OK;
}

/* Stops listening: the handle closed, the local endpoint removed (by its
 * creator), the key wiped. The address stays readable, as CPython's. */
static void listener_close(mproc_listener_t *l) {
  if (l->closed) return;
  l->closed = 1;
  mp_listener_close(l->handle);
  l->handle.os = MP_NO_OS_HANDLE;
  if (l->local) untrack_path(l);
  remove_own_path(l);
  if (l->authkey) sodium_memzero(l->authkey, l->authkey_len);
  free(l->authkey);
  l->authkey = NULL;
  l->authkey_len = 0;
}

mproc_status_t mproc_listener_close(mproc_listener_t *l) {
  MP_CHECK_KIND(l, &listener_ops, "listener_close");
  listener_close(l);
  return MPROC_OK;
}

mproc_status_t mproc_listener_free(mproc_listener_t *l) {
  if (l == NULL) return MPROC_OK;
  MP_CHECK_KIND(l, &listener_ops, "listener_free");
  listener_close(l);
  free(l->address);
  mp_object_release(l);
  return MPROC_OK;
}

/* ---- Client ------------------------------------------------------- */

mproc_status_t mproc_client(mproc_connection_t **out, const char *address,
                            const void *authkey, size_t authkey_len,
                            double timeout) {
  mproc_status_t st = mp_require_init();
  if (st != MPROC_OK) return st;
  MP_REQUIRE(address, "client: address");
  MP_REQUIRE(out, "client: out");
  if ((st = check_authkey(authkey, authkey_len, "client")) != MPROC_OK ||
      (st = mp_check_timeout(timeout, "client")) != MPROC_OK)
    return st;
  double deadline = mp_deadline(timeout);
  mp_stream_t h = {MP_NO_OS_HANDLE};
  if (mp_is_local_address(address)) {
    st = mp_connect_local(address, deadline, &h);
  } else {
    address_t a;
    if ((st = parse_address(address, &a)) != MPROC_OK) return st;
    st = mp_connect_tcp(a.host, a.port, deadline, &h);
    address_free(&a);
  }
  mproc_connection_t *c = NULL;
  if (st == MPROC_OK) st = mp_connection_wrap(h, 1, 1, &c);
  if (st == MPROC_OK) st = authenticate(c, 0, authkey, authkey_len, deadline);
  if (st == MPROC_OK) *out = c;
  return st;
}
