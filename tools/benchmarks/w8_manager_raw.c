/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W8 raw-C baseline: the best hand-written equivalent of a manager's dict.
 * A forked server process holds an open-addressing hash table of int64
 * keys and answers fixed 24-byte requests (op, key, value) with 16-byte
 * replies over Unix stream sockets, one server thread per client, one
 * mutex over the table: one socket round trip per operation.
 *   w8_manager_raw --dict      one client: N sets then N gets, us per op
 *   w8_manager_raw --parallel  4 forked clients, N/4 sets each, us per
 *                              update (wall time, forks included)
 *   [--ops N] (default 10000)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchmarks/bench_util.h"

#define SLOTS (1u << 18)
#define CLIENTS 4

typedef struct {
  int64_t op, key, value; /* op 1 set, 2 get, 3 len */
} request_t;
typedef struct {
  int64_t status, value;
} reply_t;

static struct {
  int64_t key;
  int64_t value;
  int used;
} table[SLOTS];
static int64_t entries;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t slot_of(int64_t key) {
  uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ull;
  uint32_t i = (uint32_t)(h >> 46);
  while (table[i].used && table[i].key != key) i = (i + 1) & (SLOTS - 1);
  return i;
}

static int read_full(int fd, void *buf, size_t n) {
  for (size_t done = 0; done < n;) {
    ssize_t r = read(fd, (char *)buf + done, n - done);
    if (r <= 0) return -1;
    done += (size_t)r;
  }
  return 0;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  request_t q;
  while (read_full(fd, &q, sizeof q) == 0) {
    reply_t r = {0, 0};
    pthread_mutex_lock(&table_lock);
    if (q.op == 3) {
      r.value = entries;
    } else {
      uint32_t i = slot_of(q.key);
      if (q.op == 1) {
        if (!table[i].used) entries++;
        table[i].used = 1, table[i].key = q.key, table[i].value = q.value;
      } else if (table[i].used) {
        r.value = table[i].value;
      } else {
        r.status = 1;
      }
    }
    pthread_mutex_unlock(&table_lock);
    if (write(fd, &r, sizeof r) != sizeof r) break;
  }
  close(fd);
  return NULL;
}

/* Forks the server with one socket per client; fds[k] is client k's end. */
static pid_t start_server(int fds[CLIENTS]) {
  int server_ends[CLIENTS];
  for (int k = 0; k < CLIENTS; k++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) bench_die("socketpair");
    fds[k] = sv[0];
    server_ends[k] = sv[1];
  }
  pid_t pid = fork();
  if (pid < 0) bench_die("fork");
  if (pid == 0) {
    pthread_t t[CLIENTS];
    for (int k = 0; k < CLIENTS; k++) {
      close(fds[k]);
      pthread_create(&t[k], NULL, serve, (void *)(intptr_t)server_ends[k]);
    }
    for (int k = 0; k < CLIENTS; k++) pthread_join(t[k], NULL);
    _exit(0);
  }
  for (int k = 0; k < CLIENTS; k++) close(server_ends[k]);
  return pid;
}

static int64_t call(int fd, int64_t op, int64_t key, int64_t value) {
  request_t q = {op, key, value};
  reply_t r;
  if (write(fd, &q, sizeof q) != sizeof q || read_full(fd, &r, sizeof r) != 0)
    bench_die("the server is gone");
  if (r.status) bench_die("KeyError %lld", (long long)key);
  return r.value;
}

int main(int argc, char **argv) {
  long ops = bench_count_arg(argc, argv, "--ops", 10000);
  int par = 0;
  for (int i = 1; i < argc; i++) par |= strcmp(argv[i], "--parallel") == 0;
  int fds[CLIENTS];
  pid_t server = start_server(fds);
  for (int i = 0; i < 100; i++) call(fds[0], 1, -1 - i, i);
  double start = bench_now(), result;
  if (par) {
    long each = ops / CLIENTS;
    pid_t kids[CLIENTS];
    for (int k = 0; k < CLIENTS; k++) {
      if ((kids[k] = fork()) == 0) {
        for (long i = k * each; i < (k + 1) * each; i++) call(fds[k], 1, i, i);
        _exit(0);
      }
    }
    for (int k = 0; k < CLIENTS; k++) waitpid(kids[k], NULL, 0);
    result = (bench_now() - start) / (double)(CLIENTS * each) * 1e6;
    if (call(fds[0], 3, 0, 0) != CLIENTS * each + 100) bench_die("lost");
  } else {
    for (long i = 0; i < ops; i++) call(fds[0], 1, i, i);
    for (long i = 0; i < ops; i++)
      if (call(fds[0], 2, i, 0) != i) bench_die("wrong value");
    result = (bench_now() - start) / (double)(2 * ops) * 1e6;
  }
  for (int k = 0; k < CLIENTS; k++) close(fds[k]);
  waitpid(server, NULL, 0);
  bench_report(result);
  return 0;
}
