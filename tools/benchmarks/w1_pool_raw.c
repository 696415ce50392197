/* SPDX-License-Identifier: Apache-2.0 */
#define _POSIX_C_SOURCE 200809L
/*
 * W1/W2 by hand: a fork+pipe farm of 2 workers (the raw twin of a Pool).
 *   --map      100000 squares in chunks of ceil(n / 8) (CPython's default
 *              chunksize for 2 workers), one chunk in flight per worker
 *              (two per worker for chunks of up to 512 items)
 *   --map1     20000 squares, one item per message
 *   --thread   100000 squares by 2 threads taking chunks from a counter
 *   --apply    10000 one-item round trips to one worker
 * Prints ns per task (W1) or us per call (W2).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

#define WORKERS 2

static void read_all(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n <= 0) bench_die("read");
    p += n;
    len -= (size_t)n;
  }
}

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n <= 0) bench_die("write");
    p += n;
    len -= (size_t)n;
  }
}

typedef struct {
  pid_t pid;
  int to, from;
} worker_t;

/* A worker: reads [count, items...], writes [count, squares...]; count 0
 * ends it. */
static void serve(int in, int out) {
  static int64_t buf[1 << 16];
  for (;;) {
    int64_t count;
    read_all(in, &count, sizeof count);
    if (count <= 0) _exit(0);
    read_all(in, buf, (size_t)count * sizeof buf[0]);
    for (int64_t i = 0; i < count; i++) buf[i] *= buf[i];
    write_all(out, &count, sizeof count);
    write_all(out, buf, (size_t)count * sizeof buf[0]);
  }
}

static void start(worker_t *w) {
  int down[2], up[2];
  if (pipe(down) != 0 || pipe(up) != 0) bench_die("pipe");
  w->pid = fork();
  if (w->pid < 0) bench_die("fork");
  if (w->pid == 0) {
    close(down[1]);
    close(up[0]);
    serve(down[0], up[1]);
  }
  close(down[0]);
  close(up[1]);
  w->to = down[1];
  w->from = up[0];
}

static void stop(worker_t *w) {
  int64_t zero = 0;
  write_all(w->to, &zero, sizeof zero);
  close(w->to);
  close(w->from);
  waitpid(w->pid, NULL, 0);
}

static void send_chunk(worker_t *w, const int64_t *items, int64_t count) {
  write_all(w->to, &count, sizeof count);
  write_all(w->to, items, (size_t)count * sizeof items[0]);
}

static void recv_chunk(worker_t *w, int64_t *out) {
  int64_t count;
  read_all(w->from, &count, sizeof count);
  read_all(w->from, out, (size_t)count * sizeof out[0]);
}

/* Chunks of chunk items over the workers, DEPTH in flight per worker when
 * chunks are small: a worker finds its next chunk in its pipe as soon as
 * it has written a reply, so it never waits for the parent's round trip.
 * Replies come back in order per worker, so each worker's chunks form a
 * FIFO. Large chunks go one at a time: a second one could fill the pipe
 * while the worker fills the other with its reply (a deadlock). */
#define DEPTH 2
#define SMALL_CHUNK 512

static double farm_map(worker_t *ws, int64_t n, int64_t chunk) {
  int64_t *items = malloc((size_t)n * sizeof *items);
  int64_t *out = malloc((size_t)n * sizeof *out);
  if (items == NULL || out == NULL) bench_die("malloc");
  for (int64_t i = 0; i < n; i++) items[i] = i;
  double t0 = bench_now();
  int64_t next = 0, held[WORKERS][DEPTH];
  int nheld[WORKERS] = {0}, head[WORKERS] = {0};
  int depth = chunk <= SMALL_CHUNK ? DEPTH : 1;
  for (int d = 0; d < depth; d++)
    for (int k = 0; k < WORKERS && next < n; k++) {
      int64_t c = n - next < chunk ? n - next : chunk;
      send_chunk(&ws[k], items + next, c);
      held[k][(head[k] + nheld[k]++) % DEPTH] = next;
      next += c;
    }
  for (int busy = 1; busy;) {
    busy = 0;
    for (int k = 0; k < WORKERS; k++) {
      if (nheld[k] == 0) continue;
      recv_chunk(&ws[k], out + held[k][head[k]]);
      head[k] = (head[k] + 1) % DEPTH;
      nheld[k]--;
      if (next < n) {
        int64_t c = n - next < chunk ? n - next : chunk;
        send_chunk(&ws[k], items + next, c);
        held[k][(head[k] + nheld[k]++) % DEPTH] = next;
        next += c;
      }
      busy = 1;
    }
  }
  double elapsed = bench_now() - t0;
  for (int64_t i = 0; i < n; i++)
    if (out[i] != i * i) bench_die("wrong result at %lld", (long long)i);
  free(items);
  free(out);
  return elapsed / (double)n * 1e9;
}

static double farm_apply(worker_t *w, int64_t n) {
  double t0 = bench_now();
  for (int64_t i = 0; i < n; i++) {
    int64_t r;
    send_chunk(w, &i, 1);
    recv_chunk(w, &r);
    if (r != i * i) bench_die("wrong result");
  }
  return (bench_now() - t0) / (double)n * 1e6;
}

static int64_t *t_items, *t_out, t_n, t_chunk;
static int64_t t_next; /* __atomic */

static void *thread_main(void *arg) {
  (void)arg;
  for (;;) {
    int64_t first = __atomic_fetch_add(&t_next, t_chunk, __ATOMIC_RELAXED);
    if (first >= t_n) return NULL;
    int64_t end = first + t_chunk < t_n ? first + t_chunk : t_n;
    for (int64_t i = first; i < end; i++) t_out[i] = t_items[i] * t_items[i];
  }
}

static double thread_map(int64_t n) {
  t_items = malloc((size_t)n * sizeof *t_items);
  t_out = malloc((size_t)n * sizeof *t_out);
  if (t_items == NULL || t_out == NULL) bench_die("malloc");
  for (int64_t i = 0; i < n; i++) t_items[i] = i;
  t_n = n;
  t_chunk = (n + 4 * WORKERS - 1) / (4 * WORKERS);
  t_next = 0;
  double t0 = bench_now();
  pthread_t ts[WORKERS];
  for (int k = 0; k < WORKERS; k++)
    if (pthread_create(&ts[k], NULL, thread_main, NULL) != 0)
      bench_die("pthread_create");
  for (int k = 0; k < WORKERS; k++) pthread_join(ts[k], NULL);
  double elapsed = bench_now() - t0;
  for (int64_t i = 0; i < n; i++)
    if (t_out[i] != i * i) bench_die("wrong result");
  free(t_items);
  free(t_out);
  return elapsed / (double)n * 1e9;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "--map";
  double result;
  if (strcmp(mode, "--thread") == 0) {
    thread_map(100000);
    bench_report(thread_map(100000));
    return 0;
  }
  worker_t ws[WORKERS];
  for (int k = 0; k < WORKERS; k++) start(&ws[k]);
  if (strcmp(mode, "--map") == 0) {
    farm_map(ws, 100000, 12500);
    result = farm_map(ws, 100000, 12500);
  } else if (strcmp(mode, "--map1") == 0) {
    farm_map(ws, 2000, 1);
    result = farm_map(ws, 20000, 1);
  } else if (strcmp(mode, "--apply") == 0) {
    farm_apply(&ws[0], 1000);
    result = farm_apply(&ws[0], 10000);
  } else {
    bench_die("unknown mode %s", mode);
  }
  for (int k = 0; k < WORKERS; k++) stop(&ws[k]);
  bench_report(result);
  return 0;
}
