# SPDX-License-Identifier: Apache-2.0
"""W4 with CPython: N round trips of 8 bytes over a multiprocessing Pipe
(send_bytes / recv_bytes). Prints microseconds per round trip."""
import argparse
import multiprocessing as mp
import time


def echo(conn, n):
    for _ in range(n + 100):
        conn.send_bytes(conn.recv_bytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=50_000)
    ap.add_argument("--method", default="fork")
    args = ap.parse_args()
    ctx = mp.get_context(args.method)
    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=echo, args=(theirs, args.rounds))
    p.start()
    msg = b"12345678"
    for _ in range(100):
        mine.send_bytes(msg)
        mine.recv_bytes()
    start = time.perf_counter()
    for _ in range(args.rounds):
        mine.send_bytes(msg)
        mine.recv_bytes()
    elapsed = time.perf_counter() - start
    p.join()
    print(f"{elapsed / args.rounds * 1e6:.3f}")


if __name__ == "__main__":
    main()
