/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W4 raw-C baseline: N round trips of 8 bytes over a socketpair between
 * this process and a forked child (write/read of 8 bytes, no framing).
 *   w4_pingpong_raw [--rounds N]
 * Clock window: the N round trips after 100 untimed ones.
 * Prints microseconds per round trip.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

static void read_full(int fd, void *buf, size_t n) {
  for (size_t done = 0; done < n;) {
    ssize_t r = read(fd, (char *)buf + done, n - done);
    if (r <= 0) bench_die("read");
    done += (size_t)r;
  }
}

int main(int argc, char **argv) {
  long n = bench_count_arg(argc, argv, "--rounds", 50000);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) bench_die("socketpair");
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    uint64_t v;
    for (long i = -100; i < n; i++) {
      read_full(sv[1], &v, sizeof v);
      if (write(sv[1], &v, sizeof v) != sizeof v) _exit(1);
    }
    _exit(0);
  }
  close(sv[1]);
  uint64_t v, back;
  double start = 0;
  for (long i = -100; i < n; i++) {
    if (i == 0) start = bench_now();
    v = (uint64_t)i;
    if (write(sv[0], &v, sizeof v) != sizeof v) bench_die("write");
    read_full(sv[0], &back, sizeof back);
    if (back != v) bench_die("wrong echo");
  }
  double elapsed = bench_now() - start;
  waitpid(pid, NULL, 0);
  bench_report(elapsed / (double)n * 1e6);
  return 0;
}
