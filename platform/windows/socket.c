/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streams and listeners on Winsock sockets; local endpoints by name.
 *
 * Every stream is a SOCKET, so one WSAPoll waits on all of them
 * (mp_wait_handles). A pair is a loopback TCP connection whose two ends
 * are checked to be each other's (another process could connect to the
 * short-lived listener first). Sockets are created private
 * (WSA_FLAG_NO_HANDLE_INHERIT) and made inheritable only for a spawn.
 *
 * A local endpoint is addressed as a named pipe, "\\.\pipe\NAME", but is
 * a loopback TCP listener whose port is published in a named file mapping
 * ("Local\mproc-ep-NAME") that lives exactly as long as the listener: the
 * name is found by any process of the session, there is nothing to remove
 * afterwards, and everything stays one kind of handle. (A real named pipe
 * would need overlapped I/O and a second wait mechanism beside WSAPoll.)
 */
#include "platform/windows/windows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define LOCAL_PREFIX "\\\\.\\pipe\\"
#define LOCAL_NAME_MAX 200

static mproc_status_t sock_fail(mproc_status_t st, const char *what) {
  return mp_win_fail(st, (DWORD)WSAGetLastError(), what);
}

static SOCKET new_socket(int family) {
  return WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                    WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
}

static void no_delay(SOCKET s) {
  BOOL on = TRUE;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof on);
}

static void set_blocking(SOCKET s, int blocking) {
  u_long nb = blocking ? 0 : 1;
  ioctlsocket(s, FIONBIO, &nb);
}

/* ---- pairs -------------------------------------------------------- */

static int same_endpoint(const struct sockaddr_in *a,
                         const struct sockaddr_in *b) {
  return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

mproc_status_t mp_stream_pair(int duplex, mp_stream_t out[2]) {
  SOCKET l = new_socket(AF_INET), a = INVALID_SOCKET, b = INVALID_SOCKET;
  struct sockaddr_in addr;
  int len = sizeof addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (l == INVALID_SOCKET) return sock_fail(MPROC_ESYS, "pipe: socket");
  if (bind(l, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      getsockname(l, (struct sockaddr *)&addr, &len) != 0 || listen(l, 1) != 0)
    goto fail;
  a = new_socket(AF_INET);
  if (a == INVALID_SOCKET || connect(a, (struct sockaddr *)&addr, sizeof addr))
    goto fail;
  for (;;) {
    b = accept(l, NULL, NULL);
    if (b == INVALID_SOCKET) goto fail;
    struct sockaddr_in mine, peer;
    int ml = sizeof mine, pl = sizeof peer;
    if (getsockname(a, (struct sockaddr *)&mine, &ml) == 0 &&
        getpeername(b, (struct sockaddr *)&peer, &pl) == 0 &&
        same_endpoint(&mine, &peer))
      break;
    closesocket(b); /* a stranger got there first */
  }
  mp_win_set_inherit((intptr_t)b, 0);
  closesocket(l);
  no_delay(a);
  no_delay(b);
  /* out[0] reads, out[1] writes (when one-way). */
  out[0].os = (intptr_t)b;
  out[1].os = (intptr_t)a;
  if (!duplex) {
    /* The reader cannot write. Its shut side reaches the writer as an
     * end of stream, which peer_closed must not take for the reader's
     * close: the writer carries SO_OOBINLINE (meaningless for a socket
     * that never reads) as the mark, kept by the socket itself, in
     * whichever process holds it. */
    BOOL on = TRUE;
    shutdown(b, SD_SEND);
    setsockopt(a, SOL_SOCKET, SO_OOBINLINE, (const char *)&on, sizeof on);
  }
  return MPROC_OK;

fail:;
  mproc_status_t st = sock_fail(MPROC_ESYS, "pipe: loopback pair");
  if (a != INVALID_SOCKET) closesocket(a);
  if (b != INVALID_SOCKET) closesocket(b);
  closesocket(l);
  return st;
}

/* ---- reading and writing ------------------------------------------ */

static int peer_gone(int err) {
  return err == WSAECONNRESET || err == WSAECONNABORTED ||
         err == WSAESHUTDOWN || err == WSAENOTCONN;
}

/* The writing end of a one-way pair (mp_stream_pair's mark). */
static int one_way_writer(SOCKET s) {
  BOOL on = FALSE;
  int len = sizeof on;
  return getsockopt(s, SOL_SOCKET, SO_OOBINLINE, (char *)&on, &len) == 0 && on;
}

/* Whether the peer's end is gone: TCP takes a first write after the
 * peer closed (a Unix socket pair refuses it), so look for its end of
 * stream (or reset) first, without consuming anything. At a one-way
 * writer an end of stream is the reader's shut side: there only a reset
 * (the write after the reader closed) tells. */
static int peer_closed(SOCKET s) {
  WSAPOLLFD p = {s, POLLRDNORM, 0};
  if (WSAPoll(&p, 1, 0) <= 0) return 0;
  if (p.revents & POLLERR) return 1;
  char c;
  int r = recv(s, &c, 1, MSG_PEEK);
  if (r == 0) return !one_way_writer(s);
  return r < 0 && peer_gone(WSAGetLastError());
}

/* Wine's ws2_32 knows only the sockets its own process made: send and
 * recv on an inherited one fail with WSAENOTSOCK, while the same handle
 * reads and writes as a file (overlapped: sockets are created so).
 * Returns the bytes moved, or -1 with GetLastError(). */
static long file_io(HANDLE h, void *buf, DWORD len, int writing) {
  OVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (ov.hEvent == NULL) return -1;
  DWORD n = 0;
  BOOL ok = writing ? WriteFile(h, buf, len, &n, &ov)
                    : ReadFile(h, buf, len, &n, &ov);
  if (!ok && GetLastError() == ERROR_IO_PENDING)
    ok = GetOverlappedResult(h, &ov, &n, TRUE);
  DWORD err = GetLastError();
  CloseHandle(ov.hEvent);
  if (!ok && !writing && (err == ERROR_HANDLE_EOF || err == ERROR_BROKEN_PIPE))
    return 0;
  SetLastError(err);
  return ok ? (long)n : -1;
}

static mproc_status_t file_write_all(HANDLE h, WSABUF *bufs, size_t nb) {
  for (size_t i = 0; i < nb; i++)
    for (ULONG done = 0; done < bufs[i].len;) {
      long n = file_io(h, bufs[i].buf + done, bufs[i].len - done, 1);
      if (n < 0) {
        DWORD err = GetLastError();
        if (err == ERROR_NETNAME_DELETED || err == ERROR_BROKEN_PIPE ||
            err == WSAECONNRESET)
          return mp_fail_code(MPROC_EOF, (int)err,
                              "write: the peer closed its end");
        return mp_win_fail(MPROC_ESYS, err, "write");
      }
      done += (ULONG)n;
    }
  return MPROC_OK;
}

mproc_status_t mp_stream_write(mp_stream_t s, const mp_iovec_t *iov,
                               size_t n) {
  if (n > 8) return mp_fail(MPROC_EINVAL, "write: %zu pieces (at most 8)", n);
  WSABUF bufs[8];
  size_t nb = 0;
  for (size_t i = 0; i < n; i++)
    if (iov[i].len > 0) {
      bufs[nb].buf = (char *)iov[i].base;
      bufs[nb++].len = (ULONG)iov[i].len; /* < 4 GiB per piece */
    }
  if (peer_closed((SOCKET)s.os))
    return mp_fail(MPROC_EOF, "write: the peer closed its end");
  size_t first = 0;
  while (first < nb) {
    DWORD sent = 0;
    if (WSASend((SOCKET)s.os, bufs + first, (DWORD)(nb - first), &sent, 0,
                NULL, NULL) != 0) {
      int err = WSAGetLastError();
      if (err == WSAENOTSOCK)
        return file_write_all((HANDLE)s.os, bufs + first, nb - first);
      if (peer_gone(err))
        return mp_fail_code(MPROC_EOF, err, "write: the peer closed its end");
      return sock_fail(MPROC_ESYS, "write");
    }
    while (first < nb && sent >= bufs[first].len) sent -= bufs[first++].len;
    if (first < nb) {
      bufs[first].buf += sent;
      bufs[first].len -= sent;
    }
  }
  return MPROC_OK;
}

mproc_status_t mp_stream_read(mp_stream_t s, void *buf, size_t n,
                              size_t *got) {
  int want = n > (1u << 30) ? (1 << 30) : (int)n;
  int r = recv((SOCKET)s.os, buf, want, 0);
  if (r >= 0) {
    *got = (size_t)r;
    return MPROC_OK;
  }
  int err = WSAGetLastError();
  if (err == WSAENOTSOCK) {
    long n2 = file_io((HANDLE)s.os, buf, (DWORD)want, 0);
    if (n2 >= 0) {
      *got = (size_t)n2;
      return MPROC_OK;
    }
    err = (int)GetLastError();
    if (err == ERROR_NETNAME_DELETED || err == WSAECONNRESET) {
      *got = 0;
      return MPROC_OK;
    }
    return mp_win_fail(MPROC_ESYS, (DWORD)err, "read");
  }
  if (peer_gone(err)) { /* a reset is the peer's end too */
    *got = 0;
    return MPROC_OK;
  }
  return sock_fail(MPROC_ESYS, "read");
}

mproc_status_t mp_stream_wait_writable(mp_stream_t s, double timeout) {
  WSAPOLLFD p = {(SOCKET)s.os, POLLWRNORM, 0};
  double deadline = timeout < 0 ? -1 : mp_monotonic() + timeout;
  for (;;) {
    DWORD ms = mp_win_ms(timeout);
    int r = WSAPoll(&p, 1, ms == INFINITE ? -1 : (int)(ms > 0x7fffffff ? 0x7fffffff : ms));
    if (r > 0) return MPROC_OK;
    if (r < 0) return sock_fail(MPROC_ESYS, "WSAPoll");
    if (deadline >= 0 && (timeout = deadline - mp_monotonic()) <= 0)
      return mp_fail(MPROC_ETIMEDOUT, "write: not writable in time");
  }
}

mproc_status_t mp_stream_duplicate(mp_stream_t s, mp_stream_t *out) {
  WSAPROTOCOL_INFOW info;
  if (s.os < 0) /* MP_NO_OS_HANDLE, or a pseudo handle: never a stream */
    return mp_fail(MPROC_EINVAL, "duplicate: stream %lld is not open",
                   (long long)s.os);
  if (WSADuplicateSocketW((SOCKET)s.os, GetCurrentProcessId(), &info) != 0)
    return sock_fail(WSAGetLastError() == WSAENOTSOCK ? MPROC_EINVAL
                                                      : MPROC_ESYS,
                     "duplicate stream");
  SOCKET d = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO,
                        FROM_PROTOCOL_INFO, &info, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (d == INVALID_SOCKET) return sock_fail(MPROC_ESYS, "duplicate stream");
  out->os = (intptr_t)d;
  return MPROC_OK;
}

/* Wine's closesocket refuses (WSAENOTSOCK) a socket this process
 * inherited rather than made, and leaves it open: then the peer never
 * sees the end of stream. The handle is closed as a handle then. */
void mp_win_close_socket(intptr_t os) {
  if (os == MP_NO_OS_HANDLE) return;
  if (closesocket((SOCKET)os) != 0 && WSAGetLastError() == WSAENOTSOCK)
    CloseHandle((HANDLE)os);
}

void mp_stream_close(mp_stream_t s) { mp_win_close_socket(s.os); }

/* ---- TCP ---------------------------------------------------------- */

static mproc_status_t resolve(const char *host, int port, int passive,
                              struct addrinfo **res) {
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  if (host && host[0] == '\0') host = NULL;
  if (getaddrinfo(host, service, &hints, res) != 0 || *res == NULL)
    return mp_fail(MPROC_EINVAL, "address: host \"%s\" unknown",
                   host ? host : "");
  return MPROC_OK;
}

mproc_status_t mp_listen_tcp(const char *host, int port, int backlog,
                             mp_listener_t *out, int *bound_port) {
  struct addrinfo *res;
  mproc_status_t st = resolve(host, port, 1, &res);
  if (st != MPROC_OK) return st;
  SOCKET l = new_socket(res->ai_family);
  if (l == INVALID_SOCKET) {
    freeaddrinfo(res);
    return sock_fail(MPROC_ESYS, "listen: socket");
  }
  BOOL on = TRUE; /* no other socket may steal the port */
  setsockopt(l, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on);
  if (bind(l, res->ai_addr, (int)res->ai_addrlen) != 0 ||
      listen(l, backlog > 0 ? backlog : SOMAXCONN) != 0) {
    st = sock_fail(MPROC_ESYS, "listen");
    freeaddrinfo(res);
    closesocket(l);
    return st;
  }
  freeaddrinfo(res);
  struct sockaddr_storage addr;
  int len = sizeof addr;
  getsockname(l, (struct sockaddr *)&addr, &len);
  if (bound_port)
    *bound_port = ntohs(addr.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&addr)->sin6_port
                            : ((struct sockaddr_in *)&addr)->sin_port);
  out->os = (intptr_t)l;
  return MPROC_OK;
}

/* Connects s to addr by deadline: non-blocking connect, then a poll. */
static mproc_status_t connect_by(SOCKET s, const struct sockaddr *addr,
                                 int len, double deadline) {
  set_blocking(s, 0);
  if (connect(s, addr, len) != 0 && WSAGetLastError() != WSAEWOULDBLOCK)
    return sock_fail(MPROC_ESYS, "connect");
  for (;;) {
    WSAPOLLFD p = {s, POLLWRNORM, 0};
    double left = deadline < 0 ? 0.05 : deadline - mp_monotonic();
    if (left > 0.05) left = 0.05; /* WSAPoll misses a refusal: look again */
    int r = WSAPoll(&p, 1, left > 0 ? (int)mp_win_ms(left) : 0);
    int err = 0, elen = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&err, &elen);
    if (err != 0) return mp_fail_code(MPROC_ESYS, err, "connect: refused (Windows error %d)", err);
    if (r > 0 && (p.revents & POLLWRNORM)) break;
    if (r < 0) return sock_fail(MPROC_ESYS, "connect: WSAPoll");
    if (deadline >= 0 && mp_monotonic() >= deadline)
      return mp_fail(MPROC_ETIMEDOUT, "connect: no answer in time");
  }
  set_blocking(s, 1);
  no_delay(s);
  return MPROC_OK;
}

mproc_status_t mp_connect_tcp(const char *host, int port, double deadline,
                              mp_stream_t *out) {
  struct addrinfo *res;
  mproc_status_t st = resolve(host, port, 0, &res);
  if (st != MPROC_OK) return st;
  SOCKET s = new_socket(res->ai_family);
  if (s == INVALID_SOCKET) {
    freeaddrinfo(res);
    return sock_fail(MPROC_ESYS, "connect: socket");
  }
  st = connect_by(s, res->ai_addr, (int)res->ai_addrlen, deadline);
  freeaddrinfo(res);
  if (st != MPROC_OK) {
    closesocket(s);
    return st;
  }
  out->os = (intptr_t)s;
  return MPROC_OK;
}

mproc_status_t mp_accept(mp_listener_t l, mp_stream_t *out) {
  WSAPOLLFD p = {(SOCKET)l.os, POLLRDNORM, 0};
  if (WSAPoll(&p, 1, 0) <= 0)
    return mp_fail(MPROC_ETIMEDOUT, "accept: no connection pending");
  SOCKET s = accept((SOCKET)l.os, NULL, NULL);
  if (s == INVALID_SOCKET) return sock_fail(MPROC_ESYS, "accept");
  mp_win_set_inherit((intptr_t)s, 0);
  set_blocking(s, 1);
  no_delay(s);
  out->os = (intptr_t)s;
  return MPROC_OK;
}

/* ---- local endpoints ---------------------------------------------- */

/* Listeners of local endpoints and the mappings publishing their ports. */
typedef struct endpoint {
  SOCKET listener;
  HANDLE mapping;
  struct endpoint *next;
} endpoint_t;
static endpoint_t *endpoints;
static SRWLOCK endpoints_guard = SRWLOCK_INIT;

void mp_listener_close(mp_listener_t l) {
  if (l.os == MP_NO_OS_HANDLE) return;
  AcquireSRWLockExclusive(&endpoints_guard);
  for (endpoint_t **p = &endpoints; *p; p = &(*p)->next)
    if ((*p)->listener == (SOCKET)l.os) {
      endpoint_t *e = *p;
      *p = e->next;
      CloseHandle(e->mapping);
      free(e);
      break;
    }
  ReleaseSRWLockExclusive(&endpoints_guard);
  mp_win_close_socket(l.os);
}

static const char *local_name(const char *address) {
  size_t n = strlen(LOCAL_PREFIX);
  return address && strncmp(address, LOCAL_PREFIX, n) == 0 ? address + n
                                                            : NULL;
}

int mp_is_local_address(const char *address) {
  return local_name(address) != NULL;
}

mproc_status_t mp_local_default_address(const char *unique, char **out) {
  size_t size = strlen(LOCAL_PREFIX) + strlen(unique) + 8;
  char *address = malloc(size);
  if (address == NULL) return mp_fail(MPROC_ENOMEM, "local address");
  snprintf(address, size, LOCAL_PREFIX "mproc-%s", unique);
  *out = address;
  return MPROC_OK;
}

/* The mapping's name for address, in out. */
static mproc_status_t mapping_name(const char *address, wchar_t *out,
                                   size_t n) {
  const char *name = local_name(address);
  if (name == NULL)
    return mp_fail(MPROC_EINVAL, "local address \"%s\": not \\\\.\\pipe\\NAME",
                   address ? address : "(null)");
  size_t len = strlen(name);
  if (len == 0 || len > LOCAL_NAME_MAX)
    return mp_fail(MPROC_EINVAL, "local address: name of %zu characters", len);
  swprintf(out, n, L"Local\\mproc-ep-%hs", name);
  for (wchar_t *p = out + 6; *p; p++) /* after "Local\" */
    if (*p == L'\\') *p = L'_';
  return MPROC_OK;
}

mproc_status_t mp_listen_local(const char *address, int backlog,
                               mp_listener_t *out) {
  wchar_t object[LOCAL_NAME_MAX + 32];
  mproc_status_t st = mapping_name(address, object, sizeof object / sizeof *object);
  if (st != MPROC_OK) return st;
  endpoint_t *e = calloc(1, sizeof *e);
  if (e == NULL) return mp_fail(MPROC_ENOMEM, "listen: out of memory");
  e->mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE,
                                  0, 64, object);
  DWORD err = GetLastError();
  if (e->mapping == NULL || err == ERROR_ALREADY_EXISTS) {
    int in_use = e->mapping != NULL;
    if (in_use) CloseHandle(e->mapping);
    free(e);
    return in_use ? mp_fail(MPROC_ESYS, "listen: %s is in use", address)
                  : mp_win_fail(MPROC_ESYS, err, "listen: endpoint name");
  }
  int port = 0;
  st = mp_listen_tcp("127.0.0.1", 0, backlog, out, &port);
  int32_t *slot = st == MPROC_OK ? MapViewOfFile(e->mapping, FILE_MAP_WRITE, 0, 0, 64) : NULL;
  if (slot == NULL) {
    if (st == MPROC_OK) {
      st = mp_win_fail(MPROC_ESYS, GetLastError(), "listen: endpoint map");
      closesocket((SOCKET)out->os);
    }
    CloseHandle(e->mapping);
    free(e);
    return st;
  }
  __atomic_store_n(slot, port, __ATOMIC_RELEASE);
  UnmapViewOfFile(slot);
  e->listener = (SOCKET)out->os;
  AcquireSRWLockExclusive(&endpoints_guard);
  e->next = endpoints;
  endpoints = e;
  ReleaseSRWLockExclusive(&endpoints_guard);
  return MPROC_OK;
}

mproc_status_t mp_connect_local(const char *address, double deadline,
                                mp_stream_t *out) {
  wchar_t object[LOCAL_NAME_MAX + 32];
  mproc_status_t st = mapping_name(address, object, sizeof object / sizeof *object);
  if (st != MPROC_OK) return st;
  HANDLE m = OpenFileMappingW(FILE_MAP_READ, FALSE, object);
  if (m == NULL)
    return mp_win_fail(MPROC_ESYS, GetLastError(),
                       "connect: no such local endpoint");
  int32_t *slot = MapViewOfFile(m, FILE_MAP_READ, 0, 0, 64);
  int port = slot ? __atomic_load_n(slot, __ATOMIC_ACQUIRE) : 0;
  if (slot) UnmapViewOfFile(slot);
  CloseHandle(m);
  if (port <= 0)
    return mp_fail(MPROC_ESYS, "connect: local endpoint %s is not listening",
                   address);
  return mp_connect_tcp("127.0.0.1", port, deadline, out);
}

void mp_local_remove(const char *address) { (void)address; }
