# SPDX-License-Identifier: Apache-2.0
"""W3.latency with CPython: N round trips of one 64-byte item between this
process and a child through two multiprocessing.Queues (ping and pong).

Clock window: N round trips after 100 untimed ones.
Prints microseconds per round trip."""
import argparse
import multiprocessing as mp
import time

WARMUP = 100


def echo(ping, pong, n):
    for _ in range(n + WARMUP):
        pong.put(ping.get())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20_000)
    ap.add_argument("--method", default=None)
    args = ap.parse_args()
    ctx = mp.get_context(args.method)
    ping, pong = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=echo, args=(ping, pong, args.rounds))
    p.start()
    pad = b"x" * 56
    start = 0.0
    for i in range(args.rounds + WARMUP):
        if i == WARMUP:
            start = time.monotonic()
        ping.put(i.to_bytes(8, "little") + pad)
        if int.from_bytes(pong.get()[:8], "little") != i:
            raise SystemExit("bench: wrong echo")
    elapsed = time.monotonic() - start
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"bench: the child exited with {p.exitcode}")
    print(f"{elapsed / args.rounds * 1e6:.3f}")


if __name__ == "__main__":
    main()
