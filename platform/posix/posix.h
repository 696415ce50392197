/* Internal to platform/posix. */
#ifndef MPROC_PLATFORM_POSIX_H
#define MPROC_PLATFORM_POSIX_H

/* The absolute path of this program's executable, or NULL if unknown. */
const char *mp_posix_executable(void);

#endif
