/* SPDX-License-Identifier: Apache-2.0 */
/* Timeout arguments and deadlines, shared by every blocking call. */
#include <math.h>

#include "core/internal.h"

mproc_status_t mp_check_timeout(double timeout, const char *what) {
  if (isnan(timeout))
    return mp_fail(MPROC_EINVAL, "%s: the timeout is NaN", what);
  return MPROC_OK;
}

double mp_deadline(double timeout) {
  return timeout < 0 ? -1 : mp_monotonic() + timeout;
}

double mp_time_left(double deadline) {
  if (deadline < 0) return -1;
  double left = deadline - mp_monotonic();
  return left > 0 ? left : 0;
}
