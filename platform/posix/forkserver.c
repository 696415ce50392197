/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POSIX forkserver (platform.h, "forkserver"; CPython's forkserver.py).
 *
 * The parent (the first process to ask) makes a private directory (mkdtemp:
 * mode 0700, so no other user can reach the socket in it, gh-97514), binds
 * and listens on a Unix socket there, and posix_spawns the program itself
 * with MP_POSIX_FORKSERVER_ENV="<listener>:<alive>". The server's mproc_init
 * sees the variable and serves. <alive> is the read end of a pipe whose only
 * write end the parent keeps: the parent first writes a 32-byte random
 * secret into it, then never writes again, so the server sees EOF exactly
 * when the parent is gone (any way, SIGKILL too), removes its directory and
 * exits. A forked child of the parent closes its copy at once (atfork), so
 * it neither keeps the server up nor shares it: it starts its own.
 *
 * One connection per child:
 *   parent -> server  a request (the secret, the flags, the handle values)
 *                     with the handles themselves (SCM_RIGHTS), then the
 *                     bootstrap bytes. A request without the secret is
 *                     dropped unanswered.
 *   server -> parent  the child's pid (int64; minus an errno if the fork
 *                     failed), and later its exit code (int32: the exit
 *                     status, or minus the signal), then closes.
 * The connection is the child's sentinel: readable when the code arrived
 * (or the server died: then waits fail with MPROC_ESPAWN, never hang).
 *
 * The forked child closes the server's descriptors, puts the received ones
 * at the values they had in the parent in two phases (all moved above
 * every value first, so a value cannot be overwritten before it moved),
 * keeps a copy of <alive> as its parent's liveness (mp_parent_alive), and
 * runs the spawned-child path. A die_with_parent child gets the parent-
 * death signal of process.c against the server, which ends when the
 * parent does: a killed parent takes the server and such children down.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "platform/platform.h"
#include "platform/posix/posix.h"

#define SECRET_LEN 32
#define REQUEST_MAGIC 0x6d706673u /* "mpfs" */
#define FLAG_DIE_WITH_PARENT 1u
/* SCM_MAX_FD is 253 on Linux; two go to standard output and error. */
#define MAX_PASS 240
#define MAX_BLOB ((uint64_t)1 << 32)
/* How long the parent waits for the pid, and the server for a request's
 * bytes: only a broken peer takes longer. */
#define ANSWER_SECONDS 30.0
#define REQUEST_SECONDS 5

typedef struct {
  unsigned char secret[SECRET_LEN];
  uint32_t magic;
  uint32_t flags;
  uint64_t blob_len;
  uint32_t nfds;
  uint32_t reserved;
  int64_t parent_pid;
} request_t;

int mp_platform_can_forkserver(void) { return 1; }

/* ---- both sides ----------------------------------------------------- */

static int send_full(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* ---- the parent's side ---------------------------------------------- */

/* The server of this process. Guarded by state_mutex, which is also held
 * across fork (atfork) so that a forked child sees a consistent state. */
static pthread_mutex_t state_mutex = PTHREAD_MUTEX_INITIALIZER;
static pid_t server_pid;
static int alive_writer = -1;
static char server_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
/* No longer than the socket's path in it (start_server checks): not a
 * PATH_MAX array, which parted the words every fork writes onto pages of
 * their own (one more copy-on-write fault each, parent and child). */
static char server_dir[sizeof server_socket];
static unsigned char secret[SECRET_LEN];
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static pid_t files_owner; /* the process that made server_dir */

/* Lifelines of servers this process stopped using while they ran (their
 * socket file was removed: a temporary-file cleaner). Each such server
 * keeps serving the children it has, whose exit codes come on their own
 * connections, and ends with this process like any other. */
static int *abandoned;
static size_t nabandoned;

static void before_fork(void) { pthread_mutex_lock(&state_mutex); }
static void after_fork_parent(void) { pthread_mutex_unlock(&state_mutex); }
/* The child forgets its parent's server (the directory is the parent's
 * to remove) and lets go of its lifeline. */
static void after_fork_child(void) {
  if (alive_writer >= 0) close(alive_writer);
  alive_writer = -1;
  for (size_t i = 0; i < nabandoned; i++) close(abandoned[i]);
  nabandoned = 0;
  memset(secret, 0, sizeof secret);
  server_pid = 0;
  server_dir[0] = server_socket[0] = '\0';
  pthread_mutex_unlock(&state_mutex);
}
/* At exit the directory goes at once, not when the server notices: no
 * new child can be asked for then, and the server keeps serving the
 * connections it has (the exit function still joins their children). */
static void remove_files_at_exit(void) {
  if (files_owner != getpid()) return;
  if (server_socket[0]) unlink(server_socket);
  if (server_dir[0]) rmdir(server_dir);
}

static void register_atfork(void) {
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  atexit(remove_files_at_exit);
}

long mp_forkserver_pid(void) {
  pthread_mutex_lock(&state_mutex);
  long pid = server_pid;
  pthread_mutex_unlock(&state_mutex);
  return pid;
}

static void remove_server_files(void) {
  if (server_socket[0]) unlink(server_socket);
  if (server_dir[0]) rmdir(server_dir);
  server_dir[0] = server_socket[0] = '\0';
}

/* A server that died (crashed, was killed): reaped and forgotten, so that
 * the next request starts a new one. Under state_mutex. */
static void forget_dead_server(void) {
  if (server_pid <= 0) return;
  int status;
  pid_t got;
  while ((got = waitpid(server_pid, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (got == 0) return; /* still serving */
  if (alive_writer >= 0) close(alive_writer);
  alive_writer = -1;
  server_pid = 0;
  remove_server_files();
}

static int random_secret(unsigned char *out, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = getrandom(out + got, len - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    got += (size_t)n;
  }
  return 0;
}

/* Under state_mutex. */
static mproc_status_t start_server(void) {
  const char *tmp = mp_posix_temp_dir();
  int n = snprintf(server_dir, sizeof server_dir, "%s/mproc-forkserver-XXXXXX",
                   tmp);
  if (n < 0 || (size_t)n >= sizeof server_dir ||
      (size_t)n + 3 > sizeof server_socket) {
    server_dir[0] = '\0';
    return mp_fail(MPROC_ESPAWN, "forkserver: TMPDIR '%s' is too long", tmp);
  }
  if (mkdtemp(server_dir) == NULL) {
    int err = errno;
    server_dir[0] = '\0';
    return mp_fail_errno(MPROC_ESPAWN, err, "forkserver: mkdtemp in %s", tmp);
  }
  /* n + 3 <= sizeof server_socket (checked above): "<dir>/s" fits. */
  memcpy(server_socket, server_dir, (size_t)n);
  memcpy(server_socket + n, "/s", 3);
  int err = random_secret(secret, sizeof secret);
  if (err != 0) {
    remove_server_files();
    return mp_fail_errno(MPROC_ESPAWN, err, "forkserver: getrandom");
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, server_socket, strlen(server_socket) + 1);
  int listener =
      mp_posix_above_stdio(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int alive[2] = {-1, -1};
  const char *step = "socket";
  if (listener < 0) goto fail;
  step = "bind";
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0) goto fail;
  step = "listen";
  if (listen(listener, 128) != 0) goto fail;
  step = "pipe2";
  if (pipe2(alive, O_CLOEXEC) != 0) goto fail;
  alive[0] = mp_posix_above_stdio(alive[0]);
  alive[1] = mp_posix_above_stdio(alive[1]);
  if (alive[0] < 0 || alive[1] < 0) goto fail;
  char where[64];
  snprintf(where, sizeof where, MP_POSIX_FORKSERVER_ENV "=%d:%d", listener,
           alive[0]);
  int keep[2] = {listener, alive[0]};
  pid_t pid;
  err = mp_posix_spawn_program(where, "--mproc-forkserver", NULL, 0, keep, 2,
                               &pid);
  if (err != 0) {
    errno = err;
    step = "posix_spawn";
    goto fail;
  }
  close(listener);
  close(alive[0]);
  /* A pipe holds far more than the secret: this never blocks. */
  if (write(alive[1], secret, sizeof secret) != (ssize_t)sizeof secret) {
    err = errno;
    close(alive[1]); /* the server ends on EOF */
    waitpid(pid, NULL, 0);
    remove_server_files();
    return mp_fail_errno(MPROC_ESPAWN, err, "forkserver: sending the secret");
  }
  server_pid = pid;
  alive_writer = alive[1];
  files_owner = getpid();
  return MPROC_OK;

fail:
  err = errno;
  if (listener >= 0) close(listener);
  if (alive[0] >= 0) close(alive[0]);
  if (alive[1] >= 0) close(alive[1]);
  remove_server_files();
  return mp_fail_errno(MPROC_ESPAWN, err, "forkserver: %s", step);
}

/* Under state_mutex: a live server that cannot be reached is left to its
 * children and a new one will take new requests. Killing it would take its
 * daemons down and lose every running child's exit code. */
static void abandon_server(long pid) {
  if (server_pid != (pid_t)pid || pid <= 0) return;
  int *grown = realloc(abandoned, (nabandoned + 1) * sizeof *grown);
  if (grown == NULL) return; /* keep it: the next start fails again */
  abandoned = grown;
  abandoned[nabandoned++] = alive_writer;
  alive_writer = -1;
  server_pid = 0;
  remove_server_files();
}

/* One connection attempt to this process's server, starting it first if
 * there is none (or it died). 0, or the connect errno with *pid the
 * server's. */
static mproc_status_t try_connect(int *conn, unsigned char *key, long *pid,
                                  int *connect_errno) {
  /* Before any descriptor of a server exists: a fork by another thread
   * while the first server starts must not give its child the lifeline
   * (the server would outlive a killed parent). */
  pthread_once(&atfork_once, register_atfork);
  pthread_mutex_lock(&state_mutex);
  forget_dead_server();
  mproc_status_t st = server_pid > 0 ? MPROC_OK : start_server();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, server_socket, sizeof addr.sun_path);
  memcpy(key, secret, SECRET_LEN);
  *pid = server_pid;
  pthread_mutex_unlock(&state_mutex);
  *connect_errno = 0;
  if (st != MPROC_OK) return st;
  int fd = mp_posix_above_stdio(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd < 0) return mp_fail_errno(MPROC_ESYS, errno, "forkserver: socket");
  /* Bounds the connect (a Unix socket's backlog full: a stopped or stuck
   * server) and every send of the request: never a hang. */
  struct timeval limit = {(time_t)ANSWER_SECONDS, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  int rc;
  while ((rc = connect(fd, (struct sockaddr *)&addr, sizeof addr)) != 0 &&
         errno == EINTR) {
  }
  if (rc != 0) {
    *connect_errno = errno == EINPROGRESS ? EAGAIN : errno;
    close(fd);
    if (*connect_errno == EAGAIN)
      return mp_fail(MPROC_ESPAWN,
                     "forkserver: the server (pid %ld) took no connection "
                     "in %gs",
                     *pid, ANSWER_SECONDS);
    return mp_fail_errno(MPROC_ESPAWN, *connect_errno,
                         "forkserver: the server (pid %ld) cannot be reached",
                         *pid);
  }
  *conn = fd;
  return MPROC_OK;
}

/* Connects to this process's server, replacing once one that cannot be
 * reached: a dying one (it closed its listener) is reaped, a live one whose
 * socket file was removed is abandoned (abandon_server). *conn is
 * blocking and close-on-exec. */
static int server_died(long pid);
static mproc_status_t connect_server(int *conn, unsigned char *key,
                                     long *pid) {
  int err;
  mproc_status_t st = try_connect(conn, key, pid, &err);
  if (st == MPROC_OK || (err != ECONNREFUSED && err != ENOENT)) return st;
  if (!server_died(*pid)) {
    pthread_mutex_lock(&state_mutex);
    abandon_server(*pid);
    pthread_mutex_unlock(&state_mutex);
  }
  return try_connect(conn, key, pid, &err);
}

/* Whether server pid ends within a second (it dropped a request: dying,
 * or it refused us); a dead one is forgotten, so the next connection
 * starts a new one. */
static int server_died(long pid) {
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&state_mutex);
    int gone = server_pid != (pid_t)pid;
    if (!gone) {
      forget_dead_server();
      gone = server_pid != (pid_t)pid;
    }
    pthread_mutex_unlock(&state_mutex);
    if (gone) return 1;
    mp_sleep(0.01);
  }
  return 0;
}

static int is_passed_fd(int fd, const mp_handle_t *pass, size_t npass) {
  for (size_t i = 0; i < npass; i++)
    if ((int)pass[i].os == fd) return 1;
  return 0;
}

/* The request, its handles, then the bootstrap bytes. 0 or an errno. */
static int send_request(int conn, const unsigned char *key, const void *blob,
                        size_t len, const mp_handle_t *pass, size_t npass,
                        int die_with_parent) {
  int fds[MAX_PASS + 2];
  int32_t values[MAX_PASS + 2];
  size_t n = 0;
  for (size_t i = 0; i < npass; i++) {
    fds[n] = (int)pass[i].os;
    values[n++] = (int32_t)pass[i].os;
  }
  /* Standard output and error as they are now, as a spawned child has
   * them (the server's may have been redirected since). */
  for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++)
    if (!is_passed_fd(fd, pass, npass) && fcntl(fd, F_GETFD) >= 0) {
      fds[n] = fd;
      values[n++] = fd;
    }
  request_t req;
  memset(&req, 0, sizeof req);
  memcpy(req.secret, key, SECRET_LEN);
  req.magic = REQUEST_MAGIC;
  req.flags = die_with_parent ? FLAG_DIE_WITH_PARENT : 0;
  req.blob_len = len;
  req.nfds = (uint32_t)n;
  req.parent_pid = mp_getpid();
  struct iovec iov = {&req, sizeof req};
  union {
    char buf[CMSG_SPACE(sizeof(int) * (MAX_PASS + 2))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (n > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
  }
  ssize_t sent;
  while ((sent = sendmsg(conn, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  if (sent < 0) return errno;
  /* The request is one small piece: a stream socket takes it whole, or
   * what is left goes after it. */
  int err = send_full(conn, (const char *)&req + sent, sizeof req - (size_t)sent);
  if (err == 0) err = send_full(conn, values, sizeof(int32_t) * n);
  if (err == 0) err = send_full(conn, blob, len);
  return err;
}

mproc_status_t mp_child_forkserver(mp_child_t **out, const void *blob,
                                   size_t len, const mp_handle_t *pass,
                                   size_t npass, int die_with_parent) {
  mproc_status_t check = mp_posix_check_passable(pass, npass, "forkserver");
  if (check != MPROC_OK) return check;
  if (npass > MAX_PASS)
    return mp_fail(MPROC_ENOTSUP,
                   "forkserver: %zu handles to pass, at most %d per child",
                   npass, MAX_PASS);
  if ((uint64_t)len > MAX_BLOB)
    return mp_fail(MPROC_ENOTSUP, "forkserver: a %zu-byte bootstrap", len);
  int conn = -1;
  int64_t pid = 0;
  mproc_status_t st = MPROC_OK;
  /* A second attempt only when the server vanished under the first. */
  for (int attempt = 0; attempt < 2; attempt++) {
    unsigned char key[SECRET_LEN];
    long server = 0;
    if ((st = connect_server(&conn, key, &server)) != MPROC_OK) return st;
    int err = send_request(conn, key, blob, len, pass, npass, die_with_parent);
    memset(key, 0, sizeof key);
    const int send_failed = err != 0;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      st = mp_fail(MPROC_ESPAWN,
                   "forkserver: the server (pid %ld) took no request in %gs",
                   server, ANSWER_SECONDS);
    } else if (err != 0) {
      st = mp_fail_errno(MPROC_ESPAWN, err,
                         "forkserver: sending the request to the server");
    } else {
      struct pollfd pfd = {conn, POLLIN, 0};
      st = mp_posix_poll_until(&pfd, 1, ANSWER_SECONDS);
      if (st == MPROC_OK) {
        err = mp_posix_read_full(conn, &pid, sizeof pid);
        if (err != 0)
          st = mp_fail_errno(MPROC_ESPAWN, err,
                             "forkserver: the server (pid %ld) ended or "
                             "refused the request before answering",
                             server);
        else if (pid <= 0)
          st = mp_fail_errno(MPROC_ESPAWN, (int)-pid, "forkserver: fork");
      } else if (st == MPROC_ETIMEDOUT) {
        st = mp_fail(MPROC_ESPAWN,
                     "forkserver: no answer from the server in %gs",
                     ANSWER_SECONDS);
      }
    }
    if (st == MPROC_OK) break;
    close(conn);
    conn = -1;
    /* Again only if the server cannot have forked the child: the request
     * did not go out, or the connection was reset, which a Unix socket
     * does only when its peer ends with bytes of ours unread (the server
     * forks after it read everything). End of file after a whole request
     * may follow a fork: a retry would run the task twice. */
    const int unread = send_failed ? (err == EPIPE || err == ECONNRESET)
                                   : err == ECONNRESET;
    if (!unread || !server_died(server)) return st;
  }
  if (st != MPROC_OK) return st;
  mp_child_t *c = NULL;
  if ((st = mp_posix_child_alloc(&c, conn)) != MPROC_OK) {
    /* The child runs; nobody would hear of its end: ask it to stop. */
    kill((pid_t)pid, SIGKILL);
    close(conn);
    return st;
  }
  c->via_server = 1;
  c->proc.pid = (pid_t)pid;
  *out = c;
  return MPROC_OK;
}

/* Takes the exit code if it arrived, without blocking. Under the reap
 * lock: MPROC_OK (ended or lost), MPROC_ETIMEDOUT (not yet). */
static mproc_status_t take_status(mp_child_t *c) {
  if (c->ended || c->lost) return MPROC_OK;
  int32_t code;
  ssize_t n;
  while ((n = recv(c->sentinel_fd, &code, sizeof code,
                   MSG_DONTWAIT | MSG_PEEK)) < 0 &&
         errno == EINTR) {
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return MPROC_ETIMEDOUT;
  if (n == (ssize_t)sizeof code) {
    /* Left in the socket: the sentinel stays ready from now on, as a
     * pipe at end of file does for the other start methods (the server's
     * close, which follows, may not have arrived yet). */
    c->exitcode = code;
    c->ended = 1;
    return MPROC_OK;
  } else if (n > 0) {
    return MPROC_ETIMEDOUT; /* part of it: the rest is on its way */
  }
  c->lost = 1;
  return MPROC_OK;
}

mproc_status_t mp_posix_forkserver_wait(mp_child_t *c, double timeout,
                                        int *exitcode) {
  const double deadline = timeout < 0 ? -1 : mp_monotonic() + timeout;
  for (;;) {
    mp_posix_reap_lock();
    mproc_status_t st = take_status(c);
    int ended = c->ended, lost = c->lost;
    mp_posix_reap_unlock();
    if (ended) {
      *exitcode = c->exitcode;
      return MPROC_OK;
    }
    if (lost)
      return mp_fail(MPROC_ESPAWN,
                     "forkserver: the server ended before telling how pid "
                     "%ld ended",
                     (long)c->proc.pid);
    (void)st;
    double left = deadline < 0 ? -1 : deadline - mp_monotonic();
    if (deadline >= 0 && left < 0) left = 0;
    struct pollfd pfd = {c->sentinel_fd, POLLIN, 0};
    st = mp_posix_poll_until(&pfd, 1, left);
    if (st != MPROC_OK) return st; /* ETIMEDOUT: it still runs */
  }
}

mproc_status_t mp_posix_forkserver_signal(mp_child_t *c, mp_signal_t sig) {
  /* Under the reap lock, and only while its end was not reported: after
   * that the server reaped it and the pid may be someone else's. */
  mproc_status_t st = MPROC_OK;
  mp_posix_reap_lock();
  take_status(c);
  if (c->lost)
    st = mp_fail(MPROC_ESPAWN,
                 "forkserver: the server ended before telling how pid %ld "
                 "ended: it cannot be signalled safely",
                 (long)c->proc.pid);
  else if (!c->ended) {
    int err = mp_posix_kill(c->proc.pid, sig);
    if (err != 0)
      st = mp_fail_errno(MPROC_ESYS, err, "kill %ld", (long)c->proc.pid);
  }
  mp_posix_reap_unlock();
  return st;
}

/* ---- the server ----------------------------------------------------- */

/* From the environment, taken out before main (as process.c's spawn
 * variable): the listener and the lifeline. */
static int served_listener = -1, served_alive = -1;
/* The secret requests must carry (wiped in each forked child). */
static unsigned char served_key[SECRET_LEN];

__attribute__((constructor)) static void take_forkserver_location(void) {
  const char *value = getenv(MP_POSIX_FORKSERVER_ENV);
  if (value == NULL) return;
  int l, a;
  char tail;
  if (sscanf(value, "%d:%d%c", &l, &a, &tail) == 2 && l > STDERR_FILENO &&
      a > STDERR_FILENO) {
    served_listener = l;
    served_alive = a;
  }
  unsetenv(MP_POSIX_FORKSERVER_ENV);
}

int mp_forkserver_is_server(void) { return served_listener >= 0; }

/* In a child of the server: its mproc parent and a read end that hangs up
 * when that parent is gone. */
static int lifeline_fd = -1;
static long lifeline_parent;

int mp_posix_forkserver_parent_alive(long parent_pid, int *alive) {
  if (lifeline_fd < 0 || parent_pid != lifeline_parent) return 0;
  struct pollfd pfd = {lifeline_fd, POLLIN, 0};
  int rc;
  while ((rc = poll(&pfd, 1, 0)) < 0 && errno == EINTR) {
  }
  *alive = rc == 0;
  return 1;
}

typedef struct {
  pid_t pid;
  int conn;
} served_child_t;

static served_child_t *children;
static size_t nchildren, children_cap;
static int sigchld_pipe[2] = {-1, -1};

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  char b = 0;
  ssize_t ignored = write(sigchld_pipe[1], &b, 1);
  (void)ignored;
  errno = saved;
}

static void server_exit(void) {
  struct sockaddr_un addr;
  socklen_t len = sizeof addr;
  if (getsockname(served_listener, (struct sockaddr *)&addr, &len) == 0 &&
      addr.sun_family == AF_UNIX && addr.sun_path[0] != '\0') {
    unlink(addr.sun_path);
    char *slash = strrchr(addr.sun_path, '/');
    if (slash) {
      *slash = '\0';
      rmdir(addr.sun_path);
    }
  }
  /* The die_with_parent children see our end (their parent-death
   * signal) and end; the others run on, as a killed parent's would. */
  mp_posix_exit_now(0);
}

static void report_ended_children(void) {
  char drain[64];
  while (read(sigchld_pipe[0], drain, sizeof drain) > 0) {
  }
  /* The code is sent before the child is reaped (WNOWAIT): until it is in
   * the parent's socket the pid stays taken, so a signal the parent sends
   * meanwhile cannot reach another process that got the pid. */
  for (;;) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 || info.si_pid == 0) return;
    pid_t pid = info.si_pid;
    int32_t code = info.si_code == CLD_EXITED ? info.si_status
                                              : -info.si_status;
    for (size_t i = 0; i < nchildren; i++) {
      if (children[i].pid != pid) continue;
      send_full(children[i].conn, &code, sizeof code);
      close(children[i].conn);
      children[i] = children[--nchildren];
      break;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
}

/* The forked child: only the request's descriptors survive, at their
 * values; then the spawned-child path. Never returns. */
static void become_requested_child(request_t *req, int conn, int *fds,
                                   const int32_t *values, size_t n,
                                   const void *blob, mp_spawned_main_fn main_fn,
                                   pid_t server) {
  signal(SIGCHLD, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  close(sigchld_pipe[0]);
  close(sigchld_pipe[1]);
  close(served_listener);
  served_listener = -1; /* not the server: mp_forkserver_is_server says 0 */
  memset(served_key, 0, sizeof served_key);
  close(conn);
  for (size_t i = 0; i < nchildren; i++) close(children[i].conn);
  int top = served_alive;
  for (size_t i = 0; i < n; i++) {
    if (fds[i] > top) top = fds[i];
    if (values[i] > top) top = values[i];
  }
  top++;
  /* Phase one: everything above every value it could collide with. */
  for (size_t i = 0; i < n; i++) {
    int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, top);
    if (moved < 0) mp_posix_exit_now(255);
    close(fds[i]);
    fds[i] = moved;
  }
  lifeline_fd = fcntl(served_alive, F_DUPFD_CLOEXEC, top);
  close(served_alive);
  /* Phase two: each at its value (dup2 clears close-on-exec there). */
  int stdin_passed = 0;
  for (size_t i = 0; i < n; i++) {
    if (dup2(fds[i], values[i]) < 0) mp_posix_exit_now(255);
    close(fds[i]);
    stdin_passed |= values[i] == STDIN_FILENO;
  }
  if (!stdin_passed) {
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0 && null_fd != STDIN_FILENO) {
      dup2(null_fd, STDIN_FILENO);
      close(null_fd);
    }
  }
  lifeline_parent = (long)req->parent_pid;
  if (req->flags & FLAG_DIE_WITH_PARENT) {
    /* Against the server, which ends with the parent; a parent already
     * gone ends us at once. */
    if (mp_posix_watch_parent((long)server) != MPROC_OK) {
      fprintf(stderr, "mproc: %s (daemon child will outlive a killed parent)\n",
              mproc_last_error());
    } else {
      int alive = 1;
      mp_posix_forkserver_parent_alive(lifeline_parent, &alive);
      if (getppid() != server || !alive) mp_posix_end_orphan();
    }
  }
  mp_posix_exit_now(main_fn(blob, (size_t)req->blob_len));
}

static void close_all(int *fds, size_t n) {
  for (size_t i = 0; i < n; i++) close(fds[i]);
}

static void serve_request(int conn, const unsigned char *key,
                          mp_spawned_main_fn main_fn) {
  struct timeval tv = {REQUEST_SECONDS, 0};
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  request_t req;
  union {
    char buf[CMSG_SPACE(sizeof(int) * (MAX_PASS + 2))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {&req, sizeof req};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t got;
  while ((got = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL)) < 0 &&
         errno == EINTR) {
  }
  int fds[MAX_PASS + 2];
  size_t nfds = 0;
  for (struct cmsghdr *cm = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm;
       cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
      if (nfds < MAX_PASS + 2)
        fds[nfds++] = fd;
      else
        close(fd);
    }
  }
  /* The secret compared in constant time: a wrong one is dropped. */
  unsigned char diff = got == (ssize_t)sizeof req ? 0 : 1;
  for (size_t i = 0; i < SECRET_LEN; i++) diff |= req.secret[i] ^ key[i];
  if (diff != 0 || req.magic != REQUEST_MAGIC || req.nfds != nfds ||
      req.blob_len > MAX_BLOB || (msg.msg_flags & MSG_CTRUNC)) {
    close_all(fds, nfds);
    close(conn);
    return;
  }
  int32_t values[MAX_PASS + 2];
  void *blob = malloc(req.blob_len ? (size_t)req.blob_len : 1);
  int err = blob ? mp_posix_read_full(conn, values, sizeof(int32_t) * nfds)
                 : ENOMEM;
  if (err == 0) err = mp_posix_read_full(conn, blob, (size_t)req.blob_len);
  for (size_t i = 0; i < nfds && err == 0; i++)
    if (values[i] < 0) err = EINVAL;
  if (err == 0 && nchildren == children_cap) {
    size_t cap = children_cap ? 2 * children_cap : 16;
    served_child_t *grown = realloc(children, cap * sizeof *grown);
    if (grown == NULL) err = ENOMEM;
    else {
      children = grown;
      children_cap = cap;
    }
  }
  if (err != 0) {
    free(blob);
    close_all(fds, nfds);
    close(conn);
    return;
  }
  pid_t server = getpid();
  pid_t pid = fork();
  if (pid == 0)
    become_requested_child(&req, conn, fds, values, nfds, blob, main_fn,
                           server);
  int64_t answer = pid > 0 ? (int64_t)pid : -(int64_t)errno;
  free(blob);
  close_all(fds, nfds);
  send_full(conn, &answer, sizeof answer);
  if (pid < 0) {
    close(conn);
    return;
  }
  children[nchildren].pid = pid;
  children[nchildren].conn = conn;
  nchildren++;
}

void mp_forkserver_serve(mp_spawned_main_fn child_main) {
  unsigned char *key = served_key;
  if (served_listener < 0 ||
      mp_posix_read_full(served_alive, key, SECRET_LEN) != 0)
    mp_posix_exit_now(255);
  /* Ctrl-C is for the program; the server ends with it anyway. */
  signal(SIGINT, SIG_IGN);
  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) mp_posix_exit_now(255);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_sigchld;
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&action.sa_mask);
  sigaction(SIGCHLD, &action, NULL);
  /* posix_spawn gave us the mask of whichever thread first asked for a
   * forkserver child: the children start with none blocked instead. */
  sigset_t set;
  sigemptyset(&set);
  pthread_sigmask(SIG_SETMASK, &set, NULL);
  int flags = fcntl(served_listener, F_GETFL);
  fcntl(served_listener, F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    struct pollfd set3[3] = {{served_alive, POLLIN, 0},
                             {sigchld_pipe[0], POLLIN, 0},
                             {served_listener, POLLIN, 0}};
    int rc = poll(set3, 3, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      server_exit();
    }
    if (set3[0].revents) server_exit(); /* the parent is gone */
    if (set3[1].revents) report_ended_children();
    if (set3[2].revents & POLLIN) {
      int conn = accept4(served_listener, NULL, NULL, SOCK_CLOEXEC);
      if (conn >= 0) {
        /* Blocking, whatever the listener is. */
        int cf = fcntl(conn, F_GETFL);
        fcntl(conn, F_SETFL, cf & ~O_NONBLOCK);
        serve_request(conn, key, child_main);
      }
    }
    /* A child that ended between the fork and its table entry. */
    report_ended_children();
  }
}
