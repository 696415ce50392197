/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named shared memory that leaves nothing behind (SharedMemory).
 *
 * POSIX shm_open names live in /dev/shm until someone unlinks them, so a
 * program killed by SIGKILL leaks them (CPython needs a resource tracker
 * process for that, and still leaks when the tracker is killed too). APR's
 * named apr_shm has the same flaw. So, unless the user asks for a
 * persistent segment, a named segment here is a memfd_create() file
 * called "mproc-shm:<name>", and the kernel's own table of open files is
 * the directory: to attach, look through /proc/<pid>/fd of the processes
 * we may read for a descriptor whose link reads
 * "/memfd:mproc-shm:<name> (deleted)" and open that link, which reopens
 * the same memory. When the last process holding the segment exits, by
 * any means, the kernel frees it and the name with it.
 *
 * The memfd starts with one header page (magic, size, the name, and an
 * "unlinked" flag that unlink sets so later attaches fail); the user's
 * buffer is the page-aligned rest. Creation claims the name with an
 * abstract unix socket (which the kernel also frees with its process) so
 * that two processes creating the same name at once cannot both succeed
 * (names that share their first 90 characters only take turns).
 *
 * A persistent segment is a plain shm_open object without a header, so
 * CPython's SharedMemory and ours can attach each other's.
 *
 * Attaching needs read access to the holder's /proc/<pid>/fd, which
 * Linux grants for processes of the same user (ptrace read access).
 */
#ifndef _GNU_SOURCE /* APR's pkg-config --cflags defines it */
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/error.h"
#include "platform/platform.h"
#include "platform/posix/posix.h"

#define HEADER_SIZE 4096
#define MEMFD_PREFIX "mproc-shm:"
static const char header_magic[8] = "MPROCSHM";

typedef struct {
  char magic[8];
  uint64_t size;
  uint32_t unlinked;
  char name[MP_SHM_NAME_MAX + 1];
} header_t;

struct mp_named_shm {
  void *map;
  size_t map_size;
  void *base;
  size_t size;
  int fd; /* kept open: it is how other processes find the segment */
  int persistent;
  char name[MP_SHM_NAME_MAX + 1];
};

/* "." and ".." name directories (/dev/shm/..), never a segment: glibc's
 * shm_open refuses them, and the existence check would call them taken. */
static int is_dot_name(const char *name) {
  return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static mproc_status_t check_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > MP_SHM_NAME_MAX || strchr(name, '/') || is_dot_name(name))
    return mp_fail(MPROC_EINVAL,
                   "shared_memory: name '%s' must be 1..%d characters "
                   "without '/', and not '.' or '..'",
                   name, MP_SHM_NAME_MAX);
  return MPROC_OK;
}

static mproc_status_t map_segment(mp_named_shm_t **out, int fd,
                                  size_t map_size, size_t offset,
                                  const char *name, int persistent) {
  mp_named_shm_t *s = calloc(1, sizeof *s);
  if (s == NULL) return mp_fail(MPROC_ENOMEM, "shared_memory");
  s->map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (s->map == MAP_FAILED) {
    int err = errno;
    free(s);
    return mp_fail_errno(mp_posix_shm_size_status(err), err,
                         "shared_memory: mmap %zu bytes", map_size);
  }
  s->map_size = map_size;
  s->base = (char *)s->map + offset;
  s->size = map_size - offset;
  s->fd = fd;
  s->persistent = persistent;
  snprintf(s->name, sizeof s->name, "%s", name);
  *out = s;
  return MPROC_OK;
}

/* ---- finding a live memfd segment by name ------------------------- */

/* fd is a live, not unlinked segment called name: returns its size. */
static int segment_matches(int fd, const char *name, size_t *size) {
  struct stat sb;
  if (fstat(fd, &sb) != 0 || (size_t)sb.st_size < HEADER_SIZE) return 0;
  header_t h;
  if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) return 0;
  if (memcmp(h.magic, header_magic, sizeof h.magic) != 0) return 0;
  h.name[MP_SHM_NAME_MAX] = '\0';
  if (strcmp(h.name, name) != 0 || __atomic_load_n(&h.unlinked, __ATOMIC_SEQ_CST))
    return 0;
  *size = (size_t)h.size;
  return (size_t)sb.st_size == h.size + HEADER_SIZE;
}

/* A search that could not look (out of descriptors or memory) must say
 * so: "not found" would make attach report MPROC_ENOENT and create make a
 * second segment of a name that exists. */
typedef struct {
  const char *link_text; /* what a matching descriptor's link reads */
  const char *name;
  size_t size;   /* of the segment found */
  int err;       /* errno of a failure to look, else 0 */
} search_t;

/* Notes err if it means we could not look (else the entry is skipped:
 * a process that ended, another user's descriptors). */
static void note_failure(search_t *q, int err) {
  if (q->err == 0 && mp_posix_out_of_resources(err)) q->err = err;
}

/* Looks through one process's descriptors; returns an open fd or -1. */
static int search_process(search_t *q, const char *pid) {
  char dir_path[64];
  snprintf(dir_path, sizeof dir_path, "/proc/%s/fd", pid);
  DIR *dir = opendir(dir_path);
  if (dir == NULL) {
    note_failure(q, errno);
    return -1;
  }
  int found = -1;
  struct dirent *e;
  char path[sizeof dir_path + sizeof e->d_name + 2];
  char link[sizeof MEMFD_PREFIX + MP_SHM_NAME_MAX + 32];
  while (found < 0 && q->err == 0 && (e = readdir(dir)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0) continue;
    link[n] = '\0';
    if (strcmp(link, q->link_text) != 0) continue;
    int fd = mp_posix_above_stdio(open(path, O_RDWR | O_CLOEXEC));
    if (fd < 0) {
      note_failure(q, errno);
      continue;
    }
    if (segment_matches(fd, q->name, &q->size))
      found = fd;
    else
      close(fd);
  }
  closedir(dir);
  return found;
}

/* The parent of process pid (the fourth field of /proc/<pid>/stat, after
 * the command name in parentheses, which may itself hold spaces and
 * parentheses), or 0. */
static long parent_of(long pid) {
  char path[48], text[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  const char *end_of_name = strrchr(text, ')');
  long ppid = 0;
  if (end_of_name == NULL || sscanf(end_of_name + 1, " %*c %ld", &ppid) != 1)
    return 0;
  return ppid;
}

static int searched(const long *pids, size_t n, long pid) {
  for (size_t i = 0; i < n; i++)
    if (pids[i] == pid) return 1;
  return 0;
}

/* Finds the live segment called name: MPROC_OK with an open *fd and its
 * *size, MPROC_ENOENT (none), or MPROC_ESYS / MPROC_ENOMEM (out of
 * descriptors / kernel memory: could not look; detail recorded). */
static mproc_status_t find_segment(const char *name, int *fd, size_t *size) {
  char link_text[sizeof MEMFD_PREFIX + MP_SHM_NAME_MAX + 32];
  snprintf(link_text, sizeof link_text, "/memfd:%s%s (deleted)", MEMFD_PREFIX,
           name);
  search_t q = {link_text, name, 0, 0};
  *fd = search_process(&q, "self");
  /* The likely holders next: the parent chain (a pool worker's segment is
   * its owner's). Only then every process, which costs a look at each
   * process's descriptors. */
  long ancestors[17];
  size_t nancestors = 0;
  ancestors[nancestors++] = (long)getpid();
  for (long pid = (long)getppid(); *fd < 0 && q.err == 0 && pid > 1 &&
                                   nancestors < 17;
       pid = parent_of(pid)) {
    char text[24];
    snprintf(text, sizeof text, "%ld", pid);
    ancestors[nancestors++] = pid;
    *fd = search_process(&q, text);
  }
  DIR *proc = NULL;
  if (*fd < 0 && q.err == 0) {
    proc = opendir("/proc");
    if (proc == NULL) q.err = errno;
  }
  struct dirent *e;
  while (proc && *fd < 0 && q.err == 0 && (e = readdir(proc)) != NULL)
    if (isdigit((unsigned char)e->d_name[0]) &&
        !searched(ancestors, nancestors, atol(e->d_name)))
      *fd = search_process(&q, e->d_name);
  if (proc) closedir(proc);
  if (*fd >= 0) {
    *size = q.size;
    return MPROC_OK;
  }
  if (q.err != 0)
    return mp_fail_errno(q.err == ENOMEM ? MPROC_ENOMEM : MPROC_ESYS, q.err,
                         "shared_memory: cannot look for '%s'", name);
  return MPROC_ENOENT;
}

/* ---- creating ----------------------------------------------------- */

/* Claims name for creation: an abstract socket only one process can bind,
 * released by close or by the kernel when the process dies. */
static int claim_name(const char *name) {
  int sock =
      mp_posix_above_stdio(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock < 0) {
    mp_fail_errno(MPROC_ESYS, errno, "shared_memory: cannot claim '%s'",
                  name);
    return -1;
  }
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  int len = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1,
                     "mproc-shm-claim:%.90s", name);
  socklen_t addr_len =
      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
  for (int attempt = 0; attempt < 2000; attempt++) {
    if (bind(sock, (struct sockaddr *)&addr, addr_len) == 0) return sock;
    if (errno != EADDRINUSE) break;
    usleep(1000); /* another process is creating this name right now */
  }
  if (errno == EADDRINUSE)
    mp_fail(MPROC_ESYS,
            "shared_memory: '%s' is being created by another process for "
            "more than 2 s",
            name);
  else
    mp_fail_errno(MPROC_ESYS, errno, "shared_memory: cannot claim '%s'",
                  name);
  close(sock);
  return -1;
}

/* Whether a persistent (/dev/shm) segment called name exists: MPROC_OK
 * with *exists, or MPROC_ESYS when it cannot be told. */
static mproc_status_t persistent_exists(const char *name, int *exists) {
  char path[MP_SHM_NAME_MAX + 2];
  snprintf(path, sizeof path, "/%s", name);
  int fd = mp_posix_above_stdio(shm_open(path, O_RDONLY, 0));
  *exists = fd >= 0 || errno == EACCES; /* EACCES: another user's */
  if (fd >= 0) close(fd);
  if (fd < 0 && mp_posix_out_of_resources(errno))
    return mp_fail_errno(errno == ENOMEM ? MPROC_ENOMEM : MPROC_ESYS, errno,
                         "shared_memory: cannot look for '%s'", name);
  return MPROC_OK;
}

static mproc_status_t create_memfd(mp_named_shm_t **out, const char *name,
                                   size_t size) {
  char memfd_name[sizeof MEMFD_PREFIX + MP_SHM_NAME_MAX];
  snprintf(memfd_name, sizeof memfd_name, "%s%s", MEMFD_PREFIX, name);
  int fd = mp_posix_above_stdio(memfd_create(memfd_name, MFD_CLOEXEC));
  if (fd < 0)
    return mp_fail_errno(MPROC_ESYS, errno, "shared_memory: memfd_create");
  if (ftruncate(fd, (off_t)(size + HEADER_SIZE)) != 0) {
    int err = errno;
    close(fd);
    return mp_fail_errno(mp_posix_shm_size_status(err), err,
                         "shared_memory: %zu bytes", size);
  }
  mproc_status_t st = map_segment(out, fd, size + HEADER_SIZE, HEADER_SIZE,
                                  name, 0);
  if (st != MPROC_OK) {
    close(fd);
    return st;
  }
  header_t *h = (*out)->map;
  h->size = size;
  snprintf(h->name, sizeof h->name, "%s", name);
  memcpy(h->magic, header_magic, sizeof h->magic); /* last: now valid */
  return MPROC_OK;
}

static mproc_status_t create_persistent(mp_named_shm_t **out,
                                        const char *name, size_t size) {
  char path[MP_SHM_NAME_MAX + 2];
  snprintf(path, sizeof path, "/%s", name);
  int fd = mp_posix_above_stdio(shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600));
  if (fd < 0)
    return errno == EEXIST
               ? mp_fail(MPROC_EEXIST, "shared_memory: '%s' exists", name)
               : mp_fail_errno(MPROC_ESYS, errno, "shared_memory: shm_open");
  mproc_status_t st = MPROC_OK;
  if (ftruncate(fd, (off_t)size) != 0)
    st = mp_fail_errno(mp_posix_shm_size_status(errno), errno,
                       "shared_memory: %zu bytes", size);
  if (st == MPROC_OK) st = map_segment(out, fd, size, 0, name, 1);
  if (st != MPROC_OK) {
    close(fd);
    shm_unlink(path);
  }
  return st;
}

/* With the name claimed: MPROC_EEXIST if a segment of that name lives
 * (ours, or for a memfd one also a persistent one), else MPROC_OK. */
static mproc_status_t check_name_free(const char *name, int persistent) {
  int fd;
  size_t existing_size;
  mproc_status_t st = find_segment(name, &fd, &existing_size);
  if (st == MPROC_OK) {
    close(fd);
    return mp_fail(MPROC_EEXIST, "shared_memory: '%s' exists", name);
  }
  if (st != MPROC_ENOENT) return st;
  int exists = 0;
  if (!persistent && (st = persistent_exists(name, &exists)) != MPROC_OK)
    return st;
  if (exists) return mp_fail(MPROC_EEXIST, "shared_memory: '%s' exists", name);
  return MPROC_OK;
}

mproc_status_t mp_named_shm_create(mp_named_shm_t **out, const char *name,
                                   size_t size, int persistent) {
  mproc_status_t st = check_name(name);
  if (st != MPROC_OK) return st;
  if (size == 0) return mp_fail(MPROC_EINVAL, "shared_memory: size 0");
  if (size > (size_t)INT64_MAX - HEADER_SIZE) /* more than off_t holds */
    return mp_fail(MPROC_ENOMEM, "shared_memory: %zu bytes is more than a "
                   "file holds", size);
  int claim = claim_name(name);
  if (claim < 0) return MPROC_ESYS; /* detail recorded */
  st = check_name_free(name, persistent);
  if (st == MPROC_OK)
    st = persistent ? create_persistent(out, name, size)
                    : create_memfd(out, name, size);
  close(claim);
  return st;
}

/* ---- attaching, unlinking ----------------------------------------- */

/* Opens the persistent segment called name: returns 0 if there is none
 * (go on to the memfd ones), else 1 with the outcome in *st. */
static int open_persistent(mp_named_shm_t **out, const char *name,
                           mproc_status_t *st) {
  char path[MP_SHM_NAME_MAX + 2];
  snprintf(path, sizeof path, "/%s", name);
  int fd = mp_posix_above_stdio(shm_open(path, O_RDWR, 0));
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    *st = mp_fail_errno(MPROC_ESYS, errno, "shared_memory: shm_open '%s'",
                        name);
    return 1;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0)
    *st = mp_fail_errno(MPROC_ESYS, errno, "shared_memory: fstat '%s'", name);
  else if (sb.st_size == 0)
    *st = mp_fail(MPROC_ESYS, "shared_memory: '%s' is empty", name);
  else
    *st = map_segment(out, fd, (size_t)sb.st_size, 0, name, 1);
  if (*st != MPROC_OK) close(fd);
  return 1;
}

mproc_status_t mp_named_shm_open(mp_named_shm_t **out, const char *name) {
  mproc_status_t st = check_name(name);
  if (st != MPROC_OK) return st;
  if (open_persistent(out, name, &st)) return st;
  size_t size;
  int fd;
  st = find_segment(name, &fd, &size);
  if (st == MPROC_ENOENT)
    return mp_fail(MPROC_ENOENT, "shared_memory: no segment named '%s'",
                   name);
  if (st != MPROC_OK) return st;
  st = map_segment(out, fd, size + HEADER_SIZE, HEADER_SIZE, name, 0);
  if (st != MPROC_OK) close(fd);
  return st;
}

mproc_status_t mp_named_shm_unlink(mp_named_shm_t *shm) {
  if (shm->persistent) {
    char path[MP_SHM_NAME_MAX + 2];
    snprintf(path, sizeof path, "/%s", shm->name);
    if (shm_unlink(path) == 0) return MPROC_OK;
    return errno == ENOENT
               ? mp_fail(MPROC_ENOENT, "shared_memory: '%s' was unlinked",
                         shm->name)
               : mp_fail_errno(MPROC_ESYS, errno, "shared_memory: unlink");
  }
  header_t *h = shm->map;
  if (__atomic_exchange_n(&h->unlinked, 1, __ATOMIC_SEQ_CST))
    return mp_fail(MPROC_ENOENT, "shared_memory: '%s' was unlinked",
                   shm->name);
  return MPROC_OK;
}

void *mp_named_shm_base(const mp_named_shm_t *shm) { return shm->base; }
size_t mp_named_shm_size(const mp_named_shm_t *shm) { return shm->size; }

void mp_named_shm_close(mp_named_shm_t *shm) {
  if (shm == NULL) return;
  munmap(shm->map, shm->map_size);
  close(shm->fd);
  free(shm);
}

void mp_named_shm_random_name(char *buf, size_t size) {
  unsigned char bytes[8] = {0};
  if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
    unsigned long seed = (unsigned long)getpid() ^ (unsigned long)(uintptr_t)buf;
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(seed >> (i * 3));
  }
  int n = snprintf(buf, size, "mproc_");
  for (size_t i = 0; i < sizeof bytes && n > 0 && (size_t)n + 2 < size; i++)
    n += snprintf(buf + n, size - (size_t)n, "%02x", bytes[i]);
}
