/* SPDX-License-Identifier: Apache-2.0 */
/* The fork start method (CPython's popen_fork): the child is a copy of the
 * parent and runs the target's function pointer; no registry needed. */
#include "core/popen.h"

static mproc_status_t fork_start(mproc_process_t *p, mp_child_t **out) {
  /* The standard streams only, as CPython (util._flush_std_streams): else
   * the child would write their buffered output a second time. Any other
   * stream the child inherits it never flushes (mp_process_fork_main), so
   * its buffer is written once, by the parent. fflush(NULL) took stdio's
   * list lock, a write into a page the fork had just shared: one more
   * copy-on-write fault for the parent and one for the child (and
   * mp_flush_std_streams writes nothing when nothing is buffered). */
  mp_flush_std_streams();
  return mp_child_fork(out, mp_process_fork_main, p,
                       mp_process_dies_with_parent(p));
}

const mp_start_method_t mp_popen_fork = {"fork", mp_platform_can_fork,
                                         fork_start};
