/* Internal to platform/posix. */
#ifndef MPROC_PLATFORM_POSIX_H
#define MPROC_PLATFORM_POSIX_H

/* The absolute path of this program's executable, or NULL if unknown. */
const char *mp_posix_executable(void);

/* Serialises reaping children (see reap() in process.c). */
void mp_posix_reap_lock(void);
void mp_posix_reap_unlock(void);

#endif
