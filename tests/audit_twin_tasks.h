/* SPDX-License-Identifier: Apache-2.0 */
// Included by both audit_twin_a.cc and audit_twin_b.cc: one task name and
// one file (this header) for two different functions, told apart by the
// code each translation unit defines before including it.
#ifndef AUDIT_TWIN_CODE
#error "define AUDIT_TWIN_CODE before including audit_twin_tasks.h"
#endif

#include "mproc.h"

MPROC_TASK(header_worker) {
  (void)arg;
  (void)arg_len;
  return AUDIT_TWIN_CODE + 1;
}
