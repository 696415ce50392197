/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W9 raw-C baseline: start+join of a trivial process, N times (default 200).
 *   w9_process_raw --method fork|spawn [--iterations N]
 * fork: fork() + _exit(0) in the child + waitpid.
 * spawn: posix_spawn of this program with --exit-at-once + waitpid.
 * Prints microseconds per process. One untimed start+join first.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

extern char **environ;

#define EXIT_AT_ONCE "--exit-at-once"

static char self_exe[PATH_MAX];

static void wait_for(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) bench_die("waitpid failed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bench_die("the child ended with status %#x", status);
}

static void fork_and_wait(void) {
  pid_t pid = fork();
  if (pid < 0) bench_die("fork failed");
  if (pid == 0) _exit(0);
  wait_for(pid);
}

static void spawn_and_wait(void) {
  char *child_argv[] = {self_exe, EXIT_AT_ONCE, NULL};
  pid_t pid;
  if (posix_spawn(&pid, self_exe, NULL, NULL, child_argv, environ) != 0)
    bench_die("posix_spawn %s failed", self_exe);
  wait_for(pid);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], EXIT_AT_ONCE) == 0) return 0;
  const char *method = bench_method_arg(argc, argv);
  long iterations = bench_count_arg(argc, argv, "--iterations", 200);
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0) bench_die("cannot read /proc/self/exe");
  self_exe[n] = '\0';
  void (*start_and_join)(void) =
      strcmp(method, "fork") == 0 ? fork_and_wait : spawn_and_wait;
  start_and_join();
  double start = bench_now();
  for (long i = 0; i < iterations; i++) start_and_join();
  bench_report((bench_now() - start) / (double)iterations * 1e6);
  return 0;
}
