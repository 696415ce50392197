/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared memory on CreateFileMapping, and wait/wake keyed by segment and
 * offset.
 *
 * An anonymous mapping (pagefile-backed, no name) lives while some
 * process maps it or holds its handle: nothing is left behind, even after
 * TerminateProcess. Every process maps it at its own address, so a word
 * is named by (segment key, offset). The key is 32 bytes in a trailer page
 * after the caller's bytes, written by the creator; the rest of that page
 * counts sleepers per bucket of offsets, so that mp_wake of a word nobody
 * sleeps on costs no system call.
 *
 * A sleeper waits on a named semaphore "Local\mproc-w-KEY-OFFSET", which
 * every process opens by name (cached per mapping in this process):
 *   sleeper: bucket++ ; if word == expected: wait(sem) ; bucket--
 *   waker:   (word changed) ; n = bucket ; release(sem, min(count, n))
 * Both sides use sequentially consistent atomics, so a waker that reads
 * 0 ran before the sleeper's increment, and the sleeper then sees the new
 * word and does not sleep. A release nobody consumes (the sleeper timed
 * out, or counted in a shared bucket) is one spurious wake-up later,
 * which the seam allows.
 */
#include "platform/windows/windows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define PAGE 4096u
#define KEY_BYTES 32u
#define TRAILER_MAGIC 0x6d70726f63747231ull /* "mproctr1" */
#define BUCKETS ((PAGE - KEY_BYTES - 16u) / sizeof(uint32_t))
/* Named semaphores one mapping of one process keeps open. */
#define SEM_CACHE 64

typedef struct {
  char key[KEY_BYTES]; /* NUL-terminated text */
  uint64_t magic;      /* TRAILER_MAGIC, with size: an import of a wrong */
  uint64_t size;       /* size finds no trailer where it looks */
  uint32_t sleepers[BUCKETS];
} trailer_t;
_Static_assert(sizeof(trailer_t) == PAGE, "one trailer page");

typedef struct {
  size_t offset;
  HANDLE sem;
} sem_entry_t;

struct mp_shm {
  HANDLE mapping;
  void *base;
  size_t size;
  trailer_t *trailer;
  SRWLOCK guard; /* the cache */
  sem_entry_t cache[SEM_CACHE];
  size_t ncache;
};

static size_t user_bytes(size_t size) { return (size + PAGE - 1) & ~(size_t)(PAGE - 1); }

static mproc_status_t map_segment(mp_shm_t **out, HANDLE mapping,
                                  size_t size) {
  mp_shm_t *shm = calloc(1, sizeof *shm);
  if (shm == NULL) return mp_fail(MPROC_ENOMEM, "shm: out of memory");
  size_t total = user_bytes(size) + PAGE;
  void *base = MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, total);
  if (base == NULL) {
    DWORD err = GetLastError();
    free(shm);
    return mp_win_fail(err == ERROR_NOT_ENOUGH_MEMORY ? MPROC_ENOMEM
                                                      : MPROC_EINVAL,
                       err, "shm: MapViewOfFile");
  }
  MEMORY_BASIC_INFORMATION info;
  if (VirtualQuery(base, &info, sizeof info) == 0 || info.RegionSize < total) {
    UnmapViewOfFile(base);
    free(shm);
    return mp_fail(MPROC_EINVAL, "shm: the segment is not %zu bytes", size);
  }
  shm->mapping = mapping;
  shm->base = base;
  shm->size = size;
  shm->trailer = (trailer_t *)((char *)base + user_bytes(size));
  InitializeSRWLock(&shm->guard);
  *out = shm;
  return MPROC_OK;
}

mproc_status_t mp_shm_create(mp_shm_t **out, size_t size) {
  if (size == 0) return mp_fail(MPROC_EINVAL, "shm: size 0");
  if (size > ((size_t)1 << 46))
    return mp_fail(MPROC_ENOMEM, "shm: %zu bytes is more than can be mapped",
                   size);
  uint64_t total = (uint64_t)user_bytes(size) + PAGE;
  HANDLE mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL,
                                      PAGE_READWRITE, (DWORD)(total >> 32),
                                      (DWORD)total, NULL);
  if (mapping == NULL) {
    DWORD err = GetLastError();
    return mp_win_fail(err == ERROR_NOT_ENOUGH_MEMORY ||
                               err == ERROR_COMMITMENT_LIMIT
                           ? MPROC_ENOMEM
                           : MPROC_ESYS,
                       err, "shm: CreateFileMapping");
  }
  mproc_status_t st = map_segment(out, mapping, size);
  if (st != MPROC_OK) {
    CloseHandle(mapping);
    return st == MPROC_EINVAL ? MPROC_ENOMEM : st;
  }
  static long counter;
  LARGE_INTEGER now;
  QueryPerformanceCounter(&now);
  (*out)->trailer->magic = TRAILER_MAGIC;
  (*out)->trailer->size = size;
  snprintf((*out)->trailer->key, KEY_BYTES, "%lx-%lx-%llx",
           (unsigned long)GetCurrentProcessId(),
           (unsigned long)InterlockedIncrement(&counter),
           (unsigned long long)now.QuadPart & 0xffffffffffull);
  return MPROC_OK;
}

mproc_status_t mp_shm_import(mp_shm_t **out, mp_handle_t handle,
                             size_t size) {
  if (handle.kind != MP_HANDLE_SHM || handle.os == MP_NO_OS_HANDLE ||
      size == 0)
    return mp_fail(MPROC_EINVAL, "shm import: handle %lld is not a segment",
                   (long long)handle.os);
  HANDLE dup;
  if (!DuplicateHandle(GetCurrentProcess(), (HANDLE)handle.os,
                       GetCurrentProcess(), &dup, 0, FALSE,
                       DUPLICATE_SAME_ACCESS))
    return mp_win_fail(MPROC_EINVAL, GetLastError(), "shm import");
  mproc_status_t st = map_segment(out, dup, size);
  if (st != MPROC_OK) {
    CloseHandle(dup);
    return st;
  }
  trailer_t *t = (*out)->trailer;
  if (t->magic != TRAILER_MAGIC || t->size != size) {
    UnmapViewOfFile((*out)->base);
    free(*out);
    *out = NULL;
    CloseHandle(dup);
    return mp_fail(MPROC_EINVAL, "shm import: the segment is not %zu bytes",
                   size);
  }
  return MPROC_OK;
}

void *mp_shm_base(const mp_shm_t *shm) { return shm->base; }
size_t mp_shm_size(const mp_shm_t *shm) { return shm->size; }

mp_handle_t mp_shm_handle(const mp_shm_t *shm) {
  mp_handle_t h = {MP_HANDLE_SHM, (intptr_t)shm->mapping};
  return h;
}

void mp_shm_close(mp_shm_t *shm) {
  if (shm == NULL) return;
  for (size_t i = 0; i < shm->ncache; i++) CloseHandle(shm->cache[i].sem);
  UnmapViewOfFile(shm->base);
  CloseHandle(shm->mapping);
  free(shm);
}

/* ---- wait/wake ---------------------------------------------------- */

static HANDLE open_sem(const mp_shm_t *seg, size_t offset) {
  wchar_t name[96];
  swprintf(name, 96, L"Local\\mproc-w-%hs-%llx", seg->trailer->key,
           (unsigned long long)offset);
  return CreateSemaphoreW(NULL, 0, 0x3fffffff, name);
}

/* The semaphore of the word at offset: cached (the cache belongs to this
 * process's view; the const of the seam is about the memory). */
static HANDLE sem_of(const mp_shm_t *cseg, size_t offset, int *owned) {
  mp_shm_t *seg = (mp_shm_t *)cseg;
  *owned = 0;
  AcquireSRWLockShared(&seg->guard);
  for (size_t i = 0; i < seg->ncache; i++)
    if (seg->cache[i].offset == offset) {
      HANDLE h = seg->cache[i].sem;
      ReleaseSRWLockShared(&seg->guard);
      return h;
    }
  ReleaseSRWLockShared(&seg->guard);
  HANDLE h = open_sem(seg, offset);
  if (h == NULL) return NULL;
  AcquireSRWLockExclusive(&seg->guard);
  for (size_t i = 0; i < seg->ncache; i++)
    if (seg->cache[i].offset == offset) { /* another thread won */
      CloseHandle(h);
      h = seg->cache[i].sem;
      ReleaseSRWLockExclusive(&seg->guard);
      return h;
    }
  if (seg->ncache < SEM_CACHE) {
    seg->cache[seg->ncache].offset = offset;
    seg->cache[seg->ncache++].sem = h;
  } else {
    *owned = 1; /* the caller closes it */
  }
  ReleaseSRWLockExclusive(&seg->guard);
  return h;
}

static uint32_t *bucket_of(const mp_shm_t *seg, size_t offset) {
  return &seg->trailer->sleepers[(offset / 4) % BUCKETS];
}

mproc_status_t mp_wait_on(const mp_shm_t *seg, size_t offset,
                          uint32_t expected, double timeout) {
  uint32_t *word = (uint32_t *)((char *)seg->base + offset);
  uint32_t *sleepers = bucket_of(seg, offset);
  int owned;
  HANDLE sem = sem_of(seg, offset, &owned);
  if (sem == NULL)
    return mp_win_fail(MPROC_ESYS, GetLastError(), "wait: CreateSemaphore");
  mproc_status_t st = MPROC_OK;
  __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == expected) {
    DWORD r = WaitForSingleObject(sem, mp_win_ms(timeout));
    if (r == WAIT_TIMEOUT)
      st = MPROC_ETIMEDOUT;
    else if (r != WAIT_OBJECT_0)
      st = mp_win_fail(MPROC_ESYS, GetLastError(), "wait: semaphore");
  }
  __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
  if (owned) CloseHandle(sem);
  return st;
}

void mp_wake(const mp_shm_t *seg, size_t offset, int count) {
  uint32_t n = __atomic_load_n(bucket_of(seg, offset), __ATOMIC_SEQ_CST);
  if (n == 0 || count <= 0) return;
  int owned;
  HANDLE sem = sem_of(seg, offset, &owned);
  if (sem == NULL) return;
  ReleaseSemaphore(sem, (LONG)((uint32_t)count < n ? (uint32_t)count : n),
                   NULL);
  if (owned) CloseHandle(sem);
}

/* ---- owner death -------------------------------------------------- */

/* Windows thread ids are unique across the machine while the thread
 * lives (multiples of 4, far below 2^29). Windows keeps no record of the
 * words a thread holds, so every holder is MP_OWNER_UNTRACKED and
 * waiters poll mp_thread_alive. */
uint32_t mp_thread_id(void) {
  return (uint32_t)GetCurrentThreadId() & MP_OWNER_ID_MASK;
}

static uint64_t alive_calls;

int mp_thread_alive(uint32_t tid) {
  __atomic_add_fetch(&alive_calls, 1, __ATOMIC_RELAXED);
  HANDLE t = OpenThread(SYNCHRONIZE, FALSE, tid);
  if (t == NULL) return GetLastError() == ERROR_INVALID_PARAMETER ? 0 : 1;
  int alive = WaitForSingleObject(t, 0) == WAIT_TIMEOUT;
  CloseHandle(t);
  return alive;
}

uint64_t mp_thread_alive_calls(void) {
  return __atomic_load_n(&alive_calls, __ATOMIC_RELAXED);
}

int mp_owner_take(mp_owned_word_t *w, uint32_t *expected, uint32_t flags) {
  uint32_t want = mp_thread_id() | flags | MP_OWNER_UNTRACKED;
  return __atomic_compare_exchange_n(&w->word, expected, want, 0,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

uint32_t mp_owner_clear(mp_owned_word_t *w) {
  return __atomic_exchange_n(&w->word, 0, __ATOMIC_RELEASE);
}

int mp_owner_detach(mp_owned_word_t *w) {
  (void)w;
  return 1;
}

/* ---- asymmetric fences -------------------------------------------- */

/* FlushProcessWriteBuffers reaches only the CPUs that run threads of the
 * calling process, not those of another: Windows has no cross-process
 * barrier, so no process joins and callers keep to their fenced path. */
int mp_remote_barrier_join(void) { return 0; }

mproc_status_t mp_remote_barrier(void) {
  return mp_fail(MPROC_ENOTSUP,
                 "remote_barrier: Windows has no cross-process barrier");
}
