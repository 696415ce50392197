# SPDX-License-Identifier: Apache-2.0
"""W10.mpi in CPython: mpi4py.futures (Debian's python3-mpi4py, run with
Debian's /usr/bin/python3), 2 workers, submit 10_000 squares, wait for all.

    python3 w10_mpi.py --prelaunched   mpirun -np 3 python3 -m mpi4py.futures
    python3 w10_mpi.py --tcp           the same with --mca btl self,tcp
    python3 w10_mpi.py --spawn         MPIPoolExecutor(max_workers=2)

One untimed run of 100 first. Prints ns per task.
"""
import os
import sys
import time

PYTHON = "/usr/bin/python3"
TASKS = 10_000
ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMPI_MCA_mpi_yield_when_idle": "1",
    "OMPI_MCA_btl_tcp_if_include": "lo",
    "OMPI_MCA_oob_tcp_if_include": "lo",
}


def square(x):
    return x * x


def run_submit(ex, n):
    from concurrent.futures import wait
    start = time.monotonic()
    fs = [ex.submit(square, i) for i in range(n)]
    wait(fs)
    elapsed = time.monotonic() - start
    if any(f.result() != i * i for i, f in enumerate(fs)):
        sys.exit("bench: wrong result")
    return elapsed / n * 1e9


def relaunch(mode):
    """Debian's Python (it has mpi4py); pre-launched modes under mpirun."""
    for k, v in ENV.items():
        os.environ.setdefault(k, v)
    if sys.executable != PYTHON:
        os.execv(PYTHON, [PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    if mode != "--spawn" and "OMPI_COMM_WORLD_SIZE" not in os.environ:
        tcp = ["--mca", "btl", "self,tcp"] if mode == "--tcp" else []
        os.execvp("mpirun", ["mpirun", "-np", "3", "--bind-to", "none"] +
                  tcp + [PYTHON, "-m", "mpi4py.futures",
                         os.path.abspath(__file__), mode])


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--prelaunched"
    if mode not in ("--prelaunched", "--tcp", "--spawn"):
        sys.exit("usage: w10_mpi.py [--prelaunched|--tcp|--spawn]")
    relaunch(mode)
    from mpi4py.futures import MPIPoolExecutor
    with MPIPoolExecutor(max_workers=2) as ex:
        run_submit(ex, 100)
        ns = run_submit(ex, TASKS)
    print(f"{ns:.3f}", flush=True)


if __name__ == "__main__":
    main()
