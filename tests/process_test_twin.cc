// SPDX-License-Identifier: Apache-2.0
// A task named like one in process_test.cc, in another file: the two
// functions share the name "twin_task", and spawn tells them apart by file.
#include "mproc.h"

MPROC_TASK(twin_task) {
  (void)arg;
  (void)arg_len;
  return 7;
}

mproc_task_fn TwinTaskOfOtherFile() { return twin_task; }
