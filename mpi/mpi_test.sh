#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs mpi_executor_test_bin in one MPI mode (docs/mpi.md) with 3 ranks
# (1 master + 2 workers) oversubscribed on this machine, under a timeout,
# then checks that no rank and no orted of the run is left.
#   spawn               ./bin: the executor spawns its 2 workers
#   prelaunched         mpirun -np 3 ./bin
#   tcp                 mpirun -np 3 --mca btl self,tcp (loopback): the
#                       transport between hosts, on one machine
#   killed-spawn        a worker crashes mid-task (Open MPI recovery on)
#   killed-prelaunched  the same under mpirun --enable-recovery
set -uo pipefail
mode=${1:?mode}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$here/mpi_executor_test_bin")
source "$here/mpi_env.sh"
xml=()
[ -n "${XML_OUTPUT_FILE:-}" ] && xml=(--gtest_output="xml:$XML_OUTPUT_FILE")
filter=--gtest_filter=-*Killed*
case "$mode" in killed-*) filter=--gtest_filter=*Killed* ;; esac
mpirun=(mpirun -np 3 --oversubscribe)
limit=240
case "$mode" in killed-*) limit=60 ;; esac  # the test itself takes ~6 s
case "$mode" in
  spawn)
    MPROC_TEST_MPI_MODE=spawn timeout -k 5 "$limit" "$bin" "$filter" "${xml[@]}" ;;
  killed-spawn)
    MPROC_TEST_MPI_MODE=spawn OMPI_MCA_orte_enable_recovery=1 \
      timeout -k 5 "$limit" "$bin" "$filter" "${xml[@]}" ;;
  prelaunched)
    timeout -k 5 "$limit" "${mpirun[@]}" -x MPROC_TEST_MPI_MODE=prelaunched \
      "$bin" "$filter" "${xml[@]}" ;;
  tcp)
    timeout -k 5 "$limit" "${mpirun[@]}" --mca btl self,tcp \
      --mca btl_tcp_if_include lo -x MPROC_TEST_MPI_MODE=prelaunched \
      "$bin" "$filter" "${xml[@]}" ;;
  killed-prelaunched)
    timeout -k 5 "$limit" "${mpirun[@]}" --enable-recovery \
      -x MPROC_TEST_MPI_MODE=prelaunched "$bin" "$filter" "${xml[@]}" ;;
  *) echo "mpi_test.sh: unknown mode $mode" >&2; exit 2 ;;
esac
rc=$?
[ "$rc" -eq 124 ] && echo "mpi_test.sh: $mode timed out" >&2
# Nothing of this run may outlive it: ranks (the binary) or an orted. Ours
# have our TMPDIR in their environment (other runs of the same binary may
# be going on in parallel: they are not ours to judge or kill).
ours() {
  for p in $(pgrep -f "$bin" || true) $(pgrep -x orted || true); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "TMPDIR=$TMPDIR" &&
      echo "$p"
  done
}
left=""
for _ in $(seq 50); do
  left=$(ours | tr '\n' ' ')
  [ -z "${left// /}" ] && break
  sleep 0.1
done
if [ -n "${left// /}" ]; then
  echo "mpi_test.sh: left running after the run:" >&2
  ps -o pid,ppid,etime,cmd -p "$(echo $left | tr ' ' ',')" >&2
  kill -9 $left 2>/dev/null
  rc=1
fi
exit "$rc"
