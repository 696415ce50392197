/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the synchronization primitives need from Linux beyond futexes:
 * thread ids that identify a lock's owner across processes, and telling
 * whether such an owner still lives.
 *
 * Native calls, not APR: APR has no notion of kernel thread ids (its
 * apr_os_thread_current is a pthread_t, meaningless in another process)
 * and no way to ask whether another process's thread runs.
 */
#ifndef _GNU_SOURCE /* APR's pkg-config --cflags defines it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/error.h"
#include "platform/platform.h"

/* gettid() is a system call (~50 ns): each thread asks once. A forked
 * child is a new thread whose copy of the cache names its parent, so the
 * fork handler clears it. */
static _Thread_local uint32_t cached_tid;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void forget_tid(void) { cached_tid = 0; }

static void install_fork_handler(void) {
  pthread_atfork(NULL, NULL, forget_tid);
}

uint32_t mp_thread_id(void) {
  if (cached_tid == 0) {
    pthread_once(&fork_handler_once, install_fork_handler);
    cached_tid = (uint32_t)syscall(SYS_gettid);
  }
  return cached_tid;
}

/* /proc/<tid>/stat exists for every live thread of any process (a thread
 * that is not a group leader is not listed by readdir but can be looked
 * up). A killed process that was not reaped yet is a zombie, 'Z': its
 * threads are dead even though kill(pid, 0) still succeeds. */
int mp_thread_alive(uint32_t tid) {
  char path[48], stat[512];
  snprintf(path, sizeof path, "/proc/%u/stat", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? 0 : 1;
  ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return n == 0 ? 0 : 1;
  stat[n] = '\0';
  const char *end_of_name = strrchr(stat, ')'); /* the name may hold ')' */
  if (end_of_name == NULL || end_of_name[1] == '\0') return 1;
  char state = end_of_name[2];
  return !(state == 'Z' || state == 'X' || state == 'x');
}

mproc_status_t mp_shm_open_handle(mp_shm_t **out, mp_handle_t handle,
                                  size_t size) {
  if (handle < 0 || handle > 0x7fffffff)
    return mp_fail(MPROC_EINVAL, "shm: handle %ld is not open", (long)handle);
  int copy = fcntl((int)handle, F_DUPFD_CLOEXEC, 0);
  if (copy < 0)
    return mp_fail_errno(MPROC_EINVAL, errno, "shm: handle %ld",
                         (long)handle);
  mproc_status_t st = mp_shm_from_handle(out, copy, size);
  if (st != MPROC_OK) close(copy);
  return st;
}
