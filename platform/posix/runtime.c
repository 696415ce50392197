/* POSIX runtime: APR start-up, the registry lock, waiting on handles,
 * clocks and process facts. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_poll.h>
#include <apr_pools.h>
#include <apr_portable.h>
#include <apr_time.h>

#include "core/error.h"
#include "platform/platform.h"
#include "platform/posix/posix.h"

static int initialized;
static apr_pool_t *root_pool;
/* Static pthread mutexes, not apr_thread_mutex_t (APR has no static
 * initialiser): a forked child unlocks both first thing, and here that
 * needs no heap page copied and no code of libapr faulted in. */
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t reap_mutex = PTHREAD_MUTEX_INITIALIZER;
static char executable[PATH_MAX];

static void find_executable(const char *argv0) {
  ssize_t n = readlink("/proc/self/exe", executable, sizeof executable - 1);
  if (n > 0) {
    executable[n] = '\0';
    return;
  }
  /* No procfs: resolve argv[0] as the shell would have. */
  if (argv0 == NULL || realpath(argv0, executable) == NULL)
    executable[0] = '\0';
}

const char *mp_posix_executable(void) {
  return executable[0] ? executable : NULL;
}

mproc_status_t mp_platform_init(const char *argv0) {
  if (initialized) return MPROC_OK;
  apr_status_t rv = apr_initialize();
  if (rv != APR_SUCCESS) return mp_fail_errno(MPROC_ESYS, rv, "apr_initialize");
  if (apr_pool_create(&root_pool, NULL) != APR_SUCCESS)
    return mp_fail(MPROC_ESYS, "cannot create the root memory pool");
  find_executable(argv0);
  initialized = 1;
  return MPROC_OK;
}

int mp_platform_can_fork(void) { return 1; }

void mp_registry_lock(void) { pthread_mutex_lock(&registry_mutex); }
void mp_registry_unlock(void) { pthread_mutex_unlock(&registry_mutex); }
void mp_posix_reap_lock(void) { pthread_mutex_lock(&reap_mutex); }
void mp_posix_reap_unlock(void) { pthread_mutex_unlock(&reap_mutex); }

long mp_getpid(void) { return (long)getpid(); }

int mp_pid_alive(long pid) {
  return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* An exiting parent hands its children to a reaper at once, so getppid()
 * changes then, before anyone reaps the parent. */
int mp_parent_alive(long parent_pid) { return (long)getppid() == parent_pid; }

int mp_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

double mp_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mp_exit_now(int code) { _exit(code); }

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

/* Whole milliseconds, rounded up: poll() counts in milliseconds and APR
 * truncates, which would end a wait early. */
static apr_interval_time_t to_apr_interval(double seconds) {
  if (seconds < 0) return -1;
  if (seconds > 1e9) seconds = 1e9; /* ~31 years: forever enough */
  return (apr_interval_time_t)ceil(seconds * 1e3) * 1000;
}

/* At most this many handles are waited on with a stack array. */
#define WAIT_STACK 16

/* Polls until a handle is ready or the whole timeout has passed: apr_poll's
 * timeout is a maximum (it may return early), and signals interrupt it. */
static mproc_status_t poll_until(apr_pollfd_t *set, apr_int32_t n,
                                 double timeout, apr_int32_t *nready) {
  const double deadline = timeout < 0 ? -1 : mp_monotonic() + timeout;
  for (;;) {
    apr_status_t rv = apr_poll(set, n, nready, to_apr_interval(timeout));
    if (rv == APR_SUCCESS) return MPROC_OK;
    if (!APR_STATUS_IS_TIMEUP(rv) && !APR_STATUS_IS_EINTR(rv))
      return mp_fail_errno(MPROC_ESYS, rv, "apr_poll");
    if (deadline < 0) continue;
    timeout = deadline - mp_monotonic();
    if (timeout > 0) continue;
    if (APR_STATUS_IS_TIMEUP(rv)) return MPROC_ETIMEDOUT; /* callers word it */
    timeout = 0; /* interrupted at the deadline: one last look */
  }
}

mproc_status_t mp_wait_handles(const mp_handle_t *h, size_t n, double timeout,
                               int *ready, size_t *nready) {
  if (n > INT32_MAX) return mp_fail(MPROC_EINVAL, "wait: too many handles");
  apr_pool_t *pool;
  if (apr_pool_create(&pool, root_pool) != APR_SUCCESS)
    return mp_fail(MPROC_ENOMEM, "wait: cannot create a memory pool");
  apr_pollfd_t stack_set[WAIT_STACK];
  apr_pollfd_t *set =
      n <= WAIT_STACK ? stack_set : apr_palloc(pool, n * sizeof *set);
  mproc_status_t st = MPROC_OK;
  for (size_t i = 0; i < n && st == MPROC_OK; i++) {
    apr_os_file_t fd = (apr_os_file_t)h[i];
    memset(&set[i], 0, sizeof set[i]);
    set[i].p = pool;
    set[i].desc_type = APR_POLL_FILE;
    set[i].reqevents = APR_POLLIN;
    if (fd < 0 || apr_os_file_put(&set[i].desc.f, &fd, APR_FOPEN_READ, pool) !=
                      APR_SUCCESS)
      st = mp_fail(MPROC_EINVAL, "wait: handle %ld is not valid", (long)h[i]);
  }
  apr_int32_t count = 0;
  if (st == MPROC_OK) st = poll_until(set, (apr_int32_t)n, timeout, &count);
  size_t got = 0;
  for (size_t i = 0; i < n && st == MPROC_OK; i++) {
    if (set[i].rtnevents & APR_POLLNVAL)
      st = mp_fail(MPROC_EINVAL, "wait: handle %ld is not open", (long)h[i]);
    int is_ready = (set[i].rtnevents & (APR_POLLIN | APR_POLLHUP | APR_POLLERR)) != 0;
    if (ready) ready[i] = is_ready;
    got += (size_t)is_ready;
  }
  apr_pool_destroy(pool);
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
