# SPDX-License-Identifier: Apache-2.0
"""W3 with CPython: 1 producer process -> 1 consumer, N items of 64 bytes
through a multiprocessing.Queue. Prints nanoseconds per item, timed from
the producer's first item."""
import argparse
import multiprocessing as mp
import time


def producer(q, n):
    q.put(b"go")
    item = b"x" * 64
    for _ in range(n):
        q.put(item)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--method", default="fork")
    args = ap.parse_args()
    ctx = mp.get_context(args.method)
    q = ctx.Queue()
    p = ctx.Process(target=producer, args=(q, args.items))
    p.start()
    q.get()
    start = time.perf_counter()
    for _ in range(args.items):
        q.get()
    elapsed = time.perf_counter() - start
    p.join()
    print(f"{elapsed / args.items * 1e9:.3f}")


if __name__ == "__main__":
    main()
