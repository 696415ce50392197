/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threads, a mutex, a condition variable, once, at-fork hooks, on Win32.
 *
 * SRWLOCK and CONDITION_VARIABLE start as all zeros (SRWLOCK_INIT,
 * CONDITION_VARIABLE_INIT), which is what MP_MUTEX_INIT / MP_COND_INIT
 * are: nothing to set up on first use, nothing to destroy. Windows cannot
 * fork, so at-fork hooks are never called.
 */
#include "platform/windows/windows.h"

#include <process.h>
#include <stdlib.h>

#include "base/error.h"

_Static_assert(sizeof(SRWLOCK) <= sizeof(mp_mutex_t), "mp_mutex_t too small");
_Static_assert(sizeof(CONDITION_VARIABLE) <= sizeof(mp_cond_t),
               "mp_cond_t too small");

static SRWLOCK *srw(mp_mutex_t *m) { return (SRWLOCK *)(void *)m; }
static CONDITION_VARIABLE *cv(mp_cond_t *c) {
  return (CONDITION_VARIABLE *)(void *)c;
}

void mp_mutex_lock(mp_mutex_t *m) { AcquireSRWLockExclusive(srw(m)); }
void mp_mutex_unlock(mp_mutex_t *m) { ReleaseSRWLockExclusive(srw(m)); }
void mp_mutex_destroy(mp_mutex_t *m) { (void)m; }

mproc_status_t mp_cond_wait(mp_cond_t *c, mp_mutex_t *m, double timeout) {
  if (SleepConditionVariableSRW(cv(c), srw(m), mp_win_ms(timeout), 0))
    return MPROC_OK;
  DWORD err = GetLastError();
  if (err == ERROR_TIMEOUT)
    return mp_fail(MPROC_ETIMEDOUT, "condition: not signalled in %gs",
                   timeout);
  return mp_win_fail(MPROC_ESYS, err, "SleepConditionVariableSRW");
}

void mp_cond_signal(mp_cond_t *c) { WakeConditionVariable(cv(c)); }
void mp_cond_broadcast(mp_cond_t *c) { WakeAllConditionVariable(cv(c)); }
void mp_cond_destroy(mp_cond_t *c) { (void)c; }

/* 0 unset, 1 running, 2 done. */
void mp_once(mp_once_t *once, void (*fn)(void)) {
  if (__atomic_load_n(&once->state_, __ATOMIC_ACQUIRE) == 2) return;
  int expected = 0;
  if (__atomic_compare_exchange_n(&once->state_, &expected, 1, 0,
                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    fn();
    __atomic_store_n(&once->state_, 2, __ATOMIC_RELEASE);
    return;
  }
  while (__atomic_load_n(&once->state_, __ATOMIC_ACQUIRE) != 2) Sleep(0);
}

mproc_status_t mp_atfork_register(void (*prepare)(void), void (*parent)(void),
                                  void (*child)(void)) {
  (void)prepare;
  (void)parent;
  (void)child;
  return MPROC_OK;
}

struct mp_thread {
  HANDLE handle;
  void (*fn)(void *);
  void *arg;
};

static unsigned __stdcall thread_main(void *p) {
  mp_thread_t *t = p;
  t->fn(t->arg);
  return 0;
}

mproc_status_t mp_thread_create(mp_thread_t **out, void (*fn)(void *),
                                void *arg) {
  mp_thread_t *t = malloc(sizeof *t);
  if (t == NULL) return mp_fail(MPROC_ENOMEM, "thread: out of memory");
  t->fn = fn;
  t->arg = arg;
  /* _beginthreadex, not CreateThread: the C runtime's per-thread state. */
  uintptr_t h = _beginthreadex(NULL, 0, thread_main, t, 0, NULL);
  if (h == 0) {
    free(t);
    return mp_fail(MPROC_ENOMEM, "thread: _beginthreadex failed");
  }
  t->handle = (HANDLE)h;
  *out = t;
  return MPROC_OK;
}

/* Names are kept by core/ (mproc_thread_name); the OS side is left out:
 * SetThreadDescription is Windows 10's, and wine's keeps nothing. */
void mp_thread_set_os_name(const char *name) { (void)name; }

void mp_thread_os_name(char *buf, size_t size) {
  if (size > 0) buf[0] = '\0';
}

mproc_status_t mp_thread_join(mp_thread_t *t) {
  if (GetThreadId(t->handle) == GetCurrentThreadId())
    return mp_fail(MPROC_ESYS, "thread: joined from itself");
  if (WaitForSingleObject(t->handle, INFINITE) != WAIT_OBJECT_0)
    return mp_win_fail(MPROC_ESYS, GetLastError(), "thread join");
  CloseHandle(t->handle);
  free(t);
  return MPROC_OK;
}
