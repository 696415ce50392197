/* SPDX-License-Identifier: Apache-2.0 */
/* The forkserver start method (CPython's popen_forkserver): the same
 * bootstrap record as spawn, handed to a server process (started from a
 * fresh copy of the program on first use, before any thread of the
 * program could hold a lock) that forks the child. The child then runs
 * the spawned-child path: its task from the registry, its objects
 * imported as under spawn. The server itself is the platform's
 * (mp_child_forkserver, platform/posix/forkserver.c). */
#include "core/popen.h"

static mproc_status_t forkserver_start(mproc_process_t *p, mp_child_t **out) {
  mp_spawn_record_t r;
  mproc_status_t st = mp_process_spawn_record(p, "forkserver", &r);
  if (st != MPROC_OK) return st;
  st = mp_child_forkserver(out, r.blob, r.len, r.handles.items, r.handles.len,
                           mp_process_dies_with_parent(p));
  mp_spawn_record_free(&r);
  return st;
}

const mp_start_method_t mp_popen_forkserver = {
    "forkserver", mp_platform_can_forkserver, forkserver_start};
