/* SPDX-License-Identifier: Apache-2.0 */
/* platform/testing/testing.h on POSIX. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "platform/testing/testing.h"

int mp_test_kill_pid(long pid) { return kill((pid_t)pid, SIGKILL); }

int mp_test_pid_gone(long pid) {
  if (kill((pid_t)pid, 0) != 0) return 1;
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return 1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *paren = NULL;
  for (char *p = buf; *p; p++)
    if (*p == ')') paren = p;
  return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

static long entries(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  long n = 0;
  while (readdir(d) != NULL) n++;
  closedir(d);
  return n;
}

long mp_test_open_handles(void) { return entries("/proc/self/fd"); }

long mp_test_shm_entries(void) {
  char pid[24];
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  long n = 0;
  DIR *d = opendir("/dev/shm");
  if (d == NULL) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strstr(e->d_name, "mproc") != NULL || strstr(e->d_name, pid) != NULL)
      n++;
  closedir(d);
  return n;
}

long mp_test_start_sleeper(void) {
  pid_t pid = fork();
  if (pid == 0)
    for (;;) pause();
  return pid > 0 ? (long)pid : -1;
}

int mp_test_setenv(const char *name, const char *value) {
  return setenv(name, value, 1);
}

int mp_test_unsetenv(const char *name) { return unsetenv(name); }

size_t mp_test_rss(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) return 0;
  unsigned long size = 0, resident = 0;
  int got = fscanf(f, "%lu %lu", &size, &resident);
  fclose(f);
  return got == 2 ? (size_t)resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

int mp_test_usable_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}

int mp_test_persistent_shm(void) { return 1; }

int mp_test_error_not_found(void) { return ENOENT; }
int mp_test_error_bad_handle(void) { return EBADF; }

int mp_test_has_signals(void) { return 1; }
