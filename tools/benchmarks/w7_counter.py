# SPDX-License-Identifier: Apache-2.0
"""W7 in CPython: 4 processes x 100k increments of a shared Value('i'):

    with counter.get_lock():
        counter.value += 1

    python3 w7_counter.py [--processes P] [--iterations N]

Children start first and wait on an Event; timed from the go signal to the
last join, after one untimed run. Prints nanoseconds per increment.
"""
import argparse
import multiprocessing
import sys
import time


def incrementer(counter, ready, go, n):
    ready.release()
    go.wait()
    lock = counter.get_lock()
    for _ in range(n):
        with lock:
            counter.value += 1


def run(processes, n):
    counter = multiprocessing.Value("i", 0)
    ready = multiprocessing.Semaphore(0)
    go = multiprocessing.Event()
    ps = [multiprocessing.Process(target=incrementer,
                                  args=(counter, ready, go, n))
          for _ in range(processes)]
    for p in ps:
        p.start()
    for _ in ps:
        ready.acquire()
    start = time.monotonic()
    go.set()
    for p in ps:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"bench: a child exited with {p.exitcode}")
    elapsed = time.monotonic() - start
    if counter.value != processes * n:
        sys.exit(f"bench: counter {counter.value}")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=100_000)
    args = parser.parse_args()
    run(args.processes, args.iterations)
    elapsed = run(args.processes, args.iterations)
    print(f"{elapsed / (args.processes * args.iterations) * 1e9:.3f}")


if __name__ == "__main__":
    main()
