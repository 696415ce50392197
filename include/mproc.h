/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file
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

/** @{ */
/** The major, minor and patch numbers of this header's version. */
#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 1
#define MPROC_VERSION_PATCH 0
/** @} */
/** "MAJOR.MINOR.PATCH" of this header; mproc_version_string() is the library's. */
#define MPROC_VERSION_STRING "0.1.0"
/** MAJOR * 10000 + MINOR * 100 + PATCH of this header (compare mproc_version()). */
#define MPROC_VERSION_HEX                                                \
  (MPROC_VERSION_MAJOR * 10000 + MPROC_VERSION_MINOR * 100 + MPROC_VERSION_PATCH)

/* ------------------------------------------------------------------ */
/* Status codes                                                        */
/* ------------------------------------------------------------------ */

/** What every call returns: MPROC_OK (0) on success, else the failure. */
typedef enum mproc_status {
  MPROC_OK = 0,         /**< success */
  MPROC_EINVAL,         /**< a NULL or invalid argument */
  MPROC_ENOINIT,        /**< mproc_init() has not been called */
  MPROC_ESTATE,         /**< the object is not in a state that allows the call */
  MPROC_ENOMEM,         /**< out of memory */
  MPROC_ETIMEDOUT,      /**< the timeout expired before the event */
  MPROC_ENOTREGISTERED, /**< the task is not registered (spawn, forkserver) */
  MPROC_ERUNNING,       /**< the process is still running */
  MPROC_ENOTSUP,        /**< not supported by this platform or start method */
  MPROC_ESYS,           /**< an operating-system call failed (see last_error) */
  MPROC_ESPAWN,         /**< a spawned child could not be started or
                             bootstrapped, or the forkserver failed */
  MPROC_EDAEMON,        /**< daemonic processes are not allowed to have children */
  /* Shared memory and synchronization (docs/sync.md). */
  MPROC_EOWNERDEAD, /**< acquired, but its previous owner died holding it */
  MPROC_EBROKEN,    /**< the barrier is broken (abort, reset, timeout, action) */
  MPROC_EEXIST,     /**< a shared memory segment of that name exists */
  MPROC_ENOENT,     /**< no shared memory segment has that name */

  /* ipc: payloads, connections, listeners, queues (docs/ipc.md) */
  MPROC_EOF,            /**< the other end of the connection is closed */
  MPROC_EMSGSIZE,       /**< a message is larger than the limit or the buffer */
  MPROC_EBADMSG,        /**< a malformed message or payload */
  MPROC_EEMPTY,         /**< the queue is empty (queue.Empty) */
  MPROC_EFULL,          /**< the queue is full (queue.Full) */
  MPROC_EAUTH,          /**< authentication failed (AuthenticationError) */
  /* Pools (docs/pool.md) */
  MPROC_ETASK,          /**< a pool function failed: the worker's message is
                             in mproc_last_error() (CPython re-raises) */
  MPROC_EWORKERDIED,    /**< the pool worker running the task died (crash,
                             exit, signal): the detail names its pid and
                             exit code or signal */
  /* Executors (docs/executor.md) */
  MPROC_ECANCELLED,     /**< the future was cancelled (CancelledError) */
  /* Managers (docs/manager.md) */
  MPROC_EREMOTE,        /**< the manager's object failed the call (CPython's
                             RemoteError, KeyError, IndexError): its
                             message is in mproc_last_error() */
  MPROC_EMANAGER,       /**< the manager is gone: its server died, shut
                             down or cannot be reached */
  MPROC_ESTATUS_COUNT_  /**< not a status: the number of statuses */
} mproc_status_t;

/** A static, never-NULL description of a status ("unknown status" if out of range). */
const char *mproc_strerror(mproc_status_t status);

/** The detail of the most recent failed call in this thread (never NULL). */
const char *mproc_last_error(void);

/** The operating system's error code of the most recent failed call in this
 * thread: errno on POSIX (GetLastError() or WSAGetLastError() on Windows),
 * or 0 when that failure did not come from an OS call (a bad argument, a
 * timeout). Set by every failure, alongside mproc_last_error(). */
int mproc_last_os_error(void);

/** The symbolic name of a status ("MPROC_EEMPTY" for MPROC_EEMPTY), static
 * and never NULL ("MPROC_UNKNOWN_STATUS" if out of range). */
const char *mproc_status_name(mproc_status_t status);

/** The version of the library linked (MAJOR * 10000 + MINOR * 100 + PATCH),
 * which may differ from this header's MPROC_VERSION_HEX. */
unsigned mproc_version(void);

/** The same as a static string, "MAJOR.MINOR.PATCH" (never NULL). */
const char *mproc_version_string(void);

/* ------------------------------------------------------------------ */
/* Timeouts                                                            */
/* ------------------------------------------------------------------ */

/** Every blocking call takes a timeout in seconds: 0 polls, a negative value
 * (MPROC_FOREVER) waits without limit. NaN is MPROC_EINVAL. */
#define MPROC_FOREVER (-1.0)

/* ------------------------------------------------------------------ */
/* Library start-up and tasks                                          */
/* ------------------------------------------------------------------ */

/** Initialises mproc. Call it at the top of main(), before anything else
 * reads argv. In a child started by "spawn" it runs the child's task and
 * exits the process with the task's result: it never returns there. A
 * spawned child is recognised from its environment, not from argv: argc
 * and argv may be 0 and NULL, or an argv of the program's own (they only
 * help find the executable where /proc is missing).
 * The environment variable MPROC_START_METHOD (a name of
 * mproc_all_start_methods()), when set, chooses the default start method;
 * a spawned or forkserver child ignores it and takes its parent's
 * default, as CPython does. In the forkserver's server process (a copy of
 * the program the forkserver method starts) it serves and never returns.
 * Errors: MPROC_EINVAL (argc < 0, or argv NULL with argc > 0, or an
 *         unknown MPROC_START_METHOD), MPROC_ENOTSUP (MPROC_START_METHOD
 *         is "fork" where there is no fork), MPROC_ESYS (the runtime
 *         could not start). Calling it twice is OK. */
mproc_status_t mproc_init(int argc, char **argv);

/** A task: the code a child process runs. arg/arg_len are a copy of the
 * bytes given at creation, aligned for any type (arg is NULL when arg_len
 * is 0). The return value is the
 * child's exit code (0 for success), as exit() would make it. */
typedef int (*mproc_task_fn)(const void *arg, size_t arg_len);

/** Registers a task under a public name, so that a spawned child (which
 * re-executes the program) can find it. MPROC_TASK does this at load time;
 * a task registered at run time must be registered before mproc_init()
 * runs in the child too, so prefer MPROC_TASK. A public name belongs to
 * one function: it may not be one that MPROC_TASK or this call already
 * gave another function.
 * Errors: MPROC_EINVAL (NULL or empty name, a name with the byte 0x1f,
 *         NULL fn), MPROC_ESTATE (the
 *         name is taken by another function; the detail says where it
 *         was registered: MPROC_TASK in which file, or this call),
 *         MPROC_ENOMEM. */
mproc_status_t mproc_register_task(const char *name, mproc_task_fn fn);

/** Load-time registration record (used by MPROC_TASK; do not touch). file
 * is the source file of an MPROC_TASK, NULL for a public name. */
typedef struct mproc_task_entry {
  const char *name;              /**< the task's name */
  mproc_task_fn fn;              /**< the task's function */
  const char *file;              /**< its MPROC_TASK's file, NULL if public */
  struct mproc_task_entry *next; /**< the next record (the runtime's list) */
} mproc_task_entry_t;
void mproc_task_entry_add_(mproc_task_entry_t *entry);

struct mproc_obj;
/** A function a pool can call (docs/pool.md): one value in (the item of
 * map, the argument list of starmap, the args of apply), one value out.
 * On success it sets *out to a new value (the pool takes it; NULL means
 * None) and returns MPROC_OK. A failure returns any other status, with a
 * message set by mproc_function_error(): the caller's get() then fails
 * with MPROC_ETASK and that message in mproc_last_error(). */
typedef mproc_status_t (*mproc_function_fn)(const struct mproc_obj *in,
                                            struct mproc_obj **out);

/** Registers a pool function under a public name, so that workers started
 * by spawn or forkserver (fresh copies of the program) find it, as
 * mproc_register_task does for tasks; prefer MPROC_FUNCTION. Under fork a
 * pool can call any function, registered or not.
 * Errors: MPROC_EINVAL (NULL or empty name, a name with the byte 0x1f,
 *         NULL fn), MPROC_ESTATE (the name is taken by another function),
 *         MPROC_ENOMEM. */
mproc_status_t mproc_register_function(const char *name, mproc_function_fn fn);

/** Load-time registration record of a pool function (used by
 * MPROC_FUNCTION; do not touch). */
typedef struct mproc_function_entry {
  const char *name;                  /**< the function's name */
  mproc_function_fn fn;              /**< the function */
  const char *file;                  /**< its MPROC_FUNCTION's file, NULL if public */
  struct mproc_function_entry *next; /**< the next record (the runtime's list) */
} mproc_function_entry_t;
/** Adds a record to the runtime's list (used by MPROC_FUNCTION). */
void mproc_function_entry_add_(mproc_function_entry_t *entry);

/** Defines and registers a pool function:
 *   MPROC_FUNCTION(square) { int64_t x; ...; return mproc_obj_int(out, x * x); }
 * declares `static mproc_status_t square(const mproc_obj_t *in,
 * mproc_obj_t **out)`; workers of every start method find it by name,
 * file and order of registration, as MPROC_TASK's tasks. */
#define MPROC_FUNCTION(fn)                                                  \
  static mproc_status_t fn(const mproc_obj_t *in, mproc_obj_t **out);       \
  static mproc_function_entry_t mproc_function_record_##fn##_ = {            \
      #fn, fn, __FILE__, NULL};                                             \
  __attribute__((constructor)) static void mproc_function_register_##fn##_( \
      void) {                                                               \
    mproc_function_entry_add_(&mproc_function_record_##fn##_);               \
  }                                                                         \
  static mproc_status_t fn(const mproc_obj_t *in __attribute__((unused)),   \
                           mproc_obj_t **out __attribute__((unused)))

/** For a pool function's failure: records the formatted message (what
 * mproc_last_error() says in the caller of get()) and returns status, so
 * a function reads `return mproc_function_error(MPROC_ETASK, "bad %d", x);`.
 * Any status but MPROC_OK may be given; the caller always sees MPROC_ETASK.
 * Never fails (MPROC_OK given is returned as it is, with the message). */
mproc_status_t mproc_function_error(mproc_status_t status, const char *fmt,
                                    ...) __attribute__((format(printf, 2, 3)));

/** Defines and registers a task:
 *   MPROC_TASK(worker) { ... return 0; }
 * declares `static int worker(const void *arg, size_t arg_len)`; a body that
 * ignores arg or arg_len draws no unused-parameter warning. As the
 * function is static, several files (or one header included by several
 * files) may each define a task of the same name: a spawned child tells
 * them apart by name, file and order of registration, which are the same
 * in every process running the same program. */
#define MPROC_TASK(fn)                                                   \
  static int fn(const void *arg, size_t arg_len);                        \
  static mproc_task_entry_t mproc_task_entry_##fn##_ = {#fn, fn,         \
                                                        __FILE__, NULL}; \
  __attribute__((constructor)) static void mproc_task_register_##fn##_(  \
      void) {                                                            \
    mproc_task_entry_add_(&mproc_task_entry_##fn##_);                    \
  }                                                                      \
  static int fn(const void *arg __attribute__((unused)),                 \
                size_t arg_len __attribute__((unused)))

/* ------------------------------------------------------------------ */
/* Start methods and contexts                                          */
/* ------------------------------------------------------------------ */

/** A context fixes the start method of the objects created through it,
 * like CPython's multiprocessing.get_context(). Contexts are static:
 * never freed. */
typedef struct mproc_context mproc_context_t;

/** Looks up a context: a name of mproc_all_start_methods() ("fork",
 * "spawn", "forkserver"), or NULL for the default one. Under spawn and
 * forkserver a child is a fresh copy of the program, so targets must be
 * registered (MPROC_TASK); forkserver forks each child from a server
 * process started (from a clean state) on first use.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out, unknown name: the detail
 *         lists the platform's methods), MPROC_ENOTSUP (the method does
 *         not exist on this platform). */
mproc_status_t mproc_get_context(const char *method, mproc_context_t **out);

/** The start method of a context (NULL: the default context), e.g. "fork".
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out). */
mproc_status_t mproc_context_method(const mproc_context_t *ctx,
                                    const char **out);

/** Sets the default start method (a name of mproc_all_start_methods()).
 * Errors: MPROC_ENOINIT, MPROC_EINVAL, MPROC_ENOTSUP. */
mproc_status_t mproc_set_start_method(const char *method);

/** The names of the start methods this platform supports, NULL-terminated
 * (static storage): {"fork", "spawn", "forkserver"} on POSIX, {"spawn"}
 * without fork. The first one is the platform's default: fork, because
 * any function can be its target (spawn and forkserver need registered
 * ones), where CPython 3.14 chose forkserver. A program that starts
 * threads before its children should choose forkserver (or spawn): fork
 * in a threaded process can deadlock the child on a lock another thread
 * held. docs/architecture.md, "The default start method", says why. */
const char *const *mproc_all_start_methods(void);

/* ------------------------------------------------------------------ */
/* Processes                                                           */
/* ------------------------------------------------------------------ */

/** A process object (CPython's multiprocessing.Process). */
typedef struct mproc_process mproc_process_t;

/** A token that becomes ready when its object finishes (a process ends, a
 * connection has a message); for mproc_wait(). Opaque: it is filled only by
 * mproc_process_sentinel() and mproc_connection_sentinel(), copied by value,
 * and its fields are not part of the API (they name an OS handle of the
 * platform's own kind: a descriptor on POSIX, a HANDLE or SOCKET on Windows).
 * A zero-initialized one is invalid (mproc_wait refuses it). */
typedef struct mproc_sentinel {
  int kind_;           /**< internal: which kind of handle, 0 invalid */
  intptr_t os_;        /**< internal: the OS handle */
  const void *object_; /**< internal: the process or connection */
  uint64_t serial_;    /**< internal: that object's serial number */
} mproc_sentinel_t;

/** Creates a process object (not started) that will run target(arg).
 * The argument bytes are copied. ctx NULL means the default context as it
 * is when the process starts (as in CPython).
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out or target, arg NULL with
 *         arg_len > 0), MPROC_ENOMEM. */
mproc_status_t mproc_process_create(mproc_process_t **out,
                                    mproc_context_t *ctx,
                                    mproc_task_fn target, const void *arg,
                                    size_t arg_len);

/** Sets the name (copied); default "Process-N" (N:M in a child). The
 * current and parent process objects can be renamed too, as in CPython.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed), MPROC_ENOMEM. */
mproc_status_t mproc_process_set_name(mproc_process_t *p, const char *name);
/** Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed). */
mproc_status_t mproc_process_name(const mproc_process_t *p, const char **out);

/** Daemon flag: set before start. A daemon child is terminated when its
 * parent exits, and also dies if the parent is killed abruptly: SIGTERM,
 * then SIGKILL 2 seconds later if it ignored or survived SIGTERM (at exit
 * and on Linux after a parent's death, also when the daemon was stopped).
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (already started, closed,
 *         or the current/parent process object). */
mproc_status_t mproc_process_set_daemon(mproc_process_t *p, int daemon);
/** Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed). */
mproc_status_t mproc_process_daemon(const mproc_process_t *p, int *out);

/** Attaches a shareable mproc object (a queue, connection, lock, shared
 * value, ...) to a process before it starts, so that its task can use it:
 * in the child, mproc_attached(i) returns the i-th attached object. Under
 * fork that is the very object; under spawn a copy bound to the same OS
 * resources through handles of its own (an object attached twice is two
 * views; freeing one leaves the other's handles alone). Listeners are not
 * shareable. The object must stay alive until start() returns.
 * Errors: MPROC_EINVAL (NULL, or not a live mproc object), MPROC_ESTATE
 *         (started or closed), MPROC_ENOMEM. */
mproc_status_t mproc_process_attach(mproc_process_t *p, void *object);

/** In a child: the index-th object its parent attached (see above); the
 * caller casts it to the type it attached.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out, index out of range). */
mproc_status_t mproc_attached(size_t index, void **out);

/** Starts the child.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (started before, closed, or
 *         not a process this one created), MPROC_EDAEMON (the caller is a
 *         daemon child), MPROC_ENOTREGISTERED (spawn, forkserver: the
 *         target is not registered by MPROC_TASK or mproc_register_task),
 *         MPROC_ESYS (fork/spawn failed), MPROC_ESPAWN (spawn: the child
 *         could not be started or read its bootstrap; forkserver: the
 *         server could not be started, refused or died), MPROC_ENOTSUP
 *         (forkserver: more than 240 handles to pass), MPROC_ENOMEM, or
 *         an error of an attached object's export. */
mproc_status_t mproc_process_start(mproc_process_t *p);

/** Waits up to timeout seconds for the child to end (MPROC_FOREVER: no limit).
 * A stopped child (SIGSTOP, Ctrl-Z) has not ended: join waits on.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ESTATE (not started,
 *         closed, the current process), MPROC_ETIMEDOUT (still running:
 *         CPython returns silently here; we say so), MPROC_ESYS. */
mproc_status_t mproc_process_join(mproc_process_t *p, double timeout);

/** *out = 1 while the child runs, stopped or not (0 before start and after
 * it ended).
 * For the current process it is always 1; for the parent process object,
 * whether the parent still runs.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed), MPROC_ESYS (the
 *         child could not be reaped, e.g. SIGCHLD is ignored). */
mproc_status_t mproc_process_is_alive(mproc_process_t *p, int *out);

/** The process id. Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not started,
 * closed). */
mproc_status_t mproc_process_pid(const mproc_process_t *p, long *out);

/** The exit code once the child ended: its task's return value or exit()
 * status, or minus the signal number that killed it (-15 after terminate).
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not started, closed),
 *         MPROC_ERUNNING (still running, or stopped: CPython's None),
 *         MPROC_ESYS (the child could not be reaped). */
mproc_status_t mproc_process_exitcode(mproc_process_t *p, int *out);

/** @{ */
/** Sends SIGTERM (terminate) or SIGKILL (kill); on Windows both end the
 * process. Signalling a child that already ended is a no-op, as in CPython.
 * A stopped child acts on SIGTERM once continued; SIGKILL ends it at once.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not started, closed, not a
 *         child of this process), MPROC_ESYS. */
mproc_status_t mproc_process_terminate(mproc_process_t *p);
mproc_status_t mproc_process_kill(mproc_process_t *p);
/** @} */

/** A sentinel that becomes ready when the child ends, for mproc_wait().
 * Valid until close. Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not
 * started, closed, not a child). */
mproc_status_t mproc_process_sentinel(const mproc_process_t *p,
                                      mproc_sentinel_t *out);

/** CPython's Process.close: releases what the object holds of the OS (the
 * child's record and sentinel, its place among the active children, the
 * attached objects' list, the argument) and makes the object unusable:
 * every later call but close and free is MPROC_ESTATE. The memory stays
 * until mproc_process_free. Closing a process that was never started is
 * fine; a started one must have ended (joined, or seen ended by
 * is_alive/exitcode/wait). Closing twice is fine.
 * Errors: MPROC_EINVAL (NULL, not a process, or the current/parent process
 *         object), MPROC_ERUNNING (the child still runs: nothing is
 *         closed), MPROC_ESTATE (another thread is running the exit
 *         function, which is joining this process: nothing is closed),
 *         MPROC_ESYS (the child could not be reaped). */
mproc_status_t mproc_process_close(mproc_process_t *p);

/** Closes p if it is not closed yet (refusing as close does), then
 * releases the object; p is invalid after MPROC_OK. NULL is fine
 * (MPROC_OK), as with free().
 * Errors: MPROC_EINVAL (not a live process object: freed already, or of
 *         another kind; the current/parent process object), and those of
 *         mproc_process_close (then nothing is released). */
mproc_status_t mproc_process_free(mproc_process_t *p);

/** The object for the calling process ("MainProcess" in the main program).
 * It is owned by mproc: do not close or free it. Errors: MPROC_ENOINIT, MPROC_EINVAL. */
mproc_status_t mproc_current_process(mproc_process_t **out);

/** The object for the parent process, or *out = NULL in the main program.
 * Owned by mproc: supports name, pid, is_alive, join.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL. */
mproc_status_t mproc_parent_process(mproc_process_t **out);

/** Reaps children that ended and lists the ones still alive (stopped ones
 * too), started by this process and not closed or freed. Writes at most cap
 * pointers to out (out may be NULL when cap is 0) and the total number
 * alive to *count.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL count, NULL out with cap > 0),
 *         MPROC_ESYS (a child's state could not be asked, e.g. SIGCHLD is
 *         ignored: *count is not set rather than that child dropped). */
mproc_status_t mproc_active_children(mproc_process_t **out, size_t cap,
                                     size_t *count);

/** Sleeps for seconds (time.sleep), resuming after signal interruptions.
 * Errors: MPROC_EINVAL (negative or NaN). */
mproc_status_t mproc_sleep(double seconds);

/** The number of CPUs online. Errors: MPROC_EINVAL (NULL), MPROC_ESYS. */
mproc_status_t mproc_cpu_count(int *out);

/** Waits until at least one of n sentinels is ready, or timeout seconds
 * (CPython's multiprocessing.connection.wait). Sentinels of processes
 * (ready when the child ended) and of connections (ready when a message or
 * end of stream can be received) mix freely.
 * ready (n entries, may be NULL) gets 1 for each ready sentinel, 0 for the
 * others; *nready (may be NULL) the number ready.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL sentinels with n > 0, NaN
 *         timeout, an invalid sentinel), MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mproc_wait(const mproc_sentinel_t *sentinels, size_t n,
                          int *ready, size_t *nready, double timeout);

/* ------------------------------------------------------------------ */
/* Synchronization primitives (docs/sync.md)                           */
/* ------------------------------------------------------------------ */
/* Process-shared Lock, RLock, Semaphore, BoundedSemaphore, Event,
 * Condition and Barrier. Each lives in shared memory that the kernel frees
 * when the last process using it exits (even by SIGKILL). A child reaches
 * one through mproc_process_attach()/mproc_attached(); under fork any
 * object created before the child started is also usable directly.
 * Every blocking call takes a timeout (see Timeouts above). An object is
 * released in the calling process by its _free call (CPython has no close
 * for these, so they have none): NULL is fine (MPROC_OK), a freed object or
 * one of another kind is MPROC_EINVAL, as for every _free. Small objects (these,
 * and Values/Arrays up to 1 KiB) share segments of a process-wide arena,
 * so thousands of them need only a few descriptors; in a child, _free
 * releases only the child's view, but in the process that created the
 * object its shared slot may be reused by the next object created there:
 * free it there only when no other process uses it any more (join them
 * first), as with CPython's heap (docs/sync.md, "the arena"). */

/** @{ */
/** Lock (CPython's multiprocessing.Lock) and RLock (recursive). One type:
 * mproc_lock_create makes a Lock, mproc_rlock_create an RLock.
 * Beyond CPython: when a process (or thread) dies holding one, or execs
 * another program holding it, the next acquirer gets MPROC_EOWNERDEAD and
 * holds the lock (the data it guarded may be inconsistent) instead of
 * waiting forever. On Linux the kernel tells of the death at once (its
 * robust futex list): a waiter blocked without a timeout is woken then.
 * Exception: a Lock released by a thread other than the one that acquired
 * it stays on that thread's list, and until that thread releases it
 * itself or ends, later holders' deaths are found by polling, within
 * about 0.1 s (docs/sync.md, "The owner-death contract").
 * Errors: MPROC_EINVAL (NULL out), MPROC_ENOMEM, MPROC_ESYS. */
typedef struct mproc_lock mproc_lock_t;
mproc_status_t mproc_lock_create(mproc_lock_t **out);
mproc_status_t mproc_rlock_create(mproc_lock_t **out);
/** @} */

/** Acquires within timeout seconds (0: try once; MPROC_FOREVER: no limit).
 * An RLock held by the calling thread is acquired again (recursion depth).
 * A Lock acquired twice by one thread waits for someone to release it,
 * as in CPython.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ETIMEDOUT,
 *         MPROC_EOWNERDEAD (acquired: the previous owner died holding it),
 *         MPROC_ESTATE (RLock recursion deeper than 2^32-1), MPROC_ESYS. */
mproc_status_t mproc_lock_acquire(mproc_lock_t *lock, double timeout);

/** Releases. A Lock may be released by any thread of any process (CPython);
 * an RLock only by its owner, once per acquire. A thread releasing a Lock
 * another thread holds may wait a moment for that holder to finish its
 * acquire (a few instructions, unless the holder is stopped there).
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (a Lock that is not locked;
 *         an RLock not held by the calling thread). */
mproc_status_t mproc_lock_release(mproc_lock_t *lock);

/** *out = 1 for an RLock, 0 for a Lock. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_lock_is_recursive(const mproc_lock_t *lock, int *out);

/** Releases this process's view of the lock (not the lock if held). If the
 * calling thread holds it, its death is no longer told at once (polled).
 * If another live thread of this process still has it on its robust list
 * (it acquired it and another thread released it), the memory stays
 * mapped (unmapping it would corrupt that list) until a later free finds
 * that thread let go.
 * NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live lock), MPROC_ESTATE (the lock of a
 *         Value/Array, the RLock a Condition made, or a spawned child's copy of a
 *         Condition's or Value's given lock: it goes with that object). */
mproc_status_t mproc_lock_free(mproc_lock_t *lock);

/** @{ */
/** Semaphore and BoundedSemaphore (value <= MPROC_SEMAPHORE_MAX). A
 * BoundedSemaphore refuses to be released above its initial value.
 * Errors: MPROC_EINVAL (NULL out, value too large), MPROC_ENOMEM,
 *         MPROC_ESYS. */
#define MPROC_SEMAPHORE_MAX 0x7fffffffu
typedef struct mproc_semaphore mproc_semaphore_t;
mproc_status_t mproc_semaphore_create(mproc_semaphore_t **out,
                                      unsigned value);
mproc_status_t mproc_bounded_semaphore_create(mproc_semaphore_t **out,
                                              unsigned value);
/** @} */
/** Decrements, waiting up to timeout seconds while the value is 0.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mproc_semaphore_acquire(mproc_semaphore_t *sem,
                                       double timeout);
/** Increments and wakes one waiter.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (bounded: released more than
 *         acquired; or the value would pass MPROC_SEMAPHORE_MAX). */
mproc_status_t mproc_semaphore_release(mproc_semaphore_t *sem);
/** The current value (always available, unlike CPython on macOS).
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_semaphore_get_value(const mproc_semaphore_t *sem,
                                         unsigned *out);
/** Releases this process's view. NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live semaphore). */
mproc_status_t mproc_semaphore_free(mproc_semaphore_t *sem);

/** @{ */
/** Event: a flag processes wait for.
 * create errors: MPROC_EINVAL (NULL out), MPROC_ENOMEM, MPROC_ESYS. */
typedef struct mproc_event mproc_event_t;
mproc_status_t mproc_event_create(mproc_event_t **out);
/** @} */
/** @{ */
/** set wakes every waiter; clear resets the flag. Errors: MPROC_EINVAL. */
mproc_status_t mproc_event_set(mproc_event_t *event);
mproc_status_t mproc_event_clear(mproc_event_t *event);
/** @} */
/** Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_event_is_set(const mproc_event_t *event, int *out);
/** Waits until the flag is set: MPROC_OK when it is (CPython's True),
 * MPROC_ETIMEDOUT when the timeout expired first (CPython's False).
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mproc_event_wait(mproc_event_t *event, double timeout);
/** Releases this process's view. NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live event). */
mproc_status_t mproc_event_free(mproc_event_t *event);

/** @{ */
/** Condition over a Lock or RLock (lock NULL: a new RLock, as CPython).
 * A given lock is borrowed: it must outlive the condition.
 * Errors: MPROC_EINVAL (NULL out), MPROC_ENOMEM, MPROC_ESYS. */
typedef struct mproc_condition mproc_condition_t;
mproc_status_t mproc_condition_create(mproc_condition_t **out,
                                      mproc_lock_t *lock);
/** @} */
/** The condition's lock, for acquire/release ("with cond:").
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_condition_get_lock(const mproc_condition_t *cond,
                                        mproc_lock_t **out);
/** @{ */
/** Shorthands for acquire/release of the condition's lock (same errors as
 * mproc_lock_acquire/mproc_lock_release). */
mproc_status_t mproc_condition_acquire(mproc_condition_t *cond,
                                       double timeout);
mproc_status_t mproc_condition_release(mproc_condition_t *cond);
/** @} */
/** Releases the lock (all recursion levels), waits for a notify or the
 * timeout, re-acquires the lock (without limit) and returns. The caller
 * must hold the lock.
 * Errors: MPROC_EINVAL (NULL, NaN timeout, the given lock was freed),
 *         MPROC_ESTATE (the lock is not held by the calling thread),
 *         MPROC_ETIMEDOUT (not notified; the lock is held again),
 *         MPROC_EOWNERDEAD (notified or not, the lock
 *         is held again but its previous owner died holding it),
 *         MPROC_ESYS. */
mproc_status_t mproc_condition_wait(mproc_condition_t *cond, double timeout);
/** @{ */
/** Waits until predicate(ctx) returns nonzero, checking it first and after
 * each wake-up, at most timeout seconds in all. MPROC_OK: it is true.
 * Errors: those of mproc_condition_wait; MPROC_EINVAL (NULL predicate);
 *         MPROC_ETIMEDOUT (still false at the deadline). */
typedef int (*mproc_predicate_fn)(void *ctx);
mproc_status_t mproc_condition_wait_for(mproc_condition_t *cond,
                                        mproc_predicate_fn predicate,
                                        void *ctx, double timeout);
/** @} */
/** @{ */
/** Wakes at most n waiters / all waiters. The caller must hold the lock.
 * Errors: MPROC_EINVAL (NULL, the given lock was freed), MPROC_ESTATE (lock
 *         not held). */
mproc_status_t mproc_condition_notify(mproc_condition_t *cond, size_t n);
mproc_status_t mproc_condition_notify_all(mproc_condition_t *cond);
/** @} */
/** Releases the condition (and the RLock it made, not a given lock).
 * NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live condition). */
mproc_status_t mproc_condition_free(mproc_condition_t *cond);

/** @{ */
/** Barrier for parties processes/threads. action (may be NULL) runs in the
 * last party to arrive, before the others are released, with a copy of
 * arg; a nonzero result breaks the barrier. Under spawn the action must be
 * an MPROC_TASK. timeout is the default for mproc_barrier_wait.
 * The action may call its own barrier (from the thread running it):
 * parties; n_waiting (= parties, every party has arrived); broken; abort
 * (the round and the barrier are broken: every party of the round, the
 * last one too, gets MPROC_EBROKEN); reset (the round ends broken, its
 * parties get MPROC_EBROKEN, the barrier is usable for the next round);
 * wait returns MPROC_ESTATE and changes nothing. A wait that times out
 * while the action runs returns once the action has finished.
 * Errors: MPROC_EINVAL (NULL out, parties 0, NaN timeout, arg NULL with
 *         arg_len > 0), MPROC_ENOMEM, MPROC_ESYS. */
typedef struct mproc_barrier mproc_barrier_t;
mproc_status_t mproc_barrier_create(mproc_barrier_t **out, unsigned parties,
                                    mproc_task_fn action, const void *arg,
                                    size_t arg_len, double timeout);
/** @} */
/** @{ */
/** Waits for all parties; *index (may be NULL) gets 0..parties-1, distinct
 * for each party of a round. mproc_barrier_wait uses the default timeout.
 * A wait that times out breaks the barrier (as CPython) and returns
 * MPROC_ETIMEDOUT; so a party that died never hangs the others when a
 * timeout is given.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ETIMEDOUT, MPROC_EBROKEN
 *         (broken before or while waiting: abort, reset, another party's
 *         timeout, a failed action, an action that aborted or reset it),
 *         MPROC_ESTATE (called from the barrier's own action), MPROC_ESYS. */
mproc_status_t mproc_barrier_wait(mproc_barrier_t *barrier, unsigned *index);
mproc_status_t mproc_barrier_wait_timeout(mproc_barrier_t *barrier,
                                          unsigned *index, double timeout);
/** @} */
/** @{ */
/** abort: breaks it (waiters get MPROC_EBROKEN); reset: back to the empty
 * state (current waiters get MPROC_EBROKEN). Errors: MPROC_EINVAL. */
mproc_status_t mproc_barrier_abort(mproc_barrier_t *barrier);
mproc_status_t mproc_barrier_reset(mproc_barrier_t *barrier);
/** @} */
/** @{ */
/** The queries take no lock (as CPython's): they answer at once, also
 * while the action runs. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_barrier_parties(const mproc_barrier_t *barrier,
                                     unsigned *out);
mproc_status_t mproc_barrier_n_waiting(mproc_barrier_t *barrier,
                                       unsigned *out);
mproc_status_t mproc_barrier_broken(mproc_barrier_t *barrier, int *out);
/** @} */
/** Releases this process's view. NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live barrier). */
mproc_status_t mproc_barrier_free(mproc_barrier_t *barrier);

/* ------------------------------------------------------------------ */
/* Shared values and arrays (docs/sync.md)                             */
/* ------------------------------------------------------------------ */
/** @{ */
/** CPython's Value/Array/RawValue/RawArray with its typecodes:
 *   b B h H i I l L q Q (integers), f d (float, double), c (char).
 * The data lives in shared memory. The lock-taking variants make an RLock
 * of their own (CPython's lock=True); _with_lock ones use the given Lock
 * or RLock (borrowed: it must outlive the value); raw ones have no lock
 * (lock=False). initial (may be NULL: zeros) points to one element of the
 * typecode's C type (a Value), or length elements (an Array). */
typedef struct mproc_value mproc_value_t;
typedef struct mproc_array mproc_array_t;
/** @} */

/** The size in bytes of a typecode's element.
 * Errors: MPROC_EINVAL (NULL out, unknown typecode). */
mproc_status_t mproc_typecode_size(char typecode, size_t *out);

/** @{ */
/** Errors (all creators): MPROC_EINVAL (NULL out, unknown typecode, NULL
 *         lock for _with_lock, length 0), MPROC_ENOMEM (out of memory; the
 *         size length * element size overflows, checked before multiplying;
 *         or the OS refuses a size that large: its reason in the detail),
 *         MPROC_ESYS (another OS failure, e.g. out of descriptors: "Too many
 *         open files" in the detail). */
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
/** @} */

/** @{ */
/** Reads/writes the value (one element of its C type) under its lock when
 * it has one, as CPython's .value.
 * Errors: MPROC_EINVAL (NULL; the given lock was freed), MPROC_EOWNERDEAD (done, but the lock's
 *         previous owner had died holding it). */
mproc_status_t mproc_value_get(mproc_value_t *value, void *out);
mproc_status_t mproc_value_set(mproc_value_t *value, const void *in);
/** @} */

/** @{ */
/** get_obj: the shared storage itself, for direct typed access from C
 * (e.g. `int *n; mproc_value_get_obj(v, (void **)&n); ++*n;` under the
 * lock). Valid until free. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_value_get_obj(mproc_value_t *value, void **out);
mproc_status_t mproc_array_get_obj(mproc_array_t *array, void **out);
/** @} */

/** @{ */
/** The lock (own or given). Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (a
 * raw value/array has none: CPython's AttributeError). */
mproc_status_t mproc_value_get_lock(mproc_value_t *value,
                                    mproc_lock_t **out);
mproc_status_t mproc_array_get_lock(mproc_array_t *array,
                                    mproc_lock_t **out);
/** @} */

/** @{ */
/** Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_value_typecode(const mproc_value_t *value, char *out);
mproc_status_t mproc_array_typecode(const mproc_array_t *array, char *out);
mproc_status_t mproc_array_length(const mproc_array_t *array, size_t *out);
/** @} */

/** @{ */
/** Beyond CPython: lock-free atomic operations on an integer value (b B h H
 * i I l L q Q), sequentially consistent, without the lock. Values are
 * carried in int64_t (unsigned 64-bit ones as their bit pattern);
 * arithmetic wraps at the element's width.
 * Errors: MPROC_EINVAL (NULL, not an integer typecode). */
mproc_status_t mproc_value_load(mproc_value_t *value, int64_t *out);
mproc_status_t mproc_value_store(mproc_value_t *value, int64_t v);
/** @} */
/** *old (may be NULL) gets the value before the addition. */
mproc_status_t mproc_value_fetch_add(mproc_value_t *value, int64_t delta,
                                     int64_t *old);
/** If the value equals *expected, stores desired and sets *swapped = 1;
 * otherwise sets *expected to the current value and *swapped = 0.
 * swapped may be NULL. */
mproc_status_t mproc_value_compare_exchange(mproc_value_t *value,
                                            int64_t *expected,
                                            int64_t desired, int *swapped);

/** @{ */
/** Copies count elements starting at start out of / into the array, under
 * its lock when it has one (CPython's slicing: arr[start:start+count]).
 * Errors: MPROC_EINVAL (NULL, range outside the array, the given lock
 *         was freed), MPROC_EOWNERDEAD
 *         (done, but the lock's previous owner had died holding it). */
mproc_status_t mproc_array_read(mproc_array_t *array, size_t start,
                                size_t count, void *out);
mproc_status_t mproc_array_write(mproc_array_t *array, size_t start,
                                 size_t count, const void *in);
/** @} */

/** @{ */
/** Release this process's view (and the own lock; not a given lock).
 * NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live value/array). */
mproc_status_t mproc_value_free(mproc_value_t *value);
mproc_status_t mproc_array_free(mproc_array_t *array);
/** @} */

/* ------------------------------------------------------------------ */
/* SharedMemory by name (docs/sync.md)                                 */
/* ------------------------------------------------------------------ */
/** @{ */
/** CPython's multiprocessing.shared_memory.SharedMemory. Beyond CPython: no
 * resource tracker, and a segment disappears when the last process using
 * it closes it or exits, even by SIGKILL: nothing is left in /dev/shm.
 * MPROC_SHM_PERSISTENT asks for CPython's behaviour instead: a /dev/shm
 * segment that stays until mproc_shared_memory_unlink. */
#define MPROC_SHM_PERSISTENT 1
typedef struct mproc_shared_memory mproc_shared_memory_t;
/** @} */

/** Creates a zero-filled segment of size bytes named name (NULL: a fresh
 * random name, see mproc_shared_memory_name). A name is 1..200 characters
 * without '/', and not '.' or '..' (a leading '/' is ignored, as CPython).
 * Errors: MPROC_EINVAL (NULL out, size 0, invalid name, unknown flags),
 *         MPROC_EEXIST (the name is taken), MPROC_ENOMEM (out of memory, or
 *         a size the OS refuses or no file can hold: the reason in the
 *         detail), MPROC_ESYS (e.g. out of descriptors, "Too many open
 *         files" in the detail: then nothing was created, even when the
 *         name could not be looked up). */
mproc_status_t mproc_shared_memory_create(mproc_shared_memory_t **out,
                                          const char *name, size_t size,
                                          int flags);
/** Attaches to the existing segment called name, made by this or any other
 * process of the same user (also one made by CPython, in /dev/shm).
 * Errors: MPROC_EINVAL (NULL, invalid name), MPROC_ENOENT (no such
 *         segment, or it was unlinked), MPROC_ENOMEM (out of memory or
 *         address space to map it), MPROC_ESYS (the search could not look,
 *         e.g. out of descriptors: "Too many open files" in the detail,
 *         never MPROC_ENOENT then). */
mproc_status_t mproc_shared_memory_attach(mproc_shared_memory_t **out,
                                          const char *name);
/** @{ */
/** size and name stay readable after close (CPython's); buf needs the
 * view mapped.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (buf after close). */
mproc_status_t mproc_shared_memory_buf(const mproc_shared_memory_t *shm,
                                       void **out);
mproc_status_t mproc_shared_memory_size(const mproc_shared_memory_t *shm,
                                        size_t *out);
mproc_status_t mproc_shared_memory_name(const mproc_shared_memory_t *shm,
                                        const char **out);
/** @} */
/** Removes the name: later attaches get MPROC_ENOENT; processes that have
 * it keep using it. The memory goes with the last close/exit. Works after
 * close too (CPython's close(); unlink()), by name: a segment nobody maps
 * any more is gone already then (MPROC_ENOENT), unless persistent.
 * Errors: MPROC_EINVAL (NULL), MPROC_ENOENT (already unlinked, or gone),
 *         MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mproc_shared_memory_unlink(mproc_shared_memory_t *shm);
/** CPython's SharedMemory.close: unmaps this process's view. The object
 * stays until mproc_shared_memory_free: name and size can still be read
 * and unlink still works; buf and attaching it to a process are
 * MPROC_ESTATE. Closing twice is fine.
 * Errors: MPROC_EINVAL (NULL, not a live shared memory object). */
mproc_status_t mproc_shared_memory_close(mproc_shared_memory_t *shm);
/** Closes shm if needed and releases the object; shm is invalid afterwards.
 * Never unlinks. NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live shared memory object: freed already, or
 *         of another kind). */
mproc_status_t mproc_shared_memory_free(mproc_shared_memory_t *shm);

/* Objects: what send/recv and put/get carry (docs/ipc.md)             */
/* ------------------------------------------------------------------ */

/** What CPython's Connection.send and Queue.put pickle (mproc_obj_t; not to
 * be confused with mproc_value_t, the shared Value), reduced to the types
 * every language has: None, bool, int (64-bit), float (double), str (UTF-8),
 * bytes, list, and dict keyed by int or str. On the wire a value is one
 * MessagePack object (docs/ipc.md). A value is a tree: each value has at
 * most one container, and a container owns what it holds. */
typedef enum mproc_kind {
  MPROC_NONE,  /**< None */
  MPROC_BOOL,  /**< bool */
  MPROC_INT,   /**< int (int64_t) */
  MPROC_FLOAT, /**< float (double) */
  MPROC_STR,   /**< str (UTF-8) */
  MPROC_BYTES, /**< bytes */
  MPROC_LIST,  /**< list */
  MPROC_DICT   /**< dict keyed by int or str */
} mproc_kind_t;

/** A payload value: one node of the tree described at mproc_kind_t. */
typedef struct mproc_obj mproc_obj_t;

/** Deepest nesting of lists and dicts that encode/decode/repr accept. */
#define MPROC_OBJ_MAX_DEPTH 256

/** @{ */
/** Constructors: *out is a new value owned by the caller (mproc_obj_free).
 * Errors: MPROC_EINVAL (NULL out; s NULL; p NULL with len > 0; str not
 *         valid UTF-8), MPROC_ENOMEM. */
mproc_status_t mproc_obj_none(mproc_obj_t **out);
mproc_status_t mproc_obj_bool(mproc_obj_t **out, int b);
mproc_status_t mproc_obj_int(mproc_obj_t **out, int64_t i);
mproc_status_t mproc_obj_float(mproc_obj_t **out, double d);
/** @} */
/** @{ */
/** A str from a NUL-terminated string, or len bytes (may hold NULs). */
mproc_status_t mproc_obj_str(mproc_obj_t **out, const char *s);
mproc_status_t mproc_obj_strn(mproc_obj_t **out, const char *s, size_t len);
mproc_status_t mproc_obj_bytes(mproc_obj_t **out, const void *p, size_t len);
/** @} */
/** @{ */
/** An empty list / dict. */
mproc_status_t mproc_obj_list(mproc_obj_t **out);
mproc_status_t mproc_obj_dict(mproc_obj_t **out);
/** @} */

/** Appends item to list. On MPROC_OK the list owns item; on an error the
 * caller still does.
 * Errors: MPROC_EINVAL (NULL; list not a list; item already inside a
 *         container; item is list or contains it), MPROC_ENOMEM. */
mproc_status_t mproc_obj_list_append(mproc_obj_t *list, mproc_obj_t *item);

/** dict[key] = value; an equal key already there has its value replaced
 * (the new key is then freed; the entry keeps its place in insertion
 * order, as in Python). O(1) on average (a hash index). On MPROC_OK the dict owns key and value; on
 * an error the caller still does. Keys are int or str.
 * Errors: MPROC_EINVAL (NULL; dict not a dict; key not int/str; key or value
 *         inside a container already; value is dict or contains it),
 *         MPROC_ENOMEM. */
mproc_status_t mproc_obj_dict_set(mproc_obj_t *dict, mproc_obj_t *key,
                                  mproc_obj_t *value);

/** Frees a value and everything it holds. NULL is fine. A value inside a
 * container is freed with its container only.
 * Errors: MPROC_EINVAL (v is inside a container). */
mproc_status_t mproc_obj_free(mproc_obj_t *v);

/** @{ */
/** Accessors. The get_ functions check the kind.
 * Errors: MPROC_EINVAL (NULL argument; the value is of another kind; index
 *         out of range). */
mproc_status_t mproc_obj_kind(const mproc_obj_t *v, mproc_kind_t *out);
mproc_status_t mproc_obj_get_bool(const mproc_obj_t *v, int *out);
mproc_status_t mproc_obj_get_int(const mproc_obj_t *v, int64_t *out);
mproc_status_t mproc_obj_get_float(const mproc_obj_t *v, double *out);
/** @} */
/** @{ */
/** *s is NUL-terminated and valid while v lives; len may be NULL. */
mproc_status_t mproc_obj_get_str(const mproc_obj_t *v, const char **s,
                                   size_t *len);
mproc_status_t mproc_obj_get_bytes(const mproc_obj_t *v, const void **p,
                                     size_t *len);
/** @} */
/** @{ */
/** Length of a str (bytes of UTF-8), bytes, list or dict. */
mproc_status_t mproc_obj_len(const mproc_obj_t *v, size_t *out);
mproc_status_t mproc_obj_list_get(const mproc_obj_t *list, size_t index,
                                  const mproc_obj_t **out);
/** @} */
/** The index-th entry of a dict, in insertion order. */
mproc_status_t mproc_obj_dict_item(const mproc_obj_t *dict, size_t index,
                                   const mproc_obj_t **key,
                                   const mproc_obj_t **value);
/** *out = the value under key, or NULL when absent. O(1) on average.
 * Errors: MPROC_EINVAL (NULL; not a dict). */
mproc_status_t mproc_obj_dict_get(const mproc_obj_t *dict,
                                  const mproc_obj_t *key,
                                  const mproc_obj_t **out);

/** *out = 1 when a and b are equal as Python compares them (1 == 1.0 and
 * True == 1 included). Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_obj_equal(const mproc_obj_t *a,
                                 const mproc_obj_t *b, int *out);

/** Formats v as Python's repr() does ('x', [1, 2], {1: 10}, b'\x00', 1.5,
 * None, True) into a new NUL-terminated string; release it with free().
 * Errors: MPROC_EINVAL (NULL; deeper than MPROC_OBJ_MAX_DEPTH),
 *         MPROC_ENOMEM. */
mproc_status_t mproc_obj_repr(const mproc_obj_t *v, char **out);

/** Formats v as Python's str() does: a str is its own text, anything else
 * its repr (what print(f"{v}") shows). Release with free().
 * Errors: as mproc_obj_repr. */
mproc_status_t mproc_obj_format(const mproc_obj_t *v, char **out);

/** Encodes v as MessagePack into a new buffer (release with free()).
 * Errors: MPROC_EINVAL (NULL; deeper than MPROC_OBJ_MAX_DEPTH),
 *         MPROC_ENOMEM. */
mproc_status_t mproc_obj_encode(const mproc_obj_t *v, void **out,
                                  size_t *len);

/** Decodes exactly one MessagePack object filling len bytes. Never crashes
 * and never allocates more than a small multiple of len, whatever the input.
 * Errors: MPROC_EINVAL (NULL out; buf NULL with len > 0), MPROC_EBADMSG
 *         (truncated, trailing bytes, a type outside the set above, an
 *         integer beyond int64, invalid UTF-8, a dict key not int/str or
 *         repeated, nesting deeper than MPROC_OBJ_MAX_DEPTH),
 *         MPROC_ENOMEM. */
mproc_status_t mproc_obj_decode(mproc_obj_t **out, const void *buf,
                                size_t len);

/** Builds a value in one call, as Python's Py_BuildValue: "(ii)" with 1, 2
 * is [1, 2]; "[is]" with 3, "x" is [3, 'x']; "{s:i}" with "k", 1 is
 * {'k': 1}. Tuples are lists. Codes: i (int), l (long), L (long long),
 * n (size_t), b (int, as bool), d (double), s (const char *, UTF-8; NULL
 * is None), y# (const void *, size_t: bytes), N (an mproc_obj_t * the
 * built value takes: it must be in no container), - (None); ( ) and [ ]
 * make lists, { } a dict of key:value pairs. Spaces, commas and colons
 * separate. Several top-level codes make a list ("ii": [1, 2]); none
 * makes None. On an error every N argument given is still the caller's.
 * Errors: MPROC_EINVAL (NULL out or fmt, an unknown code, unbalanced
 *         brackets, a dict key not int/str, an invalid str), MPROC_ENOMEM. */
mproc_status_t mproc_obj_build(mproc_obj_t **out, const char *fmt, ...);

/** A deep copy of v (a new tree owned by the caller).
 * Errors: MPROC_EINVAL (NULL; deeper than MPROC_OBJ_MAX_DEPTH), MPROC_ENOMEM. */
mproc_status_t mproc_obj_copy(mproc_obj_t **out, const mproc_obj_t *v);

/* ------------------------------------------------------------------ */
/* Pool and ThreadPool (docs/pool.md)                                  */
/* ------------------------------------------------------------------ */

/** CPython's multiprocessing.Pool: worker processes (daemons: they die
 * with the pool's owner, even if it is SIGKILLed) that run pool functions
 * (mproc_function_fn) on values. One result thread per pool, in the
 * owner, receives results, runs callbacks, notices a dead worker and
 * replaces it: a worker that crashes, exits or is killed fails only the
 * task it held (MPROC_EWORKERDIED), and the pool goes on. */
typedef struct mproc_pool mproc_pool_t;
/** The pending result of apply_async, map_async, starmap_async. */
typedef struct mproc_async_result mproc_async_result_t;
/** The iterator of imap and imap_unordered. */
typedef struct mproc_imap mproc_imap_t;

/** processes value meaning "the CPUs this process may run on". */
#define MPROC_POOL_DEFAULT_PROCESSES (-1)
/** chunksize value meaning CPython's default: ceil(len / (4 * processes)). */
#define MPROC_DEFAULT_CHUNKSIZE ((size_t)-1)

/** The options of mproc_pool_create_ex; mproc_pool_options_init gives
 * the defaults (CPython's Pool()). */
typedef struct mproc_pool_options {
  int processes;                 /**< > 0, or MPROC_POOL_DEFAULT_PROCESSES */
  mproc_function_fn initializer; /**< run once in each worker, or NULL */
  const mproc_obj_t *initargs;   /**< its argument (copied), NULL: None */
  unsigned long maxtasksperchild; /**< tasks (chunks) before a worker is
                                       replaced; 0: never */
  mproc_context_t *context;      /**< start method; NULL: the default */
  int threads;                   /**< 1: a ThreadPool (threads of this
                                      process, values not encoded) */
  size_t max_memory_per_child;   /**< bytes of resident memory after a task
                                      past which a worker is replaced
                                      (billiard's); 0: no limit */
} mproc_pool_options_t;

/** Fills opts with the defaults. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_pool_options_init(mproc_pool_options_t *opts);

/** @{ */
/** Pool(processes) and Pool(processes, initializer, initargs,
 * maxtasksperchild, context); mproc_thread_pool_create is ThreadPool.
 * Workers start at once. An initializer that fails ends its worker, which
 * is replaced (as in CPython).
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out or opts, processes 0 or
 *         below -1), MPROC_ENOTREGISTERED (spawn, forkserver: the
 *         initializer is not registered), MPROC_ENOMEM, and the errors of
 *         mproc_process_start. */
mproc_status_t mproc_pool_create(mproc_pool_t **out, int processes);
mproc_status_t mproc_pool_create_ex(mproc_pool_t **out,
                                    const mproc_pool_options_t *opts);
mproc_status_t mproc_thread_pool_create(mproc_pool_t **out, int processes);
/** @} */

/** The number of workers. Errors: MPROC_EINVAL (NULL, not a pool). */
mproc_status_t mproc_pool_processes(const mproc_pool_t *pool, int *out);

/** The pids of the current workers (threads of a ThreadPool: the owner's
 * pid); *count gets how many, at most cap are written.
 * Errors: MPROC_EINVAL (NULL, not a pool), MPROC_ESTATE (terminated). */
mproc_status_t mproc_pool_worker_pids(mproc_pool_t *pool, long *out,
                                      size_t cap, size_t *count);

/** A per-task timeout (seconds; negative: none, the default) for the
 * tasks submitted from now on (apply_async, map_async and the rest; a map
 * task is one chunk): a task still running after it fails with
 * MPROC_ETIMEDOUT, and its worker is killed and replaced (pebble's and
 * billiard's timeout; CPython has none).
 * Errors: MPROC_EINVAL (NULL, not a pool, NaN), MPROC_ENOTSUP (a
 *         ThreadPool: a thread cannot be killed). */
mproc_status_t mproc_pool_set_task_timeout(mproc_pool_t *pool,
                                           double seconds);

/** A kernel for the zero-copy typed map: computes out[0..count) from
 * in[0..count) in place in shared memory (in and out point at the first
 * element of the chunk; the element types are the caller's). Returns
 * MPROC_OK, or a failure (its message, as a pool function's, reaches the
 * caller with MPROC_ETASK). */
typedef mproc_status_t (*mproc_kernel_fn)(const void *in, void *out,
                                          size_t count);

/** Defines and registers a kernel (found by workers of every start method
 * as MPROC_FUNCTION's functions are):
 *   MPROC_KERNEL(squares) { const int64_t *a = in; int64_t *b = out; ... }
 * declares `static mproc_status_t squares(const void *in, void *out,
 * size_t count)`. */
#define MPROC_KERNEL(fn)                                                    \
  static mproc_status_t fn(const void *in, void *out, size_t count);        \
  static mproc_function_entry_t mproc_kernel_record_##fn##_ = {             \
      #fn, (mproc_function_fn)(void (*)(void))fn, __FILE__, NULL};          \
  __attribute__((constructor)) static void mproc_kernel_register_##fn##_(   \
      void) {                                                               \
    mproc_function_entry_add_(&mproc_kernel_record_##fn##_);                \
  }                                                                         \
  static mproc_status_t fn(const void *in __attribute__((unused)),          \
                           void *out __attribute__((unused)),               \
                           size_t count __attribute__((unused)))

/** The zero-copy typed map: runs kernel over count elements of in (in_size
 * bytes each, from offset 0 of the segment) into out (out_size bytes
 * each), chunksize elements per task (MPROC_DEFAULT_CHUNKSIZE: CPython's
 * formula), in the workers, which attach both segments by name and read
 * and write them in place: no encoding, no copy per item. in and out may
 * be the same segment. Waits up to timeout seconds.
 * Errors: MPROC_EINVAL (NULL, not a pool or segment, in_size/out_size or
 *         chunksize 0, count elements beyond a segment, NaN timeout),
 *         MPROC_ENOTSUP (a ThreadPool), MPROC_ESTATE (closed, terminated),
 *         MPROC_ENOTREGISTERED (spawn, forkserver: kernel not registered),
 *         MPROC_ETASK (the kernel failed, or a worker could not attach a
 *         segment), MPROC_EWORKERDIED, MPROC_ETIMEDOUT, MPROC_ENOMEM. */
mproc_status_t mproc_pool_map_shared(mproc_pool_t *pool,
                                     mproc_kernel_fn kernel,
                                     mproc_shared_memory_t *in,
                                     size_t in_size,
                                     mproc_shared_memory_t *out,
                                     size_t out_size, size_t count,
                                     size_t chunksize, double timeout);

/** Called in the pool's result thread with the result (valid during the
 * call only; copy it to keep it) and the ctx given. */
typedef void (*mproc_callback_fn)(const mproc_obj_t *result, void *ctx);
/** Called in the result thread with the failure's status and message. */
typedef void (*mproc_error_callback_fn)(mproc_status_t status,
                                        const char *message, void *ctx);

/** apply(fn, args): runs fn(args) in a worker and waits up to timeout
 * seconds for *out (a new value; the task goes on if the time runs out).
 * Errors: MPROC_EINVAL (NULL pool, fn or out, not a pool, NaN timeout),
 *         MPROC_ESTATE (closed or terminated), MPROC_ENOTREGISTERED (spawn,
 *         forkserver: fn not registered), and those of
 *         mproc_async_result_get. */
mproc_status_t mproc_pool_apply(mproc_pool_t *pool, mproc_function_fn fn,
                                const mproc_obj_t *args, mproc_obj_t **out,
                                double timeout);

/** apply_async: *out is the pending result; callback (or error_callback on
 * failure) runs in the result thread with ctx. args is copied (NULL: None).
 * Errors: as mproc_pool_apply's before waiting. */
mproc_status_t mproc_pool_apply_async(mproc_async_result_t **out,
                                      mproc_pool_t *pool, mproc_function_fn fn,
                                      const mproc_obj_t *args,
                                      mproc_callback_fn callback,
                                      mproc_error_callback_fn error_callback,
                                      void *ctx);

/** task_timeout of mproc_async_options_t: the pool's
 * (mproc_pool_set_task_timeout). */
#define MPROC_POOL_TIMEOUT (-2.0)

/** The options of one asynchronous call (the _opts calls below):
 * mproc_async_options_init gives no callbacks and the pool's timeout. */
typedef struct {
  mproc_callback_fn callback;             /**< in the result thread, or NULL */
  mproc_error_callback_fn error_callback; /**< on failure, or NULL */
  void *ctx;                              /**< given to both */
  /** Seconds each task of this call may run (a map task is one chunk):
   * past it the task fails with MPROC_ETIMEDOUT and its worker is killed
   * and replaced (pebble's, billiard's); MPROC_FOREVER: no limit;
   * MPROC_POOL_TIMEOUT (the default): the pool's. */
  double task_timeout;
} mproc_async_options_t;

/** Sets opts to the defaults. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_async_options_init(mproc_async_options_t *opts);

/** apply_async with options (a per-call task timeout).
 * Errors: those of mproc_pool_apply_async; MPROC_EINVAL (NULL opts, a
 *         NaN or negative task_timeout other than MPROC_FOREVER and
 *         MPROC_POOL_TIMEOUT), MPROC_ENOTSUP (a timeout on a ThreadPool). */
mproc_status_t mproc_pool_apply_async_opts(mproc_async_result_t **out,
                                           mproc_pool_t *pool,
                                           mproc_function_fn fn,
                                           const mproc_obj_t *args,
                                           const mproc_async_options_t *opts);

/** @{ */
/** map(fn, items, chunksize): *out is the list of fn(item), in order.
 * starmap is the same for a list of argument lists (each item must be a
 * list: the function receives it). The items are sent in chunks of
 * chunksize (MPROC_DEFAULT_CHUNKSIZE: CPython's formula). The first
 * failure fails the call: MPROC_ETASK with the worker's message, or
 * MPROC_EWORKERDIED.
 * Errors: MPROC_EINVAL (NULL, items not a list, a starmap item not a list,
 *         chunksize 0, NaN timeout), MPROC_ESTATE (closed, terminated),
 *         MPROC_ENOTREGISTERED, MPROC_ETIMEDOUT, MPROC_ETASK,
 *         MPROC_EWORKERDIED, MPROC_ENOMEM. */
mproc_status_t mproc_pool_map(mproc_pool_t *pool, mproc_function_fn fn,
                              const mproc_obj_t *items, size_t chunksize,
                              mproc_obj_t **out, double timeout);
mproc_status_t mproc_pool_starmap(mproc_pool_t *pool, mproc_function_fn fn,
                                  const mproc_obj_t *items, size_t chunksize,
                                  mproc_obj_t **out, double timeout);
/** @} */

/** @{ */
/** map_async / starmap_async: the callback gets the whole result list.
 * Errors: as map's before waiting. */
mproc_status_t mproc_pool_map_async(mproc_async_result_t **out,
                                    mproc_pool_t *pool, mproc_function_fn fn,
                                    const mproc_obj_t *items, size_t chunksize,
                                    mproc_callback_fn callback,
                                    mproc_error_callback_fn error_callback,
                                    void *ctx);
mproc_status_t mproc_pool_starmap_async(
    mproc_async_result_t **out, mproc_pool_t *pool, mproc_function_fn fn,
    const mproc_obj_t *items, size_t chunksize, mproc_callback_fn callback,
    mproc_error_callback_fn error_callback, void *ctx);
/** @} */

/** @{ */
/** map_async / starmap_async with options (a per-call task timeout).
 * Errors: those of mproc_pool_map_async and of
 *         mproc_pool_apply_async_opts's options. */
mproc_status_t mproc_pool_map_async_opts(mproc_async_result_t **out,
                                         mproc_pool_t *pool,
                                         mproc_function_fn fn,
                                         const mproc_obj_t *items,
                                         size_t chunksize,
                                         const mproc_async_options_t *opts);
mproc_status_t mproc_pool_starmap_async_opts(
    mproc_async_result_t **out, mproc_pool_t *pool, mproc_function_fn fn,
    const mproc_obj_t *items, size_t chunksize,
    const mproc_async_options_t *opts);
/** @} */

/** @{ */
/** imap / imap_unordered (chunksize default 1, as CPython's): results one
 * at a time with mproc_imap_next, in order or as they complete.
 * Errors: as map's before waiting. */
mproc_status_t mproc_pool_imap(mproc_imap_t **out, mproc_pool_t *pool,
                               mproc_function_fn fn, const mproc_obj_t *items,
                               size_t chunksize);
mproc_status_t mproc_pool_imap_unordered(mproc_imap_t **out,
                                         mproc_pool_t *pool,
                                         mproc_function_fn fn,
                                         const mproc_obj_t *items,
                                         size_t chunksize);
/** @} */

/** An item source for mproc_pool_imap_iter (an iterator): sets *item to
 * the next item (a new free-standing value, which the pool takes; NULL is
 * None) and returns MPROC_OK, or returns MPROC_EOF after the last one. Any
 * other status ends the stream: mproc_imap_next gives it after the results
 * of the items before. Called in the thread calling mproc_imap_next. */
typedef mproc_status_t (*mproc_item_source_fn)(void *ctx, mproc_obj_t **item);

/** Bounded, lazy imap (ordered 1) or imap_unordered (ordered 0) over an
 * unbounded stream: items are pulled from source by mproc_imap_next, in
 * chunks of chunksize, with at most buffersize items in flight (rounded up
 * to a multiple of chunksize), so memory stays flat whatever the stream's
 * length (CPython 3.15's buffersize).
 * Errors: MPROC_EINVAL (NULL, not a pool, chunksize or buffersize 0),
 *         MPROC_ESTATE (closed, terminated), MPROC_ENOTREGISTERED,
 *         MPROC_ENOMEM. */
mproc_status_t mproc_pool_imap_iter(mproc_imap_t **out, mproc_pool_t *pool,
                                    mproc_function_fn fn,
                                    mproc_item_source_fn source, void *ctx,
                                    size_t chunksize, size_t buffersize,
                                    int ordered);

/** The next result (a new value) within timeout seconds. A failed item
 * gives its error and the iterator moves past it (as CPython's next
 * raises and can be called again).
 * Errors: MPROC_EINVAL (NULL, not an iterator, NaN timeout), MPROC_EOF
 *         (no more results: StopIteration), MPROC_ETIMEDOUT, MPROC_ETASK,
 *         MPROC_EWORKERDIED, MPROC_ESTATE (the pool was terminated). */
mproc_status_t mproc_imap_next(mproc_imap_t *it, mproc_obj_t **out,
                               double timeout);
/** Releases the iterator (results not taken are dropped; the tasks run
 * on). NULL is fine. Errors: MPROC_EINVAL (not an iterator). */
mproc_status_t mproc_imap_free(mproc_imap_t *it);

/** get(timeout): *out is a new copy of the result (get may be called
 * again).
 * Errors: MPROC_EINVAL (NULL, not an async result, NaN timeout),
 *         MPROC_ETIMEDOUT (not ready in time), MPROC_ETASK (the function
 *         failed: its message in mproc_last_error()), MPROC_EWORKERDIED,
 *         MPROC_ESTATE (the pool was terminated first), MPROC_ENOMEM. */
mproc_status_t mproc_async_result_get(mproc_async_result_t *r,
                                      mproc_obj_t **out, double timeout);
/** wait(timeout). Errors: MPROC_EINVAL, MPROC_ETIMEDOUT. */
mproc_status_t mproc_async_result_wait(mproc_async_result_t *r,
                                       double timeout);
/** *out = 1 once the result (or failure) is in. Errors: MPROC_EINVAL. */
mproc_status_t mproc_async_result_ready(mproc_async_result_t *r, int *out);
/** *out = 1 if it succeeded. Errors: MPROC_EINVAL, MPROC_ESTATE (not
 * ready yet: CPython's ValueError). */
mproc_status_t mproc_async_result_successful(mproc_async_result_t *r,
                                             int *out);
/** Releases the handle (the task runs on). NULL is fine.
 * Errors: MPROC_EINVAL (not an async result). */
mproc_status_t mproc_async_result_free(mproc_async_result_t *r);

/** close(): no more tasks; the workers end once the queued ones are done.
 * Errors: MPROC_EINVAL (NULL, not a pool). */
mproc_status_t mproc_pool_close(mproc_pool_t *pool);
/** terminate(): kills the workers at once; unfinished results fail with
 * MPROC_ESTATE. Idempotent. Errors: MPROC_EINVAL. */
mproc_status_t mproc_pool_terminate(mproc_pool_t *pool);
/** join(timeout): waits for the workers to end, after close or terminate.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ESTATE (neither closed
 *         nor terminated: CPython's ValueError), MPROC_ETIMEDOUT. */
mproc_status_t mproc_pool_join(mproc_pool_t *pool, double timeout);
/** Terminates (as leaving CPython's `with Pool() as p:`) and releases the
 * pool. NULL is fine. Errors: MPROC_EINVAL (not a pool). */
mproc_status_t mproc_pool_free(mproc_pool_t *pool);

/* ------------------------------------------------------------------ */
/* Executors and futures: concurrent.futures (docs/executor.md)       */
/* ------------------------------------------------------------------ */

/** A process or thread executor (ProcessPoolExecutor, ThreadPoolExecutor):
 * a second front on the pool's task engine, so a crashed worker fails only
 * its own future (MPROC_EWORKERDIED) and is replaced. */
typedef struct mproc_executor mproc_executor_t;
/** The pending result of mproc_executor_submit (a Future). */
typedef struct mproc_future mproc_future_t;
/** The iterator of mproc_as_completed. */
typedef struct mproc_as_completed mproc_as_completed_t;
/** The iterator of mproc_executor_map. */
typedef struct mproc_executor_map mproc_executor_map_t;

/** max_workers value meaning the default: the CPUs this process may run
 * on (process executor), min(32, CPUs + 4) (thread executor). */
#define MPROC_EXECUTOR_DEFAULT_WORKERS (-1)

/** The options of the executors; mproc_executor_options_init gives the
 * defaults (CPython's ProcessPoolExecutor() / ThreadPoolExecutor()). */
typedef struct mproc_executor_options {
  int max_workers;               /**< > 0, or MPROC_EXECUTOR_DEFAULT_WORKERS */
  mproc_context_t *context;      /**< processes: start method; NULL: default */
  mproc_function_fn initializer; /**< run once in each worker, or NULL */
  const mproc_obj_t *initargs;   /**< its argument (copied), NULL: None */
  unsigned long max_tasks_per_child; /**< processes: tasks before a worker
                                          is replaced; 0: never */
  const char *thread_name_prefix; /**< threads: kept (copied) and given by
                                       mproc_executor_thread_name_prefix */
  double task_timeout;           /**< processes: seconds a future may run
                                      before it fails with MPROC_ETIMEDOUT
                                      and its worker is killed and
                                      replaced; negative: none (default) */
  int cancel_running;            /**< processes: 1 lets mproc_future_cancel
                                      stop a running future by killing its
                                      worker (replaced, as pebble's);
                                      0: CPython's (a running future is
                                      not cancelled) */
} mproc_executor_options_t;

/** Fills opts with the defaults. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_executor_options_init(mproc_executor_options_t *opts);

/** @{ */
/** ProcessPoolExecutor / ThreadPoolExecutor (opts NULL: the defaults).
 * Workers start at once.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out, max_workers 0 or below
 *         -1, NaN task_timeout, an option of the other kind: task_timeout,
 *         max_tasks_per_child or cancel_running on threads),
 *         MPROC_ENOTREGISTERED (spawn, forkserver: the initializer is not
 *         registered), MPROC_ENOMEM, and the errors of mproc_process_start. */
mproc_status_t mproc_process_executor_create(
    mproc_executor_t **out, const mproc_executor_options_t *opts);
mproc_status_t mproc_thread_executor_create(
    mproc_executor_t **out, const mproc_executor_options_t *opts);
/** @} */

/** The number of workers. Errors: MPROC_EINVAL (NULL, not an executor). */
mproc_status_t mproc_executor_max_workers(const mproc_executor_t *ex,
                                          int *out);
/** The thread name prefix given (NULL if none or a process executor).
 * Errors: MPROC_EINVAL (NULL, not an executor). */
mproc_status_t mproc_executor_thread_name_prefix(const mproc_executor_t *ex,
                                                 const char **out);

/** submit(fn, arg): *out is a new future for fn(arg) (arg copied; NULL is
 * None).
 * Errors: MPROC_EINVAL (NULL out, ex or fn, not an executor),
 *         MPROC_ESTATE (after shutdown: "cannot schedule new futures after
 *         shutdown"), MPROC_ENOTREGISTERED (spawn, forkserver: fn not
 *         registered), MPROC_ENOMEM, encoding errors of arg. */
mproc_status_t mproc_executor_submit(mproc_future_t **out,
                                     mproc_executor_t *ex,
                                     mproc_function_fn fn,
                                     const mproc_obj_t *arg);

/** shutdown(wait, cancel_futures): no more submits; cancel_futures 1
 * cancels the futures no worker has started (MPROC_ECANCELLED); wait 1
 * waits for the running ones and the workers. Idempotent.
 * Errors: MPROC_EINVAL (NULL, not an executor). */
mproc_status_t mproc_executor_shutdown(mproc_executor_t *ex, int wait,
                                       int cancel_futures);
/** @{ */
/** terminate_workers / kill_workers (3.14): cancels the pending futures,
 * stops the workers at once (both kill: a thread executor's threads
 * cannot be stopped, so there they finish their current task); running
 * futures fail with MPROC_ESTATE. Errors: MPROC_EINVAL. */
mproc_status_t mproc_executor_terminate_workers(mproc_executor_t *ex);
mproc_status_t mproc_executor_kill_workers(mproc_executor_t *ex);
/** @} */
/** Shuts down with wait (leaving `with ProcessPoolExecutor() as ex:`) and
 * releases the executor; its futures stay valid. NULL is fine.
 * Errors: MPROC_EINVAL (not an executor). */
mproc_status_t mproc_executor_free(mproc_executor_t *ex);

/** @{ */
/** map(fn, inputs, timeout, chunksize, buffersize): results in order, one
 * at a time with mproc_executor_map_next; items are taken lazily (from the
 * list inputs, or from source as mproc_pool_imap_iter's) and sent in
 * tasks of chunksize items, at most buffersize tasks in flight (0: no
 * bound: every item is submitted at once, as CPython without buffersize).
 * timeout (seconds from this call, negative: none) bounds every next.
 * The executor must outlive the iterator (next submits the next tasks).
 * Errors: MPROC_EINVAL (NULL, not an executor, inputs not a list,
 *         chunksize 0, NaN), MPROC_ESTATE (shut down),
 *         MPROC_ENOTREGISTERED, MPROC_ENOMEM. */
mproc_status_t mproc_executor_map(mproc_executor_map_t **out,
                                  mproc_executor_t *ex, mproc_function_fn fn,
                                  const mproc_obj_t *inputs, double timeout,
                                  size_t chunksize, size_t buffersize);
mproc_status_t mproc_executor_map_iter(mproc_executor_map_t **out,
                                       mproc_executor_t *ex,
                                       mproc_function_fn fn,
                                       mproc_item_source_fn source, void *ctx,
                                       double timeout, size_t chunksize,
                                       size_t buffersize);
/** @} */
/** The next result in order (a new value). A failed item gives its error
 * and the iterator moves past it.
 * Errors: MPROC_EINVAL (NULL, not a map iterator), MPROC_EOF (no more
 *         results), MPROC_ETIMEDOUT (map's timeout passed), MPROC_ETASK,
 *         MPROC_EWORKERDIED, MPROC_ECANCELLED, MPROC_ESTATE, the source's
 *         error (after the items before it), MPROC_ENOMEM. */
mproc_status_t mproc_executor_map_next(mproc_executor_map_t *it,
                                       mproc_obj_t **out);
/** Releases the iterator (the tasks in flight run on). NULL is fine.
 * Errors: MPROC_EINVAL (not a map iterator). */
mproc_status_t mproc_executor_map_free(mproc_executor_map_t *it);

/** result(timeout): *out is a new copy of the value.
 * Errors: MPROC_EINVAL (NULL, not a future, NaN), MPROC_ETIMEDOUT (not
 *         done in time), MPROC_ECANCELLED, and the function's failure:
 *         MPROC_ETASK (its message in mproc_last_error()),
 *         MPROC_EWORKERDIED (pid and exit code or signal), MPROC_ETIMEDOUT
 *         (task_timeout), MPROC_ESTATE (workers terminated), MPROC_ENOMEM. */
mproc_status_t mproc_future_result(mproc_future_t *f, mproc_obj_t **out,
                                   double timeout);
/** exception(timeout): once done, *status is the function's status
 * (MPROC_OK if it succeeded) and *message (may be NULL) its message,
 * valid while the future lives.
 * Errors: MPROC_EINVAL, MPROC_ETIMEDOUT, MPROC_ECANCELLED. */
mproc_status_t mproc_future_exception(mproc_future_t *f,
                                      mproc_status_t *status,
                                      const char **message, double timeout);
/** cancel(): *out = 1 if the future is (now) cancelled: it had not
 * started, or it was running on an executor with cancel_running (its
 * worker is killed and replaced; cancel waits up to 10 s for that). A done
 * future, or a running one without cancel_running, is not cancelled (as
 * in CPython). *out may be NULL. Errors: MPROC_EINVAL. */
mproc_status_t mproc_future_cancel(mproc_future_t *f, int *out);
/** @{ */
/** cancelled(), running(), done(): *out 1 or 0. Errors: MPROC_EINVAL. */
mproc_status_t mproc_future_cancelled(mproc_future_t *f, int *out);
mproc_status_t mproc_future_running(mproc_future_t *f, int *out);
mproc_status_t mproc_future_done(mproc_future_t *f, int *out);
/** @} */

/** A done callback: called with the future once it is done (in the
 * executor's result thread, or at once in the caller's thread if it is
 * done already). A status other than MPROC_OK is reported on stderr with
 * mproc_last_error(), and nothing else happens. */
typedef mproc_status_t (*mproc_done_callback_fn)(mproc_future_t *f,
                                                 void *ctx);
/** add_done_callback(fn). Freeing the future drops callbacks not run yet.
 * Errors: MPROC_EINVAL (NULL, not a future), MPROC_ENOMEM. */
mproc_status_t mproc_future_add_done_callback(mproc_future_t *f,
                                              mproc_done_callback_fn fn,
                                              void *ctx);
/** Releases the future (the task runs on). NULL is fine.
 * Errors: MPROC_EINVAL (not a future). */
mproc_status_t mproc_future_free(mproc_future_t *f);

/** return_when of mproc_futures_wait. */
enum {
  MPROC_FIRST_COMPLETED = 1, /**< any future done or cancelled */
  MPROC_FIRST_EXCEPTION = 2, /**< any future failed, or all done */
  MPROC_ALL_COMPLETED = 3    /**< every future done */
};

/** wait(fs, timeout, return_when): waits up to timeout seconds; done[i]
 * (n flags) is set to 1 for each future done (or cancelled) and 0 for the
 * rest; *ndone (may be NULL) counts the done ones. Running out of time is
 * not an error (CPython returns the two sets). Futures of any executors.
 * Errors: MPROC_EINVAL (NULL fs or done with n > 0, a NULL or not a
 *         future, return_when unknown, NaN). */
mproc_status_t mproc_futures_wait(mproc_future_t *const *fs, size_t n,
                                  int return_when, int *done, size_t *ndone,
                                  double timeout);

/** as_completed(fs): an iterator giving each future as it is done. The
 * futures must outlive the iterator.
 * Errors: MPROC_EINVAL (NULL, a not a future), MPROC_ENOMEM. */
mproc_status_t mproc_as_completed(mproc_as_completed_t **out,
                                  mproc_future_t *const *fs, size_t n);
/** The next future done (one of fs, not given before) within timeout.
 * Errors: MPROC_EINVAL, MPROC_EOF (all were given), MPROC_ETIMEDOUT. */
mproc_status_t mproc_as_completed_next(mproc_as_completed_t *it,
                                       mproc_future_t **out, double timeout);
/** Releases the iterator. NULL is fine. Errors: MPROC_EINVAL. */
mproc_status_t mproc_as_completed_free(mproc_as_completed_t *it);

/* ------------------------------------------------------------------ */
/* Threads: threading.Thread for C programs (docs/executor.md)        */
/* ------------------------------------------------------------------ */

/** A thread of this process running a function (over the platform's
 * threads, so it runs wherever mproc does). */
typedef struct mproc_thread mproc_thread_t;

/** Starts fn(arg) in a new thread.
 * Errors: MPROC_EINVAL (NULL out or fn), MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mproc_thread_create(mproc_thread_t **out, void (*fn)(void *),
                                   void *arg);
/** Waits up to timeout seconds for the thread to end.
 * Errors: MPROC_EINVAL (NULL, not a thread, NaN), MPROC_ETIMEDOUT,
 *         MPROC_ESTATE (called from the thread itself). */
mproc_status_t mproc_thread_join(mproc_thread_t *t, double timeout);
/** Joins the thread (without limit) if needed and releases it. NULL is
 * fine. Errors: MPROC_EINVAL (not a thread), MPROC_ESTATE (from itself). */
mproc_status_t mproc_thread_free(mproc_thread_t *t);

/** The longest thread name with its NUL. */
#define MPROC_THREAD_NAME_MAX 64

/** Names the calling thread (threading.current_thread().name = name):
 * mproc_thread_name gives it back, and the OS shows it where it keeps
 * names (Linux keeps the first 15 bytes). A thread executor's workers are
 * named "<thread_name_prefix>_<i>".
 * Errors: MPROC_EINVAL (NULL, MPROC_THREAD_NAME_MAX bytes or more). */
mproc_status_t mproc_thread_set_name(const char *name);
/** The calling thread's name, given by mproc_thread_set_name or by a
 * thread executor; "" for a thread mproc did not name.
 * Errors: MPROC_EINVAL (NULL out, or size too small for the name). */
mproc_status_t mproc_thread_name(char *out, size_t size);

/* ------------------------------------------------------------------ */
/* Connections: Pipe() and its two ends (docs/ipc.md)                  */
/* ------------------------------------------------------------------ */

/** One end of a message stream, as CPython's multiprocessing.Connection.
 * Messages keep their boundaries; bytes and values (mproc_obj_t) are
 * both messages. Attach an end to a process (mproc_process_attach) to
 * give it to a child under any start method. */
typedef struct mproc_connection mproc_connection_t;

/** send_bytes' size argument meaning "up to the end of the buffer". */
#define MPROC_REST ((size_t)-1)

/** Pipe(duplex): two connected ends. duplex 0 makes a one-way pipe: *end1
 * can only receive and *end2 only send, as in CPython.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL), MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mproc_pipe(mproc_connection_t **end1, mproc_connection_t **end2,
                          int duplex);

/** Sends buf[offset, offset+size) as one message (size MPROC_REST: up to
 * buflen). The timeout bounds the wait until the message can start: once
 * a byte of it is written the rest follows, so messages are never torn.
 * Errors: MPROC_EINVAL (NULL c; buf NULL with buflen > 0; offset > buflen;
 *         offset + size > buflen; NaN timeout), MPROC_ESTATE (closed, or
 *         not writable), MPROC_EOF (the other end is closed: CPython's
 *         BrokenPipeError), MPROC_ETIMEDOUT, MPROC_ESYS. */
mproc_status_t mproc_connection_send_bytes(mproc_connection_t *c,
                                           const void *buf, size_t buflen,
                                           size_t offset, size_t size,
                                           double timeout);

/** Receives one message into a new buffer (release with free()). maxlength
 * 0 means no limit. A message longer than maxlength is not consumed: the
 * call fails and a later call with a larger limit receives it (CPython
 * closes the connection instead). The timeout bounds the wait for a
 * message to start.
 * Errors: MPROC_EINVAL (NULL c/out/len, NaN timeout), MPROC_ESTATE (closed,
 *         or not readable), MPROC_EOF (the other end closed and no message
 *         is left, or it closed in the middle of one: then this end is
 *         unusable), MPROC_EMSGSIZE (longer than maxlength; *len gets its
 *         size), MPROC_ETIMEDOUT, MPROC_ENOMEM (message kept), MPROC_ESYS. */
mproc_status_t mproc_connection_recv_bytes(mproc_connection_t *c,
                                           size_t maxlength, void **out,
                                           size_t *len, double timeout);

/** Receives one message into buf + offset; *len gets its length. When it
 * does not fit in buflen - offset, nothing is consumed, *len gets the size
 * needed and the call fails with MPROC_EMSGSIZE (CPython's BufferTooShort).
 * Errors: as recv_bytes, and MPROC_EINVAL (buf NULL with buflen > 0,
 *         offset > buflen). */
mproc_status_t mproc_connection_recv_bytes_into(mproc_connection_t *c,
                                                void *buf, size_t buflen,
                                                size_t offset, size_t *len,
                                                double timeout);

/** @{ */
/** Sends / receives a value (its MessagePack encoding is the message).
 * send errors: as send_bytes, and those of mproc_obj_encode.
 * recv errors: as recv_bytes, and MPROC_EBADMSG (the message is not a
 * value; it is consumed). */
mproc_status_t mproc_connection_send(mproc_connection_t *c,
                                     const mproc_obj_t *v, double timeout);
mproc_status_t mproc_connection_recv(mproc_connection_t *c,
                                     mproc_obj_t **out, double timeout);
/** @} */

/** *ready = 1 when a message (or end of stream) can be received without
 * blocking, within timeout seconds; 0 when the time ran out (not an error).
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ESTATE (closed, not
 *         readable), MPROC_ESYS. */
mproc_status_t mproc_connection_poll(mproc_connection_t *c, int *ready,
                                     double timeout);

/** A sentinel for mproc_wait(): ready when a message or end of stream can
 * be received. Valid until close.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed, not readable). */
mproc_status_t mproc_connection_sentinel(const mproc_connection_t *c,
                                         mproc_sentinel_t *out);

/** @{ */
/** State flags (CPython's closed/readable/writable).
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_connection_closed(const mproc_connection_t *c,
                                       int *out);
mproc_status_t mproc_connection_readable(const mproc_connection_t *c,
                                         int *out);
mproc_status_t mproc_connection_writable(const mproc_connection_t *c,
                                         int *out);
/** @} */

/** Closes this end (in this process); the object stays valid for the flags
 * until mproc_connection_free; send, recv, poll and sentinel are
 * MPROC_ESTATE then. Closing twice is fine.
 * Errors: MPROC_EINVAL (NULL, not a live connection). */
mproc_status_t mproc_connection_close(mproc_connection_t *c);

/** Closes if needed and releases the object; c is invalid afterwards.
 * NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live connection: freed already, or of
 *         another kind). */
mproc_status_t mproc_connection_free(mproc_connection_t *c);

/* ------------------------------------------------------------------ */
/* Listener / Client (docs/ipc.md)                                     */
/* ------------------------------------------------------------------ */

/** Addresses: "unix:PATH" or any text with a '/' is a Unix-domain socket
 * path; "HOST:PORT" is TCP (port 0: any free port). With an authkey (not
 * NULL), both sides prove they know it before any message is delivered:
 * each sends the other a random challenge and checks its HMAC-SHA256
 * (CPython 3.11's protocol, with SHA-256 in place of MD5). */
typedef struct mproc_listener mproc_listener_t;

/** Listens on address; NULL picks a new Unix-domain path in the temporary
 * directory. authkey NULL: no authentication. A Unix-domain socket file is
 * removed by the process that created the listener only: at close, or at
 * its exit if it never closed it (a forked child's copy never removes it).
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out; authkey NULL with
 *         authkey_len > 0, or empty; malformed address; unknown host),
 *         MPROC_ENOMEM, MPROC_ESYS (address in use, no permission). */
mproc_status_t mproc_listener_create(mproc_listener_t **out,
                                     const char *address,
                                     const void *authkey, size_t authkey_len);

/** The address clients connect to (the chosen port filled in).
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_listener_address(const mproc_listener_t *l,
                                      const char **out);

/** Accepts one client and authenticates it. The timeout covers both, but
 * an accepted client's handshake always gets min(1 s, handshake timeout),
 * so that polling for clients with timeout 0 works, and never more than
 * the listener's handshake timeout (mproc_listener_set_handshake_timeout,
 * default MPROC_HANDSHAKE_TIMEOUT), whatever accept's timeout, even
 * MPROC_FOREVER. A client that stays silent, stalls in mid-message or
 * hangs up during the handshake is dropped, and accept goes on waiting for
 * the next client within its own timeout; it never holds the listener.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ESTATE (closed),
 *         MPROC_ETIMEDOUT (no client, or none completed the handshake, in
 *         time), MPROC_EAUTH (the client
 *         failed the challenge, refused ours, or sent an oversized or
 *         malformed handshake message: the connection is dropped before
 *         any of its messages is read), MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mproc_listener_accept(mproc_listener_t *l,
                                     mproc_connection_t **out,
                                     double timeout);

/** @{ */
/** How long an accepted client has at most to complete the handshake
 * (seconds, finite and > 0; default MPROC_HANDSHAKE_TIMEOUT, 5 s). Bounds
 * what a silent or stalled client costs a waiting accept.
 * Errors: MPROC_EINVAL (NULL l; NaN, infinite, zero or negative),
 *         MPROC_ESTATE (closed). */
#define MPROC_HANDSHAKE_TIMEOUT 5.0
mproc_status_t mproc_listener_set_handshake_timeout(mproc_listener_t *l,
                                                    double seconds);
/** @} */

/** CPython's Listener.close: stops listening and removes the Unix-domain
 * path if this process created the listener (not in a forked child). The
 * object stays until mproc_listener_free: its address can still be read;
 * accept and set_handshake_timeout are MPROC_ESTATE. Closing twice is fine.
 * Errors: MPROC_EINVAL (NULL, not a live listener). */
mproc_status_t mproc_listener_close(mproc_listener_t *l);

/** Closes l if needed and releases the object; l is invalid afterwards.
 * NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live listener: freed already, or of another
 *         kind). */
mproc_status_t mproc_listener_free(mproc_listener_t *l);

/** Connects to a Listener (CPython's Client) and authenticates with
 * authkey (NULL: none); the timeout covers connecting and the handshake.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL, malformed address, bad
 *         authkey arguments, NaN timeout), MPROC_EAUTH (wrong key, or the
 *         server wanted none/another protocol), MPROC_ETIMEDOUT (no answer
 *         to connect, or no challenge came: e.g. the server has no key),
 *         MPROC_EOF, MPROC_ENOMEM, MPROC_ESYS (refused, no such path).
 *         With a timeout, a silent server, one that stalls in mid-message
 *         (MPROC_ETIMEDOUT) or announces an oversized handshake message
 *         (MPROC_EAUTH, at once) cannot hold the call past it. */
mproc_status_t mproc_client(mproc_connection_t **out, const char *address,
                            const void *authkey, size_t authkey_len,
                            double timeout);

/* ------------------------------------------------------------------ */
/* Queues: Queue, SimpleQueue, JoinableQueue (docs/ipc.md)             */
/* ------------------------------------------------------------------ */

/** A multi-producer multi-consumer FIFO shared by processes: a ring in
 * shared memory, no feeder thread (put returns once the item is in the
 * ring, so a producer can always be joined before the queue is drained).
 * Items are values or raw bytes. FIFO per producer; no item is lost,
 * duplicated or torn, even when a process using the queue is SIGKILLed
 * (it may take down at most the item it was putting or had just got).
 * The three kinds share this type; task_done/join need a joinable one. */
typedef struct mproc_queue mproc_queue_t;

/** Default ring size: the bytes the queue can hold at once (items need 8
 * bytes of framing each, rounded to 8). */
#define MPROC_QUEUE_DEFAULT_CAPACITY ((size_t)16 << 20)

/** @{ */
/** Queue(maxsize) (0: no item limit), JoinableQueue(maxsize), SimpleQueue().
 * capacity is the ring's size in bytes (0: the default); one item can be
 * at most capacity - 8 bytes. The ring is reserved, not touched: unused
 * capacity costs address space only.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out; capacity < 64 or above
 *         128 MiB), MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mproc_queue_create(mproc_queue_t **out, size_t maxsize,
                                  size_t capacity);
mproc_status_t mproc_joinable_queue_create(mproc_queue_t **out,
                                           size_t maxsize, size_t capacity);
mproc_status_t mproc_simple_queue_create(mproc_queue_t **out);
/** @} */

/** @{ */
/** Puts an item, waiting up to timeout seconds for room (0: put_nowait).
 * Contention is not Full: a timeout under 1 s may wait up to 1 s for the
 * producers' lock (held for one copy), except behind a producer that waits
 * for room, which makes it MPROC_EFULL at once (docs/ipc.md).
 * Errors: MPROC_EINVAL (NULL q; buf NULL with len > 0; NaN timeout),
 *         MPROC_ESTATE (closed; a JoinableQueue with 2^31 - 1 tasks
 *         unfinished: call task_done), MPROC_EMSGSIZE (the item can never
 *         fit the ring), MPROC_EFULL (no room in time: queue.Full), errors
 *         of mproc_obj_encode, MPROC_ESYS. */
mproc_status_t mproc_queue_put(mproc_queue_t *q, const mproc_obj_t *v,
                               double timeout);
mproc_status_t mproc_queue_put_bytes(mproc_queue_t *q, const void *buf,
                                     size_t len, double timeout);
mproc_status_t mproc_queue_put_nowait(mproc_queue_t *q,
                                      const mproc_obj_t *v);
/** @} */

/** @{ */
/** Gets the oldest item, waiting up to timeout seconds (0: get_nowait).
 * Contention is not Empty: as for put, a timeout under 1 s may wait up to
 * 1 s for the consumers' lock, except behind a consumer waiting for items.
 * An item put as bytes comes out of get() as a bytes value; get_bytes
 * gives any item's raw message (for a value: its MessagePack encoding).
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ESTATE (closed),
 *         MPROC_EEMPTY (nothing in time: queue.Empty), MPROC_EBADMSG (the
 *         item is not a value; it is consumed), MPROC_ENOMEM (the item
 *         stays queued), MPROC_ESYS. */
mproc_status_t mproc_queue_get(mproc_queue_t *q, mproc_obj_t **out,
                               double timeout);
mproc_status_t mproc_queue_get_nowait(mproc_queue_t *q, mproc_obj_t **out);
/** @} */
/** The item in a new buffer (release with free()). */
mproc_status_t mproc_queue_get_bytes(mproc_queue_t *q, void **out,
                                     size_t *len, double timeout);
/** The item into buf; when it is longer than buflen, it stays queued,
 * *len gets its size and the call fails with MPROC_EMSGSIZE. */
mproc_status_t mproc_queue_get_bytes_into(mproc_queue_t *q, void *buf,
                                          size_t buflen, size_t *len,
                                          double timeout);

/** @{ */
/** Approximate state, as in CPython (others may change it at once).
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (closed). */
mproc_status_t mproc_queue_qsize(mproc_queue_t *q, size_t *out);
mproc_status_t mproc_queue_empty(mproc_queue_t *q, int *out);
mproc_status_t mproc_queue_full(mproc_queue_t *q, int *out);
/** @} */

/** @{ */
/** JoinableQueue: one task_done per item got; join waits until every item
 * put has had its task_done.
 * Errors: MPROC_EINVAL (NULL, NaN timeout), MPROC_ESTATE (not joinable;
 *         closed; task_done called more times than items were put:
 *         CPython's ValueError), MPROC_ETIMEDOUT (join), MPROC_ESYS. */
mproc_status_t mproc_queue_task_done(mproc_queue_t *q);
mproc_status_t mproc_queue_join(mproc_queue_t *q, double timeout);
/** @} */

/** This process will put and get no more (CPython's close): later puts and
 * gets are MPROC_ESTATE; the memory stays until mproc_queue_free.
 * Idempotent.
 * Errors: MPROC_EINVAL (NULL, not a live queue). */
mproc_status_t mproc_queue_close(mproc_queue_t *q);
/** @{ */
/** CPython waits here for its feeder thread to flush; mproc has none, so
 * these return at once (join_thread requires close first, as CPython).
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (join_thread before close). */
mproc_status_t mproc_queue_join_thread(mproc_queue_t *q);
mproc_status_t mproc_queue_cancel_join_thread(mproc_queue_t *q);
/** @} */
/** Releases this process's view of the queue (the shared ring goes when
 * the last process lets go); q is invalid afterwards. NULL is fine
 * (MPROC_OK). Closing first is not needed.
 * Errors: MPROC_EINVAL (not a live queue: freed already, or of another
 *         kind). */
mproc_status_t mproc_queue_free(mproc_queue_t *q);

/* ------------------------------------------------------------------ */
/* Managers and proxies (docs/manager.md)                              */
/* ------------------------------------------------------------------ */
/* CPython's SyncManager: a server process holds objects (dict, list,
 * Namespace, Value, Array, Queue, JoinableQueue, Lock, RLock, Semaphore,
 * BoundedSemaphore, Condition, Event, Barrier, and types a program
 * registers); other processes use them through proxies, each call one
 * request and one reply on an authenticated connection. Values cross as
 * mproc_obj_t. A proxy attached to a child (mproc_process_attach) works
 * there under every start method, and one proxy may be used from several
 * threads at once (each call takes a connection of its own from a pool). */
/** A manager: the server process this program started, or one it connected to. */
typedef struct mproc_manager mproc_manager_t;
/** A proxy: this process's handle on one object of a manager's server. */
typedef struct mproc_proxy mproc_proxy_t;
/** A manager's server run by the current process (serve_forever). */
typedef struct mproc_manager_server mproc_manager_server_t;

/** Options of mproc_manager_start (zeros: all defaults). */
typedef struct mproc_manager_options {
  mproc_context_t *ctx;   /**< start method of the server; NULL: default */
  const char *address;    /**< NULL: a new local endpoint; "HOST:PORT": TCP
                               (port 0: any free port); a path: Unix socket */
  const void *authkey;    /**< NULL: 32 random bytes (see authkey()) */
  size_t authkey_len;     /**< bytes of authkey */
  mproc_task_fn initializer; /**< run in the server first (an MPROC_TASK
                                  under spawn/forkserver); NULL: none */
  const void *initarg;    /**< its argument bytes (copied) */
  size_t initarg_len;     /**< their length */
  double shutdown_timeout; /**< shutdown waits this long before terminate,
                                and as long again before kill; 0: 1 s */
} mproc_manager_options_t;

/** Starts a manager: a server process (a daemon child, so it dies with
 * this process) listening at the address with the authkey. Returns once
 * the server listens.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out, NaN or negative
 *         shutdown_timeout, authkey NULL with authkey_len > 0),
 *         MPROC_ENOTREGISTERED (spawn, forkserver: an initializer that is
 *         not an MPROC_TASK), MPROC_ESPAWN (the server failed before it
 *         listened: its message in the detail), MPROC_ENOMEM, MPROC_ESYS,
 *         and those of mproc_process_start. */
mproc_status_t mproc_manager_start(mproc_manager_t **out,
                                   const mproc_manager_options_t *options);

/** Connects to a manager another process started (BaseManager.connect),
 * given its address and authkey; the timeout covers connect and the
 * handshake. Shutting such a manager down stops its server too.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL, MPROC_EAUTH (wrong or missing key),
 *         MPROC_EMANAGER (nobody listens there), MPROC_ETIMEDOUT,
 *         MPROC_ENOMEM. */
mproc_status_t mproc_manager_connect(mproc_manager_t **out,
                                     const char *address, const void *authkey,
                                     size_t authkey_len, double timeout);

/** @{ */
/** The address clients connect to, and the authkey (valid while m lives).
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_manager_address(const mproc_manager_t *m,
                                     const char **out);
mproc_status_t mproc_manager_authkey(const mproc_manager_t *m,
                                     const void **out, size_t *len);
/** @} */

/** Stops the server: asks it to stop, waits shutdown_timeout for its
 * process to end, then terminates it, then kills it (CPython's
 * shutdown_timeout). The objects it held are gone; later calls on its
 * proxies fail with MPROC_EMANAGER. Twice is fine.
 * Errors: MPROC_EINVAL (NULL, not a manager), MPROC_ESYS. */
mproc_status_t mproc_manager_shutdown(mproc_manager_t *m);

/** Shuts the manager down (if this process started it and it still runs)
 * and releases the object. NULL is fine (MPROC_OK).
 * Errors: MPROC_EINVAL (not a live manager). */
mproc_status_t mproc_manager_free(mproc_manager_t *m);

/** Creates an object of type type_id on the server (a SyncManager type id:
 * "dict", "list", "Namespace", "Value", "Array", "Queue",
 * "JoinableQueue", "Lock", "RLock", "Semaphore", "BoundedSemaphore",
 * "Condition", "Event", "Barrier", or a registered one) from args (a list
 * of constructor arguments, docs/manager.md; NULL: none) and returns a
 * proxy to it. mproc_manager_dict and mproc_manager_list are shorthands.
 * Errors: MPROC_EINVAL (NULL out, m or type_id; unknown type id; bad
 *         constructor arguments), MPROC_EREMOTE (a registered constructor
 *         failed), MPROC_EMANAGER, MPROC_ENOMEM. */
mproc_status_t mproc_manager_create(mproc_proxy_t **out, mproc_manager_t *m,
                                    const char *type_id,
                                    const mproc_obj_t *args);
/** @{ */
/** Shorthands: manager.dict(), manager.list() (empty). Errors: as create. */
mproc_status_t mproc_manager_dict(mproc_proxy_t **out, mproc_manager_t *m);
mproc_status_t mproc_manager_list(mproc_proxy_t **out, mproc_manager_t *m);
/** @} */

/** The number of objects the server holds (for tests and leak checks).
 * Errors: MPROC_EINVAL (NULL), MPROC_EMANAGER. */
mproc_status_t mproc_manager_object_count(mproc_manager_t *m, size_t *out);

/** Calls method on the proxy's referent with args (a list of arguments;
 * NULL: none) and gives its result (*result, a new value; result may be
 * NULL to drop it). The methods of each type are listed in
 * docs/manager.md; blocking ones take their timeout as an argument.
 * Errors: MPROC_EINVAL (NULL p or method, unknown method: the detail names
 *         it), MPROC_EREMOTE (the referent raised: KeyError, IndexError,
 *         ValueError, a registered method's failure, with its message),
 *         the referent's own statuses (MPROC_ETIMEDOUT, MPROC_EEMPTY,
 *         MPROC_EFULL, MPROC_EBROKEN, MPROC_ESTATE), MPROC_EMANAGER (the
 *         manager is gone: at once, never a hang), MPROC_ENOMEM. */
mproc_status_t mproc_proxy_call(mproc_proxy_t *p, const char *method,
                                const mproc_obj_t *args,
                                mproc_obj_t **result);

/** mproc_proxy_call with the arguments built by mproc_obj_build's codes:
 * mproc_proxy_callf(d, NULL, "__setitem__", "is", 1, "one"). fmt lists
 * the arguments ("" or NULL: none).
 * Errors: those of mproc_obj_build and mproc_proxy_call. */
mproc_status_t mproc_proxy_callf(mproc_proxy_t *p, mproc_obj_t **result,
                                 const char *method, const char *fmt, ...);

/** Calls a method that returns a proxy (register's method_to_typeid):
 * *out is a proxy to the new object.
 * Errors: those of mproc_proxy_call; MPROC_EINVAL (the method returns a
 *         value, not a proxy). */
mproc_status_t mproc_proxy_call_proxy(mproc_proxy_t *p, const char *method,
                                      const mproc_obj_t *args,
                                      mproc_proxy_t **out);

/** The proxy's type id (static or valid while p lives).
 * Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_proxy_typeid(const mproc_proxy_t *p, const char **out);

/** @{ */
/** Nested proxies: a token is a value naming the referent, to store in a
 * managed dict or list (the server keeps the object alive while it holds
 * the token); from_token makes a proxy again from a token read back, on
 * the connection of via (any proxy of the same manager).
 * Errors: MPROC_EINVAL (NULL; not a token), MPROC_EMANAGER, MPROC_ENOMEM. */
mproc_status_t mproc_proxy_token(mproc_obj_t **out, const mproc_proxy_t *p);
mproc_status_t mproc_proxy_from_token(mproc_proxy_t **out,
                                      const mproc_proxy_t *via,
                                      const mproc_obj_t *token);
/** @} */

/** Releases the proxy (the server drops its reference: an object no proxy
 * refers to is freed). NULL is fine (MPROC_OK); a manager already gone is
 * fine too.
 * Errors: MPROC_EINVAL (not a live proxy). */
mproc_status_t mproc_proxy_free(mproc_proxy_t *p);

/** In a child: the index-th attached object, a proxy.
 * Errors: as mproc_attached_queue. */
mproc_status_t mproc_attached_proxy(size_t index, mproc_proxy_t **out);

/** @{ */
/** register(): a type the manager's server can create, with a table of
 * named methods (object in, object out). A method returns MPROC_OK with
 * *out (NULL: None), or a failure whose message (mproc_function_error)
 * reaches the caller as MPROC_EREMOTE. result_typeid (method_to_typeid)
 * makes the method's result the constructor argument of a new object of
 * that type, returned as a proxy (mproc_proxy_call_proxy). */
typedef mproc_status_t (*mproc_manager_method_fn)(void *self,
                                                  const mproc_obj_t *args,
                                                  mproc_obj_t **out);
/** @} */
/** One named method of a registered type. */
typedef struct mproc_manager_method {
  const char *name;          /**< the method's name */
  mproc_manager_method_fn fn; /**< the method */
  const char *result_typeid; /**< NULL: returns a value; else a proxy */
} mproc_manager_method_t;
/** A type for mproc_manager_register: its constructor, destructor and
 * methods. */
typedef struct mproc_manager_type {
  const char *type_id; /**< the type's name (unique) */
  /** Makes a new object from the constructor arguments (a list, or NULL). */
  mproc_status_t (*create)(const mproc_obj_t *args, void **self);
  void (*destroy)(void *self);             /**< releases it; may be NULL */
  const mproc_manager_method_t *methods;   /**< ended by a NULL name */
  int thread_safe; /**< 0: the server runs one method of an object at a time */
} mproc_manager_type_t;

/** Registers a type for every manager server this program starts or runs
 * (the table is kept, not copied). A server started by spawn or
 * forkserver is a fresh copy of the program: register before mproc_init
 * (or from a constructor) so that it knows the type too.
 * Errors: MPROC_EINVAL (NULL type, type_id, create or methods; a method
 *         without name or fn), MPROC_ESTATE (the type_id is taken),
 *         MPROC_ENOMEM. */
mproc_status_t mproc_manager_register(const mproc_manager_type_t *type);

/** @{ */
/** Serving in the current process (get_server().serve_forever()):
 * create listens (address and authkey as mproc_manager_options_t, but
 * the authkey is required), serve_forever serves until a client's
 * mproc_manager_shutdown, free releases the server (the threads of
 * clients still connected end when those disconnect).
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL; no authkey), MPROC_ESTATE
 *         (serve_forever twice), and those of mproc_listener_create. */
mproc_status_t mproc_manager_server_create(mproc_manager_server_t **out,
                                           const char *address,
                                           const void *authkey,
                                           size_t authkey_len);
mproc_status_t mproc_manager_server_address(const mproc_manager_server_t *s,
                                            const char **out);
mproc_status_t mproc_manager_server_serve_forever(mproc_manager_server_t *s);
mproc_status_t mproc_manager_server_free(mproc_manager_server_t *s);
/** @} */

/* ------------------------------------------------------------------ */
/* Object kinds                                                        */
/* ------------------------------------------------------------------ */

/** @{ */
/** Every object has a kind (queue, connection, lock, semaphore, event,
 * condition, barrier, value, array, shared_memory), and every call checks
 * it first: an object of another kind, one already freed, or a pointer that
 * is no mproc object at all is MPROC_EINVAL, with a detail naming both
 * kinds ("queue_put: expected a queue, got a lock"), never a crash or a
 * silent success. Freed objects' memory is kept for later objects of mproc
 * (never handed back to malloc), so even a freed pointer is told apart;
 * once a later object reuses that memory, the stale pointer names it.
 * (A Lock and an RLock are one kind, "lock", as are the three queues.)
 *
 * In a child, the typed accessors return the index-th attached object,
 * checking its kind: prefer them to mproc_attached()'s void *.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out, index out of range, an
 *         object of another kind: the detail names both). */
mproc_status_t mproc_attached_queue(size_t index, mproc_queue_t **out);
mproc_status_t mproc_attached_connection(size_t index,
                                         mproc_connection_t **out);
mproc_status_t mproc_attached_lock(size_t index, mproc_lock_t **out);
mproc_status_t mproc_attached_semaphore(size_t index,
                                        mproc_semaphore_t **out);
mproc_status_t mproc_attached_event(size_t index, mproc_event_t **out);
mproc_status_t mproc_attached_condition(size_t index,
                                        mproc_condition_t **out);
mproc_status_t mproc_attached_barrier(size_t index, mproc_barrier_t **out);
mproc_status_t mproc_attached_value(size_t index, mproc_value_t **out);
mproc_status_t mproc_attached_array(size_t index, mproc_array_t **out);
mproc_status_t mproc_attached_shared_memory(size_t index,
                                            mproc_shared_memory_t **out);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* MPROC_H */
