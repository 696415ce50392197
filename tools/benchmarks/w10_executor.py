# SPDX-License-Identifier: Apache-2.0
"""W10 in CPython:

    python3 w10_executor.py --submit   ProcessPoolExecutor(2): submit 10_000
                                       squares, wait for all
    python3 w10_executor.py --map      executor.map of 100_000 squares,
                                       chunksize=1000
    python3 w10_executor.py --thread   ThreadPoolExecutor(2) on --submit's work

One untimed run first. Prints ns per task.
"""
import concurrent.futures as cf
import sys
import time


def square(x):
    return x * x


def run_submit(ex, n):
    start = time.monotonic()
    fs = [ex.submit(square, i) for i in range(n)]
    cf.wait(fs)
    elapsed = time.monotonic() - start
    if fs[n - 1].result() != (n - 1) * (n - 1):
        sys.exit("bench: wrong result")
    return elapsed / n * 1e9


def run_map(ex, n, chunksize):
    start = time.monotonic()
    results = list(ex.map(square, range(n), chunksize=chunksize))
    elapsed = time.monotonic() - start
    if results[n - 1] != (n - 1) * (n - 1):
        sys.exit("bench: wrong result")
    return elapsed / n * 1e9


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--submit"
    if mode == "--thread":
        ex = cf.ThreadPoolExecutor(2)
    else:
        ex = cf.ProcessPoolExecutor(2)
    with ex:
        if mode in ("--submit", "--thread"):
            run_submit(ex, 1_000)
            result = run_submit(ex, 10_000)
        elif mode == "--map":
            run_map(ex, 10_000, 1000)
            result = run_map(ex, 100_000, 1000)
        else:
            sys.exit(f"bench: unknown mode {mode}")
    print(f"{result:.3f}")


if __name__ == "__main__":
    main()
