/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Windows children: CreateProcessW of the program itself, the bootstrap
 * over an anonymous pipe, exit codes, TerminateProcess, and a Job Object
 * with kill-on-close for children that die with their parent. No fork and
 * no forkserver here: spawn is the only start method.
 *
 * Inheritance. Windows hands a child every inheritable handle of the
 * parent unless PROC_THREAD_ATTRIBUTE_HANDLE_LIST names the ones it gets.
 * Every handle mproc makes is private (not inheritable) from birth; the
 * passed ones, the bootstrap pipe's read end and the standard handles are
 * made inheritable only inside the spawn lock, listed in the attribute,
 * and made private again after CreateProcessW. Wine ignores the list (it
 * passes every inheritable handle): the lock keeps it to the same set.
 *
 * The child finds its bootstrap through an environment variable holding
 * the pipe's handle value, taken out of its environment before main.
 */
#include "platform/windows/windows.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "base/error.h"

#define SPAWN_ENV L"MPROC_SPAWN_BOOTSTRAP"
#define SPAWN_MARKER L"--mproc-spawn"
#define MAX_BOOTSTRAP ((uint64_t)1 << 32)
/* Handles one spawn can pass (besides its own three). */
#define MAX_PASS 1024

/* ---- the Job Object of die-with-parent children ------------------- */

static HANDLE kill_on_close_job;
static SRWLOCK job_guard = SRWLOCK_INIT;

/* The process-wide job: its only handle is ours, so it closes (and every
 * child in it is killed) when this process ends, whatever way. */
static HANDLE die_with_parent_job(void) {
  AcquireSRWLockExclusive(&job_guard);
  if (kill_on_close_job == NULL) {
    HANDLE job = CreateJobObjectW(NULL, NULL);
    if (job != NULL) {
      JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
      memset(&info, 0, sizeof info);
      info.BasicLimitInformation.LimitFlags =
          JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
      if (SetInformationJobObject(job, JobObjectExtendedLimitInformation,
                                  &info, sizeof info))
        kill_on_close_job = job;
      else
        CloseHandle(job);
    }
  }
  HANDLE job = kill_on_close_job;
  ReleaseSRWLockExclusive(&job_guard);
  return job;
}

/* ---- starting a child --------------------------------------------- */

static mproc_status_t check_passable(const mp_handle_t *pass, size_t npass) {
  if (npass > MAX_PASS)
    return mp_fail(MPROC_EINVAL, "spawn: %zu handles (at most %d)", npass,
                   MAX_PASS);
  for (size_t i = 0; i < npass; i++)
    if (pass[i].kind == MP_HANDLE_NONE || pass[i].kind == MP_HANDLE_CHILD ||
        pass[i].os == MP_NO_OS_HANDLE || pass[i].os == 0)
      return mp_fail(MPROC_EINVAL,
                     "spawn: handle %zu (%lld, kind %d) cannot be passed", i,
                     (long long)pass[i].os, (int)pass[i].kind);
  return MPROC_OK;
}

/* An inheritable duplicate of a standard handle, or NULL. */
static HANDLE inheritable_std(DWORD which) {
  HANDLE h = GetStdHandle(which), dup = NULL;
  if (h == NULL || h == INVALID_HANDLE_VALUE) return NULL;
  if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0,
                       TRUE, DUPLICATE_SAME_ACCESS))
    return NULL;
  return dup;
}

static HANDLE null_input(void) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE h = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                         &sa, OPEN_EXISTING, 0, NULL);
  return h == INVALID_HANDLE_VALUE ? NULL : h;
}

typedef struct {
  HANDLE std[3]; /* inheritable copies: in, out, err */
  HANDLE boot_read, boot_write;
  HANDLE *list;
  size_t nlist;
  LPPROC_THREAD_ATTRIBUTE_LIST attrs;
} spawn_state_t;

static void release_spawn(spawn_state_t *s) {
  for (int i = 0; i < 3; i++)
    if (s->std[i]) CloseHandle(s->std[i]);
  if (s->boot_read) CloseHandle(s->boot_read);
  if (s->attrs) {
    DeleteProcThreadAttributeList(s->attrs);
    free(s->attrs);
  }
  free(s->list);
}

/* The handle list attribute over s->list. 0 if the OS refused it. */
static int build_attributes(spawn_state_t *s) {
  SIZE_T size = 0;
  InitializeProcThreadAttributeList(NULL, 1, 0, &size);
  s->attrs = malloc(size);
  if (s->attrs == NULL) return 0;
  if (!InitializeProcThreadAttributeList(s->attrs, 1, 0, &size)) {
    free(s->attrs);
    s->attrs = NULL;
    return 0;
  }
  if (!UpdateProcThreadAttribute(s->attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                 s->list, s->nlist * sizeof(HANDLE), NULL,
                                 NULL)) {
    DeleteProcThreadAttributeList(s->attrs);
    free(s->attrs);
    s->attrs = NULL;
    return 0;
  }
  return 1;
}

static mproc_status_t prepare_spawn(spawn_state_t *s, const mp_handle_t *pass,
                                    size_t npass) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
  if (!CreatePipe(&s->boot_read, &s->boot_write, &sa, 0))
    return mp_win_fail(MPROC_ESYS, GetLastError(), "spawn: CreatePipe");
  s->std[0] = null_input();
  s->std[1] = inheritable_std(STD_OUTPUT_HANDLE);
  s->std[2] = inheritable_std(STD_ERROR_HANDLE);
  s->list = malloc((npass + 4) * sizeof(HANDLE));
  if (s->list == NULL) return mp_fail(MPROC_ENOMEM, "spawn: handle list");
  s->list[s->nlist++] = s->boot_read;
  for (int i = 0; i < 3; i++)
    if (s->std[i]) s->list[s->nlist++] = s->std[i];
  for (size_t i = 0; i < npass; i++) {
    int dup = 0;
    for (size_t k = 0; k < s->nlist; k++)
      dup |= s->list[k] == (HANDLE)pass[i].os;
    if (!dup) s->list[s->nlist++] = (HANDLE)pass[i].os;
  }
  return MPROC_OK;
}

/* Runs CreateProcessW with the spawn lock held: the passed handles are
 * inheritable only meanwhile. */
static mproc_status_t create_child(spawn_state_t *s, const mp_handle_t *pass,
                                   size_t npass, int die_with_parent,
                                   PROCESS_INFORMATION *pi) {
  const wchar_t *exe = mp_win_executable();
  wchar_t cmdline[32768 + 64];
  swprintf(cmdline, sizeof cmdline / sizeof cmdline[0], L"\"%ls\" %ls", exe,
           SPAWN_MARKER);
  wchar_t where[64];
  swprintf(where, 64, L"%llu", (unsigned long long)(uintptr_t)s->boot_read);

  mp_win_spawn_lock();
  mp_win_set_inherit((intptr_t)s->boot_read, 1);
  for (size_t i = 0; i < npass; i++) mp_win_set_inherit(pass[i].os, 1);
  int listed = build_attributes(s);
  STARTUPINFOEXW si;
  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = listed ? sizeof si : sizeof si.StartupInfo;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = s->std[0];
  si.StartupInfo.hStdOutput = s->std[1];
  si.StartupInfo.hStdError = s->std[2];
  si.lpAttributeList = listed ? s->attrs : NULL;
  DWORD flags = CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED |
                (listed ? EXTENDED_STARTUPINFO_PRESENT : 0);
  SetEnvironmentVariableW(SPAWN_ENV, where);
  BOOL ok = CreateProcessW(exe, cmdline, NULL, NULL, TRUE, flags, NULL, NULL,
                           &si.StartupInfo, pi);
  DWORD err = ok ? 0 : GetLastError();
  SetEnvironmentVariableW(SPAWN_ENV, NULL);
  for (size_t i = 0; i < npass; i++) mp_win_set_inherit(pass[i].os, 0);
  mp_win_spawn_unlock();
  if (!ok) return mp_win_fail(MPROC_ESPAWN, err, "spawn: CreateProcessW");

  /* Suspended until it is in the job: it runs no code of its own
   * before its death is tied to ours. */
  if (die_with_parent) {
    HANDLE job = die_with_parent_job();
    if (job == NULL || !AssignProcessToJobObject(job, pi->hProcess))
      fprintf(stderr, "mproc: a daemon child (pid %lu) cannot be tied to its "
                      "parent's life (Windows error %lu)\n",
              (unsigned long)pi->dwProcessId, (unsigned long)GetLastError());
  }
  ResumeThread(pi->hThread);
  CloseHandle(pi->hThread);
  return MPROC_OK;
}

static int write_all(HANDLE h, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    DWORD chunk = len > (1u << 30) ? (1u << 30) : (DWORD)len, n = 0;
    if (!WriteFile(h, p, chunk, &n, NULL)) return 0;
    p += n;
    len -= n;
  }
  return 1;
}

mproc_status_t mp_child_spawn(mp_child_t **out, const void *blob, size_t len,
                              const mp_handle_t *pass, size_t npass,
                              int die_with_parent) {
  mproc_status_t st = check_passable(pass, npass);
  if (st != MPROC_OK) return st;
  if (mp_win_executable() == NULL)
    return mp_fail(MPROC_ESPAWN, "spawn: the program's executable is unknown");
  mp_child_t *c = calloc(1, sizeof *c);
  if (c == NULL) return mp_fail(MPROC_ENOMEM, "spawn: out of memory");
  spawn_state_t s;
  memset(&s, 0, sizeof s);
  PROCESS_INFORMATION pi;
  st = prepare_spawn(&s, pass, npass);
  if (st == MPROC_OK) st = create_child(&s, pass, npass, die_with_parent, &pi);
  release_spawn(&s); /* our copy of the read end goes: EOF if it dies */
  if (st != MPROC_OK) {
    if (s.boot_write) CloseHandle(s.boot_write);
    free(c);
    return st;
  }
  c->process = pi.hProcess;
  c->pid = pi.dwProcessId;
  uint64_t header = len;
  int ok = write_all(s.boot_write, &header, sizeof header) &&
           write_all(s.boot_write, blob, len);
  DWORD err = ok ? 0 : GetLastError();
  CloseHandle(s.boot_write);
  if (!ok) {
    int ignored;
    mp_child_signal(c, MP_SIGNAL_KILL);
    mp_child_wait(c, -1, &ignored);
    mp_child_free(c);
    return mp_win_fail(MPROC_ESPAWN, err,
                       "spawn: the child did not read its bootstrap");
  }
  *out = c;
  return MPROC_OK;
}

/* The exit code as mproc reports it, the same on every port: an exit
 * status as POSIX's exit() leaves it (0..255), or minus the signal number
 * that ended the child: mp_child_signal's codes (CPython reports its
 * TERMINATE, 0x10000, as -15), a crash signal a spawned child raised
 * (crash_handler), and the crash exceptions those signals are on POSIX. */
static int decode_exit(DWORD code) {
  if (code == MP_WIN_TERMINATED) return -15;
  if (code > MP_WIN_TERMINATED && code < MP_WIN_TERMINATED + 32)
    return -(int)(code - MP_WIN_TERMINATED);
  switch (code) {
    case 0xC0000005: /* STATUS_ACCESS_VIOLATION */
    case 0xC00000FD: /* STATUS_STACK_OVERFLOW */
    case 0xC0000006: /* STATUS_IN_PAGE_ERROR */
      return -11;  /* SIGSEGV */
    case 0xC000001D: /* STATUS_ILLEGAL_INSTRUCTION */
    case 0xC0000096: /* STATUS_PRIVILEGED_INSTRUCTION */
      return -4;   /* SIGILL */
    case 0xC0000094: /* STATUS_INTEGER_DIVIDE_BY_ZERO */
    case 0xC0000095: /* STATUS_INTEGER_OVERFLOW */
    case 0xC000008E: /* STATUS_FLOAT_DIVIDE_BY_ZERO */
      return -8;   /* SIGFPE */
    case 0xC0000409: /* STATUS_STACK_BUFFER_OVERRUN (also __fastfail) */
      return -6;   /* SIGABRT */
    default:
      return (int)(code & 0xff);
  }
}

/* In a spawned child, a crash signal (raise, abort) ends the process at
 * once with a code decode_exit reads as minus that signal's POSIX number;
 * msvcrt's own default would exit with 3, an ordinary status. */
static void crash_handler(int sig) {
  int posix = sig == SIGABRT ? 6 : sig; /* SIGSEGV 11, SIGILL 4, SIGFPE 8 */
  TerminateProcess(GetCurrentProcess(), MP_WIN_TERMINATED + (UINT)posix);
}

static void catch_crash_signals(void) {
  signal(SIGSEGV, crash_handler);
  signal(SIGILL, crash_handler);
  signal(SIGFPE, crash_handler);
  signal(SIGABRT, crash_handler);
}

/* ---- the child's side --------------------------------------------- */

/* The bootstrap pipe's handle value this process started with (0: none),
 * taken out of the environment before main: nothing it starts inherits
 * it. 1 marks a malformed value. */
static uintptr_t spawn_location;

__attribute__((constructor)) static void take_spawn_location(void) {
  wchar_t value[64];
  DWORD n = GetEnvironmentVariableW(SPAWN_ENV, value, 64);
  if (n == 0) return;
  SetEnvironmentVariableW(SPAWN_ENV, NULL);
  wchar_t *end = NULL;
  unsigned long long v = n < 64 ? wcstoull(value, &end, 10) : 0;
  spawn_location = (end && *end == 0 && v > 1) ? (uintptr_t)v : 1;
}

static int read_full(HANDLE h, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    DWORD chunk = len > (1u << 30) ? (1u << 30) : (DWORD)len, n = 0;
    if (!ReadFile(h, p, chunk, &n, NULL) || n == 0) return 0;
    p += n;
    len -= n;
  }
  return 1;
}

mproc_status_t mp_spawned_bootstrap(int argc, char **argv, int *is_child,
                                    void **blob, size_t *len) {
  (void)argc;
  (void)argv;
  *is_child = 0;
  uintptr_t where = spawn_location;
  spawn_location = 0; /* read once */
  if (where == 0) return MPROC_OK;
  if (where == 1)
    return mp_fail(MPROC_ESPAWN, "bootstrap: malformed MPROC_SPAWN_BOOTSTRAP");
  *is_child = 1;
  catch_crash_signals();
  HANDLE h = (HANDLE)where;
  uint64_t size = 0;
  void *buf = NULL;
  int ok = read_full(h, &size, sizeof size) && size <= MAX_BOOTSTRAP;
  if (ok) ok = (buf = malloc(size ? (size_t)size : 1)) != NULL;
  if (ok) ok = read_full(h, buf, (size_t)size);
  DWORD err = GetLastError();
  CloseHandle(h);
  if (!ok) {
    free(buf);
    return mp_win_fail(MPROC_ESPAWN, err, "bootstrap: reading from parent");
  }
  *blob = buf;
  *len = (size_t)size;
  return MPROC_OK;
}

/* ---- waiting, signals --------------------------------------------- */

mproc_status_t mp_child_wait(mp_child_t *c, double timeout, int *exitcode) {
  if (!c->ended) {
    DWORD r = WaitForSingleObject(c->process, mp_win_ms(timeout));
    if (r == WAIT_TIMEOUT) return MPROC_ETIMEDOUT;
    if (r != WAIT_OBJECT_0)
      return mp_win_fail(MPROC_ESYS, GetLastError(), "wait for child");
    DWORD code = 0;
    if (!GetExitCodeProcess(c->process, &code))
      return mp_win_fail(MPROC_ESYS, GetLastError(), "GetExitCodeProcess");
    c->exitcode = decode_exit(code);
    __atomic_store_n(&c->ended, 1, __ATOMIC_RELEASE);
  }
  *exitcode = c->exitcode;
  return MPROC_OK;
}

mproc_status_t mp_child_signal(mp_child_t *c, mp_signal_t sig) {
  if (sig == MP_SIGNAL_CONTINUE) return MPROC_OK; /* nothing stops here */
  /* KILL_GROUP is KILL: no process groups here (mp_process_lead_group). */
  int killed = sig == MP_SIGNAL_KILL || sig == MP_SIGNAL_KILL_GROUP;
  UINT code = MP_WIN_TERMINATED + (killed ? 9 : 15);
  if (TerminateProcess(c->process, code)) return MPROC_OK;
  DWORD err = GetLastError();
  /* Already ended (or ending): not an error. */
  if (WaitForSingleObject(c->process, 0) == WAIT_OBJECT_0) return MPROC_OK;
  return mp_win_fail(MPROC_ESYS, err, "TerminateProcess");
}

mproc_status_t mp_process_lead_group(void) {
  return mp_fail(MPROC_ENOTSUP,
                 "process groups: not on Windows yet (a Job Object per "
                 "group would do it)");
}

long mp_child_pid(const mp_child_t *c) { return (long)c->pid; }

mp_handle_t mp_child_sentinel(const mp_child_t *c) {
  mp_handle_t h = {MP_HANDLE_CHILD, (intptr_t)c->process};
  return h;
}

void mp_child_free(mp_child_t *c) {
  if (c == NULL) return;
  CloseHandle(c->process);
  free(c);
}

mproc_status_t mp_child_fork(mp_child_t **out, mp_fork_main_fn child_main,
                             void *ctx, int die_with_parent) {
  (void)out;
  (void)child_main;
  (void)ctx;
  (void)die_with_parent;
  return mp_fail(MPROC_ENOTSUP, "fork: Windows cannot fork (use spawn)");
}

/* ---- no forkserver ------------------------------------------------ */

int mp_platform_can_forkserver(void) { return 0; }
int mp_forkserver_is_server(void) { return 0; }
long mp_forkserver_pid(void) { return 0; }

void mp_forkserver_serve(mp_spawned_main_fn child_main) {
  (void)child_main;
  fprintf(stderr, "mproc: no forkserver on Windows\n");
  ExitProcess(1);
}

mproc_status_t mp_child_forkserver(mp_child_t **out, const void *blob,
                                   size_t len, const mp_handle_t *pass,
                                   size_t npass, int die_with_parent) {
  (void)out;
  (void)blob;
  (void)len;
  (void)pass;
  (void)npass;
  (void)die_with_parent;
  return mp_fail(MPROC_ENOTSUP, "forkserver: not on Windows (use spawn)");
}
