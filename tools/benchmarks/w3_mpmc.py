# SPDX-License-Identifier: Apache-2.0
"""W3.mpmc with CPython: P producer processes -> P consumer processes, N
items of 64 bytes in all, through one multiprocessing.Queue.

Every item is counted (a count and a checksum per consumer, sent back on a
second queue). Clock window: from the go signal to the last consumer's end
(one stop item per consumer after the producers are done).
Prints nanoseconds per item."""
import argparse
import multiprocessing as mp
import struct
import time

STOP = 0xFFFFFFFF
MASK = (1 << 64) - 1


def mix(producer, seq):
    return ((producer << 32 | seq) * 0x9E3779B97F4A7C15) & MASK


def producer(q, go, ident, per):
    go.wait()
    pad = b"x" * 56
    for i in range(per):
        q.put(struct.pack("<II", ident, i) + pad)


def consumer(q, go, results):
    go.wait()
    got = total = 0
    while True:
        ident, seq = struct.unpack_from("<II", q.get())
        if seq == STOP:
            break
        got += 1
        total = (total + mix(ident, seq)) & MASK
    results.put((got, total))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--method", default=None)
    args = ap.parse_args()
    per = args.items // args.processes
    n = per * args.processes
    ctx = mp.get_context(args.method)
    q, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    producers = [ctx.Process(target=producer, args=(q, go, i, per))
                 for i in range(args.processes)]
    consumers = [ctx.Process(target=consumer, args=(q, go, results))
                 for _ in range(args.processes)]
    for p in producers + consumers:
        p.start()
    start = time.monotonic()
    go.set()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(struct.pack("<II", 0, STOP) + b"x" * 56)
    sums = [results.get() for _ in consumers]
    for p in consumers:
        p.join()
    elapsed = time.monotonic() - start
    want = 0
    for p in range(args.processes):
        for i in range(per):
            want = (want + mix(p, i)) & MASK
    got = sum(g for g, _ in sums)
    total = 0
    for _, t in sums:
        total = (total + t) & MASK
    if got != n or total != want or any(
            p.exitcode != 0 for p in producers + consumers):
        raise SystemExit(f"bench: items lost or damaged: got {got} of {n}")
    print(f"{elapsed / n * 1e9:.3f}")


if __name__ == "__main__":
    main()
