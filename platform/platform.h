/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform seam: everything mproc needs from an operating system, and
 * the only interface core/ is written against. One implementation per OS
 * lives beside this file (posix/, windows/); docs/porting.md says how to
 * add one and how the conformance suite proves it.
 *
 * Conventions: every call that can fail returns an mproc_status_t and, on
 * failure, records a detail with mp_fail()/mp_fail_errno() (base/error.h,
 * below this layer and core/; mp_fail_errno keeps the OS error code for
 * mproc_last_os_error()). Timeouts are in seconds; negative means no
 * limit. No call aborts. tests/platform_test drives every section.
 */
#ifndef MPROC_PLATFORM_H
#define MPROC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"

/* A call that never returns, in the standard spelling of C11 and C++11
 * (what every port's compiler reads, MSVC's included). */
#ifdef __cplusplus
#define MP_NORETURN [[noreturn]]
#else
#define MP_NORETURN _Noreturn
#endif

/* A thread-local variable reached without a call into the dynamic
 * loader: the initial-exec model where the binary format has it (ELF: a
 * few bytes of the static TLS block glibc keeps spare for libraries);
 * elsewhere the compiler's default. For the per-value hot paths only. */
#if defined(__ELF__)
#define MP_TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define MP_TLS_FAST
#endif

/* Typed OS handles. Each kind is a distinct type, because an OS waits on,
 * duplicates, passes and closes them differently (Windows: a SOCKET, a pipe
 * HANDLE, a process HANDLE, a file-mapping HANDLE); on POSIX every one is a
 * file descriptor in os. */
typedef struct {
  intptr_t os;
} mp_stream_t; /* a connected byte stream (a socket, a pipe) */
typedef struct {
  intptr_t os;
} mp_listener_t; /* a listening endpoint (local or TCP) */

/* A handle of any kind, tagged with it: the items of a wait list
 * (mp_wait_handles) and of a pass list (mp_child_spawn), and what
 * mp_shm_handle and mp_child_sentinel give. */
typedef enum {
  MP_HANDLE_NONE = 0,
  MP_HANDLE_STREAM,   /* ready: readable, or end of stream */
  MP_HANDLE_LISTENER, /* ready: a connection is pending */
  MP_HANDLE_CHILD,    /* ready: the child ended (mp_child_sentinel) */
  MP_HANDLE_SHM       /* a segment (mp_shm_handle): passed, never waited on */
} mp_handle_kind_t;
typedef struct {
  mp_handle_kind_t kind;
  intptr_t os;
} mp_handle_t;
#define MP_NO_OS_HANDLE ((intptr_t)-1)
#define MP_NO_STREAM ((mp_stream_t){MP_NO_OS_HANDLE})
#define MP_NO_LISTENER ((mp_listener_t){MP_NO_OS_HANDLE})

static inline mp_handle_t mp_stream_item(mp_stream_t s) {
  mp_handle_t h = {MP_HANDLE_STREAM, s.os};
  return h;
}
static inline mp_handle_t mp_listener_item(mp_listener_t l) {
  mp_handle_t h = {MP_HANDLE_LISTENER, l.os};
  return h;
}
static inline int mp_handle_equal(mp_handle_t a, mp_handle_t b) {
  return a.kind == b.kind && a.os == b.os;
}

/* ---- runtime ------------------------------------------------------ */

/* Starts the OS runtime (APR) once per process; argv0 helps find the
 * program's own executable for spawn. */
mproc_status_t mp_platform_init(const char *argv0);

/* Whether this OS can fork (POSIX yes, Windows no). */
int mp_platform_can_fork(void);

/* If this process was started by mp_child_spawn, reads the bootstrap bytes
 * the parent sent and returns them in a malloc'd buffer (*blob, *len) with
 * *is_child = 1. Otherwise *is_child = 0. A child must be recognised
 * whatever argc/argv the program passes to mproc_init (even 0, NULL), and
 * what the child starts must not take itself for one. Only the first call
 * can say *is_child = 1. Errors: MPROC_ESPAWN. */
mproc_status_t mp_spawned_bootstrap(int argc, char **argv, int *is_child,
                                    void **blob, size_t *len);

long mp_getpid(void);
/* Nonzero while this process's parent, parent_pid, has not exited. A
 * parent that exited but was not reaped yet counts as ended (its pid
 * still exists then). */
int mp_parent_alive(long parent_pid);
/* Nonzero while a process with this pid exists on this machine: running,
 * or ended but not yet reaped by its parent. For waiting on a process
 * this one did not start and cannot reap (the MPI executor's spawned
 * workers, children of Open MPI's daemon). */
int mp_pid_exists(long pid);
int mp_cpu_count(void);
/* The CPUs this process may run on (its affinity mask), at least 1: where
 * it is 1, spinning while another process works is wasted time. */
int mp_usable_cpu_count(void);
/* This process's resident memory in bytes (what the pool's
 * max_memory_per_child compares), or 0 when the OS does not say. */
size_t mp_process_rss(void);
/* Seconds on a monotonic clock. */
double mp_monotonic(void);
/* Sleeps at least seconds (>= 0), across signal interruptions. */
void mp_sleep(double seconds);
/* A short pause for a spin-wait loop (the CPU's pause hint). */
void mp_cpu_relax(void);
/* Writes out what stdout and stderr have buffered (fflush of each), and
 * writes nothing into stdio's state for a stream with nothing buffered:
 * before a fork that would be one more copy-on-write fault in the parent
 * and in the child. */
void mp_flush_std_streams(void);

/* ---- errors -------------------------------------------------------- */

/* Not a call of the seam but the module below it and core/ (base/error.h):
 * every failing seam call records its detail with mp_fail() or, for an OS
 * error, mp_fail_errno(status, code, ...), which keeps the code for
 * mproc_last_os_error() (errno here; GetLastError()/WSAGetLastError() on
 * Windows, whose port formats the text with FormatMessage). */

/* ---- threads, a mutex, a condition variable, once, at-fork -------- */

/* In-process only (not shared between processes: that is wait/wake and
 * owner death below). The pool's result thread, the executor and the
 * manager's server need them; core/ guards its process-wide tables with
 * mp_mutex_t and makes them fork-safe with its own at-fork hooks. */

/* A thread running fn(arg). Errors: MPROC_ENOMEM (no memory or no thread
 * left), MPROC_ESYS. */
typedef struct mp_thread mp_thread_t;
mproc_status_t mp_thread_create(mp_thread_t **out, void (*fn)(void *arg),
                                void *arg);
/* Waits for the thread to end and releases t. Errors: MPROC_ESYS (then t
 * is kept: joined from itself, or already joined). */
mproc_status_t mp_thread_join(mp_thread_t *t);
/* Best effort, never fails: names the calling thread where the OS shows
 * names (debuggers, ps, top; Linux keeps the first 15 bytes). */
void mp_thread_set_os_name(const char *name);
/* The calling thread's name as the OS keeps it, into buf (size > 0);
 * "" where the OS keeps none. */
void mp_thread_os_name(char *buf, size_t size);

/* A mutex (not recursive) and a condition variable, in storage sized for
 * every port; MP_MUTEX_INIT / MP_COND_INIT (zeros) initialise a static or
 * a new one, which is set up on first use and cannot fail. */
typedef struct {
  union {
    uint64_t align_;
    unsigned char bytes_[64];
  } u_;
} mp_mutex_t;
typedef struct {
  union {
    uint64_t align_;
    unsigned char bytes_[64];
  } u_;
} mp_cond_t;
#define MP_MUTEX_INIT {{0}}
#define MP_COND_INIT {{0}}
void mp_mutex_lock(mp_mutex_t *m);
void mp_mutex_unlock(mp_mutex_t *m);
/* Of an unlocked mutex nobody uses any more; it may be used again after
 * (as if MP_MUTEX_INIT). A static one needs none. */
void mp_mutex_destroy(mp_mutex_t *m);
/* Releases m (held by the caller), sleeps until signalled or timeout
 * seconds (negative: no limit, on a monotonic clock), takes m again. May
 * return MPROC_OK spuriously. Errors: MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mp_cond_wait(mp_cond_t *c, mp_mutex_t *m, double timeout);
void mp_cond_signal(mp_cond_t *c);
void mp_cond_broadcast(mp_cond_t *c);
void mp_cond_destroy(mp_cond_t *c);

/* Runs fn once per process for once (MP_ONCE_INIT); concurrent callers
 * return after it ran. A forked child inherits the "ran" state. */
typedef struct {
  int state_;
} mp_once_t;
#define MP_ONCE_INIT {0}
void mp_once(mp_once_t *once, void (*fn)(void));

/* Hooks run around every fork() of this process (the program's own too):
 * prepare in the parent before (hooks registered later run first), parent
 * and child after, in each (registration order). Where the OS cannot fork
 * they are never called. Errors: MPROC_ENOMEM. */
mproc_status_t mp_atfork_register(void (*prepare)(void), void (*parent)(void),
                                  void (*child)(void));

/* ---- children ----------------------------------------------------- */

typedef struct mp_child mp_child_t;

/* What a forked child runs; its return value is the exit code. */
typedef int (*mp_fork_main_fn)(void *ctx);

/* die_with_parent (mp_child_fork, mp_child_spawn, mp_child_forkserver):
 * nonzero makes the child end when its parent process dies, any way
 * (SIGKILL too), even if it ignores a termination request or is stopped.
 * The platform arranges it in the child before child code runs (POSIX:
 * PR_SET_PDEATHSIG; Windows: a Job Object), and a parent that died before
 * that was arranged ends the child at once. Where the OS cannot do it the
 * child still starts and says so on its standard error. */

/* Forks. In the child, calls child_main(ctx) and ends the process with its
 * result (at once: no atexit handlers, no stdio flush): this call never
 * returns there.
 * Errors: MPROC_ENOTSUP (no fork on this OS), MPROC_ESYS, MPROC_ENOMEM. */
mproc_status_t mp_child_fork(mp_child_t **out, mp_fork_main_fn child_main,
                             void *ctx, int die_with_parent);

/* Starts a fresh copy of the program's own executable that receives blob
 * through mp_spawned_bootstrap, and inherits the npass typed handles in
 * pass (streams, listeners and segments, at the same os values: POSIX
 * descriptors, Windows inheritable handles), and nothing else beyond
 * standard input/output/error. Errors: MPROC_EINVAL (a child handle in
 * pass), MPROC_ESPAWN, MPROC_ESYS, MPROC_ENOMEM. */
mproc_status_t mp_child_spawn(mp_child_t **out, const void *blob, size_t len,
                              const mp_handle_t *pass, size_t npass,
                              int die_with_parent);

/* Waits up to timeout seconds for the child to end; a stopped child has
 * not ended (it is still running). On MPROC_OK *exitcode
 * holds its exit status, or minus the signal number that ended it. Once
 * the child ended, later calls return the same code at once.
 * Errors: MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mp_child_wait(mp_child_t *c, double timeout, int *exitcode);

typedef enum {
  MP_SIGNAL_TERMINATE,
  MP_SIGNAL_KILL,
  MP_SIGNAL_CONTINUE,
  MP_SIGNAL_KILL_GROUP
} mp_signal_t;
/* Asks (TERMINATE, SIGTERM) or forces (KILL, SIGKILL) the child to end, or
 * resumes it if it was stopped (CONTINUE, SIGCONT; a no-op where processes
 * cannot be stopped). KILL ends a stopped child too. KILL_GROUP is KILL
 * for the child and, if it leads a group (mp_process_lead_group), every
 * process of its group: the children it started (POSIX: SIGKILL to the
 * process group; Windows: its Job Object). A child that already ended is
 * not an error. Errors: MPROC_ESYS. */
mproc_status_t mp_child_signal(mp_child_t *c, mp_signal_t sig);
/* Makes the calling process lead a group of its own that the processes it
 * starts from now on join (POSIX: setpgid(0, 0); Windows: a Job Object
 * its children are assigned to), so that its parent can end them all with
 * MP_SIGNAL_KILL_GROUP. Errors: MPROC_ENOTSUP, MPROC_ESYS. */
mproc_status_t mp_process_lead_group(void);

long mp_child_pid(const mp_child_t *c);
/* A handle of kind MP_HANDLE_CHILD that becomes ready (mp_wait_handles)
 * when the child ends (POSIX: a pipe only the child writes; Windows: the
 * process HANDLE). It belongs to c: valid until mp_child_free. */
mp_handle_t mp_child_sentinel(const mp_child_t *c);
/* Releases the platform's part of a child; the caller made sure it ended. */
void mp_child_free(mp_child_t *c);

/* ---- waiting ------------------------------------------------------ */

/* Waits until one of n typed handles is ready (a stream readable or at its
 * end, a listener with a pending connection, a child ended) or the timeout
 * expires. ready[i] (may be NULL) is set to 0/1. Windows waits on each
 * kind its own way (WSAPoll for sockets, a wait on process HANDLEs, a
 * peek for pipes). Errors: MPROC_ETIMEDOUT, MPROC_EINVAL (a bad handle, a
 * segment), MPROC_ESYS. */
mproc_status_t mp_wait_handles(const mp_handle_t *h, size_t n, double timeout,
                               int *ready, size_t *nready);

/* ---- shared memory ------------------------------------------------ */

typedef struct mp_shm mp_shm_t;

/* A new zero-filled shared mapping of size bytes that lives only as long
 * as some process maps it or holds its handle: nothing is left behind when
 * every user exits, even by SIGKILL. Forked children share the mapping;
 * a spawned child gets it by passing mp_shm_handle() (mp_child_spawn) and
 * calling mp_shm_import(). Errors: MPROC_EINVAL (size 0), MPROC_ESYS
 * (e.g. out of descriptors, with the errno text), MPROC_ENOMEM (out of
 * memory, or a size the OS refuses to size or map). */
mproc_status_t mp_shm_create(mp_shm_t **out, size_t size);

/* Maps the segment behind an inherited handle (a spawned child's import).
 * The one import rule: it maps a duplicate of handle and leaves handle
 * itself open (the caller closes the original once, mp_handle_close), so
 * several objects imported from one segment never close each other's.
 * Errors: MPROC_EINVAL (not an open segment handle, or size not the
 * segment's), MPROC_ESYS, MPROC_ENOMEM. */
mproc_status_t mp_shm_import(mp_shm_t **out, mp_handle_t handle,
                             size_t size);

void *mp_shm_base(const mp_shm_t *shm);
size_t mp_shm_size(const mp_shm_t *shm);
/* The segment's handle (kind MP_HANDLE_SHM), owned by shm: to pass. */
mp_handle_t mp_shm_handle(const mp_shm_t *shm);
/* Closes a handle of any kind that is not owned by an object: an inherited
 * original after its imports (core/object.c). Kind MP_HANDLE_NONE or os
 * MP_NO_OS_HANDLE is ignored. */
void mp_handle_close(mp_handle_t h);
/* Unmaps and closes this process's view; the memory goes when the last
 * process lets go. */
void mp_shm_close(mp_shm_t *shm);

/* Named segments (SharedMemory). A named segment is found by its name
 * from any process of the same user. Unless persistent it lives only as
 * long as some process maps it: nothing is left behind when every user
 * exits, even by SIGKILL. A persistent one is a plain /dev/shm object
 * (CPython's, so either side can attach the other's), kept until
 * mp_named_shm_unlink. Names are 1..MP_SHM_NAME_MAX characters, no '/'.
 * create errors: MPROC_EINVAL (size 0, invalid name), MPROC_EEXIST,
 *   MPROC_ENOMEM (also a size the OS refuses), MPROC_ESYS. open errors:
 *   MPROC_EINVAL (invalid name), MPROC_ENOENT (no live segment of that
 *   name, or it was unlinked), MPROC_ENOMEM (no memory to map it),
 *   MPROC_ESYS. A search that could not look (out of descriptors) is
 *   MPROC_ESYS with the errno text, never ENOENT, and create then creates
 *   nothing. */
#define MP_SHM_NAME_MAX 200
typedef struct mp_named_shm mp_named_shm_t;
mproc_status_t mp_named_shm_create(mp_named_shm_t **out, const char *name,
                                   size_t size, int persistent);
mproc_status_t mp_named_shm_open(mp_named_shm_t **out, const char *name);
void *mp_named_shm_base(const mp_named_shm_t *shm);
size_t mp_named_shm_size(const mp_named_shm_t *shm);
/* Removes the name; later opens get MPROC_ENOENT, current users keep it.
 * Errors: MPROC_ENOENT (already unlinked), MPROC_ESYS. */
mproc_status_t mp_named_shm_unlink(mp_named_shm_t *shm);
/* Unmaps this process's view. */
void mp_named_shm_close(mp_named_shm_t *shm);
/* Writes a fresh random valid name (size >= 24) into buf. */
void mp_named_shm_random_name(char *buf, size_t size);

/* ---- process-shared wait/wake ------------------------------------- */

/* The building block of every blocking primitive: a 32-bit word in a
 * shared segment (4-byte aligned, offset + 4 <= mp_shm_size(seg)) that
 * processes sleep and wake on, named by the segment and its offset in it:
 * Linux keeps the futex on base + offset; Windows keys a named event or
 * semaphore on the segment and the offset (every process maps the segment
 * at its own address, so the address cannot be the key).
 * mp_wait_on sleeps while the word == expected, until woken or timeout
 * seconds; it may also return MPROC_OK spuriously, so callers re-check
 * their condition in a loop. Errors: MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mp_wait_on(const mp_shm_t *seg, size_t offset,
                          uint32_t expected, double timeout);
/* Wakes up to count sleepers on the word (INT32_MAX: all). */
void mp_wake(const mp_shm_t *seg, size_t offset, int count);

/* ---- owner death (docs/sync.md, "The owner-death contract") -------- */

/* A nonzero id of the calling thread, unique among the live threads of
 * every process on the machine (in one PID namespace), below 2^29 (the top
 * three bits of a lock word are flags). On Linux the kernel's thread id,
 * which is what the kernel's owner-death notice compares. Cheap: cached per
 * thread, renewed in a forked child. */
uint32_t mp_thread_id(void);

/* 0 when the thread mp_thread_id() named tid has ended (or its process is
 * a zombie), 1 while it runs or when that cannot be told. A dead thread's
 * id may be reused later by the OS; callers accept that small risk. */
int mp_thread_alive(uint32_t tid);

/* How many times this process called mp_thread_alive: tests tell the OS's
 * owner-death notice from polling with it. */
uint64_t mp_thread_alive_calls(void);

/* A process-shared lock word and the room an OS needs beside it to tell of
 * its owner's death (on Linux a node of the kernel's robust futex list).
 * word: 0 free, else the owner's mp_thread_id() | flags:
 *   MP_OWNER_WAITERS    someone may sleep on the word (wake on release);
 *   MP_OWNER_DIED       set by the OS, with the id cleared, when the
 *                       tracked owner ended holding it; the OS then wakes
 *                       one sleeper (if MP_OWNER_WAITERS was set);
 *   MP_OWNER_UNTRACKED  the holder's death will not be told by the OS
 *                       (mp_owner_take could not track it): waiters poll
 *                       mp_thread_alive.
 * Everything but word belongs to the platform; zero it all to initialize.
 * 8-byte aligned, in memory every process maps. */
#define MP_OWNER_WAITERS 0x80000000u
#define MP_OWNER_DIED 0x40000000u
#define MP_OWNER_UNTRACKED 0x20000000u
#define MP_OWNER_ID_MASK 0x1fffffffu

typedef struct {
  uint32_t word;
  uint32_t os_u32;
  uint64_t os_u64[4];
} mp_owned_word_t;

/* Every change of owner goes through these two, which keep the OS's record
 * in step with the word (on Linux: the word joins the caller's robust list
 * while it holds it, and the list's "pending" slot covers the moment in
 * between, so a death at any point is told).
 * mp_owner_take: one compare-and-swap of the word from *expected to
 * mp_thread_id() | flags; 1 if it took it, else 0 with *expected set to
 * the word seen. If the OS cannot tell of the caller's death while it
 * holds w (no OS support, or w's bookkeeping still belongs to another live
 * thread because a Lock was released by a thread that did not acquire it),
 * the word also gets MP_OWNER_UNTRACKED and every sleeper is woken, so
 * that they poll mp_thread_alive instead.
 * mp_owner_clear: one exchange of the word to 0; returns the old word. By
 * the holder or, for a Lock, any thread: a non-holder first waits (briefly:
 * the holder is between its swap and the end of its bookkeeping). */
int mp_owner_take(mp_owned_word_t *w, uint32_t *expected, uint32_t flags);
uint32_t mp_owner_clear(mp_owned_word_t *w);
/* Before this process unmaps w: drops the caller's bookkeeping of w.
 * Returns 0 if the memory must stay mapped (another live thread of this
 * process still has w in its OS list: unmapping it would corrupt that
 * list), 1 if it may go. If the caller still holds w, sets
 * MP_OWNER_UNTRACKED (its death can no longer be told). */
int mp_owner_detach(mp_owned_word_t *w);

/* ---- asymmetric fences ------------------------------------------- */

/* A barrier that lets a path which runs often pay nothing for a rare one
 * (core/queue.c: a side's sole user goes without its lock, and a second
 * user takes the side over). The frequent side stores A and then loads B
 * with only a compiler fence (__atomic_signal_fence) between them; the
 * rare side stores B, calls mp_remote_barrier, then loads A: either it
 * sees A's store or the frequent side sees B's. The frequent side's
 * process must have joined first.
 * mp_remote_barrier_join: 1 once this process is one that mp_remote_barrier
 * reaches (cached per process, asked again in a forked child; the first
 * call may take milliseconds in a process that runs several threads), 0
 * where the OS has no such barrier: the caller must then keep to the path
 * with real fences.
 * mp_remote_barrier: a full memory barrier on every CPU that runs a thread
 * of a joined process, by the time it returns. MPROC_OK, or MPROC_ESYS. */
int mp_remote_barrier_join(void);
mproc_status_t mp_remote_barrier(void);

/* ---- streams and listeners (ipc) ---------------------------------- */

/* Streams are byte streams (Unix-domain or TCP sockets on POSIX; pipes or
 * sockets on Windows). They are created private to this process
 * (close-on-exec): a spawned child gets one only when it is passed to
 * mp_child_spawn. Writes never raise SIGPIPE. */

/* A connected pair: duplex, both ends read and write; else out[0] only
 * reads and out[1] only writes (what CPython's Pipe(duplex=False) makes:
 * os.pipe() there, a one-way socketpair here).
 * Errors: MPROC_ESYS. */
mproc_status_t mp_stream_pair(int duplex, mp_stream_t out[2]);

typedef struct {
  const void *base;
  size_t len;
} mp_iovec_t;

/* Writes every byte of the n pieces (at most 8), in order, blocking as
 * needed. Errors: MPROC_EOF (the peer closed its end), MPROC_EINVAL (more
 * than 8 pieces), MPROC_ESYS. */
mproc_status_t mp_stream_write(mp_stream_t s, const mp_iovec_t *iov,
                               size_t n);

/* Reads between 1 and n bytes, blocking until some arrive; *got = 0 means
 * the peer closed (end of stream). Errors: MPROC_ESYS. */
mproc_status_t mp_stream_read(mp_stream_t s, void *buf, size_t n,
                              size_t *got);

/* Waits until s can take a write without blocking (or is broken).
 * Errors: MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mp_stream_wait_writable(mp_stream_t s, double timeout);

/* A new stream for what s is (dup / DuplicateHandle), private to this
 * process: a spawned child's import takes one per object, so two objects
 * made from one inherited stream never close each other's.
 * Errors: MPROC_EINVAL (s is not open), MPROC_ESYS. */
mproc_status_t mp_stream_duplicate(mp_stream_t s, mp_stream_t *out);

/* Closes a stream. MP_NO_STREAM (os MP_NO_OS_HANDLE) is ignored. */
void mp_stream_close(mp_stream_t s);

/* Listening on host:port over TCP (port 0 picks a free port; *bound_port
 * says which). Errors: MPROC_EINVAL (host unknown), MPROC_ESYS (in use, no
 * permission). */
mproc_status_t mp_listen_tcp(const char *host, int port, int backlog,
                             mp_listener_t *out, int *bound_port);

/* Connects by deadline (on mp_monotonic(); negative: no limit). The
 * stream is blocking once connected.
 * Errors: MPROC_EINVAL (host unknown), MPROC_ETIMEDOUT (no answer by the
 * deadline), MPROC_ESYS (refused). */
mproc_status_t mp_connect_tcp(const char *host, int port, double deadline,
                              mp_stream_t *out);

/* Accepts one pending connection without blocking (wait first with
 * mp_wait_handles on mp_listener_item(l)). The stream is blocking.
 * Errors: MPROC_ETIMEDOUT (none pending after all), MPROC_ESYS. */
mproc_status_t mp_accept(mp_listener_t l, mp_stream_t *out);

/* Closes a listener (not what it left behind: mp_local_remove).
 * MP_NO_LISTENER is ignored. */
void mp_listener_close(mp_listener_t l);

/* ---- local endpoints ---------------------------------------------- */

/* A local endpoint is reached by an address of the platform's own form,
 * within the public address syntax (docs/ipc.md): on POSIX "unix:PATH" or
 * any text with a '/' (a Unix-domain socket), on Windows a named pipe
 * ("\\.\pipe\NAME"). Every other address is HOST:PORT, parsed by core/. */

/* Whether address names a local endpoint. */
int mp_is_local_address(const char *address);

/* A fresh local address no listener uses, in *out (malloc'd), made unique
 * by unique (core/ passes its pid, a counter and random bytes): CPython's
 * arbitrary_address. POSIX: "unix:$TMPDIR/mproc-UNIQUE" (TMPDIR unset or
 * empty: /tmp). Errors: MPROC_ENOMEM. */
mproc_status_t mp_local_default_address(const char *unique, char **out);

/* Listens on a local address (mp_is_local_address). POSIX binds a
 * Unix-domain socket, which leaves a file: the binding process removes it
 * with mp_local_remove. Errors: MPROC_EINVAL (not a local address, an
 * empty path, a path too long), MPROC_ESYS (in use, no permission). */
mproc_status_t mp_listen_local(const char *address, int backlog,
                               mp_listener_t *out);

/* Connects to a local address by deadline (as mp_connect_tcp).
 * Errors: MPROC_EINVAL (not a local address, too long), MPROC_ETIMEDOUT
 * (no answer in time, or the listener's backlog stayed full),
 * MPROC_ESYS (refused, no such endpoint). */
mproc_status_t mp_connect_local(const char *address, double deadline,
                                mp_stream_t *out);

/* Removes what listening on address left behind (POSIX: the socket file;
 * Windows: nothing). Only the process that bound it calls this. */
void mp_local_remove(const char *address);

/* ---- forkserver ---------------------------------------------------
 * A server process that forks children on request (CPython's
 * forkserver). It is a fresh copy of the program (started like a spawned
 * child: no thread or lock of the parent's), started by the first
 * mp_child_forkserver of a process and never otherwise, which then loops:
 * it takes a request (an authenticated one only), forks, and the child
 * runs mp_spawned_main_fn on the request's bootstrap bytes with the
 * request's handles at the values they had in the parent. The server
 * ends when the process that started it does (any way, SIGKILL too), and
 * the die_with_parent children it forked end with it. A process that
 * forks gets no share of its parent's server: the child starts its own
 * on its first request. The mp_child_t it returns works with every
 * mp_child_* call above (wait, signal, pid, sentinel, free), with the
 * same exit codes as mp_child_spawn's children. */

/* Nonzero where this OS has the forkserver method (POSIX: it needs fork
 * and descriptor passing). */
int mp_platform_can_forkserver(void);

/* Nonzero in the process mp_child_forkserver started as the server; then
 * mproc_init calls mp_forkserver_serve and never returns to main. */
int mp_forkserver_is_server(void);

/* What a forked child of the server runs: the spawned-child path on the
 * bootstrap bytes of its request (it should end the process itself; its
 * return value becomes the exit code otherwise). */
typedef int (*mp_spawned_main_fn)(const void *blob, size_t len);

/* Serves requests until the process that started the server ends; never
 * returns. Call only where mp_forkserver_is_server() says so. */
MP_NORETURN void mp_forkserver_serve(mp_spawned_main_fn child_main);

/* Has the server (started now if this process has none, or if its server
 * died) fork a child that receives blob through child_main and inherits
 * the npass handles in pass at the same values, standard output and error
 * as this process has them now, standard input from the null device, and
 * nothing else. Same shape as mp_child_spawn.
 * Errors: MPROC_ESPAWN (the server could not be started, refused the
 * request or died before answering: the message says which),
 * MPROC_ENOTSUP (no forkserver on this OS, or more handles than one
 * request can carry), MPROC_ESYS, MPROC_ENOMEM. */
mproc_status_t mp_child_forkserver(mp_child_t **out, const void *blob,
                                   size_t len, const mp_handle_t *pass,
                                   size_t npass, int die_with_parent);

/* The server's pid, or 0 when this process has none running (tests: the
 * server is started lazily). */
long mp_forkserver_pid(void);

#endif /* MPROC_PLATFORM_H */
