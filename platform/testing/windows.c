/* SPDX-License-Identifier: Apache-2.0 */
/* platform/testing/testing.h on Windows. */
#include <winsock2.h>
#include <windows.h>

#include <psapi.h>
#include <stdlib.h>

#include "platform/testing/testing.h"

int mp_test_kill_pid(long pid) {
  HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)pid);
  if (h == NULL) return -1;
  /* The code mp_child_signal(KILL) gives: reported as -9. */
  int ok = TerminateProcess(h, 0x10000 + 9);
  CloseHandle(h);
  return ok ? 0 : -1;
}

int mp_test_pid_gone(long pid) {
  HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
  if (h == NULL) return 1;
  int gone = WaitForSingleObject(h, 0) == WAIT_OBJECT_0;
  CloseHandle(h);
  return gone;
}

long mp_test_open_handles(void) {
  DWORD n = 0;
  return GetProcessHandleCount(GetCurrentProcess(), &n) ? (long)n : -1;
}

long mp_test_shm_entries(void) { return 0; }

/* Both the Win32 environment (what CreateProcess hands a child) and the C
 * runtime's copy (what getenv reads). */
int mp_test_setenv(const char *name, const char *value) {
  if (!SetEnvironmentVariableA(name, value)) return -1;
  return _putenv_s(name, value);
}

long mp_test_start_sleeper(void) { return -1; }

int mp_test_unsetenv(const char *name) {
  SetEnvironmentVariableA(name, NULL);
  return _putenv_s(name, "");
}

size_t mp_test_rss(void) {
  PROCESS_MEMORY_COUNTERS pmc;
  if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) return 0;
  return (size_t)pmc.WorkingSetSize;
}

int mp_test_usable_cpus(void) {
  DWORD_PTR mine, system;
  if (!GetProcessAffinityMask(GetCurrentProcess(), &mine, &system)) return -1;
  int n = 0;
  for (; mine; mine &= mine - 1) n++;
  return n;
}

int mp_test_persistent_shm(void) { return 0; }

int mp_test_error_not_found(void) { return ERROR_FILE_NOT_FOUND; }
int mp_test_error_bad_handle(void) { return WSAENOTSOCK; }

int mp_test_has_signals(void) { return 0; }
