/* SPDX-License-Identifier: Apache-2.0 */
/* Prints the start methods of the platform it was built for
 * (mproc_all_start_methods), comma-separated: tools/replay --windows asks
 * the cross-built one which methods to replay there. */
#include <stdio.h>

#include "mproc.h"

int main(int argc, char **argv) {
  if (mproc_init(argc, argv) != MPROC_OK) return 1;
  for (const char *const *m = mproc_all_start_methods(); *m; m++)
    printf("%s%s", m == mproc_all_start_methods() ? "" : ",", *m);
  printf("\n");
  return 0;
}
