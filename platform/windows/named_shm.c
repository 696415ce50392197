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

static mproc_status_t object_name(const char *name, wchar_t *out, size_t n) {
  size_t len = name ? strlen(name) : 0;
  if (len == 0 || len > MP_SHM_NAME_MAX || strchr(name, '/') ||
      strchr(name, '\\'))
    return mp_fail(MPROC_EINVAL, "shared memory: invalid name \"%s\"",
                   name ? name : "(null)");
  swprintf(out, n, L"Local\\mproc-shm-%hs", name);
  return MPROC_OK;
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

mproc_status_t mp_named_shm_create(mp_named_shm_t **out, const char *name,
                                   size_t size, int persistent) {
  (void)persistent; /* see above */
  wchar_t object[MP_SHM_NAME_MAX + 32];
  mproc_status_t st = object_name(name, object, sizeof object / sizeof *object);
  if (st != MPROC_OK) return st;
  if (size == 0) return mp_fail(MPROC_EINVAL, "shared memory: size 0");
  if (size > ((size_t)1 << 46))
    return mp_fail(MPROC_ENOMEM, "shared memory: %zu bytes is too large", size);
  uint64_t total = (uint64_t)size + HEADER;
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
    CloseHandle(m);
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

mproc_status_t mp_named_shm_open(mp_named_shm_t **out, const char *name) {
  wchar_t object[MP_SHM_NAME_MAX + 32];
  mproc_status_t st = object_name(name, object, sizeof object / sizeof *object);
  if (st != MPROC_OK) return st;
  HANDLE m = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, object);
  if (m == NULL) {
    DWORD err = GetLastError();
    if (err == ERROR_FILE_NOT_FOUND)
      return mp_fail(MPROC_ENOENT, "shared memory: no segment \"%s\"", name);
    return mp_win_fail(MPROC_ESYS, err, "shared memory: OpenFileMapping");
  }
  st = map_named(out, m);
  if (st != MPROC_OK) {
    CloseHandle(m);
    return st;
  }
  header_t *h = (*out)->header;
  if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != MAGIC ||
      __atomic_load_n(&h->unlinked, __ATOMIC_ACQUIRE)) {
    mp_named_shm_close(*out);
    *out = NULL;
    return mp_fail(MPROC_ENOENT, "shared memory: \"%s\" was unlinked", name);
  }
  return MPROC_OK;
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
