/* SPDX-License-Identifier: Apache-2.0 */
/* Sleeping on a shared word, for the sync objects. */

#include "core/error.h"
#include "core/sync.h"

mproc_status_t mp_sleep_while(uint32_t *word, uint32_t value,
                              uint32_t *sleepers, double left) {
  __atomic_store_n(sleepers, 1, __ATOMIC_SEQ_CST);
  return mp_futex_wait(word, value, left);
}

int mp_take_sleepers(uint32_t *sleepers) {
  /* A plain load first: with nobody asleep the line is not written. */
  return __atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0 &&
         __atomic_exchange_n(sleepers, 0, __ATOMIC_SEQ_CST) != 0;
}
