/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to platform/windows. */
#ifndef MPROC_PLATFORM_WINDOWS_H
#define MPROC_PLATFORM_WINDOWS_H

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "platform/platform.h"

/* A child: its process HANDLE is the sentinel (signalled when it ends). */
struct mp_child {
  HANDLE process;
  DWORD pid;
  int ended;
  int exitcode;
};

/* Exit codes TerminateProcess gives a child mp_child_signal ended: the
 * code CPython's Popen.terminate uses (0x10000, reported as -SIGTERM), and
 * 0x10000 + the signal number, reported as minus that number. */
#define MP_WIN_TERMINATED 0x10000u

/* Milliseconds for a wait of seconds (negative: INFINITE), rounded up
 * so that a wait never ends early, below INFINITE. */
DWORD mp_win_ms(double seconds);

/* A Win32 error (GetLastError / WSAGetLastError) as a failure: the
 * detail with FormatMessage's text and the code kept for
 * mproc_last_os_error. */
mproc_status_t mp_win_fail(mproc_status_t status, DWORD err, const char *what);

/* Serialises spawns: passed handles are inheritable only inside it. */
void mp_win_spawn_lock(void);
void mp_win_spawn_unlock(void);

/* Makes a handle (any kind) inheritable or private. */
int mp_win_set_inherit(intptr_t os, int inherit);

/* The executable's full path (UTF-16), or NULL. */
const wchar_t *mp_win_executable(void);

/* closesocket, or CloseHandle for a socket wine's closesocket does not
 * know (an inherited one). MP_NO_OS_HANDLE is ignored. */
void mp_win_close_socket(intptr_t os);

#endif
