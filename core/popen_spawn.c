/* SPDX-License-Identifier: Apache-2.0 */
/* The spawn start method (CPython's popen_spawn_posix/_win32): a fresh copy
 * of the program reads a bootstrap record naming a registered task and the
 * attached objects, and inherits exactly their handles. */
#include "core/popen.h"

static int spawn_available(void) { return 1; }

static mproc_status_t spawn_start(mproc_process_t *p, mp_child_t **out) {
  mp_spawn_record_t r;
  mproc_status_t st = mp_process_spawn_record(p, "spawn", &r);
  if (st != MPROC_OK) return st;
  st = mp_child_spawn(out, r.blob, r.len, r.handles.items, r.handles.len,
                      mp_process_dies_with_parent(p));
  mp_spawn_record_free(&r);
  return st;
}

const mp_start_method_t mp_popen_spawn = {"spawn", spawn_available,
                                          spawn_start};
