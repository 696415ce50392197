/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W5 raw-C baseline: a forked child writes 1 GiB in 64 KiB writes to a
 * socketpair; this process reads it into one buffer.
 *   w5_bandwidth_raw [--mib N]
 * Clock window: from the end of the first (untimed) 64 KiB to the last:
 * the others.
 * Prints milliseconds per GiB.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

#define MSG (64 * 1024)

static void read_full(int fd, char *buf, size_t n) {
  for (size_t done = 0; done < n;) {
    ssize_t r = read(fd, buf + done, n - done);
    if (r <= 0) bench_die("read");
    done += (size_t)r;
  }
}

int main(int argc, char **argv) {
  long mib = bench_count_arg(argc, argv, "--mib", 1024);
  long count = mib * 16;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) bench_die("socketpair");
  static char buf[MSG];
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    memset(buf, 'b', sizeof buf);
    for (long i = 0; i <= count; i++)
      for (size_t done = 0; done < MSG;) {
        ssize_t w = write(sv[1], buf + done, MSG - done);
        if (w <= 0) _exit(1);
        done += (size_t)w;
      }
    _exit(0);
  }
  close(sv[1]);
  read_full(sv[0], buf, MSG);
  double start = bench_now();
  for (long i = 0; i < count; i++) read_full(sv[0], buf, MSG);
  double elapsed = bench_now() - start;
  waitpid(pid, NULL, 0);
  bench_report(elapsed * 1e3 * 1024.0 / (double)mib);
  return 0;
}
