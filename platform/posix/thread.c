/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threads, a mutex, a condition variable, once and at-fork hooks, on
 * pthreads.
 *
 * pthreads and not apr_thread_*: APR's threads, mutexes and condition
 * variables live in memory pools (a pool per object, with APR's global
 * allocator mutex, which has no fork handler), have no static initialiser
 * and no monotonic timed wait; the seam's mutex must be usable from a
 * static initialiser and inside at-fork hooks.
 *
 * mp_mutex_t and mp_cond_t are storage the header sizes for every port;
 * here they hold a state word and the pthread object, initialised on
 * first use (MP_MUTEX_INIT is all zeros, which is not
 * PTHREAD_MUTEX_INITIALIZER everywhere).
 */
#ifndef _GNU_SOURCE /* APR's pkg-config --cflags defines it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/error.h"
#include "platform/platform.h"

/* A state word: UNSET, SET, or odd while a thread runs init: 1 + 2 x the
 * fork generation it started in. A fork that caught another thread inside
 * init gives the child a word no thread of its own will ever finish: the
 * child (a later generation) sees a stale setter and starts init again,
 * where it would otherwise wait for ever. */
enum { UNSET = 0, SET = 2 };

static int fork_generation;
static pthread_once_t generation_once = PTHREAD_ONCE_INIT;

static void next_generation(void) {
  __atomic_add_fetch(&fork_generation, 1, __ATOMIC_RELAXED);
}

static void count_forks(void) { pthread_atfork(NULL, NULL, next_generation); }

static int setting_word(void) {
  int gen = __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
  return 1 + 2 * (gen & 0x3fffffff);
}

/* Runs init once on the object whose state word is *state; callers that
 * come while another runs it wait for it. */
static void once_on(int *state, void (*init)(void *), void *obj) {
  if (__atomic_load_n(state, __ATOMIC_ACQUIRE) == SET) return;
  pthread_once(&generation_once, count_forks);
  for (;;) {
    int seen = __atomic_load_n(state, __ATOMIC_ACQUIRE);
    if (seen == SET) return;
    const int mine = setting_word();
    if (seen != UNSET && seen != mine) {
      /* Its setter was a thread of a parent, before a fork. */
      __atomic_compare_exchange_n(state, &seen, UNSET, 0, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE);
      continue;
    }
    if (seen == UNSET) {
      int expected = UNSET;
      if (__atomic_compare_exchange_n(state, &expected, mine, 0,
                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        init(obj);
        __atomic_store_n(state, SET, __ATOMIC_RELEASE);
        return;
      }
      continue;
    }
    sched_yield();
  }
}

/* ---- mutex -------------------------------------------------------- */

typedef struct {
  int state;
  pthread_mutex_t m;
} posix_mutex_t;
_Static_assert(sizeof(posix_mutex_t) <= sizeof(mp_mutex_t),
               "mp_mutex_t too small for a pthread mutex");

static void mutex_init(void *p) {
  pthread_mutex_init(&((posix_mutex_t *)p)->m, NULL); /* cannot fail */
}

static pthread_mutex_t *mutex_of(mp_mutex_t *m) {
  posix_mutex_t *p = (posix_mutex_t *)(void *)m;
  once_on(&p->state, mutex_init, p);
  return &p->m;
}

void mp_mutex_lock(mp_mutex_t *m) { pthread_mutex_lock(mutex_of(m)); }
void mp_mutex_unlock(mp_mutex_t *m) { pthread_mutex_unlock(mutex_of(m)); }

void mp_mutex_destroy(mp_mutex_t *m) {
  posix_mutex_t *p = (posix_mutex_t *)(void *)m;
  if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == SET)
    pthread_mutex_destroy(&p->m);
  p->state = UNSET;
}

/* ---- condition variable ------------------------------------------- */

typedef struct {
  int state;
  pthread_cond_t c;
} posix_cond_t;
_Static_assert(sizeof(posix_cond_t) <= sizeof(mp_cond_t),
               "mp_cond_t too small for a pthread condition variable");

static void cond_init(void *p) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  /* Timed waits on the clock mp_monotonic reads: a change of the wall
   * clock neither ends nor stretches them. */
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&((posix_cond_t *)p)->c, &attr);
  pthread_condattr_destroy(&attr);
}

static pthread_cond_t *cond_of(mp_cond_t *c) {
  posix_cond_t *p = (posix_cond_t *)(void *)c;
  once_on(&p->state, cond_init, p);
  return &p->c;
}

mproc_status_t mp_cond_wait(mp_cond_t *c, mp_mutex_t *m, double timeout) {
  pthread_cond_t *cond = cond_of(c);
  pthread_mutex_t *mutex = mutex_of(m);
  if (timeout < 0) {
    pthread_cond_wait(cond, mutex);
    return MPROC_OK;
  }
  struct timespec at;
  clock_gettime(CLOCK_MONOTONIC, &at);
  if (timeout > 1e9) timeout = 1e9;
  time_t whole = (time_t)timeout;
  at.tv_sec += whole;
  at.tv_nsec += (long)((timeout - (double)whole) * 1e9);
  if (at.tv_nsec >= 1000000000L) {
    at.tv_sec++;
    at.tv_nsec -= 1000000000L;
  }
  int rc = pthread_cond_timedwait(cond, mutex, &at);
  if (rc == 0) return MPROC_OK;
  if (rc == ETIMEDOUT)
    return mp_fail(MPROC_ETIMEDOUT, "condition: not signalled in %gs",
                   timeout);
  return mp_fail_errno(MPROC_ESYS, rc, "pthread_cond_timedwait");
}

void mp_cond_signal(mp_cond_t *c) { pthread_cond_signal(cond_of(c)); }
void mp_cond_broadcast(mp_cond_t *c) { pthread_cond_broadcast(cond_of(c)); }

void mp_cond_destroy(mp_cond_t *c) {
  posix_cond_t *p = (posix_cond_t *)(void *)c;
  if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == SET)
    pthread_cond_destroy(&p->c);
  p->state = UNSET;
}

/* ---- once --------------------------------------------------------- */

typedef struct {
  void (*fn)(void);
} plain_call_t;

static void call_plain(void *p) { ((plain_call_t *)p)->fn(); }

void mp_once(mp_once_t *once, void (*fn)(void)) {
  plain_call_t call = {fn};
  once_on(&once->state_, call_plain, &call);
}

/* ---- threads ------------------------------------------------------ */

struct mp_thread {
  pthread_t id;
  void (*fn)(void *);
  void *arg;
};

static void *thread_main(void *p) {
  mp_thread_t *t = p;
  t->fn(t->arg);
  return NULL;
}

mproc_status_t mp_thread_create(mp_thread_t **out, void (*fn)(void *),
                                void *arg) {
  mp_thread_t *t = malloc(sizeof *t);
  if (t == NULL) return mp_fail(MPROC_ENOMEM, "thread: out of memory");
  t->fn = fn;
  t->arg = arg;
  int rc = pthread_create(&t->id, NULL, thread_main, t);
  if (rc != 0) {
    free(t);
    return mp_fail_errno(rc == EAGAIN ? MPROC_ENOMEM : MPROC_ESYS, rc,
                         "pthread_create");
  }
  *out = t;
  return MPROC_OK;
}

mproc_status_t mp_thread_join(mp_thread_t *t) {
  int rc = pthread_join(t->id, NULL);
  if (rc != 0) return mp_fail_errno(MPROC_ESYS, rc, "pthread_join");
  free(t);
  return MPROC_OK;
}

void mp_thread_set_os_name(const char *name) {
  char short_name[16]; /* what Linux keeps, with the NUL */
  snprintf(short_name, sizeof short_name, "%s", name);
  (void)pthread_setname_np(pthread_self(), short_name);
}

void mp_thread_os_name(char *buf, size_t size) {
  char name[64];
  if (pthread_getname_np(pthread_self(), name, sizeof name) != 0) name[0] = 0;
  snprintf(buf, size, "%s", name);
}

/* ---- at-fork hooks ------------------------------------------------ */

mproc_status_t mp_atfork_register(void (*prepare)(void), void (*parent)(void),
                                  void (*child)(void)) {
  int rc = pthread_atfork(prepare, parent, child);
  if (rc != 0) return mp_fail_errno(MPROC_ENOMEM, rc, "pthread_atfork");
  return MPROC_OK;
}
