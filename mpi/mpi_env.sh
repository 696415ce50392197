# SPDX-License-Identifier: Apache-2.0
# Sourced by the MPI test scripts: Open MPI on a test machine (docs/mpi.md):
# as root, more ranks than cores, yielding when idle, loopback only, the
# session files in the test's own TMPDIR, and no leak report for Open
# MPI's own allocations at exit under ASan.
export TMPDIR=${TEST_TMPDIR:-$(mktemp -d)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
