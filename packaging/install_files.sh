#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs built mproc files into PREFIX (used by tools/install and by
# //packaging:install_test):
#   install_files.sh PREFIX LIBMPROC_SO LIBMPROC_A MPROC_PC_IN HEADER...
# Lays out PREFIX/include/<headers>, PREFIX/lib/libmproc.so.MAJOR.MINOR with
# its links libmproc.so.MAJOR (the SONAME) and libmproc.so, PREFIX/lib/libmproc.a
# and PREFIX/lib/pkgconfig/mproc.pc. The version is read from mproc.h.
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: $0 PREFIX SO A PC_IN HEADER..." >&2; exit 2; }
prefix=$1 so=$2 a=$3 pc_in=$4
shift 4
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
header=
for h in "$@"; do [ "$(basename "$h")" = mproc.h ] && header=$h; done
[ -n "$header" ] || { echo "install_files.sh: no mproc.h given" >&2; exit 2; }
ver() { sed -n "s/^#define MPROC_VERSION_$1 \([0-9][0-9]*\)$/\1/p" "$header"; }
major=$(ver MAJOR) minor=$(ver MINOR) patch=$(ver PATCH)
[ -n "$major" ] && [ -n "$minor" ] && [ -n "$patch" ] ||
  { echo "install_files.sh: no version in $header" >&2; exit 1; }

install -d "$prefix/include" "$prefix/lib/pkgconfig"
for h in "$@"; do install -m 0644 "$h" "$prefix/include/"; done
install -m 0755 "$so" "$prefix/lib/libmproc.so.$major.$minor"
ln -sfn "libmproc.so.$major.$minor" "$prefix/lib/libmproc.so.$major"
ln -sfn "libmproc.so.$major" "$prefix/lib/libmproc.so"
install -m 0644 "$a" "$prefix/lib/libmproc.a"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$major.$minor.$patch|g" "$pc_in" \
  > "$prefix/lib/pkgconfig/mproc.pc"
echo "installed mproc $major.$minor.$patch into $prefix"
