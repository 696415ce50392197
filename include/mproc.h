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
 * The argument bytes are copied. ctx NULL means the default context.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out or target, arg NULL with
 *         arg_len > 0), MPROC_ENOMEM. */
mproc_status_t mproc_process_create(mproc_process_t **out,
                                    mproc_context_t *ctx,
                                    mproc_task_fn target, const void *arg,
                                    size_t arg_len);

/* Sets the name (copied); default "Process-N" (N:M in a child).
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

#ifdef __cplusplus
}
#endif

#endif /* MPROC_H */
