/*
 * The robust process-shared mutex queues use: a pthread mutex with
 * PTHREAD_PROCESS_SHARED and PTHREAD_MUTEX_ROBUST. The kernel releases it
 * when its holder dies (robust futex list), so the next locker gets
 * EOWNERDEAD even after a SIGKILL, and even while the dead holder is still
 * an unreaped zombie (which a pid-liveness check would miss). APR has no
 * robust mutex: apr_proc_mutex stays locked forever after its holder dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "core/error.h"
#include "platform/platform.h"

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(mp_robust_mutex_t),
               "mp_robust_mutex_t is too small for a pthread mutex");

static pthread_mutex_t *as_mutex(mp_robust_mutex_t *m) {
  return (pthread_mutex_t *)(void *)m->opaque;
}

mproc_status_t mp_robust_mutex_init(mp_robust_mutex_t *m) {
  pthread_mutexattr_t attr;
  int rc = pthread_mutexattr_init(&attr);
  if (rc == 0) rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = pthread_mutex_init(as_mutex(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return rc ? mp_fail_errno(MPROC_ESYS, rc, "robust mutex init") : MPROC_OK;
}

mproc_status_t mp_robust_mutex_lock(mp_robust_mutex_t *m, double timeout,
                                    int *owner_died) {
  int rc;
  *owner_died = 0;
  if (timeout < 0) {
    rc = pthread_mutex_lock(as_mutex(m));
  } else if (timeout == 0) {
    rc = pthread_mutex_trylock(as_mutex(m));
    if (rc == EBUSY) rc = ETIMEDOUT;
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (timeout > 1e9) timeout = 1e9;
    double ns = (double)ts.tv_nsec + (timeout - (double)(time_t)timeout) * 1e9;
    ts.tv_sec += (time_t)timeout + (time_t)(ns / 1e9);
    ts.tv_nsec = (long)ns % 1000000000L;
    rc = pthread_mutex_clocklock(as_mutex(m), CLOCK_MONOTONIC, &ts);
  }
  if (rc == EOWNERDEAD) {
    /* Callers keep their state consistent at every step: mark it so. */
    pthread_mutex_consistent(as_mutex(m));
    *owner_died = 1;
    return MPROC_OK;
  }
  if (rc == ETIMEDOUT) return MPROC_ETIMEDOUT;
  return rc ? mp_fail_errno(MPROC_ESYS, rc, "robust mutex lock") : MPROC_OK;
}

void mp_robust_mutex_unlock(mp_robust_mutex_t *m) {
  pthread_mutex_unlock(as_mutex(m));
}

void mp_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}
