/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the value decoder (core/payload_decode.c).
 *
 * Any input must decode or fail with a status, never crash, hang or
 * allocate without bound. What decodes must survive encode -> decode
 * unchanged (same value, same repr): a mismatch aborts, which the fuzzer
 * reports. Build and run it with tools/fuzz (clang-14, libFuzzer, ASan,
 * UBSan); tests/payload_fuzz_test.cc runs the same entry point in the suite.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"

static void check(int ok) {
  if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mproc_obj_t *v = NULL;
  if (mproc_obj_decode(&v, data, size) != MPROC_OK) return 0;
  void *enc = NULL;
  size_t len = 0;
  char *repr1 = NULL, *repr2 = NULL;
  mproc_obj_t *back = NULL;
  check(mproc_obj_encode(v, &enc, &len) == MPROC_OK);
  check(mproc_obj_decode(&back, enc, len) == MPROC_OK);
  int eq = 0;
  check(mproc_obj_equal(v, back, &eq) == MPROC_OK);
  /* NaN != NaN: compare reprs, which are equal even then. */
  check(mproc_obj_repr(v, &repr1) == MPROC_OK);
  check(mproc_obj_repr(back, &repr2) == MPROC_OK);
  check(strcmp(repr1, repr2) == 0);
  check(eq || strstr(repr1, "nan") != NULL);
  free(repr1);
  free(repr2);
  free(enc);
  mproc_obj_free(back);
  mproc_obj_free(v);
  return 0;
}
