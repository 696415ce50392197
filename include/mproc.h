/*
 * mproc: Python's multiprocessing model for C and C++.
 *
 * One public header. Every function returns an mproc_status_t (MPROC_OK on
 * success); mproc_strerror() names each status and mproc_last_error() gives
 * the detail of the most recent failure in the calling thread. No call
 * aborts or exits the caller. docs/api.md lists every error of every call.
 *
 * A program that uses mproc calls mproc_init(argc, argv) first thing in
 * main(): in a child created by the "spawn" start method that call runs the
 * child's task and never returns into main.
 */
#ifndef MPROC_H
#define MPROC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 1

/* ------------------------------------------------------------------ */
/* Status codes                                                        */
/* ------------------------------------------------------------------ */

typedef enum mproc_status {
  MPROC_OK = 0,
  MPROC_EINVAL,         /* a NULL or invalid argument */
  MPROC_ENOINIT,        /* mproc_init() has not been called */
  MPROC_ESTATE,         /* the object is not in a state that allows the call */
  MPROC_ENOMEM,         /* out of memory */
  MPROC_ETIMEDOUT,      /* the timeout expired before the event */
  MPROC_ENOTREGISTERED, /* the task is not registered (needed by spawn) */
  MPROC_ERUNNING,       /* the process is still running */
  MPROC_ENOTSUP,        /* not supported by this platform or start method */
  MPROC_ESYS,           /* an operating-system call failed (see last_error) */
  MPROC_ESPAWN,         /* a spawned child could not be started or bootstrapped */
  MPROC_EDAEMON,        /* daemonic processes are not allowed to have children */
  /* Shared memory and synchronization (docs/sync.md). */
  MPROC_EOWNERDEAD, /* acquired, but its previous owner died holding it */
  MPROC_EBROKEN,    /* the barrier is broken (abort, reset, timeout, action) */
  MPROC_EEXIST,     /* a shared memory segment of that name exists */
  MPROC_ENOENT,     /* no shared memory segment has that name */
  MPROC_ESTATUS_COUNT_  /* not a status: the number of statuses */
} mproc_status_t;

/* A static, never-NULL description of a status ("unknown status" if out of range). */
const char *mproc_strerror(mproc_status_t status);

/* The detail of the most recent failed call in this thread (never NULL). */
const char *mproc_last_error(void);

/* ------------------------------------------------------------------ */
/* Timeouts                                                            */
/* ------------------------------------------------------------------ */

/* Every blocking call takes a timeout in seconds: 0 polls, a negative value
 * (MPROC_FOREVER) waits without limit. NaN is MPROC_EINVAL. */
#define MPROC_FOREVER (-1.0)

/* ------------------------------------------------------------------ */
/* Library start-up and tasks                                          */
/* ------------------------------------------------------------------ */

/* Initialises mproc. Call it at the top of main(), before anything else
 * reads argv. In a child started by "spawn" it runs the child's task and
 * exits the process with the task's result: it never returns there.
 * The environment variable MPROC_START_METHOD ("fork" or "spawn"), when
 * set, chooses the default start method.
 * Errors: MPROC_EINVAL (argc < 0, or argv NULL with argc > 0),
 *         MPROC_ESYS (the runtime could not start). Calling it twice is OK. */
mproc_status_t mproc_init(int argc, char **argv);

/* A task: the code a child process runs. arg/arg_len are a copy of the
 * bytes given at creation, aligned for any type (arg is NULL when arg_len
 * is 0). The return value is the
 * child's exit code (0 for success), as exit() would make it. */
typedef int (*mproc_task_fn)(const void *arg, size_t arg_len);

/* Registers a task under a name, so that a spawned child (which re-executes
 * the program) can find it. MPROC_TASK does this at load time; a task
 * registered at run time must be registered before mproc_init() runs in
 * the child too, so prefer MPROC_TASK.
 * Errors: MPROC_EINVAL (NULL or empty name, NULL fn),
 *         MPROC_ESTATE (the name is taken by another function). */
mproc_status_t mproc_register_task(const char *name, mproc_task_fn fn);

/* Load-time registration record (used by MPROC_TASK; do not touch). */
typedef struct mproc_task_entry {
  const char *name;
  mproc_task_fn fn;
  struct mproc_task_entry *next;
} mproc_task_entry_t;
void mproc_task_entry_add_(mproc_task_entry_t *entry);

/* Defines and registers a task:
 *   MPROC_TASK(worker) { ... return 0; }
 * declares `static int worker(const void *arg, size_t arg_len)`. */
#define MPROC_TASK(fn)                                                   \
  static int fn(const void *arg, size_t arg_len);                        \
  static mproc_task_entry_t mproc_task_entry_##fn##_ = {#fn, fn, NULL};  \
  __attribute__((constructor)) static void mproc_task_register_##fn##_(  \
      void) {                                                            \
    mproc_task_entry_add_(&mproc_task_entry_##fn##_);                    \
  }                                                                      \
  static int fn(const void *arg, size_t arg_len)

/* ------------------------------------------------------------------ */
/* Start methods and contexts                                          */
/* ------------------------------------------------------------------ */

/* A context fixes the start method of the objects created through it,
 * like CPython's multiprocessing.get_context(). Contexts are static:
 * never freed. */
typedef struct mproc_context mproc_context_t;

/* Looks up a context: "fork", "spawn", or NULL for the default one.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out, unknown name),
 *         MPROC_ENOTSUP (the method does not exist on this platform). */
mproc_status_t mproc_get_context(const char *method, mproc_context_t **out);

/* The start method of a context (NULL: the default context): "fork"/"spawn".
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out). */
mproc_status_t mproc_context_method(const mproc_context_t *ctx,
                                    const char **out);

/* Sets the default start method ("fork" or "spawn").
 * Errors: MPROC_ENOINIT, MPROC_EINVAL, MPROC_ENOTSUP. */
mproc_status_t mproc_set_start_method(const char *method);

/* The names of the start methods this platform supports, NULL-terminated
 * (a static array). The first one is the platform's default. */
const char *const *mproc_all_start_methods(void);

/* ------------------------------------------------------------------ */
/* Processes                                                           */
/* ------------------------------------------------------------------ */

typedef struct mproc_process mproc_process_t;

/* A handle that becomes ready when its object finishes; for mproc_wait(). */
typedef intptr_t mproc_sentinel_t;

/* Creates a process object (not started) that will run target(arg).
 * The argument bytes are copied. ctx NULL means the default context as it
 * is when the process starts (as in CPython).
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out or target, arg NULL with
 *         arg_len > 0), MPROC_ENOMEM. */
mproc_status_t mproc_process_create(mproc_process_t **out,
                                    mproc_context_t *ctx,
                                    mproc_task_fn target, const void *arg,
                                    size_t arg_len);

/* Sets the name (copied); default "Process-N" (N:M in a child). The
 * current and parent process objects can be renamed too, as in CPython.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed), MPROC_ENOMEM. */
mproc_status_t mproc_process_set_name(mproc_process_t *p, const char *name);
/* Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed). */
mproc_status_t mproc_process_name(const mproc_process_t *p, const char **out);

/* Daemon flag: set before start. A daemon child is terminated when its
 * parent exits, and also dies if the parent is killed abruptly.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (already started, closed,
 *         or the current/parent process object). */
mproc_status_t mproc_process_set_daemon(mproc_process_t *p, int daemon);
/* Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed). */
mproc_status_t mproc_process_daemon(const mproc_process_t *p, int *out);

/* Attaches a shareable mproc object (a queue, connection, lock, shared
 * value, ...) to a process before it starts, so that its task can use it:
 * in the child, mproc_attached(i) returns the i-th attached object. Under
 * fork that is the very object; under spawn a copy bound to the same OS
 * resources. The object must stay alive until start() returns.
 * Errors: MPROC_EINVAL (NULL, or not a live mproc object), MPROC_ESTATE
 *         (started or closed), MPROC_ENOMEM. */
mproc_status_t mproc_process_attach(mproc_process_t *p, void *object);

/* In a child: the index-th object its parent attached (see above); the
 * caller casts it to the type it attached.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out, index out of range). */
mproc_status_t mproc_attached(size_t index, void **out);

/* Starts the child.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (started before, closed, or
 *         not a process this one created), MPROC_EDAEMON (the caller is a
 *         daemon child), MPROC_ENOTREGISTERED (spawn: the target is not
 *         registered, or its name is registered twice), MPROC_ESYS
 *         (fork/spawn failed), MPROC_ESPAWN (spawn: the child could not be
 *         started or read its bootstrap), MPROC_ENOMEM, or an error of
 *         an attached object's export. */
mproc_status_t mproc_process_start(mproc_process_t *p);

/* Waits up to timeout seconds for the child to end (MPROC_FOREVER: no limit).
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ESTATE (not started,
 *         closed, the current process), MPROC_ETIMEDOUT (still running:
 *         CPython returns silently here; we say so), MPROC_ESYS. */
mproc_status_t mproc_process_join(mproc_process_t *p, double timeout);

/* *out = 1 while the child runs (0 before start and after it ended).
 * For the current process it is always 1; for the parent process object,
 * whether the parent still runs.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed). */
mproc_status_t mproc_process_is_alive(mproc_process_t *p, int *out);

/* The process id. Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not started,
 * closed). */
mproc_status_t mproc_process_pid(const mproc_process_t *p, long *out);

/* The exit code once the child ended: its task's return value or exit()
 * status, or minus the signal number that killed it (-15 after terminate).
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not started, closed),
 *         MPROC_ERUNNING (still running: CPython's None). */
mproc_status_t mproc_process_exitcode(mproc_process_t *p, int *out);

/* Sends SIGTERM (terminate) or SIGKILL (kill); on Windows both end the
 * process. Signalling a child that already ended is a no-op, as in CPython.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not started, closed, not a
 *         child of this process), MPROC_ESYS. */
mproc_status_t mproc_process_terminate(mproc_process_t *p);
mproc_status_t mproc_process_kill(mproc_process_t *p);

/* A sentinel that becomes ready when the child ends, for mproc_wait().
 * Valid until close. Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not
 * started, closed, not a child). */
mproc_status_t mproc_process_sentinel(const mproc_process_t *p,
                                      mproc_sentinel_t *out);

/* Releases the object and everything it holds; p is invalid after MPROC_OK.
 * Closing a process that was never started is fine; a started one must
 * have ended (joined, or seen ended by is_alive/exitcode/wait).
 * Errors: MPROC_EINVAL (NULL, or the current/parent process object),
 *         MPROC_ERUNNING (the child still runs: nothing is released). */
mproc_status_t mproc_process_close(mproc_process_t *p);

/* The object for the calling process ("MainProcess" in the main program).
 * It is owned by mproc: do not close it. Errors: MPROC_ENOINIT, MPROC_EINVAL. */
mproc_status_t mproc_current_process(mproc_process_t **out);

/* The object for the parent process, or *out = NULL in the main program.
 * Owned by mproc: supports name, pid, is_alive, join.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL. */
mproc_status_t mproc_parent_process(mproc_process_t **out);

/* Reaps children that ended and lists the ones still alive, started by
 * this process and not closed. Writes at most cap pointers to out (out may
 * be NULL when cap is 0) and the total number alive to *count.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL count, NULL out with cap > 0). */
mproc_status_t mproc_active_children(mproc_process_t **out, size_t cap,
                                     size_t *count);

/* Sleeps for seconds (time.sleep), resuming after signal interruptions.
 * Errors: MPROC_EINVAL (negative or NaN). */
mproc_status_t mproc_sleep(double seconds);

/* The number of CPUs online. Errors: MPROC_EINVAL (NULL), MPROC_ESYS. */
mproc_status_t mproc_cpu_count(int *out);

/* Waits until at least one of n sentinels is ready, or timeout seconds.
 * ready (n entries, may be NULL) gets 1 for each ready sentinel, 0 for the
 * others; *nready (may be NULL) the number ready.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL sentinels with n > 0, NaN
 *         timeout, an invalid sentinel), MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mproc_wait(const mproc_sentinel_t *sentinels, size_t n,
                          double timeout, int *ready, size_t *nready);

/* ------------------------------------------------------------------ */
/* Synchronization primitives (docs/sync.md)                           */
/* ------------------------------------------------------------------ */
/* Process-shared Lock, RLock, Semaphore, BoundedSemaphore, Event,
 * Condition and Barrier. Each lives in shared memory that the kernel frees
 * when the last process using it exits (even by SIGKILL). A child reaches
 * one through mproc_process_attach()/mproc_attached(); under fork any
 * object created before the child started is also usable directly.
 * Every blocking call takes a timeout (see Timeouts above). An object is
 * released in the calling process by its close call; other processes keep
 * their own view. */

/* Lock (CPython's multiprocessing.Lock) and RLock (recursive). One type:
 * mproc_lock_create makes a Lock, mproc_rlock_create an RLock.
 * Beyond CPython: when a process (or thread) dies holding one, the next
 * acquirer gets MPROC_EOWNERDEAD and holds the lock (the data it guarded
 * may be inconsistent) instead of waiting forever.
 * Errors: MPROC_EINVAL (NULL out), MPROC_ENOMEM, MPROC_ESYS. */
typedef struct mproc_lock mproc_lock_t;
mproc_status_t mproc_lock_create(mproc_lock_t **out);
mproc_status_t mproc_rlock_create(mproc_lock_t **out);

/* Acquires within timeout seconds (0: try once; MPROC_FOREVER: no limit).
 * An RLock held by the calling thread is acquired again (recursion depth).
 * A Lock acquired twice by one thread waits for someone to release it,
 * as in CPython.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ETIMEDOUT,
 *         MPROC_EOWNERDEAD (acquired: the previous owner died holding it),
 *         MPROC_ESTATE (RLock recursion deeper than 2^32-1), MPROC_ESYS. */
mproc_status_t mproc_lock_acquire(mproc_lock_t *lock, double timeout);

/* Releases. A Lock may be released by any thread of any process (CPython);
 * an RLock only by its owner, once per acquire.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (a Lock that is not locked;
 *         an RLock not held by the calling thread). */
mproc_status_t mproc_lock_release(mproc_lock_t *lock);

/* *out = 1 for an RLock, 0 for a Lock. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_lock_is_recursive(const mproc_lock_t *lock, int *out);

/* Releases this process's view of the lock (not the lock if held).
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (the lock of a Value/Array:
 *         it goes with that object). */
mproc_status_t mproc_lock_close(mproc_lock_t *lock);

/* Semaphore and BoundedSemaphore (value <= MPROC_SEMAPHORE_MAX). A
 * BoundedSemaphore refuses to be released above its initial value.
 * Errors: MPROC_EINVAL (NULL out, value too large), MPROC_ENOMEM,
 *         MPROC_ESYS. */
#define MPROC_SEMAPHORE_MAX 0x7fffffffu
typedef struct mproc_semaphore mproc_semaphore_t;
mproc_status_t mproc_semaphore_create(mproc_semaphore_t **out,
                                      unsigned value);
mproc_status_t mproc_bounded_semaphore_create(mproc_semaphore_t **out,
                                              unsigned value);
/* Decrements, waiting up to timeout seconds while the value is 0.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mproc_semaphore_acquire(mproc_semaphore_t *sem,
                                       double timeout);
/* Increments and wakes one waiter.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (bounded: released more than
 *         acquired; or the value would pass MPROC_SEMAPHORE_MAX). */
mproc_status_t mproc_semaphore_release(mproc_semaphore_t *sem);
/* The current value (always available, unlike CPython on macOS).
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_semaphore_get_value(const mproc_semaphore_t *sem,
                                         unsigned *out);
/* Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_semaphore_close(mproc_semaphore_t *sem);

/* Event: a flag processes wait for.
 * create errors: MPROC_EINVAL (NULL out), MPROC_ENOMEM, MPROC_ESYS. */
typedef struct mproc_event mproc_event_t;
mproc_status_t mproc_event_create(mproc_event_t **out);
/* set wakes every waiter; clear resets the flag. Errors: MPROC_EINVAL. */
mproc_status_t mproc_event_set(mproc_event_t *event);
mproc_status_t mproc_event_clear(mproc_event_t *event);
/* Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_event_is_set(const mproc_event_t *event, int *out);
/* Waits until the flag is set: MPROC_OK when it is (CPython's True),
 * MPROC_ETIMEDOUT when the timeout expired first (CPython's False).
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mproc_event_wait(mproc_event_t *event, double timeout);
/* Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_event_close(mproc_event_t *event);

/* Condition over a Lock or RLock (lock NULL: a new RLock, as CPython).
 * A given lock is borrowed: it must outlive the condition.
 * Errors: MPROC_EINVAL (NULL out), MPROC_ENOMEM, MPROC_ESYS. */
typedef struct mproc_condition mproc_condition_t;
mproc_status_t mproc_condition_create(mproc_condition_t **out,
                                      mproc_lock_t *lock);
/* The condition's lock, for acquire/release ("with cond:").
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_condition_get_lock(const mproc_condition_t *cond,
                                        mproc_lock_t **out);
/* Shorthands for acquire/release of the condition's lock (same errors as
 * mproc_lock_acquire/mproc_lock_release). */
mproc_status_t mproc_condition_acquire(mproc_condition_t *cond,
                                       double timeout);
mproc_status_t mproc_condition_release(mproc_condition_t *cond);
/* Releases the lock (all recursion levels), waits for a notify or the
 * timeout, re-acquires the lock (without limit) and returns. The caller
 * must hold the lock.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ESTATE (the lock is not
 *         held by the calling thread), MPROC_ETIMEDOUT (not notified; the
 *         lock is held again), MPROC_EOWNERDEAD (notified or not, the lock
 *         is held again but its previous owner died holding it),
 *         MPROC_ESYS. */
mproc_status_t mproc_condition_wait(mproc_condition_t *cond, double timeout);
/* Waits until predicate(ctx) returns nonzero, checking it first and after
 * each wake-up, at most timeout seconds in all. MPROC_OK: it is true.
 * Errors: those of mproc_condition_wait; MPROC_EINVAL (NULL predicate);
 *         MPROC_ETIMEDOUT (still false at the deadline). */
typedef int (*mproc_predicate_fn)(void *ctx);
mproc_status_t mproc_condition_wait_for(mproc_condition_t *cond,
                                        mproc_predicate_fn predicate,
                                        void *ctx, double timeout);
/* Wakes at most n waiters / all waiters. The caller must hold the lock.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (lock not held). */
mproc_status_t mproc_condition_notify(mproc_condition_t *cond, size_t n);
mproc_status_t mproc_condition_notify_all(mproc_condition_t *cond);
/* Closes the condition (and the RLock it made, not a given lock).
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_condition_close(mproc_condition_t *cond);

/* Barrier for parties processes/threads. action (may be NULL) runs in the
 * last party to arrive, before the others are released, with a copy of
 * arg; a nonzero result breaks the barrier. Under spawn the action must be
 * an MPROC_TASK. timeout is the default for mproc_barrier_wait.
 * Errors: MPROC_EINVAL (NULL out, parties 0, NaN timeout, arg NULL with
 *         arg_len > 0), MPROC_ENOMEM, MPROC_ESYS. */
typedef struct mproc_barrier mproc_barrier_t;
mproc_status_t mproc_barrier_create(mproc_barrier_t **out, unsigned parties,
                                    mproc_task_fn action, const void *arg,
                                    size_t arg_len, double timeout);
/* Waits for all parties; *index (may be NULL) gets 0..parties-1, distinct
 * for each party of a round. mproc_barrier_wait uses the default timeout.
 * A wait that times out breaks the barrier (as CPython) and returns
 * MPROC_ETIMEDOUT; so a party that died never hangs the others when a
 * timeout is given.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ETIMEDOUT, MPROC_EBROKEN
 *         (broken before or while waiting: abort, reset, another party's
 *         timeout, a failed action), MPROC_ESYS. */
mproc_status_t mproc_barrier_wait(mproc_barrier_t *barrier, unsigned *index);
mproc_status_t mproc_barrier_wait_timeout(mproc_barrier_t *barrier,
                                          double timeout, unsigned *index);
/* abort: breaks it (waiters get MPROC_EBROKEN); reset: back to the empty
 * state (current waiters get MPROC_EBROKEN). Errors: MPROC_EINVAL. */
mproc_status_t mproc_barrier_abort(mproc_barrier_t *barrier);
mproc_status_t mproc_barrier_reset(mproc_barrier_t *barrier);
/* Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_barrier_parties(const mproc_barrier_t *barrier,
                                     unsigned *out);
mproc_status_t mproc_barrier_n_waiting(mproc_barrier_t *barrier,
                                       unsigned *out);
mproc_status_t mproc_barrier_broken(mproc_barrier_t *barrier, int *out);
mproc_status_t mproc_barrier_close(mproc_barrier_t *barrier);

/* ------------------------------------------------------------------ */
/* Shared values and arrays (docs/sync.md)                             */
/* ------------------------------------------------------------------ */
/* CPython's Value/Array/RawValue/RawArray with its typecodes:
 *   b B h H i I l L q Q (integers), f d (float, double), c (char).
 * The data lives in shared memory. The lock-taking variants make an RLock
 * of their own (CPython's lock=True); _with_lock ones use the given Lock
 * or RLock (borrowed: it must outlive the value); raw ones have no lock
 * (lock=False). initial (may be NULL: zeros) points to one element of the
 * typecode's C type (a Value), or length elements (an Array). */
typedef struct mproc_value mproc_value_t;
typedef struct mproc_array mproc_array_t;

/* The size in bytes of a typecode's element.
 * Errors: MPROC_EINVAL (NULL out, unknown typecode). */
mproc_status_t mproc_typecode_size(char typecode, size_t *out);

/* Errors (all creators): MPROC_EINVAL (NULL out, unknown typecode, NULL
 *         lock for _with_lock, length 0 or too large), MPROC_ENOMEM,
 *         MPROC_ESYS. */
mproc_status_t mproc_value_create(mproc_value_t **out, char typecode,
                                  const void *initial);
mproc_status_t mproc_value_create_with_lock(mproc_value_t **out,
                                            char typecode,
                                            const void *initial,
                                            mproc_lock_t *lock);
mproc_status_t mproc_raw_value_create(mproc_value_t **out, char typecode,
                                      const void *initial);
mproc_status_t mproc_array_create(mproc_array_t **out, char typecode,
                                  size_t length, const void *initial);
mproc_status_t mproc_array_create_with_lock(mproc_array_t **out,
                                            char typecode, size_t length,
                                            const void *initial,
                                            mproc_lock_t *lock);
mproc_status_t mproc_raw_array_create(mproc_array_t **out, char typecode,
                                      size_t length, const void *initial);

/* Reads/writes the value (one element of its C type) under its lock when
 * it has one, as CPython's .value.
 * Errors: MPROC_EINVAL (NULL), MPROC_EOWNERDEAD (done, but the lock's
 *         previous owner had died holding it). */
mproc_status_t mproc_value_get(mproc_value_t *value, void *out);
mproc_status_t mproc_value_set(mproc_value_t *value, const void *in);

/* get_obj: the shared storage itself, for direct typed access from C
 * (e.g. `int *n; mproc_value_get_obj(v, (void **)&n); ++*n;` under the
 * lock). Valid until close. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_value_get_obj(mproc_value_t *value, void **out);
mproc_status_t mproc_array_get_obj(mproc_array_t *array, void **out);

/* The lock (own or given). Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (a
 * raw value/array has none: CPython's AttributeError). */
mproc_status_t mproc_value_get_lock(mproc_value_t *value,
                                    mproc_lock_t **out);
mproc_status_t mproc_array_get_lock(mproc_array_t *array,
                                    mproc_lock_t **out);

/* Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_value_typecode(const mproc_value_t *value, char *out);
mproc_status_t mproc_array_typecode(const mproc_array_t *array, char *out);
mproc_status_t mproc_array_length(const mproc_array_t *array, size_t *out);

/* Beyond CPython: lock-free atomic operations on an integer value (b B h H
 * i I l L q Q), sequentially consistent, without the lock. Values are
 * carried in int64_t (unsigned 64-bit ones as their bit pattern);
 * arithmetic wraps at the element's width.
 * Errors: MPROC_EINVAL (NULL, not an integer typecode). */
mproc_status_t mproc_value_load(mproc_value_t *value, int64_t *out);
mproc_status_t mproc_value_store(mproc_value_t *value, int64_t v);
/* *old (may be NULL) gets the value before the addition. */
mproc_status_t mproc_value_fetch_add(mproc_value_t *value, int64_t delta,
                                     int64_t *old);
/* If the value equals *expected, stores desired and sets *swapped = 1;
 * otherwise sets *expected to the current value and *swapped = 0.
 * swapped may be NULL. */
mproc_status_t mproc_value_compare_exchange(mproc_value_t *value,
                                            int64_t *expected,
                                            int64_t desired, int *swapped);

/* Copies count elements starting at start out of / into the array, under
 * its lock when it has one (CPython's slicing: arr[start:start+count]).
 * Errors: MPROC_EINVAL (NULL, range outside the array), MPROC_EOWNERDEAD
 *         (done, but the lock's previous owner had died holding it). */
mproc_status_t mproc_array_read(mproc_array_t *array, size_t start,
                                size_t count, void *out);
mproc_status_t mproc_array_write(mproc_array_t *array, size_t start,
                                 size_t count, const void *in);

/* Release this process's view (and the own lock; not a given lock).
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_value_close(mproc_value_t *value);
mproc_status_t mproc_array_close(mproc_array_t *array);

/* ------------------------------------------------------------------ */
/* SharedMemory by name (docs/sync.md)                                 */
/* ------------------------------------------------------------------ */
/* CPython's multiprocessing.shared_memory.SharedMemory. Beyond CPython: no
 * resource tracker, and a segment disappears when the last process using
 * it closes it or exits, even by SIGKILL: nothing is left in /dev/shm.
 * MPROC_SHM_PERSISTENT asks for CPython's behaviour instead: a /dev/shm
 * segment that stays until mproc_shared_memory_unlink. */
#define MPROC_SHM_PERSISTENT 1
typedef struct mproc_shared_memory mproc_shared_memory_t;

/* Creates a zero-filled segment of size bytes named name (NULL: a fresh
 * random name, see mproc_shared_memory_name). A name is 1..200 characters
 * without '/' (a leading '/' is ignored, as CPython).
 * Errors: MPROC_EINVAL (NULL out, size 0, invalid name, unknown flags),
 *         MPROC_EEXIST (the name is taken), MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mproc_shared_memory_create(mproc_shared_memory_t **out,
                                          const char *name, size_t size,
                                          int flags);
/* Attaches to the existing segment called name, made by this or any other
 * process of the same user (also one made by CPython, in /dev/shm).
 * Errors: MPROC_EINVAL (NULL, invalid name), MPROC_ENOENT (no such
 *         segment, or it was unlinked), MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mproc_shared_memory_attach(mproc_shared_memory_t **out,
                                          const char *name);
/* Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_shared_memory_buf(const mproc_shared_memory_t *shm,
                                       void **out);
mproc_status_t mproc_shared_memory_size(const mproc_shared_memory_t *shm,
                                        size_t *out);
mproc_status_t mproc_shared_memory_name(const mproc_shared_memory_t *shm,
                                        const char **out);
/* Removes the name: later attaches get MPROC_ENOENT; processes that have
 * it keep using it. The memory goes with the last close/exit.
 * Errors: MPROC_EINVAL (NULL), MPROC_ENOENT (already unlinked),
 *         MPROC_ESYS. */
mproc_status_t mproc_shared_memory_unlink(mproc_shared_memory_t *shm);
/* Unmaps this process's view; shm is invalid afterwards.
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_shared_memory_close(mproc_shared_memory_t *shm);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_H */
