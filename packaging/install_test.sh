#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# //packaging:install_test: installs the built library into a temporary
# prefix (install_files.sh, as tools/install does), checks the layout, the
# SONAME, the exported symbols and the NEEDED entries, then builds a queue
# program with plain cc and pkg-config, shared and static, and runs it under
# every start method (mproc_all_start_methods(), chosen by MPROC_START_METHOD).
# Writes one googletest-style test case per check to $XML_OUTPUT_FILE.
set -uo pipefail
root=$PWD
tmp=${TEST_TMPDIR:-$(mktemp -d)}
prefix=$tmp/prefix
cases=()
failed=0

check() {  # check NAME COMMAND...: runs COMMAND, records a test case
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    echo "PASS $name"
    cases+=("<testcase name=\"$name\" status=\"run\"/>")
  else
    echo "FAIL $name"
    echo "$out" | sed 's/^/    /'
    failed=$((failed + 1))
    out=$(printf '%s' "$out" | tail -c 2000 | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g')
    cases+=("<testcase name=\"$name\" status=\"run\"><failure message=\"$name failed\">$out</failure></testcase>")
  fi
}

install_prefix() {
  "$root/packaging/install_files.sh" "$prefix" "$root/packaging/libmproc.so" \
    "$root/packaging/libmproc.a" "$root/packaging/mproc.pc.in" \
    "$root/include/mproc.h" "$root/include/mproc.hpp"
}

hver() { sed -n "s/^#define MPROC_VERSION_$1 \([0-9][0-9]*\)$/\1/p" "$root/include/mproc.h"; }
major=$(hver MAJOR) minor=$(hver MINOR) patch=$(hver PATCH)

layout() {
  local lib=$prefix/lib
  for f in include/mproc.h include/mproc.hpp lib/libmproc.a lib/pkgconfig/mproc.pc \
           "lib/libmproc.so.$major.$minor"; do
    [ -f "$prefix/$f" ] || { echo "missing $f"; return 1; }
  done
  [ "$(readlink "$lib/libmproc.so")" = "libmproc.so.$major" ] || { echo "bad libmproc.so link"; return 1; }
  [ "$(readlink "$lib/libmproc.so.$major")" = "libmproc.so.$major.$minor" ] || { echo "bad SONAME link"; return 1; }
  readelf -d "$lib/libmproc.so.$major.$minor" | grep -q "(SONAME).*\[libmproc.so.$major\]" ||
    { readelf -d "$lib/libmproc.so.$major.$minor"; echo "no SONAME libmproc.so.$major"; return 1; }
  [ "$(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --modversion mproc)" = "$major.$minor.$patch" ] ||
    { echo "pkg-config --modversion mproc is not $major.$minor.$patch"; return 1; }
}

exports_only_mproc() {
  local so=$prefix/lib/libmproc.so.$major.$minor syms bad
  syms=$(nm -D --defined-only "$so" | awk '{print $3}')
  echo "$syms" | grep -q '^mproc_init$' || { echo "mproc_init not exported"; return 1; }
  bad=$(echo "$syms" | grep -v '^mproc_' || true)
  [ -z "$bad" ] || { echo "exported beyond mproc_*:"; echo "$bad"; return 1; }
  # The static archive's merged object: no mp_* internals as globals either.
  bad=$(nm --defined-only -g "$prefix/lib/libmproc.a" | awk 'NF==3 {print $3}' | grep -v '^mproc_' || true)
  [ -z "$bad" ] || { echo "libmproc.a globals beyond mproc_*:"; echo "$bad"; return 1; }
}

records_needed() {
  local d
  d=$(readelf -d "$prefix/lib/libmproc.so.$major.$minor")
  # (msgpack-c is used through its inline header functions: no NEEDED entry.)
  for lib in libapr-1.so libsodium.so libc.so; do
    echo "$d" | grep -q "(NEEDED).*\[$lib" || { echo "$d"; echo "no NEEDED $lib"; return 1; }
  done
}

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
strict=(-std=c11 -Wall -Wextra -Werror -pedantic)
# Under `tools/test --asan` the library itself is sanitized: programs that
# link it must be too (the ASan runtime has to come first).
if readelf -d "$root/packaging/libmproc.so" | grep -q 'NEEDED.*libasan'; then
  strict+=(-fsanitize=address,undefined)
fi

build_shared() {
  # shellcheck disable=SC2046
  cc "${strict[@]}" "$root/packaging/queue_app.c" -o "$tmp/queue_shared" \
    $(pkg-config --cflags --libs mproc) -Wl,-rpath,"$prefix/lib"
}

build_static() {
  local libs
  libs=$(pkg-config --static --libs mproc | sed -e 's/-lmproc//')
  # shellcheck disable=SC2046,SC2086
  cc "${strict[@]}" "$root/packaging/queue_app.c" -o "$tmp/queue_static" \
    $(pkg-config --cflags mproc) "$prefix/lib/libmproc.a" $libs &&
    ! readelf -d "$tmp/queue_static" | grep -q 'NEEDED.*libmproc'
}

build_cxx() {
  printf '%s\n' '#include "mproc.hpp"' \
    'int main(int argc, char **argv) { mproc::init(argc, argv); return mproc::version() == 0; }' \
    > "$tmp/cxx_app.cc"
  # shellcheck disable=SC2046
  c++ -std=c++17 "${strict[@]:1}" "$tmp/cxx_app.cc" -o "$tmp/cxx_app" \
    $(pkg-config --cflags --libs mproc) -Wl,-rpath,"$prefix/lib" && "$tmp/cxx_app"
}

run_app() {  # run_app BINARY METHOD
  local out
  out=$(MPROC_START_METHOD=$2 timeout 60 "$1") || { echo "$out"; return 1; }
  echo "$out"
  echo "$out" | grep -q "^$2: sum 5050, exit code 0, mproc $major.$minor.$patch$"
}

check install install_prefix
check layout_and_soname layout
check exports_only_mproc_symbols exports_only_mproc
check records_needed_libraries records_needed
check cc_pkg_config_shared build_shared
check cc_static_archive build_static
check cxx_header_with_pkg_config build_cxx
methods=$("$tmp/queue_shared" --methods 2>/dev/null)
[ -n "$methods" ] || methods="fork spawn"
for m in $methods; do
  check "queue_shared_$m" run_app "$tmp/queue_shared" "$m"
  check "queue_static_$m" run_app "$tmp/queue_static" "$m"
done

if [ -n "${XML_OUTPUT_FILE:-}" ]; then
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<testsuites><testsuite name=\"install_test\" tests=\"${#cases[@]}\" failures=\"$failed\">"
    printf '%s\n' "${cases[@]}"
    echo '</testsuite></testsuites>'
  } > "$XML_OUTPUT_FILE"
fi
echo "${#cases[@]} checks, $failed failed"
[ "$failed" -eq 0 ]
