# SPDX-License-Identifier: Apache-2.0
"""W6 in CPython: uncontended multiprocessing.Lock acquire()+release().

    python3 w6_lock.py [--iterations N]      (default 1_000_000)

Prints nanoseconds per pair, after one untimed warm-up pass.
"""
import argparse
import multiprocessing
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=1_000_000)
    args = parser.parse_args()
    lock = multiprocessing.Lock()
    acquire, release = lock.acquire, lock.release
    for timed in (False, True):
        start = time.monotonic()
        for _ in range(args.iterations):
            acquire()
            release()
        elapsed = time.monotonic() - start
    print(f"{elapsed / args.iterations * 1e9:.3f}")


if __name__ == "__main__":
    main()
