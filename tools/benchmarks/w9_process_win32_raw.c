/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W9 on Windows, the raw baseline (tools/bench --windows W9.spawn): what a
 * C programmer writes to start the program itself and wait for it:
 * CreateProcessW of GetModuleFileNameW with a marker argument, an
 * explicit (empty) inherited-handle list, WaitForSingleObject,
 * GetExitCodeProcess, N times (default 20).
 *   w9_process_win32_raw [--iterations N]
 * Prints microseconds per process. Windows only: built with
 * --config=windows, never for Linux (tagged manual).
 */
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static double now(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER t;
  if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&t);
  return (double)t.QuadPart / (double)freq.QuadPart;
}

static void die(const char *what) {
  fprintf(stderr, "bench: %s failed (Windows error %lu)\n", what,
          (unsigned long)GetLastError());
  exit(1);
}

static void start_and_wait(const wchar_t *exe, wchar_t *cmdline) {
  STARTUPINFOW si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  PROCESS_INFORMATION pi;
  if (!CreateProcessW(exe, cmdline, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
    die("CreateProcessW");
  if (WaitForSingleObject(pi.hProcess, INFINITE) != WAIT_OBJECT_0)
    die("WaitForSingleObject");
  DWORD code = 1;
  GetExitCodeProcess(pi.hProcess, &code);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  if (code != 0) {
    fprintf(stderr, "bench: the child exited with %lu\n", (unsigned long)code);
    exit(1);
  }
}

int main(int argc, char **argv) {
  long iterations = 20;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--child") == 0) return 0;
    if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
      iterations = strtol(argv[++i], NULL, 10);
  }
  if (iterations <= 0) iterations = 20;
  wchar_t exe[32768];
  if (GetModuleFileNameW(NULL, exe, 32768) == 0) die("GetModuleFileNameW");
  wchar_t cmdline[32768 + 16];
  swprintf(cmdline, sizeof cmdline / sizeof *cmdline, L"\"%ls\" --child", exe);
  start_and_wait(exe, cmdline);
  double start = now();
  for (long i = 0; i < iterations; i++) start_and_wait(exe, cmdline);
  printf("%.3f\n", (now() - start) / (double)iterations * 1e6);
  return 0;
}
