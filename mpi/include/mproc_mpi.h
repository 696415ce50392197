/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mproc_mpi.h
 * @brief The MPI executor (//mpi:mproc_mpi): concurrent.futures over MPI,
 * the way mpi4py.futures does it for Python (docs/mpi.md).
 *
 * An optional component: the core library (//:mproc) needs no MPI; a
 * program that links //mpi:mproc_mpi needs Open MPI (or, pre-launched
 * only, another MPI) at run time. The executor it creates is an ordinary
 * mproc_executor_t: mproc_executor_submit, mproc_executor_map,
 * mproc_future_result, mproc_futures_wait, mproc_as_completed and
 * mproc_executor_shutdown work on it unchanged. Functions are the
 * registered ones (MPROC_FUNCTION), arguments and results mproc_obj_t.
 *
 * Two modes, as mpi4py.futures has:
 *   spawn        the program is started plainly (./prog): the executor
 *                starts its workers with MPI_Comm_spawn of the program
 *                itself (MPIPoolExecutor);
 *   pre-launched the program is started by mpirun -np N: rank 0 is the
 *                master, ranks 1..N-1 serve as workers (MPICommExecutor,
 *                python -m mpi4py.futures).
 * Every process calls mproc_mpi_start() at the top of main: a worker
 * serves there until the master is done, and learns it from the role.
 */
#ifndef MPROC_MPI_H
#define MPROC_MPI_H

#include "mproc.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The roles mproc_mpi_start() gives. */
enum {
  MPROC_MPI_MASTER = 1, /**< run the program: create executors */
  MPROC_MPI_WORKER = 2  /**< served as a worker; the master is done: exit */
};

/** The modes mproc_mpi_mode() tells. */
enum {
  MPROC_MPI_SPAWN = 1,      /**< started plainly: executors spawn workers */
  MPROC_MPI_PRELAUNCHED = 2 /**< under mpirun: ranks 1..N-1 are workers */
};

/** Starts MPI (MPI_Init_thread, unless the program did) and tells this
 * process its role. A worker (a spawned child, or a rank other than 0
 * under mpirun) serves tasks inside this call and returns
 * MPROC_MPI_WORKER once its master is done: it should then call
 * mproc_mpi_finalize() and exit. The master gets MPROC_MPI_MASTER at
 * once. Call it first thing in main, after mproc_init(); argc/argv go to
 * MPI_Init_thread (may be NULL) and argv[0] names the program that spawn
 * mode starts. Calling it again returns the same role.
 * Errors: MPROC_EINVAL (NULL role), MPROC_ENOTSUP (the MPI library gives
 * less than MPI_THREAD_SERIALIZED), MPROC_ESTATE (after
 * mproc_mpi_finalize), MPROC_ESYS (an MPI call failed: last_error). */
mproc_status_t mproc_mpi_start(int *argc, char ***argv, int *role);

/** The mode of this run: MPROC_MPI_SPAWN or MPROC_MPI_PRELAUNCHED.
 * Errors: MPROC_EINVAL (NULL), MPROC_ESTATE (mproc_mpi_start not called). */
mproc_status_t mproc_mpi_mode(int *mode);

/** The options of mproc_mpi_executor_create; _init gives the defaults. */
typedef struct mproc_mpi_executor_options {
  /** Workers. Spawn mode: MPROC_EXECUTOR_DEFAULT_WORKERS takes
   * MPROC_MPI_MAX_WORKERS from the environment, else MPI_UNIVERSE_SIZE - 1,
   * else 1. Pre-launched: at most the N - 1 worker ranks (the default). */
  int max_workers;
  /** Spawn mode: the program to start (NULL: this one, argv[0]). */
  const char *command;
  /** Spawn mode: its arguments, NULL-terminated (NULL: none). */
  char **args;
  /** Seconds a worker holding tasks may stay silent (it sends a heartbeat
   * every 0.25 s while it runs a task) before it is declared dead and its
   * futures fail with MPROC_EWORKERDIED. Default 10. */
  double worker_timeout;
} mproc_mpi_executor_options_t;

/** Fills opts with the defaults. Errors: MPROC_EINVAL (NULL). */
mproc_status_t mproc_mpi_executor_options_init(
    mproc_mpi_executor_options_t *opts);

/** An executor over MPI (opts NULL: the defaults): in spawn mode it
 * starts its workers now (MPI_Comm_spawn) and ends them at shutdown; in
 * pre-launched mode it uses the world's worker ranks (one executor at a
 * time). Calls mproc_mpi_start() if the program did not.
 * The result is freed with mproc_executor_free like any executor.
 * Errors: MPROC_ENOINIT, MPROC_EINVAL (NULL out, max_workers below 1 or
 * more than the ranks, worker_timeout not above 0), MPROC_ESTATE (this
 * process is a worker, another executor holds the ranks, after
 * mproc_mpi_finalize), MPROC_ESPAWN (MPI_Comm_spawn failed),
 * MPROC_ENOMEM, MPROC_ESYS. */
mproc_status_t mproc_mpi_executor_create(
    mproc_executor_t **out, const mproc_mpi_executor_options_t *opts);

/** Ends MPI in this process: the master (pre-launched) first tells the
 * worker ranks to stop serving; MPI_Finalize if mproc_mpi_start called
 * MPI_Init_thread. Every executor must be freed first. A second call does
 * nothing. Errors: MPROC_ESTATE (an MPI executor still exists). */
mproc_status_t mproc_mpi_finalize(void);

#ifdef __cplusplus
}
#endif

#endif
