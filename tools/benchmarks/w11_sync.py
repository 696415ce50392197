# SPDX-License-Identifier: Apache-2.0
"""W11 in CPython, 2 processes, N cycles (default 10000):

    python3 w11_sync.py --barrier|--event [--iterations N]

--barrier: both call Barrier(2).wait() N times. --event: ping-pong, the
parent sets `ping` and waits for `pong`; the child waits for `ping`, clears
it and sets `pong`. After one untimed cycle. Prints microseconds per cycle.
"""
import argparse
import multiprocessing
import sys
import time


def barrier_party(barrier, n):
    for _ in range(n + 1):
        barrier.wait()


def ponger(ping, pong, n):
    for _ in range(n + 1):
        ping.wait()
        ping.clear()
        pong.set()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--barrier", action="store_true")
    parser.add_argument("--event", action="store_true")
    parser.add_argument("--iterations", type=int, default=10_000)
    args = parser.parse_args()
    n = args.iterations
    if args.barrier == args.event:
        sys.exit("bench: --barrier or --event")
    if args.barrier:
        barrier = multiprocessing.Barrier(2)
        p = multiprocessing.Process(target=barrier_party, args=(barrier, n))
        p.start()
        barrier.wait()
        start = time.monotonic()
        for _ in range(n):
            barrier.wait()
    else:
        ping, pong = multiprocessing.Event(), multiprocessing.Event()
        p = multiprocessing.Process(target=ponger, args=(ping, pong, n))
        p.start()
        for i in range(n + 1):
            if i == 1:
                start = time.monotonic()
            ping.set()
            pong.wait()
            pong.clear()
    elapsed = time.monotonic() - start
    p.join()
    if p.exitcode != 0:
        sys.exit(f"bench: the child exited with {p.exitcode}")
    print(f"{elapsed / n * 1e6:.3f}")


if __name__ == "__main__":
    main()
