# SPDX-License-Identifier: Apache-2.0
"""W8 with CPython: a Manager's dict.
  --dict       one client: N sets then N gets (d[i] = i; d[i]), us per op
  --parallel   4 client processes, N/4 sets each on one dict, us per update
               (wall time over all updates: lower is more throughput)"""
import argparse
import multiprocessing as mp
import time


def updater(d, base, n):
    for i in range(base, base + n):
        d[i] = i


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dict", action="store_true")
    ap.add_argument("--parallel", action="store_true")
    ap.add_argument("--ops", type=int, default=10_000)
    ap.add_argument("--method", default="fork")
    args = ap.parse_args()
    ctx = mp.get_context(args.method)
    with ctx.Manager() as m:
        d = m.dict()
        for i in range(100):  # untimed warm-up
            d[-1 - i] = i
        if args.parallel:
            each = args.ops // 4
            procs = [ctx.Process(target=updater, args=(d, k * each, each))
                     for k in range(4)]
            start = time.perf_counter()
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            elapsed = time.perf_counter() - start
            if len(d) != 4 * each + 100:
                raise SystemExit("lost updates")
            print(f"{elapsed / (4 * each) * 1e6:.3f}")
            return
        n = args.ops
        start = time.perf_counter()
        for i in range(n):
            d[i] = i
        for i in range(n):
            if d[i] != i:
                raise SystemExit("wrong value")
        elapsed = time.perf_counter() - start
        print(f"{elapsed / (2 * n) * 1e6:.3f}")


if __name__ == "__main__":
    main()
