# SPDX-License-Identifier: Apache-2.0
"""W9 in CPython: start+join of a trivial process, N times (default 200).

    python3 w9_process.py --method METHOD [--iterations N]

METHOD is one of multiprocessing.get_all_start_methods() (fork, spawn,
forkserver on Linux).

Prints microseconds per process. One untimed start+join first (under spawn
it also starts CPython's resource tracker), as in the two C programs.
"""
import argparse
import multiprocessing
import sys
import time


def trivial():
    return 0


def start_and_join(ctx):
    p = ctx.Process(target=trivial)
    p.start()
    p.join()
    if p.exitcode != 0:
        sys.exit(f"bench: the child exited with {p.exitcode}")
    p.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--method", required=True,
                        choices=multiprocessing.get_all_start_methods())
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    ctx = multiprocessing.get_context(args.method)
    start_and_join(ctx)
    start = time.monotonic()
    for _ in range(args.iterations):
        start_and_join(ctx)
    elapsed = time.monotonic() - start
    print(f"{elapsed / args.iterations * 1e6:.3f}")


if __name__ == "__main__":
    main()
