#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# mpi/examples/squares.c, unchanged, on the process executor, then on the
# MPI executor in spawn mode and pre-launched (mpirun -np 3): the three
# outputs must be the same, and right. Each run has a timeout.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$here/squares")
source "$here/mpi_env.sh"
out=$TMPDIR/out
timeout -k 5 120 "$bin" > "$out.process" || { echo "process run failed"; exit 1; }
timeout -k 5 120 "$bin" --mpi > "$out.spawn" || { echo "spawn run failed"; exit 1; }
timeout -k 5 120 mpirun -np 3 "$bin" --mpi > "$out.pre" || { echo "mpirun run failed"; exit 1; }
cat "$out.process"
grep -qx "sum of squares 0..99: 328350" "$out.process" || { echo "wrong sum"; exit 1; }
grep -qx "square(12) = 144" "$out.process" || { echo "wrong square"; exit 1; }
grep -q "^checked_inverse(0): MPROC_ETASK: .*no inverse of 0" "$out.process" ||
  { echo "wrong error"; exit 1; }
for run in spawn pre; do
  diff -u "$out.process" "$out.$run" || { echo "the $run run differs"; exit 1; }
done
echo "the same output on the process executor and on MPI (spawn, mpirun)"
