/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to platform/posix. */
#ifndef MPROC_PLATFORM_POSIX_H
#define MPROC_PLATFORM_POSIX_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc.h"

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
