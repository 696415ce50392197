/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For tests only (//platform:testing): the few OS facts and actions the
 * suite checks behaviour with, written once per OS so that the tests
 * themselves stay free of OS calls (and run on every port).
 */
#ifndef MPROC_PLATFORM_TESTING_H
#define MPROC_PLATFORM_TESTING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Ends process pid at once (SIGKILL; TerminateProcess). 0 on success. */
int mp_test_kill_pid(long pid);
/* Nonzero when process pid has ended (also a zombie nobody reaped). */
int mp_test_pid_gone(long pid);
/* Handles (descriptors) this process has open, -1 if not told. */
long mp_test_open_handles(void);
/* Entries of the OS's shared-memory namespace that outlive processes
 * (/dev/shm) and that mproc or this test could have made: their names
 * hold "mproc" or this process's pid (other programs, MPI's transport,
 * wine, tests running beside this one, add and remove their own at any
 * time); 0 where nothing can outlive its last user (Windows). */
long mp_test_shm_entries(void);
/* Starts a process that sleeps until it is killed, the plain way a task
 * might (POSIX: fork, no die-with-parent), and gives its pid; -1 where
 * the suite has no such process to start (Windows). */
long mp_test_start_sleeper(void);
/* The CPUs this process may run on (its affinity mask), read apart from
 * the library's own mp_usable_cpu_count. */
int mp_test_usable_cpus(void);
/* This process's resident memory in bytes, 0 if not told (read apart
 * from the library's own mp_process_rss, which tests check). */
size_t mp_test_rss(void);
/* Nonzero where a persistent named segment outlives every user as a plain
 * object of the OS (POSIX /dev/shm); 0 where none can (Windows). */
int mp_test_persistent_shm(void);
/* The OS's error codes (mproc_last_os_error) for "no such file or
 * endpoint" (ENOENT; ERROR_FILE_NOT_FOUND) and for a handle that is not an
 * open one of its kind (EBADF; WSAENOTSOCK). */
int mp_test_error_not_found(void);
int mp_test_error_bad_handle(void);
/* Nonzero where a process can end by a signal (POSIX); 0 on Windows,
 * where a raised signal with its default action ends the process with an
 * ordinary exit status (msvcrt: 3). */
int mp_test_has_signals(void);
/* setenv / unsetenv of this process's environment (what a child
 * started afterwards inherits, and what getenv reads). 0 on success. */
int mp_test_setenv(const char *name, const char *value);
int mp_test_unsetenv(const char *name);

#ifdef __cplusplus
}
#endif

#endif
