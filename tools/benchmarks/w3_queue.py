# SPDX-License-Identifier: Apache-2.0
"""W3.queue with CPython: 1 producer process -> 1 consumer, N items of 64
bytes through a multiprocessing.Queue.

Clock window: from the producer's first put (its time.monotonic(), the
same clock as the C programs' CLOCK_MONOTONIC, travels in item 0) to the
consumer's last get. Prints nanoseconds per item."""
import argparse
import multiprocessing as mp
import struct
import time


def producer(q, n):
    start = time.monotonic()
    pad = b"x" * 48
    for i in range(n):
        q.put(struct.pack("<qd", i, start) + pad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--method", default=None)
    args = ap.parse_args()
    ctx = mp.get_context(args.method)
    q = ctx.Queue()
    p = ctx.Process(target=producer, args=(q, args.items))
    p.start()
    start = 0.0
    for i in range(args.items):
        seq, stamp = struct.unpack_from("<qd", q.get())
        if seq != i:
            raise SystemExit(f"bench: item {i} out of order")
        if i == 0:
            start = stamp
    elapsed = time.monotonic() - start
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"bench: the producer exited with {p.exitcode}")
    print(f"{elapsed / args.items * 1e9:.3f}")


if __name__ == "__main__":
    main()
