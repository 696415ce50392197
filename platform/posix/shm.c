/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared memory and wait/wake on Linux.
 *
 * Segments are memfd_create() files mapped MAP_SHARED: they have no name in
 * /dev/shm, the kernel frees them with the last mapping or descriptor, and
 * the descriptor is what a spawned child inherits. APR's anonymous
 * apr_shm_create cannot be handed to an exec'd child, and its named form
 * leaves a file behind after a SIGKILL.
 *
 * Wait/wake is the futex(2) system call on a shared word (APR has no
 * process-shared condition variable or semaphore).
 */
#ifndef _GNU_SOURCE /* APR's pkg-config --cflags defines it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "platform/platform.h"
#include "platform/posix/posix.h"

mproc_status_t mp_posix_shm_size_status(int err) {
  switch (err) {
    case ENOMEM:
    case EFBIG:
    case EINVAL:
    case ENOSPC:
    case EOVERFLOW:
      return MPROC_ENOMEM;
    default:
      return MPROC_ESYS;
  }
}

int mp_posix_out_of_resources(int err) {
  return err == EMFILE || err == ENFILE || err == ENOMEM;
}

struct mp_shm {
  void *base;
  size_t size;
  int fd;
};

static mproc_status_t map_fd(mp_shm_t **out, int fd, size_t size) {
  mp_shm_t *shm = malloc(sizeof *shm);
  if (shm == NULL) return mp_fail(MPROC_ENOMEM, "shm");
  shm->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (shm->base == MAP_FAILED) {
    int err = errno;
    free(shm);
    return mp_fail_errno(mp_posix_shm_size_status(err), err,
                         "shm: mmap %zu bytes", size);
  }
  shm->size = size;
  shm->fd = fd;
  *out = shm;
  return MPROC_OK;
}

mproc_status_t mp_shm_create(mp_shm_t **out, size_t size) {
  if (size == 0) return mp_fail(MPROC_EINVAL, "shm: size 0");
  if (size > (size_t)INT64_MAX) /* off_t would turn it negative */
    return mp_fail(MPROC_ENOMEM, "shm: %zu bytes is more than a file holds",
                   size);
  int fd = mp_posix_above_stdio(memfd_create("mproc", MFD_CLOEXEC));
  if (fd < 0) return mp_fail_errno(MPROC_ESYS, errno, "shm: memfd_create");
  if (ftruncate(fd, (off_t)size) != 0) {
    int err = errno;
    close(fd);
    return mp_fail_errno(mp_posix_shm_size_status(err), err,
                         "shm: %zu bytes", size);
  }
  mproc_status_t st = map_fd(out, fd, size);
  if (st != MPROC_OK) close(fd);
  return st;
}

mproc_status_t mp_shm_import(mp_shm_t **out, mp_handle_t handle,
                             size_t size) {
  struct stat sb;
  if (handle.kind != MP_HANDLE_SHM || handle.os < 0 || handle.os > INT_MAX ||
      fstat((int)handle.os, &sb) != 0)
    return mp_fail(MPROC_EINVAL, "shm: handle %ld is not an open segment",
                   (long)handle.os);
  if (size == 0 || (uint64_t)sb.st_size != size)
    return mp_fail(MPROC_EINVAL, "shm: segment has %lld bytes, not %zu",
                   (long long)sb.st_size, size);
  int fd;
  mproc_status_t st = mp_posix_duplicate(handle.os, &fd, "shm");
  if (st != MPROC_OK) return st;
  st = map_fd(out, fd, size);
  if (st != MPROC_OK) close(fd);
  return st;
}

void *mp_shm_base(const mp_shm_t *shm) { return shm->base; }
size_t mp_shm_size(const mp_shm_t *shm) { return shm->size; }
mp_handle_t mp_shm_handle(const mp_shm_t *shm) {
  mp_handle_t h = {MP_HANDLE_SHM, shm->fd};
  return h;
}

void mp_shm_close(mp_shm_t *shm) {
  if (shm == NULL) return;
  mp_posix_forget_pending_in(shm->base, shm->size);
  munmap(shm->base, shm->size);
  close(shm->fd);
  free(shm);
}

mproc_status_t mp_wait_on(const mp_shm_t *seg, size_t offset,
                          uint32_t expected, double timeout) {
  uint32_t *word = (uint32_t *)((char *)seg->base + offset);
  struct timespec ts, *tsp = NULL;
  if (timeout >= 0) {
    if (timeout > 1e9) timeout = 1e9;
    ts.tv_sec = (time_t)timeout;
    ts.tv_nsec = (long)((timeout - (double)ts.tv_sec) * 1e9);
    tsp = &ts;
  }
  /* Shared (not FUTEX_PRIVATE): the word is seen by several processes. */
  long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, NULL, 0);
  if (rc == 0 || errno == EAGAIN || errno == EINTR) return MPROC_OK;
  if (errno == ETIMEDOUT) return MPROC_ETIMEDOUT;
  return mp_fail_errno(MPROC_ESYS, errno, "futex wait");
}

void mp_wake(const mp_shm_t *seg, size_t offset, int count) {
  uint32_t *word = (uint32_t *)((char *)seg->base + offset);
  syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}
