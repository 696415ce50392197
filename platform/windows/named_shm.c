/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named segments (SharedMemory) on named file mappings
 * ("Local\mproc-shm-NAME"). A mapping lives while some process holds it,
 * like CPython's SharedMemory on Windows: persistent segments are not
 * kept past their last user here (Windows has no such object), and
 * unlinking cannot remove a name. A header before the caller's bytes
 * holds the size and an "unlinked" flag: opens of an unlinked segment get
 * MPROC_ENOENT, and a create of its name MPROC_EEXIST until the last user
 * lets go.
 */
#define _CRT_RAND_S /* rand_s, before any C header */
#include "platform/windows/windows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define HEADER 64u
#define MAGIC 0x6d70726f63736d31ull /* "mprocsm1" */

typedef struct {
  uint64_t magic;
  uint64_t size;
  uint32_t unlinked;
} header_t;

struct mp_named_shm {
  HANDLE mapping;
  header_t *header;
  size_t size;
};

/* The names a segment of that name may live under: an unlinked one keeps
 * its mapping's name until its last user lets go, so a new segment of the
 * same name takes the next generation ("NAME#1", ...). */
#define GENERATIONS 16

static mproc_status_t check_name(const char *name) {
  size_t len = name ? strlen(name) : 0;
  if (len == 0 || len > MP_SHM_NAME_MAX || strchr(name, '/') ||
      strchr(name, '\\') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return mp_fail(MPROC_EINVAL,
                   "shared_memory: name '%s' must be 1..%d characters "
                   "without '/', and not '.' or '..'",
                   name ? name : "(null)", MP_SHM_NAME_MAX);
  return MPROC_OK;
}

static void object_name(const char *name, int generation, wchar_t *out,
                        size_t n) {
  swprintf(out, n, L"Local\\mproc-shm-%hs#%d", name, generation);
}

static mproc_status_t map_named(mp_named_shm_t **out, HANDLE mapping) {
  header_t *h = MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, 0);
  if (h == NULL)
    return mp_win_fail(MPROC_ENOMEM, GetLastError(), "shared memory: map");
  mp_named_shm_t *shm = malloc(sizeof *shm);
  if (shm == NULL) {
    UnmapViewOfFile(h);
    return mp_fail(MPROC_ENOMEM, "shared memory: out of memory");
  }
  shm->mapping = mapping;
  shm->header = h;
  shm->size = (size_t)h->size;
  *out = shm;
  return MPROC_OK;
}

/* The live (not unlinked) segment behind a mapping handle, mapped: 1;
 * 0 (m closed) when it is an unlinked one. */
static int take_if_live(mp_named_shm_t **out, HANDLE m, mproc_status_t *st) {
  *st = map_named(out, m);
  if (*st != MPROC_OK) {
    CloseHandle(m);
    return 1; /* an error, told by *st */
  }
  header_t *h = (*out)->header;
  if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) == MAGIC &&
      !__atomic_load_n(&h->unlinked, __ATOMIC_ACQUIRE))
    return 1;
  mp_named_shm_close(*out);
  *out = NULL;
  return 0;
}

mproc_status_t mp_named_shm_create(mp_named_shm_t **out, const char *name,
                                   size_t size, int persistent) {
  (void)persistent; /* see above */
  mproc_status_t st = check_name(name);
  if (st != MPROC_OK) return st;
  if (size == 0) return mp_fail(MPROC_EINVAL, "shared memory: size 0");
  if (size > ((size_t)1 << 46))
    return mp_fail(MPROC_ENOMEM, "shared memory: %zu bytes is too large", size);
  uint64_t total = (uint64_t)size + HEADER;
  wchar_t object[MP_SHM_NAME_MAX + 40];
  for (int g = 0; g < GENERATIONS; g++) {
    object_name(name, g, object, sizeof object / sizeof *object);
    HANDLE m = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE,
                                  (DWORD)(total >> 32), (DWORD)total, object);
    DWORD err = GetLastError();
    if (m == NULL)
      return mp_win_fail(err == ERROR_NOT_ENOUGH_MEMORY ||
                                 err == ERROR_COMMITMENT_LIMIT
                             ? MPROC_ENOMEM
                             : MPROC_ESYS,
                         err, "shared memory: CreateFileMapping");
    if (err == ERROR_ALREADY_EXISTS) {
      mp_named_shm_t *old = NULL;
      if (!take_if_live(&old, m, &st)) continue; /* unlinked: next one */
      if (st != MPROC_OK) return st;
      mp_named_shm_close(old);
      return mp_fail(MPROC_EEXIST, "shared memory: \"%s\" exists", name);
    }
    st = map_named(out, m);
    if (st != MPROC_OK) {
      CloseHandle(m);
      return st;
    }
    header_t *h = (*out)->header;
    h->size = size;
    (*out)->size = size;
    __atomic_store_n(&h->magic, MAGIC, __ATOMIC_RELEASE);
    return MPROC_OK;
  }
  return mp_fail(MPROC_EEXIST,
                 "shared memory: \"%s\": %d unlinked segments of that name "
                 "are still in use", name, GENERATIONS);
}

mproc_status_t mp_named_shm_open(mp_named_shm_t **out, const char *name) {
  mproc_status_t st = check_name(name);
  if (st != MPROC_OK) return st;
  wchar_t object[MP_SHM_NAME_MAX + 40];
  for (int g = 0; g < GENERATIONS; g++) {
    object_name(name, g, object, sizeof object / sizeof *object);
    HANDLE m = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, object);
    if (m == NULL) {
      DWORD err = GetLastError();
      if (err == ERROR_FILE_NOT_FOUND) continue;
      return mp_win_fail(MPROC_ESYS, err, "shared memory: OpenFileMapping");
    }
    if (take_if_live(out, m, &st)) return st;
  }
  return mp_fail(MPROC_ENOENT, "shared memory: no segment \"%s\"", name);
}

void *mp_named_shm_base(const mp_named_shm_t *shm) {
  return (char *)shm->header + HEADER;
}

size_t mp_named_shm_size(const mp_named_shm_t *shm) { return shm->size; }

mproc_status_t mp_named_shm_unlink(mp_named_shm_t *shm) {
  if (__atomic_exchange_n(&shm->header->unlinked, 1, __ATOMIC_ACQ_REL))
    return mp_fail(MPROC_ENOENT, "shared memory: already unlinked");
  return MPROC_OK;
}

void mp_named_shm_close(mp_named_shm_t *shm) {
  if (shm == NULL) return;
  UnmapViewOfFile(shm->header);
  CloseHandle(shm->mapping);
  free(shm);
}

void mp_named_shm_random_name(char *buf, size_t size) {
  static const char digits[] = "0123456789abcdef";
  size_t n = size < 24 ? size : 24;
  if (n == 0) return;
  memcpy(buf, "mp-", n < 4 ? n - 1 : 3);
  for (size_t i = 3; i + 1 < n; i++) {
    unsigned int r = 0;
    rand_s(&r);
    buf[i] = digits[r & 15];
  }
  buf[n - 1] = '\0';
}
