/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to platform/posix. */
#ifndef MPROC_PLATFORM_POSIX_H
#define MPROC_PLATFORM_POSIX_H

#include <apr_thread_proc.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mproc.h"
#include "platform/platform.h"

/* A child (process.c; forkserver.c makes them too). */
struct mp_child {
  apr_proc_t proc;
  /* The sentinel: the read end of a pipe whose write end only the child
   * holds (EOF once it is gone); for a forkserver child (via_server) the
   * connection to the server, readable once its exit status arrived. */
  int sentinel_fd;
  int ended;
  int exitcode;
  /* A thread is blocked in waitpid() for it (mp_child_wait without a
   * timeout): nobody else reaps it meanwhile. Under the reap lock. */
  int reaping;
  /* It ran on past the grace with its sentinel closed (it exec'd, or
   * closed its files): no more grace. Any thread may set it. */
  int outlived_sentinel; /* __atomic builtins */
  int via_server; /* forked by the forkserver */
  int lost;       /* its server ended before telling its exit status */
};

/* calloc'd child with that sentinel. Errors: MPROC_ENOMEM. */
mproc_status_t mp_posix_child_alloc(mp_child_t **out, int sentinel_fd);

/* The environment variable that makes a process the forkserver. */
#define MP_POSIX_FORKSERVER_ENV "MPROC_FORKSERVER"

/* posix_spawn of this program with argv {exe, marker}, env_entry added to
 * the environment (without mproc's own variables), standard input from
 * /dev/null, and only the pass and keep descriptors inherited (at their
 * values). 0 or an errno (ENOMEM: the environment). */
int mp_posix_spawn_program(const char *env_entry, const char *marker,
                           const mp_handle_t *pass, size_t npass,
                           const int *keep, size_t nkeep, pid_t *pid);

/* die_with_parent in a new child (process.c): arranges that it ends when
 * parent_pid does, and ends it at once if that already happened. A
 * failure is told on standard error. */
void mp_posix_child_die_with_parent(long parent_pid);
/* The two halves: watching (errors: MPROC_ENOTSUP, MPROC_ESYS), and ending
 * this process as an orphaned daemon (SIGTERM, then SIGKILL after a
 * grace; only after mp_posix_watch_parent succeeded). */
mproc_status_t mp_posix_watch_parent(long parent_pid);
void mp_posix_end_orphan(void);

/* MPROC_OK when every handle of pass can be passed to a child (a stream,
 * a listener or a segment with a descriptor value), else MPROC_EINVAL
 * naming what (mp_child_spawn, mp_child_forkserver). */
mproc_status_t mp_posix_check_passable(const mp_handle_t *pass, size_t npass,
                                       const char *what);

/* SIGTERM, SIGKILL or SIGCONT. */
int mp_posix_signal_number(mp_signal_t sig);
/* Sends sig to pid (KILL_GROUP: to its group if it leads one); 0, or the
 * errno (a pid already gone is no error). */
int mp_posix_kill(pid_t pid, mp_signal_t sig);

/* mp_child_wait and mp_child_signal of a forkserver child (forkserver.c). */
mproc_status_t mp_posix_forkserver_wait(mp_child_t *c, double timeout,
                                        int *exitcode);
mproc_status_t mp_posix_forkserver_signal(mp_child_t *c, mp_signal_t sig);
/* In a child of the forkserver, when parent_pid is its mproc parent: 1 and
 * *alive set. Else 0 (not such a child: ask getppid()). */
int mp_posix_forkserver_parent_alive(long parent_pid, int *alive);

/* Reads exactly len bytes from fd, across signals: 0, EPIPE (end of file
 * first) or the errno. */
int mp_posix_read_full(int fd, void *buf, size_t len);

/* Where temporary files go: $TMPDIR, else /tmp (CPython's tempfile). */
const char *mp_posix_temp_dir(void);

/* The absolute path of this program's executable, or NULL if unknown. */
const char *mp_posix_executable(void);

/* Ends the process at once with code: no atexit handlers, no stdio flush
 * (a forked child's end). */
void mp_posix_exit_now(int code) __attribute__((noreturn));

/* Every descriptor mproc creates goes through this: fd itself when it is
 * above standard error (or negative: a failed creation, errno kept), else
 * a close-on-exec duplicate above it, with fd closed (-1 and errno if that
 * fails). A program that closed standard input, output or error would
 * otherwise be handed 0, 1 or 2 for a queue or a pipe, and a child's
 * standard streams would then overwrite it (its /dev/null stdin) or write
 * into it (its printf). */
int mp_posix_above_stdio(int fd);

/* A close-on-exec duplicate of descriptor os, above standard error, in
 * *fd. Errors: MPROC_EINVAL (os is not open), MPROC_ESYS; what names the
 * handle in the detail. */
mproc_status_t mp_posix_duplicate(intptr_t os, int *fd, const char *what);

/* Serialises reaping children (see try_reap() in process.c). */
void mp_posix_reap_lock(void);
void mp_posix_reap_unlock(void);

/* poll() until one of set is ready or the whole timeout (seconds,
 * negative: none) has passed, across signals and early returns.
 * MPROC_OK, MPROC_ETIMEDOUT (no detail recorded: callers word it), or
 * MPROC_ESYS. */
mproc_status_t mp_posix_poll_until(struct pollfd *set, size_t n,
                                   double timeout);

/* Before [base, base + size) is unmapped: the calling thread's robust-list
 * "pending" slot, left on the last lock word it released, must not point
 * there (sync.c). */
void mp_posix_forget_pending_in(const void *base, size_t size);
/* The status for an errno from sizing or mapping shared memory: sizes the
 * OS refuses (ENOMEM, EFBIG, EINVAL, ENOSPC, EOVERFLOW: too large for the
 * file system, the address space or off_t) are MPROC_ENOMEM, the rest
 * (EMFILE, ENFILE, ...) MPROC_ESYS. Callers add strerror(err) to the
 * detail. */
mproc_status_t mp_posix_shm_size_status(int err);

/* Whether err means the process or system is out of descriptors or kernel
 * memory (EMFILE, ENFILE, ENOMEM): a look-up that failed so did not look,
 * and must not report "not found". */
int mp_posix_out_of_resources(int err);

#endif
