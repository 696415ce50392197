# SPDX-License-Identifier: Apache-2.0
"""W5 with CPython: a child sends 1 GiB in 64 KiB messages over a Pipe
(send_bytes); the parent receives them (recv_bytes). Prints milliseconds
per GiB, timed from the first message."""
import argparse
import multiprocessing as mp
import time

MSG = 64 * 1024


def sender(conn, count):
    buf = b"b" * MSG
    for _ in range(count + 1):
        conn.send_bytes(buf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--method", default="fork")
    args = ap.parse_args()
    count = args.mib * 16
    ctx = mp.get_context(args.method)
    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=sender, args=(theirs, count))
    p.start()
    mine.recv_bytes()
    start = time.perf_counter()
    for _ in range(count):
        mine.recv_bytes()
    elapsed = time.perf_counter() - start
    p.join()
    print(f"{elapsed * 1e3 * 1024 / args.mib:.3f}")


if __name__ == "__main__":
    main()
