/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the synchronization primitives need from Linux beyond futexes:
 * thread ids that identify a lock's owner across processes, telling
 * whether such an owner still lives, and having the kernel tell of an
 * owner's death at once (the robust futex list).
 *
 * Native calls, not APR: APR has no notion of kernel thread ids (its
 * apr_os_thread_current is a pthread_t, meaningless in another process),
 * no way to ask whether another process's thread runs, and no robust
 * futexes.
 *
 * Owner death. Each thread has one robust list registered with the kernel
 * (set_robust_list); at the thread's death (or exec) the kernel walks it
 * and, for each futex word whose owner id is that thread's id, sets
 * FUTEX_OWNER_DIED (clearing the id) and wakes one waiter. glibc registers
 * its own list head for every thread (for PTHREAD_MUTEX_ROBUST mutexes);
 * registering ours would unregister glibc's, and the head carries one
 * futex offset for all entries. So a lock word's node joins glibc's list,
 * laid out like the list node of a pthread_mutex_t (prev, next, at the
 * same distance from the word), linked and unlinked exactly as glibc does
 * (nptl/descr.h ENQUEUE_MUTEX_BOTH/DEQUEUE_MUTEX). The layout is checked at
 * compile time against <pthread.h> and at run time against the head's
 * futex offset; if either differs, nothing is tracked and waiters poll.
 *
 * A node can be in one list only. A Lock may be released by a thread that
 * did not acquire it, which cannot touch the acquirer's list: the node then
 * stays there (linker_* name that thread) until it acquires and releases
 * the lock again or ends. A thread that takes the lock meanwhile is
 * untracked (MP_OWNER_UNTRACKED: its waiters poll).
 */
#ifndef _GNU_SOURCE /* APR's pkg-config --cflags defines it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "platform/platform.h"
#include "platform/posix/posix.h"

/* mp_owned_word_t as this platform uses it. */
typedef struct {
  uint32_t word;
  uint32_t linker_tid;   /* the thread whose robust list holds the node */
  uint64_t linker_token; /* its token (0: in no list): ids are reused */
  uint32_t linker_pid;
  uint32_t linker_ns; /* its PID namespace: ids mean nothing across them */
  void *prev;         /* the node: glibc's __pthread_list_t */
  void *next;         /* what list entries point at */
} robust_word_t;

_Static_assert(sizeof(robust_word_t) == sizeof(mp_owned_word_t),
               "robust_word_t is mp_owned_word_t");
_Static_assert(offsetof(robust_word_t, word) == 0, "word first");

#if defined(__GLIBC__) && defined(__PTHREAD_MUTEX_HAVE_PREV) && \
    __PTHREAD_MUTEX_HAVE_PREV
#define MP_ROBUST_LIST 1
/* The kernel finds a word at entry + futex_offset, glibc's entries being
 * &mutex->__data.__list.__next: ours must sit at the same distance. */
#define GLIBC_FUTEX_OFFSET                            \
  ((long)offsetof(pthread_mutex_t, __data.__lock) - \
   (long)offsetof(pthread_mutex_t, __data.__list.__next))
_Static_assert((long)offsetof(robust_word_t, word) -
                       (long)offsetof(robust_word_t, next) ==
                   GLIBC_FUTEX_OFFSET,
               "node at glibc's distance from the word");
_Static_assert(offsetof(robust_word_t, next) -
                       offsetof(robust_word_t, prev) ==
                   offsetof(__pthread_list_t, __next) -
                       offsetof(__pthread_list_t, __prev),
               "prev just before next, as in __pthread_list_t");
#else
#define MP_ROBUST_LIST 0
#endif

/* ---- the calling thread ------------------------------------------- */

typedef struct {
  uint32_t tid; /* 0: not looked up yet */
  uint32_t pid;
  uint32_t ns;
  uint64_t token;
  struct robust_list_head *head; /* NULL: nothing is tracked */
} thread_self_t;

/* Looked up once per thread (system calls). A forked child is a new
 * thread whose copy names its parent's thread, so the fork handler clears
 * it; the child's glibc registered a new, empty list.
 * Initial-exec TLS: every lock acquire and release reads it, and in a
 * shared library (libmproc.so) the default model makes each read a call to
 * __tls_get_addr, which measured 40 ns more per acquire+release. The 40
 * bytes come from the static TLS block, whose reserve also covers a
 * libmproc loaded with dlopen. */
static _Thread_local thread_self_t self
    __attribute__((tls_model("initial-exec")));
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void forget_self(void) { memset(&self, 0, sizeof self); }

static void install_fork_handler(void) {
  pthread_atfork(NULL, NULL, forget_self);
}

static uint32_t pid_namespace(void) {
  struct stat st;
  return stat("/proc/self/ns/pid", &st) == 0 ? (uint32_t)st.st_ino : 0;
}

/* Unique among every thread that ever held a lock word (thread ids are
 * recycled): 64 random bits. */
static uint64_t new_token(uint32_t tid) {
  uint64_t t = 0;
  if (getrandom(&t, sizeof t, GRND_NONBLOCK) != (ssize_t)sizeof t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    t = ((uint64_t)tid << 32) ^ (uint64_t)now.tv_nsec ^
        ((uint64_t)now.tv_sec << 20) ^ (uint64_t)(uintptr_t)&self;
  }
  return t != 0 ? t : 1;
}

static struct robust_list_head *tracking_head(void) {
#if MP_ROBUST_LIST
  struct robust_list_head *head = NULL;
  size_t len = 0;
  if (syscall(SYS_get_robust_list, 0, &head, &len) != 0 || head == NULL ||
      len != sizeof *head || head->futex_offset != GLIBC_FUTEX_OFFSET)
    return NULL;
  return head;
#else
  return NULL;
#endif
}

static thread_self_t *me(void) {
  if (__builtin_expect(self.tid == 0, 0)) {
    pthread_once(&fork_handler_once, install_fork_handler);
    self.pid = (uint32_t)getpid();
    self.ns = pid_namespace();
    self.head = tracking_head();
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    self.token = new_token(tid);
    self.tid = tid;
  }
  return &self;
}

uint32_t mp_thread_id(void) { return me()->tid; }

/* /proc/<tid>/stat exists for every live thread of any process (a thread
 * that is not a group leader is not listed by readdir but can be looked
 * up). A killed process that was not reaped yet is a zombie, 'Z': its
 * threads are dead even though kill(pid, 0) still succeeds. */
static int thread_alive(uint32_t tid) {
  char path[48], stat[512];
  snprintf(path, sizeof path, "/proc/%u/stat", tid);
  int fd = mp_posix_above_stdio(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? 0 : 1;
  ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return n == 0 ? 0 : 1;
  stat[n] = '\0';
  const char *end_of_name = strrchr(stat, ')'); /* the name may hold ')' */
  if (end_of_name == NULL || end_of_name[1] == '\0') return 1;
  char state = end_of_name[2];
  return !(state == 'Z' || state == 'X' || state == 'x');
}

static uint64_t alive_calls;

int mp_thread_alive(uint32_t tid) {
  __atomic_fetch_add(&alive_calls, 1, __ATOMIC_RELAXED);
  return thread_alive(tid);
}

uint64_t mp_thread_alive_calls(void) {
  return __atomic_load_n(&alive_calls, __ATOMIC_RELAXED);
}

/* ---- the robust list ---------------------------------------------- */

/* The list is the thread's own, read by the kernel only when the thread
 * is gone: like data shared with a signal handler, it needs the compiler
 * to keep the order of the stores (glibc: asm("" ::: "memory")), not
 * atomic instructions. */
#define LIST_ORDER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Entries point at a node's `next`; its `prev` is the word before (the
 * head's is glibc's robust_prev). Bit 0 of an entry marks a PI mutex. */
static void **prev_field_of(void *entry) {
  return (void **)((uintptr_t)entry & ~(uintptr_t)1) - 1;
}

/* Every store before a lock's compare-and-swap or exchange is on the fast
 * path's bill (the locked instruction waits for them): skip those that
 * change nothing, as most do when one thread takes one lock again. */
static inline void store_if_changed(void **field, void *value) {
  if (*field != value) *field = value;
}

static void set_pending(thread_self_t *t, void *entry) {
  if (t->head == NULL) return;
  LIST_ORDER();
  store_if_changed((void **)&t->head->list_op_pending, entry);
  LIST_ORDER();
}

static void link_node(robust_word_t *r, thread_self_t *t) {
  struct robust_list_head *head = t->head;
  void *first = head->list.next;
  /* The head's prev (glibc's robust_prev) is written, never read. */
  if (first != (void *)head) *prev_field_of(first) = &r->next;
  store_if_changed(&r->next, first);
  store_if_changed(&r->prev, head);
  LIST_ORDER();
  head->list.next = (struct robust_list *)&r->next;
  LIST_ORDER();
  if (r->linker_pid != t->pid) r->linker_pid = t->pid;
  if (r->linker_ns != t->ns) r->linker_ns = t->ns;
  if (__atomic_load_n(&r->linker_tid, __ATOMIC_RELAXED) != t->tid)
    __atomic_store_n(&r->linker_tid, t->tid, __ATOMIC_RELAXED);
  /* Last: what a clearing non-owner waits for (wait_settled). */
  __atomic_store_n(&r->linker_token, t->token, __ATOMIC_RELEASE);
}

static void unlink_node(robust_word_t *r, const thread_self_t *t) {
  if (r->next != (void *)t->head) *prev_field_of(r->next) = r->prev;
  *(void **)((uintptr_t)r->prev & ~(uintptr_t)1) = r->next;
  LIST_ORDER();
  /* linker_tid stays: it means nothing while the token is 0. Release: a
   * thread that then finds the node free links it only after this. */
  __atomic_store_n(&r->linker_token, 0, __ATOMIC_RELEASE);
}

/* The owner word's own wake-up (mp_wake's, on the word's address: the
 * robust list is Linux's, so is this). */
static void wake_all_on(uint32_t *word) {
  syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static void mark_untracked(robust_word_t *r) {
  uint32_t old = __atomic_fetch_or(&r->word, MP_OWNER_UNTRACKED,
                                   __ATOMIC_SEQ_CST);
  /* Sleepers may sleep without a limit, waiting for the kernel. */
  if (old & MP_OWNER_WAITERS) wake_all_on(&r->word);
}

/* Whether t may put r's node in its list: in none, or in the list of a
 * thread that ended (its list went with it; a recycled id only makes us
 * wrongly cautious). Asked only by the holder. */
enum { NODE_FREE, NODE_MINE, NODE_BUSY };

static int node_state(const robust_word_t *r, const thread_self_t *t) {
  uint64_t token = __atomic_load_n(&r->linker_token, __ATOMIC_ACQUIRE);
  if (__builtin_expect(token == 0, 1)) return NODE_FREE;
  if (token == t->token) return NODE_MINE;
  uint32_t linker = __atomic_load_n(&r->linker_tid, __ATOMIC_RELAXED);
  if (r->linker_ns == t->ns && t->ns != 0 && !thread_alive(linker))
    return NODE_FREE;
  return NODE_BUSY;
}

int mp_owner_take(mp_owned_word_t *w, uint32_t *expected, uint32_t flags) {
  robust_word_t *r = (robust_word_t *)w;
  thread_self_t *t = me();
  if (__builtin_expect(t->head == NULL, 0)) /* untracked: say so now */
    return __atomic_compare_exchange_n(&r->word, expected,
                                       t->tid | flags | MP_OWNER_UNTRACKED,
                                       0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
  /* Pending first: a death between the swap and the link is still told. */
  set_pending(t, &r->next);
  if (!__atomic_compare_exchange_n(&r->word, expected, t->tid | flags, 0,
                                   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    set_pending(t, NULL);
    return 0;
  }
  int node = node_state(r, t);
  if (__builtin_expect(node == NODE_FREE, 1)) link_node(r, t);
  /* Pending stays on the word we hold (the kernel then handles it once,
   * as pending): mp_owner_clear clears it. */
  if (__builtin_expect(node == NODE_BUSY, 0)) mark_untracked(r);
  return 1;
}

/* A non-owner clears the word: the holder may still be between its
 * compare-and-swap and the end of its bookkeeping (a few instructions, or
 * a thread descheduled there). */
static void wait_settled(robust_word_t *r, uint32_t my_tid) {
  for (unsigned spins = 0;; spins++) {
    uint32_t v = __atomic_load_n(&r->word, __ATOMIC_ACQUIRE);
    uint32_t owner = v & MP_OWNER_ID_MASK;
    if (owner == 0 || owner == my_tid || (v & MP_OWNER_UNTRACKED) ||
        (__atomic_load_n(&r->linker_token, __ATOMIC_ACQUIRE) != 0 &&
         __atomic_load_n(&r->linker_tid, __ATOMIC_RELAXED) == owner))
      return;
    if (spins >= 64) sched_yield();
  }
}

uint32_t mp_owner_clear(mp_owned_word_t *w) {
  robust_word_t *r = (robust_word_t *)w;
  thread_self_t *t = me();
  wait_settled(r, t->tid); /* at once for the holder */
  if (t->head == NULL ||
      __atomic_load_n(&r->linker_token, __ATOMIC_RELAXED) != t->token) {
    return __atomic_exchange_n(&r->word, 0, __ATOMIC_RELEASE);
  }
  /* Ours to unlink (we hold it, or took it and someone else released it).
   * Pending first: a death between the unlink and the exchange is told.
   * It stays there after (no store, and none at our next take of this
   * word): at our death the kernel finds the word not ours and at most
   * wakes a sleeper. mp_posix_forget_pending_in clears it before unmap. */
  set_pending(t, &r->next);
  unlink_node(r, t);
  return __atomic_exchange_n(&r->word, 0, __ATOMIC_RELEASE);
}

void mp_posix_forget_pending_in(const void *base, size_t size) {
  struct robust_list_head *head = me()->head;
  if (head == NULL) return;
  uintptr_t p = (uintptr_t)head->list_op_pending, b = (uintptr_t)base;
  if (p >= b && p - b < size) set_pending(&self, NULL);
}

int mp_owner_detach(mp_owned_word_t *w) {
  robust_word_t *r = (robust_word_t *)w;
  thread_self_t *t = me();
  set_pending(t, NULL); /* no pointer into memory about to go */
  uint64_t token = __atomic_load_n(&r->linker_token, __ATOMIC_RELAXED);
  if (token == 0) return 1;
  if (t->head != NULL && token == t->token) {
    unlink_node(r, t);
    if ((__atomic_load_n(&r->word, __ATOMIC_RELAXED) & MP_OWNER_ID_MASK) ==
        t->tid)
      mark_untracked(r);
    return 1;
  }
  uint32_t linker = __atomic_load_n(&r->linker_tid, __ATOMIC_RELAXED);
  return !(r->linker_pid == t->pid && r->linker_ns == t->ns &&
           thread_alive(linker));
}

/* ---- asymmetric fences -------------------------------------------- */

/* membarrier(2). GLOBAL_EXPEDITED interrupts only the CPUs that run a
 * thread of a registered process (about a microsecond); GLOBAL waits for
 * every CPU to pass through the scheduler (milliseconds) but needs no
 * registration: the fallback if the expedited command fails. Registration
 * belongs to the process's address space, so a forked child asks again:
 * the cache holds the pid it was made in (negated: the kernel said no). */
static long barrier_joined_pid;

static long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

int mp_remote_barrier_join(void) {
  long pid = mp_getpid();
  long seen = __atomic_load_n(&barrier_joined_pid, __ATOMIC_ACQUIRE);
  if (seen == pid || seen == -pid) return seen == pid;
  int ok = membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
  __atomic_store_n(&barrier_joined_pid, ok ? pid : -pid, __ATOMIC_RELEASE);
  return ok;
}

mproc_status_t mp_remote_barrier(void) {
  if (membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0 ||
      membarrier(MEMBARRIER_CMD_GLOBAL) == 0)
    return MPROC_OK;
  return mp_fail_errno(MPROC_ESYS, errno, "membarrier");
}
