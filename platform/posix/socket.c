/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte streams for connections and listeners: socketpairs, Unix-domain and
 * TCP sockets.
 *
 * Native calls, not APR: APR has no socketpair, and its apr_socket_t /
 * apr_file_t own their descriptor through a memory pool that closes it when
 * the pool goes. mproc's handles are plain descriptors passed by number to
 * spawned children and closed by the connection objects themselves, and the
 * read/write path is the hot path of every message (W4, W5): wrapping each
 * descriptor in a pool-owned APR object would add an allocation and an
 * indirection per call and buy nothing. Waiting for readability stays on
 * APR (mp_wait_handles in runtime.c).
 */
#ifndef _GNU_SOURCE /* APR's pkg-config --cflags defines it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/error.h"
#include "platform/platform.h"
#include "platform/posix/posix.h"

mproc_status_t mp_stream_pair(int duplex, mp_stream_t out[2]) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return mp_fail_errno(MPROC_ESYS, errno, "socketpair");
  for (int i = 0; i < 2; i++) {
    fds[i] = mp_posix_above_stdio(fds[i]);
    if (fds[i] < 0) {
      int err = errno;
      if (fds[1 - i] >= 0) close(fds[1 - i]);
      return mp_fail_errno(MPROC_ESYS, err, "socketpair");
    }
  }
  if (!duplex) { /* out[0] receives, out[1] sends: shut the other ways */
    shutdown(fds[0], SHUT_WR);
    shutdown(fds[1], SHUT_RD);
  }
  out[0].os = fds[0];
  out[1].os = fds[1];
  return MPROC_OK;
}

#define IOV_MAX_PIECES 8

mproc_status_t mp_stream_write(mp_stream_t h, const mp_iovec_t *iov,
                               size_t n) {
  struct iovec v[IOV_MAX_PIECES];
  if (n > IOV_MAX_PIECES)
    return mp_fail(MPROC_EINVAL, "write: %zu pieces (at most %d)", n,
                   IOV_MAX_PIECES);
  for (size_t i = 0; i < n; i++) {
    v[i].iov_base = (void *)iov[i].base;
    v[i].iov_len = iov[i].len;
  }
  struct msghdr msg = {.msg_iov = v, .msg_iovlen = n};
  while (msg.msg_iovlen > 0) {
    /* MSG_NOSIGNAL: a closed peer is an error to report, not SIGPIPE. */
    ssize_t w = sendmsg((int)h.os, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET)
        return mp_fail(MPROC_EOF, "write: the other end is closed");
      return mp_fail_errno(MPROC_ESYS, errno, "write");
    }
    size_t done = (size_t)w;
    while (msg.msg_iovlen > 0 && done >= msg.msg_iov->iov_len) {
      done -= msg.msg_iov->iov_len;
      msg.msg_iov++;
      msg.msg_iovlen--;
    }
    if (msg.msg_iovlen > 0) {
      msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + done;
      msg.msg_iov->iov_len -= done;
    }
  }
  return MPROC_OK;
}

mproc_status_t mp_stream_read(mp_stream_t h, void *buf, size_t n,
                              size_t *got) {
  for (;;) {
    ssize_t r = recv((int)h.os, buf, n, 0);
    if (r >= 0) {
      *got = (size_t)r;
      return MPROC_OK;
    }
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) { /* the peer went away with data unread */
      *got = 0;
      return MPROC_OK;
    }
    return mp_fail_errno(MPROC_ESYS, errno, "read");
  }
}

static mproc_status_t wait_writable(int fd, double timeout) {
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  return mp_posix_poll_until(&p, 1, timeout);
}

mproc_status_t mp_stream_wait_writable(mp_stream_t s, double timeout) {
  return wait_writable((int)s.os, timeout);
}

void mp_stream_close(mp_stream_t s) {
  if (s.os >= 0) close((int)s.os);
}

void mp_listener_close(mp_listener_t l) {
  if (l.os >= 0) close((int)l.os);
}

/* ---- Unix-domain sockets ------------------------------------------ */

static mproc_status_t unix_address(const char *path, struct sockaddr_un *a) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a->sun_path)
    return mp_fail(MPROC_EINVAL, "socket path longer than %zu bytes: %s",
                   sizeof a->sun_path - 1, path);
  strcpy(a->sun_path, path);
  return MPROC_OK;
}

static mproc_status_t new_socket(int family, int *fd) {
  *fd = mp_posix_above_stdio(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return *fd < 0 ? mp_fail_errno(MPROC_ESYS, errno, "socket") : MPROC_OK;
}

/* Binds and listens, or closes fd and says why. */
static int set_nonblocking(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -1;
  return fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

static mproc_status_t bind_listen(int fd, const struct sockaddr *a,
                                  socklen_t len, int backlog,
                                  const char *where) {
  /* Non-blocking: a connection that vanishes between poll and accept (a
   * reset, or another accepter won it) must not leave accept blocked. */
  if (bind(fd, a, len) != 0 || listen(fd, backlog) != 0 ||
      set_nonblocking(fd, 1) != 0) {
    int err = errno;
    close(fd);
    return mp_fail_errno(MPROC_ESYS, err, "listen on %s", where);
  }
  return MPROC_OK;
}

/* ---- local endpoints: Unix-domain sockets ------------------------ */

#define LOCAL_PREFIX "unix:"

/* A Unix-domain socket address: "unix:PATH", or any text with a '/'. */
static const char *local_path(const char *address) {
  if (strncmp(address, LOCAL_PREFIX, strlen(LOCAL_PREFIX)) == 0)
    return address + strlen(LOCAL_PREFIX);
  return strchr(address, '/') ? address : NULL;
}

int mp_is_local_address(const char *address) {
  return address != NULL && local_path(address) != NULL;
}

const char *mp_posix_temp_dir(void) {
  const char *dir = getenv("TMPDIR");
  return dir == NULL || *dir == '\0' ? "/tmp" : dir;
}

mproc_status_t mp_local_default_address(const char *unique, char **out) {
  const char *dir = mp_posix_temp_dir();
  size_t size = strlen(LOCAL_PREFIX) + strlen(dir) + strlen(unique) + 8;
  char *address = malloc(size);
  if (address == NULL) return mp_fail(MPROC_ENOMEM, "local address");
  snprintf(address, size, LOCAL_PREFIX "%s/mproc-%s", dir, unique);
  *out = address;
  return MPROC_OK;
}

/* The path of a local address, or why there is none. */
static mproc_status_t path_of(const char *address, const char **path) {
  *path = address ? local_path(address) : NULL;
  if (*path == NULL)
    return mp_fail(MPROC_EINVAL, "address '%s' is not local",
                   address ? address : "(null)");
  if (**path == '\0') return mp_fail(MPROC_EINVAL, "address: empty path");
  return MPROC_OK;
}

void mp_local_remove(const char *address) {
  const char *path = address ? local_path(address) : NULL;
  if (path != NULL && *path != '\0') unlink(path);
}

mproc_status_t mp_listen_local(const char *address, int backlog,
                               mp_listener_t *out) {
  struct sockaddr_un a;
  int fd;
  const char *path;
  mproc_status_t st = path_of(address, &path);
  if (st == MPROC_OK) st = unix_address(path, &a);
  if (st == MPROC_OK) st = new_socket(AF_UNIX, &fd);
  if (st == MPROC_OK)
    st = bind_listen(fd, (struct sockaddr *)&a, sizeof a, backlog, path);
  if (st == MPROC_OK) out->os = fd;
  return st;
}

/* How often a connect to a Unix listener whose backlog is full is tried
 * again (such a connect fails with EAGAIN, and poll cannot wait for room). */
#define BACKLOG_RETRY_SECONDS 0.005

/* Connects fd by deadline (negative: none): the socket is non-blocking
 * for the attempt, so a TCP peer that never answers or a full Unix
 * backlog cannot hold the caller past it. On failure fd is closed. */
static mproc_status_t connect_fd(int fd, const struct sockaddr *a,
                                 socklen_t len, const char *where,
                                 double deadline) {
  mproc_status_t st = MPROC_OK;
  int err = set_nonblocking(fd, 1) == 0 ? 0 : errno;
  while (err == 0 && connect(fd, a, len) != 0) {
    if (errno == EAGAIN && (deadline < 0 || mp_monotonic() < deadline)) {
      mp_sleep(BACKLOG_RETRY_SECONDS); /* Unix backlog full: try again */
      continue;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
      err = errno;
      break;
    }
    /* In progress (an interrupted connect goes on too): wait for it. */
    double left = deadline < 0 ? -1 : deadline - mp_monotonic();
    st = wait_writable(fd, deadline >= 0 && left < 0 ? 0 : left);
    socklen_t err_len = sizeof err;
    if (st == MPROC_OK &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0)
      err = errno;
    break;
  }
  if (st == MPROC_OK && err == 0 && set_nonblocking(fd, 0) != 0) err = errno;
  if (st == MPROC_OK && err == 0) return MPROC_OK;
  close(fd);
  if (st == MPROC_ETIMEDOUT || err == EAGAIN)
    return mp_fail(MPROC_ETIMEDOUT, "connect to %s: no answer in time", where);
  if (st != MPROC_OK) return st;
  return mp_fail_errno(MPROC_ESYS, err, "connect to %s", where);
}

mproc_status_t mp_connect_local(const char *address, double deadline,
                                mp_stream_t *out) {
  struct sockaddr_un a;
  int fd;
  const char *path;
  mproc_status_t st = path_of(address, &path);
  if (st == MPROC_OK) st = unix_address(path, &a);
  if (st == MPROC_OK) st = new_socket(AF_UNIX, &fd);
  if (st == MPROC_OK)
    st = connect_fd(fd, (struct sockaddr *)&a, sizeof a, path, deadline);
  if (st == MPROC_OK) out->os = fd;
  return st;
}

/* ---- TCP ---------------------------------------------------------- */

static mproc_status_t resolve(const char *host, int port, int passive,
                              struct addrinfo **out) {
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = passive ? AI_PASSIVE : 0};
  int rc = getaddrinfo(host, service, &hints, out);
  if (rc != 0)
    return mp_fail(MPROC_EINVAL, "address %s:%d: %s", host, port,
                   gai_strerror(rc));
  return MPROC_OK;
}

static void tcp_nodelay(int fd) {
  int one = 1; /* small messages go out at once: request/reply traffic */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int bound_port_of(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

mproc_status_t mp_listen_tcp(const char *host, int port, int backlog,
                             mp_listener_t *out, int *bound_port) {
  struct addrinfo *ai;
  mproc_status_t st = resolve(host, port, 1, &ai);
  if (st != MPROC_OK) return st;
  int fd;
  st = new_socket(ai->ai_family, &fd);
  if (st == MPROC_OK) {
    int one = 1; /* CPython's Listener sets SO_REUSEADDR too */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    st = bind_listen(fd, ai->ai_addr, ai->ai_addrlen, backlog, host);
  }
  freeaddrinfo(ai);
  if (st != MPROC_OK) return st;
  out->os = fd;
  if (bound_port) *bound_port = bound_port_of(fd);
  return MPROC_OK;
}

mproc_status_t mp_connect_tcp(const char *host, int port, double deadline,
                              mp_stream_t *out) {
  struct addrinfo *ai;
  mproc_status_t st = resolve(host, port, 0, &ai);
  if (st != MPROC_OK) return st;
  int fd;
  st = new_socket(ai->ai_family, &fd);
  if (st == MPROC_OK)
    st = connect_fd(fd, ai->ai_addr, ai->ai_addrlen, host, deadline);
  freeaddrinfo(ai);
  if (st != MPROC_OK) return st;
  tcp_nodelay(fd);
  out->os = fd;
  return MPROC_OK;
}

mproc_status_t mp_accept(mp_listener_t listener, mp_stream_t *out) {
  for (;;) {
    int fd = mp_posix_above_stdio(
        accept4((int)listener.os, NULL, NULL, SOCK_CLOEXEC));
    if (fd >= 0) {
      struct sockaddr_storage ss;
      socklen_t len = sizeof ss;
      if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
          ss.ss_family != AF_UNIX)
        tcp_nodelay(fd);
      out->os = fd;
      return MPROC_OK;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return MPROC_ETIMEDOUT;
    if (errno != EINTR && errno != ECONNABORTED)
      return mp_fail_errno(MPROC_ESYS, errno, "accept");
  }
}

mproc_status_t mp_stream_duplicate(mp_stream_t s, mp_stream_t *out) {
  int fd;
  mproc_status_t st = mp_posix_duplicate(s.os, &fd, "stream");
  if (st == MPROC_OK) out->os = fd;
  return st;
}
