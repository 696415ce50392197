// SPDX-License-Identifier: Apache-2.0
// The second file of audit_twin_test: tasks named like those of
// audit_twin_a.cc (MPROC_TASK makes static functions, so that is legal).
#include "mproc.h"

#define AUDIT_TWIN_CODE 20
#include "tests/audit_twin_tasks.h"

MPROC_TASK(worker) {
  (void)arg;
  (void)arg_len;
  return 20;
}

// A barrier action of the same name as one in audit_twin_a.cc: this one
// fails (breaks the barrier).
MPROC_TASK(barrier_action) {
  (void)arg;
  (void)arg_len;
  return 1;
}

mproc_task_fn WorkerOfFileB() { return worker; }
mproc_task_fn BarrierActionOfFileB() { return barrier_action; }
mproc_task_fn HeaderWorkerOfFileB() { return header_worker; }
