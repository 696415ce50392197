/*
 * Helpers for the ipc benchmark programs (W3, W4, W5). Same convention as
 * the harness's other programs: run once, print one number (lower is
 * better) on stdout, anything else on stderr, exit non-zero on failure.
 * (The bench branch has bench_util.h with the same helpers; fold these
 * into it when both are merged.)
 */
#ifndef MPROC_IPC_BENCH_H
#define MPROC_IPC_BENCH_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double ipc_bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((format(printf, 1, 2), noreturn)) static inline void
ipc_bench_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

/* "--name VALUE" from argv, or fallback. */
static inline const char *ipc_bench_arg(int argc, char **argv,
                                        const char *name,
                                        const char *fallback) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

static inline long ipc_bench_count(int argc, char **argv, const char *name,
                                   long fallback) {
  const char *text = ipc_bench_arg(argc, argv, name, NULL);
  long n = text ? strtol(text, NULL, 10) : fallback;
  if (n <= 0) ipc_bench_die("%s wants a positive count", name);
  return n;
}

static inline void ipc_bench_report(double value) {
  printf("%.3f\n", value);
  fflush(stdout);
}

/* In the mproc programs (mproc.h included first): dies unless MPROC_OK. */
#ifdef MPROC_H
static inline void ipc_bench_check(mproc_status_t st, const char *what) {
  if (st != MPROC_OK)
    ipc_bench_die("%s: %s: %s", what, mproc_strerror(st), mproc_last_error());
}
#endif

#endif
