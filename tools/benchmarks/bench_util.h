/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the C benchmark programs (mproc and raw-C baselines).
 *
 * A benchmark program runs its workload once and prints exactly one line on
 * stdout: a number in the workload's lower-is-better unit. Anything else
 * (progress, errors) goes to stderr; a failure exits non-zero.
 */
#ifndef MPROC_BENCH_UTIL_H
#define MPROC_BENCH_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic time in seconds. */
static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Prints the program's one result line. */
static inline void bench_report(double value) {
  printf("%.3f\n", value);
  fflush(stdout);
}

/* Reports a failure on stderr and ends the program with status 1. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void bench_die(
    const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

/* The value of "--name VALUE" in argv, or fallback when absent. */
static inline const char *bench_arg(int argc, char **argv, const char *name,
                                    const char *fallback) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], name) != 0) continue;
    if (i + 1 >= argc) bench_die("%s needs a value", name);
    return argv[i + 1];
  }
  return fallback;
}

/* A positive count given as "--name N", or fallback when absent. */
static inline long bench_count_arg(int argc, char **argv, const char *name,
                                   long fallback) {
  const char *text = bench_arg(argc, argv, name, NULL);
  if (text == NULL) return fallback;
  char *end;
  long n = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || n <= 0)
    bench_die("%s wants a positive integer, not '%s'", name, text);
  return n;
}

/* A start method name from "--method", required. Which names exist is
 * the library's to say (mproc_all_start_methods; mproc_get_context refuses
 * others, listing them), or the raw program's: no list here. */
static inline const char *bench_method_arg(int argc, char **argv) {
  const char *method = bench_arg(argc, argv, "--method", NULL);
  if (method == NULL || method[0] == '\0')
    bench_die("--method NAME (a start method) is required");
  return method;
}

/* In the mproc programs (mproc.h included first): dies unless MPROC_OK. */
#ifdef MPROC_H
static inline void bench_check(mproc_status_t st, const char *what) {
  if (st != MPROC_OK)
    bench_die("%s: %s: %s", what, mproc_strerror(st), mproc_last_error());
}
#endif

#endif
