/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POSIX children: fork, spawn (posix_spawn of the program itself), wait
 * with a timeout, signals, and the parent-death signal for daemon children.
 *
 * Why posix_spawn and not apr_proc_create: a spawned child must inherit
 * exactly the handles mproc passes it and nothing that another thread is
 * creating at the same moment. Every descriptor mproc makes is close-on-exec
 * from birth (pipe2), and posix_spawn_file_actions_adddup2(fd, fd) clears
 * the flag for the passed ones in the child only. apr_proc_create has no
 * such per-child list, and forks a full copy of the parent where
 * posix_spawn uses a cheaper vfork-style clone.
 *
 * The sentinel of a child is the read end of a pipe whose only write end
 * the child holds: it reads EOF when the child is gone, whoever reaps it.
 */
#ifndef _GNU_SOURCE /* APR's pkg-config --cflags defines it */
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <apr_thread_proc.h>

#include "base/error.h"
#include "platform/platform.h"
#include "platform/posix/posix.h"

extern char **environ;

/* A spawned child is told where its bootstrap is by an environment
 * variable, "B:S" (the bootstrap pipe's read end, the sentinel's write
 * end), not by argv: a program may call mproc_init(0, NULL), or pass it an
 * argv of its own. The child takes the variable out of its environment at
 * load time, before main, so nothing it starts or execs inherits it. argv
 * only carries a marker for people reading ps. */
#define SPAWN_ENV "MPROC_SPAWN_BOOTSTRAP"
#define SPAWN_MARKER "--mproc-spawn"
/* A bootstrap larger than this is refused: it can only be corrupt. */
#define MAX_BOOTSTRAP ((uint64_t)1 << 32)

/* The write end of this process's own sentinel (when it is an mproc child),
 * so that a child forked from here can drop its inherited copy: otherwise
 * our parent would wait for our children too. */
static int own_sentinel_fd = -1;

/* Held from the creation of a new child's pipes until the parent closed
 * its copies of the child's ends, and across fork, so that a child another
 * thread forks or spawns meanwhile inherits none of them (a sentinel would
 * then miss the end of this child). A forked child unlocks it. */
static pthread_mutex_t pipe_guard = PTHREAD_MUTEX_INITIALIZER;

/* calloc, not an APR pool per child: a pool takes a block of several pages,
 * and after each fork every page the parent writes again costs it a
 * copy-on-write fault. */
mproc_status_t mp_posix_child_alloc(mp_child_t **out, int sentinel_fd) {
  mp_child_t *c = calloc(1, sizeof *c);
  if (c == NULL) return mp_fail(MPROC_ENOMEM, "child: out of memory");
  c->sentinel_fd = sentinel_fd;
  *out = c;
  return MPROC_OK;
}

static void close_pair(int fds[2]) {
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
  fds[0] = fds[1] = -1;
}


/* A close-on-exec pipe whose ends are above standard input, output and
 * error: if the program closed one of those, pipe2 would hand it out, and
 * a spawned child's stdin set-up would overwrite that end (its bootstrap
 * read from /dev/null), or its output go into a sentinel. 0 or errno. */
static int cloexec_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) return errno;
  for (int i = 0; i < 2; i++) {
    fds[i] = mp_posix_above_stdio(fds[i]);
    if (fds[i] < 0) {
      int err = errno;
      close_pair(fds);
      return err;
    }
  }
  return 0;
}

/* Children read nothing from the parent's terminal or input, as in
 * CPython (util._close_stdin): standard input is /dev/null. */
/* /dev/null, opened once (close-on-exec) by the first fork: in each child
 * a dup2 is then all it costs, where open+dup2+close measured 6-8 us a
 * fork. Set under the pipe guard. */
static int null_fd = -1;

static void open_null_once(void) {
  if (null_fd < 0)
    null_fd = mp_posix_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
}

static void stdin_to_null(void) {
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
}

mproc_status_t mp_child_fork(mp_child_t **out, mp_fork_main_fn child_main,
                             void *ctx, int die_with_parent) {
  const long parent_pid = mp_getpid();
  /* The pipe guard is held from the pipe's creation until our copy of its
   * write end is closed, so that a child another thread forks meanwhile
   * does not keep it open (the sentinel would miss this child's end); and,
   * with the reap lock, across fork, so that the child never inherits one
   * held by a thread that does not exist there. core/'s own locks are held
   * across fork by its at-fork hooks (mp_atfork_register). */
  pthread_mutex_lock(&pipe_guard);
  open_null_once();
  int sentinel[2];
  int err = cloexec_pipe(sentinel);
  if (err != 0) {
    pthread_mutex_unlock(&pipe_guard);
    return mp_fail_errno(MPROC_ESYS, err, "fork: pipe2");
  }
  mp_child_t *c = NULL; /* child_alloc sets it; gcc -O2 warns otherwise */
  mproc_status_t st = mp_posix_child_alloc(&c, sentinel[0]);
  if (st != MPROC_OK) {
    close_pair(sentinel);
    pthread_mutex_unlock(&pipe_guard);
    return st;
  }
  /* The reap lock is held across fork by the hooks mp_platform_init
   * registered. fork() and not apr_proc_fork(): that one calls getpid() in the child
   * through libapr's lazily bound PLT, so every child paid a dynamic
   * symbol lookup and about a dozen copy-on-write and page-cache faults. */
  pid_t pid = fork();
  /* errno only on failure: in the child, __errno_location would be one
   * more page of libc code to fault in. */
  int fork_errno = pid < 0 ? errno : 0;
  if (pid == 0) {
    pthread_mutex_unlock(&pipe_guard);
    close(sentinel[0]);
    if (own_sentinel_fd >= 0) close(own_sentinel_fd);
    own_sentinel_fd = sentinel[1];
    stdin_to_null();
    if (die_with_parent) mp_posix_child_die_with_parent(parent_pid);
    mp_posix_exit_now(child_main(ctx));
  }
  close(sentinel[1]);
  pthread_mutex_unlock(&pipe_guard);
  if (pid < 0) {
    close(sentinel[0]);
    free(c);
    return mp_fail_errno(MPROC_ESYS, fork_errno, "fork");
  }
  c->proc.pid = pid;
  *out = c;
  return MPROC_OK;
}

/* Writes all of buf; a reader that went away is EPIPE, never SIGPIPE. */
static int write_all_nosigpipe(int fd, const void *buf, size_t len) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  int err = 0;
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    p += n;
    len -= (size_t)n;
  }
  if (err == EPIPE) {
    /* Consume the SIGPIPE we raised before unblocking it. */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, NULL);
  return err;
}

static mproc_status_t send_bootstrap(int fd, const void *blob, size_t len) {
  uint64_t header = len;
  int err = write_all_nosigpipe(fd, &header, sizeof header);
  if (err == 0) err = write_all_nosigpipe(fd, blob, len);
  if (err != 0)
    return mp_fail_errno(MPROC_ESPAWN, err,
                         "spawn: the child did not read its bootstrap");
  return MPROC_OK;
}

static int is_passed(int fd, const mp_handle_t *pass, size_t npass) {
  for (size_t i = 0; i < npass; i++)
    if ((int)pass[i].os == fd) return 1;
  return 0;
}

/* Adds a close action for fd if it would leak into an exec'd child. */
static void close_if_inheritable(posix_spawn_file_actions_t *actions, int fd,
                                 const mp_handle_t *pass, size_t npass) {
  if (fd <= STDERR_FILENO || is_passed(fd, pass, npass)) return;
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0 && !(flags & FD_CLOEXEC))
    posix_spawn_file_actions_addclose(actions, fd);
}

/* Where /proc is missing, descriptors above this are not looked at. */
#define FD_SCAN_LIMIT 65536

/* posix_spawn hands the child every descriptor not marked close-on-exec,
 * such as a pipe the program made with plain pipe(); like CPython's spawn,
 * close them all in the child but the passed ones (mproc's own are all
 * close-on-exec). A descriptor another thread opens meanwhile can still
 * slip through, as in CPython. */
static void close_inherited_descriptors(posix_spawn_file_actions_t *actions,
                                        const mp_handle_t *pass,
                                        size_t npass) {
  DIR *dir = opendir("/proc/self/fd");
  if (dir != NULL) {
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
      char *end;
      long fd = strtol(e->d_name, &end, 10);
      if (end != e->d_name && *end == '\0' && fd != dirfd(dir))
        close_if_inheritable(actions, (int)fd, pass, npass);
    }
    closedir(dir);
    return;
  }
  long limit = sysconf(_SC_OPEN_MAX);
  if (limit < 0 || limit > FD_SCAN_LIMIT) limit = FD_SCAN_LIMIT;
  for (int fd = 0; fd < limit; fd++)
    close_if_inheritable(actions, fd, pass, npass);
}

/* This process's environment (without a bootstrap variable the program
 * may have set itself) plus entry, in a malloc'd array of borrowed
 * strings; NULL when out of memory. */
static char **child_environment(char *entry) {
  size_t n = 0;
  for (char **e = environ; e && *e; e++) n++;
  char **env = malloc((n + 2) * sizeof *env);
  if (env == NULL) return NULL;
  size_t k = 0;
  const size_t prefix = strlen(SPAWN_ENV "=");
  const size_t fs_prefix = strlen(MP_POSIX_FORKSERVER_ENV "=");
  for (char **e = environ; e && *e; e++)
    if (strncmp(*e, SPAWN_ENV "=", prefix) != 0 &&
        strncmp(*e, MP_POSIX_FORKSERVER_ENV "=", fs_prefix) != 0)
      env[k++] = *e;
  env[k++] = entry;
  env[k] = NULL;
  return env;
}

int mp_posix_spawn_program(const char *env_entry, const char *marker,
                           const mp_handle_t *pass, size_t npass,
                           const int *keep, size_t nkeep, pid_t *pid) {
  const char *exe = mp_posix_executable();
  if (exe == NULL) return ENOENT;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  close_inherited_descriptors(&actions, pass, npass);
  /* Never over a passed handle: mproc's own are all above standard error
   * (mp_posix_above_stdio), but the child must get every passed one at
   * its value whatever it is. */
  if (!is_passed(STDIN_FILENO, pass, npass))
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
  /* dup2 onto itself clears close-on-exec in the child only. */
  for (size_t i = 0; i < nkeep; i++)
    posix_spawn_file_actions_adddup2(&actions, keep[i], keep[i]);
  for (size_t i = 0; i < npass; i++)
    posix_spawn_file_actions_adddup2(&actions, (int)pass[i].os,
                                     (int)pass[i].os);
  char **env = child_environment((char *)env_entry);
  char *argv[] = {(char *)exe, (char *)marker, NULL};
  int err = env == NULL ? ENOMEM
                        : posix_spawn(pid, exe, &actions, NULL, argv, env);
  free(env);
  posix_spawn_file_actions_destroy(&actions);
  return err;
}

/* Creates the child's pipes, starts it, and closes the parent's copies of
 * the child's ends; *boot_writer is where its bootstrap goes. Called with
 * the pipe guard held, so that a child another thread forks meanwhile
 * inherits none of those ends (it would keep the sentinel from reporting
 * the end of this child). */
static mproc_status_t start_spawned(const char *exe, const mp_handle_t *pass,
                                    size_t npass, int die_with_parent,
                                    mp_child_t **out, int *boot_writer) {
  int boot[2] = {-1, -1}, sentinel[2] = {-1, -1};
  int err = cloexec_pipe(boot);
  if (err == 0) err = cloexec_pipe(sentinel);
  if (err != 0) {
    close_pair(boot);
    return mp_fail_errno(MPROC_ESYS, err, "spawn: pipe2");
  }
  mp_child_t *c = NULL; /* child_alloc sets it; gcc -O2 warns otherwise */
  mproc_status_t st = mp_posix_child_alloc(&c, sentinel[0]);
  if (st != MPROC_OK) goto fail_pipes;

  int keep[2] = {boot[0], sentinel[1]};
  char where[96];
  snprintf(where, sizeof where, SPAWN_ENV "=%d:%d:%d:%ld", boot[0],
           sentinel[1], die_with_parent != 0, mp_getpid());
  pid_t pid;
  err = mp_posix_spawn_program(where, SPAWN_MARKER, pass, npass, keep, 2,
                               &pid);
  if (err != 0) {
    free(c);
    st = err == ENOMEM
             ? mp_fail(MPROC_ENOMEM, "spawn: the child's environment")
             : mp_fail_errno(MPROC_ESPAWN, err, "spawn: posix_spawn %s", exe);
    goto fail_pipes;
  }
  close(boot[0]);
  close(sentinel[1]);
  c->proc.pid = pid;
  *out = c;
  *boot_writer = boot[1];
  return MPROC_OK;

fail_pipes:
  close_pair(boot);
  close_pair(sentinel);
  return st;
}

mproc_status_t mp_posix_check_passable(const mp_handle_t *pass, size_t npass,
                                       const char *what) {
  for (size_t i = 0; i < npass; i++)
    if (pass[i].kind == MP_HANDLE_NONE || pass[i].kind == MP_HANDLE_CHILD ||
        pass[i].os < 0 || pass[i].os > INT_MAX)
      return mp_fail(MPROC_EINVAL, "%s: handle %zu (%ld, kind %d) cannot "
                     "be passed", what, i, (long)pass[i].os,
                     (int)pass[i].kind);
  return MPROC_OK;
}

mproc_status_t mp_child_spawn(mp_child_t **out, const void *blob, size_t len,
                              const mp_handle_t *pass, size_t npass,
                              int die_with_parent) {
  mproc_status_t st = mp_posix_check_passable(pass, npass, "spawn");
  if (st != MPROC_OK) return st;
  const char *exe = mp_posix_executable();
  if (exe == NULL)
    return mp_fail(MPROC_ESPAWN, "spawn: the program's executable is unknown");
  mp_child_t *c = NULL;
  int boot_writer = -1;
  pthread_mutex_lock(&pipe_guard);
  st = start_spawned(exe, pass, npass, die_with_parent, &c, &boot_writer);
  pthread_mutex_unlock(&pipe_guard);
  if (st != MPROC_OK) return st;
  st = send_bootstrap(boot_writer, blob, len);
  close(boot_writer);
  if (st != MPROC_OK) {
    int ignored;
    mp_child_signal(c, MP_SIGNAL_KILL);
    mp_child_wait(c, -1, &ignored);
    mp_child_free(c);
    return st;
  }
  *out = c;
  return MPROC_OK;
}

int mp_posix_read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 ? EPIPE : errno;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The value of SPAWN_ENV this process started with ("" if none), taken
 * out of the environment before main runs: no code of the program can
 * exec anything that inherits it, and no thread races the unsetenv. */
static char spawn_location[64];

__attribute__((constructor)) static void take_spawn_location(void) {
  const char *value = getenv(SPAWN_ENV);
  if (value == NULL) return;
  /* Empty or too long is malformed ("?"), never a truncated location. */
  if (value[0] == '\0' || strlen(value) >= sizeof spawn_location)
    value = "?";
  snprintf(spawn_location, sizeof spawn_location, "%s", value);
  unsetenv(SPAWN_ENV);
}

mproc_status_t mp_spawned_bootstrap(int argc, char **argv, int *is_child,
                                    void **blob, size_t *len) {
  (void)argc; /* the environment says it, whatever argv the program passes */
  (void)argv;
  *is_child = 0;
  if (spawn_location[0] == '\0') return MPROC_OK;
  char location[sizeof spawn_location];
  memcpy(location, spawn_location, sizeof location);
  spawn_location[0] = '\0'; /* read once */
  int boot_fd, sentinel_fd, die_with_parent;
  long parent_pid;
  char tail;
  if (sscanf(location, "%d:%d:%d:%ld%c", &boot_fd, &sentinel_fd,
             &die_with_parent, &parent_pid, &tail) != 4 ||
      boot_fd < 0 || sentinel_fd < 0)
    return mp_fail(MPROC_ESPAWN, "bootstrap: malformed %s=%s", SPAWN_ENV,
                   location);
  *is_child = 1;
  /* Decided by the parent; before the task runs. */
  if (die_with_parent) mp_posix_child_die_with_parent(parent_pid);
  /* Keep the sentinel open for life, but out of programs we exec. */
  fcntl(sentinel_fd, F_SETFD, FD_CLOEXEC);
  own_sentinel_fd = sentinel_fd;
  uint64_t size;
  int err = mp_posix_read_full(boot_fd, &size, sizeof size);
  if (err == 0 && size > MAX_BOOTSTRAP) err = EMSGSIZE;
  void *buf = NULL;
  if (err == 0) {
    buf = malloc(size ? (size_t)size : 1);
    if (buf == NULL) err = ENOMEM;
  }
  if (err == 0) err = mp_posix_read_full(boot_fd, buf, (size_t)size);
  close(boot_fd);
  if (err != 0) {
    free(buf);
    return mp_fail_errno(MPROC_ESPAWN, err, "bootstrap: reading from parent");
  }
  *blob = buf;
  *len = (size_t)size;
  return MPROC_OK;
}

/* The exit code of a wait status that says the child ended: its exit
 * status, or minus the signal that killed it. */
static int decode_exit(int status) {
  return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

/* Collects the exit status if the child has ended, without blocking:
 * MPROC_OK (ended), MPROC_ETIMEDOUT (still running) or MPROC_ESYS. Two
 * threads may get here for one child (join in one, active_children in
 * another): the reap lock makes the second see the first one's result
 * instead of failing with ECHILD. Never blocking matters: a child whose
 * sentinel closed early (it exec'd, or closed all its descriptors) still
 * runs, and the lock must not be held while it does.
 *
 * waitpid() and not apr_proc_wait(): APR always asks for WUNTRACED, so a
 * stopped child (SIGSTOP, Ctrl-Z) came back as APR_EGENERAL, an error,
 * where it is simply still running. Without WUNTRACED or WCONTINUED only
 * the end of the child is reported. */
static mproc_status_t try_reap(mp_child_t *c) {
  mproc_status_t st = MPROC_OK;
  mp_posix_reap_lock();
  if (c->reaping) {
    st = MPROC_ETIMEDOUT; /* its reaper tells, once it ended */
  } else if (!c->ended) {
    int status = 0;
    pid_t got;
    while ((got = waitpid(c->proc.pid, &status, WNOHANG)) < 0 &&
           errno == EINTR) {
    }
    if (got == c->proc.pid) {
      c->exitcode = decode_exit(status);
      c->ended = 1;
    } else if (got == 0) {
      st = MPROC_ETIMEDOUT;
    } else {
      st = mp_fail_errno(MPROC_ESYS, errno, "waitpid %ld", (long)c->proc.pid);
    }
  }
  mp_posix_reap_unlock();
  return st;
}

/* Sleeps until the child has ended, without reaping it (try_reap does that
 * under the reap lock, which must not be held while we sleep). WEXITED
 * only: a stop or a continue of the child does not wake it. For a wait
 * without a timeout this beats polling the sentinel, which woke us when the
 * child closed its files, before it could be reaped: two wake-ups per
 * child. Any error (ECHILD: another thread reaped it) is left for
 * try_reap to sort out. */
static void await_end(const mp_child_t *c) {
  siginfo_t info;
  while (waitid(P_PID, (id_t)c->proc.pid, &info, WEXITED | WNOWAIT) != 0 &&
         errno == EINTR) {
  }
}

/* How long a child whose sentinel closed may take to become reapable
 * before a wait whose time is up says it still runs (once per child). Exiting takes
 * microseconds; a child that exec'd (its sentinel is close-on-exec) runs
 * on, and only this long is lost on it. */
#define EXIT_GRACE_SECONDS 0.05

/* Waits with a deadline: on the sentinel first, then (it closed but the
 * child is not reapable yet: still exiting, or it exec'd) in short sleeps
 * growing from 20 us, trying to reap between them. */
static mproc_status_t wait_until(mp_child_t *c, double timeout) {
  const double deadline = mp_monotonic() + timeout;
  int sentinel_closed = 0;
  double pause = 20e-6;
  for (;;) {
    mproc_status_t st = try_reap(c);
    if (st != MPROC_ETIMEDOUT) return st;
    double left = deadline - mp_monotonic();
    if (!sentinel_closed) {
      mp_handle_t h = mp_child_sentinel(c);
      st = mp_wait_handles(&h, 1, left > 0 ? left : 0, NULL, NULL);
      if (st != MPROC_OK) return st; /* ETIMEDOUT: it still runs */
      sentinel_closed = 1;
      continue;
    }
    /* The grace once per child: else each is_alive of a child that exec'd
     * took it, and active_children it for each such child, under a lock. */
    if (__atomic_load_n(&c->outlived_sentinel, __ATOMIC_RELAXED) && left <= 0)
      return MPROC_ETIMEDOUT;
    if (left + EXIT_GRACE_SECONDS <= 0) {
      __atomic_store_n(&c->outlived_sentinel, 1, __ATOMIC_RELAXED);
      return MPROC_ETIMEDOUT;
    }
    mp_sleep(pause);
    if (pause < 5e-3) pause *= 2;
  }
}

/* Waits for the child's end without a timeout, in one blocking waitpid()
 * (not a waitid(WNOWAIT) to sleep and a waitpid(WNOHANG) to reap: one
 * system call per child fewer). The reap lock is not held while blocked:
 * the thread marks the child as its to reap, so that try_reap in another
 * thread leaves it alone (it says "still running") and a second waiter
 * sleeps in await_end until the first recorded the end. Between the
 * kernel's reaping and that record a signal could only reach another
 * process if the pid were handed out again within those instructions,
 * which takes a wrap of the whole pid space: as CPython's Popen, whose
 * wait is a blocking waitpid too. */
static mproc_status_t wait_forever(mp_child_t *c) {
  for (;;) {
    mp_posix_reap_lock();
    if (c->ended) {
      mp_posix_reap_unlock();
      return MPROC_OK;
    }
    if (c->reaping) { /* another thread waits in waitpid: let it tell */
      mp_posix_reap_unlock();
      await_end(c);
      mp_sleep(20e-6); /* ECHILD at once once it reaped: do not spin */
      continue;
    }
    c->reaping = 1;
    mp_posix_reap_unlock();
    int status = 0;
    pid_t got;
    while ((got = waitpid(c->proc.pid, &status, 0)) < 0 && errno == EINTR) {
    }
    int err = got < 0 ? errno : 0;
    mp_posix_reap_lock();
    c->reaping = 0;
    if (got == c->proc.pid) {
      c->exitcode = decode_exit(status);
      c->ended = 1;
    }
    mp_posix_reap_unlock();
    if (got != c->proc.pid)
      return mp_fail_errno(MPROC_ESYS, err, "waitpid %ld", (long)c->proc.pid);
    return MPROC_OK;
  }
}

mproc_status_t mp_child_wait(mp_child_t *c, double timeout, int *exitcode) {
  if (c->via_server) return mp_posix_forkserver_wait(c, timeout, exitcode);
  mproc_status_t st = MPROC_OK;
  if (timeout < 0) {
    st = wait_forever(c);
  } else {
    st = wait_until(c, timeout);
  }
  if (st != MPROC_OK) return st;
  *exitcode = c->exitcode;
  return MPROC_OK;
}

int mp_posix_signal_number(mp_signal_t sig) {
  return sig == MP_SIGNAL_KILL || sig == MP_SIGNAL_KILL_GROUP ? SIGKILL
         : sig == MP_SIGNAL_CONTINUE                          ? SIGCONT
                                                              : SIGTERM;
}

int mp_posix_kill(pid_t pid, mp_signal_t sig) {
  int signo = mp_posix_signal_number(sig);
  /* The group only if pid leads it: never a group the child merely
   * belongs to (its parent's, ours). Called under the reap lock, so pid is
   * still the child's. */
  if (sig == MP_SIGNAL_KILL_GROUP && getpgid(pid) == pid &&
      kill(-pid, signo) == 0)
    return 0;
  return kill(pid, signo) == 0 || errno == ESRCH ? 0 : errno;
}

mproc_status_t mp_process_lead_group(void) {
  if (setpgid(0, 0) != 0)
    return mp_fail_errno(MPROC_ESYS, errno, "setpgid");
  return MPROC_OK;
}

mproc_status_t mp_child_signal(mp_child_t *c, mp_signal_t sig) {
  if (c->via_server) return mp_posix_forkserver_signal(c, sig);
  /* Under the reap lock: once reaped, the pid may belong to someone else. */
  mproc_status_t st = MPROC_OK;
  mp_posix_reap_lock();
  if (!c->ended) {
    int err = mp_posix_kill(c->proc.pid, sig);
    if (err != 0)
      st = mp_fail_errno(MPROC_ESYS, err, "kill %ld", (long)c->proc.pid);
  }
  mp_posix_reap_unlock();
  return st;
}

long mp_child_pid(const mp_child_t *c) { return (long)c->proc.pid; }

mp_handle_t mp_child_sentinel(const mp_child_t *c) {
  mp_handle_t h = {MP_HANDLE_CHILD, c->sentinel_fd};
  return h;
}

void mp_child_free(mp_child_t *c) {
  if (c == NULL) return;
  close(c->sentinel_fd);
  free(c);
}

#ifdef __linux__
/* The kernel sends the parent-death signal when the *thread* that created
 * the child ends, not the parent process: a daemon started from a worker
 * thread would die with that thread. So the handler ends the child only if
 * it was really orphaned (its parent process changed).
 *
 * The signal is SIGCONT: it is the one signal besides SIGKILL that acts on
 * a stopped process, which resumes and runs the handler; any other signal
 * would wait, pending, for someone to continue a stopped daemon whose
 * parent is gone. A SIGCONT from job control just finds the parent there.
 *
 * The orphan gets SIGTERM first, as CPython's terminate() would send, and
 * a SIGKILL after a grace period from a timer armed in the handler
 * (timer_settime is async-signal-safe; the timer is made beforehand), so
 * that a daemon that ignores or handles SIGTERM ends too. */
#define PARENT_DEATH_SIGNAL SIGCONT
#define ORPHAN_GRACE_SECONDS 2
static volatile sig_atomic_t watched_parent;
static timer_t orphan_kill_timer;

/* Async-signal-safe. */
static void end_orphaned_daemon(void) {
  const struct itimerspec at = {.it_value = {ORPHAN_GRACE_SECONDS, 0}};
  timer_settime(orphan_kill_timer, 0, &at, NULL);
  kill(getpid(), SIGTERM);
}

static void on_parent_death_signal(int sig) {
  (void)sig;
  int saved_errno = errno;
  if (getppid() != (pid_t)watched_parent) end_orphaned_daemon();
  errno = saved_errno;
}

/* A timer whose expiry is a SIGKILL to this process: SIGKILL cannot be
 * caught, ignored or held up by a stop. */
static mproc_status_t create_orphan_kill_timer(void) {
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGKILL;
  if (timer_create(CLOCK_MONOTONIC, &ev, &orphan_kill_timer) != 0)
    return mp_fail_errno(MPROC_ESYS, errno, "timer_create(orphan kill)");
  return MPROC_OK;
}

static mproc_status_t watch_parent_death(long parent_pid) {
  watched_parent = (sig_atomic_t)parent_pid;
  mproc_status_t st = create_orphan_kill_timer();
  if (st != MPROC_OK) return st;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_parent_death_signal;
  action.sa_flags = SA_RESTART; /* a thread's end must not disturb calls */
  sigemptyset(&action.sa_mask);
  if (sigaction(PARENT_DEATH_SIGNAL, &action, NULL) != 0)
    return mp_fail_errno(MPROC_ESYS, errno, "sigaction(parent-death signal)");
  /* A fork copies the caller thread's mask: make sure it can arrive. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, PARENT_DEATH_SIGNAL);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  if (prctl(PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL) != 0)
    return mp_fail_errno(MPROC_ESYS, errno, "prctl(PR_SET_PDEATHSIG)");
  return MPROC_OK;
}
#endif

mproc_status_t mp_posix_watch_parent(long parent_pid) {
#ifdef __linux__
  return watch_parent_death(parent_pid);
#else
  (void)parent_pid;
  return mp_fail(MPROC_ENOTSUP, "no parent-death signal on this OS");
#endif
}

void mp_posix_end_orphan(void) {
#ifdef __linux__
  end_orphaned_daemon();
#endif
}

void mp_posix_child_die_with_parent(long parent_pid) {
  if (mp_posix_watch_parent(parent_pid) != MPROC_OK) {
    fprintf(stderr, "mproc: %s (daemon child will outlive a killed parent)\n",
            mproc_last_error());
    return;
  }
  /* The parent may have died before prctl: we were re-parented already. */
  if ((long)getppid() != parent_pid) mp_posix_end_orphan();
}
