# SPDX-License-Identifier: Apache-2.0
"""W1/W2 in CPython:

    python3 w1_pool.py --map      Pool(2).map(square, range(100_000))
    python3 w1_pool.py --map1     the same over 20_000 items, chunksize=1
    python3 w1_pool.py --thread   ThreadPool(2).map over 100_000 items
    python3 w1_pool.py --apply    10_000 x apply_async(square, (i,)).get()

One untimed run first. Prints ns per task (W1) or us per call (W2).
"""
import multiprocessing
import multiprocessing.pool
import sys
import time


def square(x):
    return x * x


def run_map(pool, n, chunksize=None):
    items = range(n)
    start = time.monotonic()
    results = pool.map(square, items, chunksize)
    elapsed = time.monotonic() - start
    if results[n - 1] != (n - 1) * (n - 1):
        sys.exit("bench: wrong result")
    return elapsed / n * 1e9


def run_apply(pool, n):
    start = time.monotonic()
    for i in range(n):
        if pool.apply_async(square, (i,)).get() != i * i:
            sys.exit("bench: wrong result")
    return (time.monotonic() - start) / n * 1e6


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--map"
    if mode == "--thread":
        pool = multiprocessing.pool.ThreadPool(2)
    else:
        pool = multiprocessing.Pool(2)
    with pool:
        if mode in ("--map", "--thread"):
            run_map(pool, 100_000)
            result = run_map(pool, 100_000)
        elif mode == "--map1":
            run_map(pool, 2_000, 1)
            result = run_map(pool, 20_000, 1)
        elif mode == "--apply":
            run_apply(pool, 1_000)
            result = run_apply(pool, 10_000)
        else:
            sys.exit(f"bench: unknown mode {mode}")
    print(f"{result:.3f}")


if __name__ == "__main__":
    main()
