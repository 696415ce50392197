/* SPDX-License-Identifier: Apache-2.0 */
/* POSIX runtime: APR start-up, the reap lock, waiting on handles,
 * clocks and process facts. */
#ifndef _GNU_SOURCE /* APR's pkg-config --cflags defines it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#ifdef __linux__
#include <stdio_ext.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_time.h>

#include "base/error.h"
#include "platform/platform.h"
#include "platform/posix/posix.h"

static int initialized;
/* A static pthread mutex, not apr_thread_mutex_t (APR has no static
 * initialiser): held across every fork by at-fork hooks registered at
 * start-up, before core/ registers its own (prepare hooks run in reverse
 * order, so core's locks are taken first: core/ reaps while holding its
 * registry lock, never the other way round). A forked child unlocks it
 * first thing, which here needs no heap page copied and no code of libapr
 * faulted in. */
static pthread_mutex_t reap_mutex = PTHREAD_MUTEX_INITIALIZER;
/* On the heap, not a PATH_MAX array here: in .bss it parted the words
 * every fork writes (the locks above and below, the pid cache) onto pages
 * of their own, each one more copy-on-write fault in the parent and in
 * the child at every fork. NULL: not found (or out of memory at init). */
static char *executable;

static void find_executable(const char *argv0) {
  executable = malloc(PATH_MAX);
  if (executable == NULL) return;
  ssize_t n = readlink("/proc/self/exe", executable, PATH_MAX - 1);
  if (n > 0) {
    executable[n] = '\0';
    return;
  }
  /* No procfs: resolve argv[0] as the shell would have. */
  if (argv0 == NULL || realpath(argv0, executable) == NULL)
    executable[0] = '\0';
}

const char *mp_posix_executable(void) {
  return executable && executable[0] ? executable : NULL;
}

/* A program started with standard input, output or error closed would
 * hand out 0, 1 or 2 for mproc's own pipes, and a spawned child's stdio
 * set-up would then overwrite them (its bootstrap read from /dev/null, its
 * output written into a sentinel). Keep them taken: /dev/null. */
static void fill_standard_descriptors(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int null_fd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null_fd >= 0 && null_fd != fd) {
      dup2(null_fd, fd);
      close(null_fd);
    }
  }
}

int mp_posix_above_stdio(int fd) {
  if (fd < 0 || fd > STDERR_FILENO) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  int err = errno;
  close(fd);
  errno = err;
  return moved;
}

mproc_status_t mp_posix_duplicate(intptr_t os, int *fd, const char *what) {
  if (os < 0 || os > INT_MAX)
    return mp_fail(MPROC_EINVAL, "%s handle %ld is not open", what, (long)os);
  int dup = fcntl((int)os, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  if (dup < 0)
    return mp_fail_errno(errno == EBADF ? MPROC_EINVAL : MPROC_ESYS, errno,
                         "duplicate %s handle %ld", what, (long)os);
  *fd = dup;
  return MPROC_OK;
}

void mp_handle_close(mp_handle_t h) {
  if (h.kind != MP_HANDLE_NONE && h.os >= 0 && h.os <= INT_MAX)
    close((int)h.os);
}

mproc_status_t mp_platform_init(const char *argv0) {
  if (initialized) return MPROC_OK;
  apr_status_t rv = apr_initialize();
  if (rv != APR_SUCCESS) return mp_fail_errno(MPROC_ESYS, rv, "apr_initialize");
  fill_standard_descriptors();
  find_executable(argv0);
  int rc = pthread_atfork(mp_posix_reap_lock, mp_posix_reap_unlock,
                          mp_posix_reap_unlock);
  if (rc != 0) return mp_fail_errno(MPROC_ENOMEM, rc, "pthread_atfork");
  initialized = 1;
  return MPROC_OK;
}

int mp_platform_can_fork(void) { return 1; }

void mp_posix_reap_lock(void) { pthread_mutex_lock(&reap_mutex); }
void mp_posix_reap_unlock(void) { pthread_mutex_unlock(&reap_mutex); }

/* getpid() is a system call, and mproc asks for its own pid several times
 * per process it starts (creator checks, bookkeeping): cached, and
 * forgotten in every forked child by an atfork handler (registered at the
 * first call, so forks the program makes itself are covered too; a raw
 * clone() without fork() is not, as with glibc's own caches). */
static long cached_pid; /* __atomic builtins */
static pthread_once_t pid_cache_once = PTHREAD_ONCE_INIT;

static void forget_pid(void) {
  __atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED);
}

static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_pid); }

long mp_getpid(void) {
  long pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
  if (pid != 0) return pid;
  pthread_once(&pid_cache_once, watch_forks);
  pid = (long)getpid();
  __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
  return pid;
}

/* An exiting parent hands its children to a reaper at once, so getppid()
 * changes then, before anyone reaps the parent. */
int mp_parent_alive(long parent_pid) {
  int alive;
  if (mp_posix_forkserver_parent_alive(parent_pid, &alive)) return alive;
  return (long)getppid() == parent_pid;
}

int mp_pid_exists(long pid) {
  if (pid <= 0) return 0;
  return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int mp_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int mp_usable_cpu_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return mp_cpu_count();
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

/* __fpending (<stdio_ext.h> of glibc and musl) reads the buffer pointers
 * without a lock: fflush took the stream's lock and reset its offset, two
 * writes into libc's pages even with nothing to write. Elsewhere (macOS
 * has no __fpending) a plain fflush. */
static void flush_if_pending(FILE *f) {
#ifdef __linux__
  if (__fpending(f) == 0) return;
#endif
  fflush(f);
}

void mp_flush_std_streams(void) {
  flush_if_pending(stdout);
  flush_if_pending(stderr);
}

size_t mp_process_rss(void) {
  /* Linux: the second field of /proc/self/statm, in pages. */
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long size = 0, resident = 0;
  char *p = buf, *end;
  size = strtoul(p, &end, 10);
  if (end == p) return 0;
  p = end;
  resident = strtoul(p, &end, 10);
  if (end == p) return 0;
  (void)size;
  long page = sysconf(_SC_PAGESIZE);
  return (size_t)resident * (size_t)(page > 0 ? page : 4096);
}

double mp_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mp_posix_exit_now(int code) { _exit(code); }

/* The longest single apr_sleep: its microsecond count must not overflow
 * (a huge or infinite sleep is a series of these). */
#define SLEEP_CHUNK_SECONDS 1e6

void mp_sleep(double seconds) {
  /* apr_sleep may return early on a signal: sleep until the deadline. */
  double deadline = mp_monotonic() + seconds;
  for (double left = seconds; left > 0; left = deadline - mp_monotonic()) {
    if (left > SLEEP_CHUNK_SECONDS) left = SLEEP_CHUNK_SECONDS;
    apr_sleep((apr_interval_time_t)(left * 1e6) + 1);
  }
}

/* Whole milliseconds, rounded up (poll() counts in milliseconds, and
 * truncating would end a wait early), capped to what poll() takes. */
static int to_poll_ms(double seconds) {
  if (seconds < 0) return -1;
  /* ceil() by hand: it is the only libm call, and libm is one more
   * library to map into every process (and copy at every fork). */
  double ms = seconds * 1e3;
  if (ms >= (double)INT_MAX) return INT_MAX;
  int whole = (int)ms;
  return whole + ((double)whole < ms);
}

/* At most this many handles are waited on with a stack array. */
#define WAIT_STACK 16

/* poll() may return early: a signal, or a long timeout cut to INT_MAX ms. */
mproc_status_t mp_posix_poll_until(struct pollfd *set, size_t n,
                                   double timeout) {
  const double deadline = timeout < 0 ? -1 : mp_monotonic() + timeout;
  for (;;) {
    int rc = poll(set, (nfds_t)n, to_poll_ms(timeout));
    if (rc > 0) return MPROC_OK;
    if (rc < 0 && errno != EINTR) return mp_fail_errno(MPROC_ESYS, errno, "poll");
    if (deadline < 0) continue;
    timeout = deadline - mp_monotonic();
    if (timeout > 0) continue;
    if (rc == 0) return MPROC_ETIMEDOUT; /* callers word it */
    timeout = 0; /* interrupted at the deadline: one last look */
  }
}

/* Native poll(), not apr_poll: apr_poll needs an apr_file_t per handle
 * and so a memory pool per call, and APR's pool allocator takes a global
 * mutex that has no fork handler: a child forked while another thread
 * was waiting here inherited it locked and hung in its first wait. */
mproc_status_t mp_wait_handles(const mp_handle_t *h, size_t n, double timeout,
                               int *ready, size_t *nready) {
  struct pollfd stack_set[WAIT_STACK];
  struct pollfd *set = n <= WAIT_STACK ? stack_set : malloc(n * sizeof *set);
  if (set == NULL) return mp_fail(MPROC_ENOMEM, "wait: %zu handles", n);
  mproc_status_t st = MPROC_OK;
  for (size_t i = 0; i < n && st == MPROC_OK; i++) {
    /* Every waitable kind is a descriptor here: a stream or listener
     * socket, or a child's sentinel pipe. */
    if (h[i].kind == MP_HANDLE_NONE || h[i].kind == MP_HANDLE_SHM ||
        h[i].os < 0 || h[i].os > INT_MAX)
      st = mp_fail(MPROC_EINVAL, "wait: handle %ld (kind %d) is not valid",
                   (long)h[i].os, (int)h[i].kind);
    set[i].fd = (int)h[i].os;
    set[i].events = POLLIN;
    set[i].revents = 0;
  }
  if (st == MPROC_OK) st = mp_posix_poll_until(set, n, timeout);
  size_t got = 0;
  for (size_t i = 0; i < n && st == MPROC_OK; i++) {
    if (set[i].revents & POLLNVAL)
      st = mp_fail(MPROC_EINVAL, "wait: handle %ld is not open",
                   (long)h[i].os);
    int is_ready = (set[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    if (ready) ready[i] = is_ready;
    got += (size_t)is_ready;
  }
  if (set != stack_set) free(set);
  if (st == MPROC_ETIMEDOUT && ready)
    for (size_t i = 0; i < n; i++) ready[i] = 0;
  if (nready) *nready = st == MPROC_OK ? got : 0;
  return st;
}

void mp_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}
