/* SPDX-License-Identifier: Apache-2.0 */
/* Internal, for tests: states of a queue that take too long to reach
 * with real calls. */
#ifndef MPROC_CORE_QUEUE_TESTING_H
#define MPROC_CORE_QUEUE_TESTING_H

#include <stdint.h>

#include "mproc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Makes a JoinableQueue count n unfinished tasks more, as if n items had
 * been put and got without task_done (2^31 real puts take minutes).
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (not joinable). */
mproc_status_t mp_queue_testing_pretend_unfinished(mproc_queue_t *q,
                                                   uint64_t n);

/* Whether each side of q has an owner that goes without the lock (its
 * first user, while no second one came: core/queue.c). */
mproc_status_t mp_queue_testing_sides(mproc_queue_t *q, int *put_alone,
                                      int *get_alone);

/* 1 where a side's sole user goes without the lock (the platform has a
 * cross-process barrier: mp_remote_barrier_join), 0 where every call
 * locks (Windows). */
int mp_queue_testing_lockless(void);

/* The calling process's next put writes its record and then sleeps for
 * ever before committing it: a process to kill in mid-put. */
void mp_queue_testing_stall_before_commit(void);

#ifdef __cplusplus
}
#endif

#endif
