/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W9 raw-C baseline: start+join of a trivial process, N times (default 200).
 *   w9_process_raw --method fork|spawn|forkserver [--iterations N]
 * fork: fork() + _exit(0) in the child + waitpid.
 * spawn: posix_spawn of this program with --exit-at-once + waitpid.
 * forkserver: the least a fork server can do. A server process forked
 * once at start (before the timing) waits on a socketpair; per process
 * the parent writes a one-byte request, the server forks a child that
 * _exit(0)s, writes its pid back, reaps it and writes its wait status.
 * The parent reads both (it needs the pid to signal the child, the status
 * for its exit code, as mproc's forkserver gives them). No per-child
 * connection, authentication or descriptor passing: mproc pays for those.
 * Prints microseconds per process.
 * Clock window: the N start+joins after one untimed one (and, for
 * forkserver, after the server started).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
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

static int server_fd = -1;

static void read_exactly(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n <= 0) bench_die("forkserver: short read");
    p += n;
    len -= (size_t)n;
  }
}

static void serve(int fd) {
  char request;
  while (read(fd, &request, 1) == 1) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    int status = -1;
    if (write(fd, &pid, sizeof pid) != (ssize_t)sizeof pid) _exit(1);
    if (pid > 0) waitpid(pid, &status, 0);
    if (write(fd, &status, sizeof status) != (ssize_t)sizeof status) _exit(1);
  }
  _exit(0);
}

static void start_server(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) bench_die("socketpair");
  pid_t pid = fork();
  if (pid < 0) bench_die("fork failed");
  if (pid == 0) {
    close(sv[0]);
    serve(sv[1]);
  }
  close(sv[1]);
  server_fd = sv[0];
}

static void forkserver_and_wait(void) {
  char request = 'f';
  if (write(server_fd, &request, 1) != 1) bench_die("forkserver: write");
  pid_t pid;
  int status;
  read_exactly(server_fd, &pid, sizeof pid);
  if (pid <= 0) bench_die("forkserver: fork failed");
  read_exactly(server_fd, &status, sizeof status);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bench_die("the child ended with status %#x", status);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], EXIT_AT_ONCE) == 0) return 0;
  const char *method = bench_method_arg(argc, argv);
  long iterations = bench_count_arg(argc, argv, "--iterations", 200);
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0) bench_die("cannot read /proc/self/exe");
  self_exe[n] = '\0';
  void (*start_and_join)(void) = NULL;
  if (strcmp(method, "fork") == 0) {
    start_and_join = fork_and_wait;
  } else if (strcmp(method, "spawn") == 0) {
    start_and_join = spawn_and_wait;
  } else if (strcmp(method, "forkserver") == 0) {
    start_server();
    start_and_join = forkserver_and_wait;
  } else {
    bench_die("--method fork|spawn|forkserver, not '%s'", method);
  }
  start_and_join();
  double start = bench_now();
  for (long i = 0; i < iterations; i++) start_and_join();
  bench_report((bench_now() - start) / (double)iterations * 1e6);
  return 0;
}
