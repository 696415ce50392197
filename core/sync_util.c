/* SPDX-License-Identifier: Apache-2.0 */
/* Sleeping on a shared word, for the sync objects. */

#include "core/error.h"
#include "core/sync.h"

static size_t offset_in(const mp_shm_t *seg, const uint32_t *word) {
  return (size_t)((const char *)word - (const char *)mp_shm_base(seg));
}

mproc_status_t mp_wait_word(const mp_shm_t *seg, const uint32_t *word,
                            uint32_t expected, double timeout) {
  return mp_wait_on(seg, offset_in(seg, word), expected, timeout);
}

void mp_wake_word(const mp_shm_t *seg, const uint32_t *word, int count) {
  mp_wake(seg, offset_in(seg, word), count);
}

mproc_status_t mp_sleep_while(const mp_shm_t *seg, uint32_t *word,
                              uint32_t value, uint32_t *sleepers,
                              double left) {
  __atomic_store_n(sleepers, 1, __ATOMIC_SEQ_CST);
  return mp_wait_word(seg, word, value, left);
}

int mp_take_sleepers(uint32_t *sleepers) {
  /* A plain load first: with nobody asleep the line is not written. */
  return __atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0 &&
         __atomic_exchange_n(sleepers, 0, __ATOMIC_SEQ_CST) != 0;
}
