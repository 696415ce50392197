/* SPDX-License-Identifier: Apache-2.0 */
/* The fork start method (CPython's popen_fork): the child is a copy of the
 * parent and runs the target's function pointer; no registry needed. */
#include <stdio.h>

#include "core/popen.h"

static mproc_status_t fork_start(mproc_process_t *p, mp_child_t **out) {
  fflush(NULL); /* else the child writes the parent's buffered output too */
  return mp_child_fork(out, mp_process_fork_main, p,
                       mp_process_dies_with_parent(p));
}

const mp_start_method_t mp_popen_fork = {"fork", mp_platform_can_fork,
                                         fork_start};
