/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Windows runtime: Winsock start-up, clocks, process facts, errors.
 * Native Win32, not APR: every call here is one Win32 call, where APR
 * would add a memory pool per object.
 */
#include "platform/windows/windows.h"

#include <psapi.h>
#include <tlhelp32.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static int initialized;
static wchar_t executable[32768];
static SRWLOCK spawn_guard = SRWLOCK_INIT;

DWORD mp_win_ms(double seconds) {
  if (seconds < 0) return INFINITE;
  double ms = seconds * 1e3;
  if (ms >= (double)(INFINITE - 1)) return INFINITE - 1;
  DWORD whole = (DWORD)ms;
  return whole + ((double)whole < ms);
}

mproc_status_t mp_win_fail(mproc_status_t status, DWORD err,
                           const char *what) {
  char text[256] = "";
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
                               FORMAT_MESSAGE_IGNORE_INSERTS,
                           NULL, err, 0, text, sizeof text, NULL);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
                   text[n - 1] == '.'))
    text[--n] = '\0';
  return mp_fail_code(status, (int)err, "%s: %s (Windows error %lu)", what,
                       n > 0 ? text : "unknown error", (unsigned long)err);
}

void mp_win_spawn_lock(void) { AcquireSRWLockExclusive(&spawn_guard); }
void mp_win_spawn_unlock(void) { ReleaseSRWLockExclusive(&spawn_guard); }

int mp_win_set_inherit(intptr_t os, int inherit) {
  return SetHandleInformation((HANDLE)os, HANDLE_FLAG_INHERIT,
                              inherit ? HANDLE_FLAG_INHERIT : 0) != 0;
}

const wchar_t *mp_win_executable(void) {
  return executable[0] ? executable : NULL;
}

mproc_status_t mp_platform_init(const char *argv0) {
  (void)argv0; /* GetModuleFileNameW knows better */
  if (initialized) return MPROC_OK;
  WSADATA data;
  int rc = WSAStartup(MAKEWORD(2, 2), &data);
  if (rc != 0) return mp_win_fail(MPROC_ESYS, (DWORD)rc, "WSAStartup");
  DWORD n = GetModuleFileNameW(NULL, executable, 32768);
  if (n == 0 || n >= 32768) executable[0] = 0;
  initialized = 1;
  return MPROC_OK;
}

int mp_platform_can_fork(void) { return 0; }

long mp_getpid(void) { return (long)GetCurrentProcessId(); }

/* The parent's process handle, opened at the first question: a pid alone
 * could be reused once the parent ended. */
static HANDLE parent_handle;
static long parent_handle_pid;
static SRWLOCK parent_guard = SRWLOCK_INIT;

/* This process's parent's pid (Windows keeps it after the parent ends),
 * looked up once; 0 if unknown. */
static long own_parent_pid(void) {
  static long parent = -1;
  if (parent >= 0) return parent;
  long found = 0;
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snap != INVALID_HANDLE_VALUE) {
    PROCESSENTRY32W e;
    e.dwSize = sizeof e;
    DWORD me = GetCurrentProcessId();
    for (BOOL ok = Process32FirstW(snap, &e); ok; ok = Process32NextW(snap, &e))
      if (e.th32ProcessID == me) found = (long)e.th32ParentProcessID;
    CloseHandle(snap);
  }
  parent = found;
  return parent;
}

int mp_pid_exists(long pid) {
  if (pid <= 0) return 0;
  HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
  if (h == NULL) return GetLastError() == ERROR_ACCESS_DENIED;
  DWORD r = WaitForSingleObject(h, 0);
  CloseHandle(h);
  return r == WAIT_TIMEOUT;
}

int mp_parent_alive(long parent_pid) {
  if (parent_pid == (long)GetCurrentProcessId()) return 0; /* not our own */
  long mine = own_parent_pid();
  if (mine != 0 && mine != parent_pid) return 0; /* not our parent */
  AcquireSRWLockExclusive(&parent_guard);
  if (parent_handle == NULL || parent_handle_pid != parent_pid) {
    if (parent_handle) CloseHandle(parent_handle);
    parent_handle = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)parent_pid);
    parent_handle_pid = parent_pid;
  }
  HANDLE h = parent_handle;
  ReleaseSRWLockExclusive(&parent_guard);
  if (h == NULL) return GetLastError() == ERROR_ACCESS_DENIED;
  return WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
}

int mp_cpu_count(void) {
  DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
  return n > 0 ? (int)n : 1;
}

int mp_usable_cpu_count(void) {
  DWORD_PTR mine, system;
  if (!GetProcessAffinityMask(GetCurrentProcess(), &mine, &system))
    return mp_cpu_count();
  int n = 0;
  for (; mine; mine &= mine - 1) n++;
  return n > 0 ? n : 1;
}

size_t mp_process_rss(void) {
  PROCESS_MEMORY_COUNTERS pmc;
  if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) return 0;
  return (size_t)pmc.WorkingSetSize;
}

double mp_monotonic(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER now;
  if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&now);
  return (double)now.QuadPart / (double)freq.QuadPart;
}

void mp_sleep(double seconds) {
  double deadline = mp_monotonic() + seconds;
  for (double left = seconds; left > 0; left = deadline - mp_monotonic())
    Sleep(mp_win_ms(left > 1e6 ? 1e6 : left));
}

void mp_cpu_relax(void) { YieldProcessor(); }

void mp_flush_std_streams(void) {
  fflush(stdout);
  fflush(stderr);
}
