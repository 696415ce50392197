/* SPDX-License-Identifier: Apache-2.0 */
/* Included first in every file the Windows toolchain compiles: mingw-w64
 * on msvcrt lacks C11's timespec_get (only its UCRT headers have it);
 * winpthreads' clock_gettime gives the same wall clock. */
#ifndef MPROC_MINGW_C11_TIME_H
#define MPROC_MINGW_C11_TIME_H
#include <time.h>
#include <pthread_time.h>
#ifndef TIME_UTC
#define TIME_UTC 1
static inline int timespec_get(struct timespec *ts, int base) {
  return base == TIME_UTC && clock_gettime(CLOCK_REALTIME, ts) == 0 ? base : 0;
}
#endif
#endif
