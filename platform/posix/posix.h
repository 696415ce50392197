/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to platform/posix. */
#ifndef MPROC_PLATFORM_POSIX_H
#define MPROC_PLATFORM_POSIX_H

#include <poll.h>
#include <stddef.h>

#include "mproc.h"

/* The absolute path of this program's executable, or NULL if unknown. */
const char *mp_posix_executable(void);

/* Serialises reaping children (see try_reap() in process.c). */
void mp_posix_reap_lock(void);
void mp_posix_reap_unlock(void);

/* poll() until one of set is ready or the whole timeout (seconds,
 * negative: none) has passed, across signals and early returns.
 * MPROC_OK, MPROC_ETIMEDOUT (no detail recorded: callers word it), or
 * MPROC_ESYS. */
mproc_status_t mp_posix_poll_until(struct pollfd *set, size_t n,
                                   double timeout);

#endif
