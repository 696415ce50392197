#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""//docs:samples_test: every ```c block of README.md and docs/*.md that is a
whole program (it has a main) is compiled and linked against the built
libmproc.so with -std=c11 -Wall -Wextra -Werror -pedantic, under gcc and
clang, with and without APR's `pkg-config --cflags apr-1` (which defines
_GNU_SOURCE); every such ```cpp block, and include/mproc.hpp alone, the same
way as C++17 with g++ and clang++. A sample
that stops compiling, or stops being found, fails the test. Writes one
googletest-style test case per compile to $XML_OUTPUT_FILE."""
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile
from xml.sax.saxutils import escape, quoteattr

ROOT = os.getcwd()
STRICT = ["-Wall", "-Wextra", "-Werror", "-pedantic"]


def samples():
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    for path in files:
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"^```(c|cpp)\n(.*?)^```", text, re.S | re.M):
            if re.search(r"\bint\s+main\s*\(", m.group(2)):
                line = text[: m.start()].count("\n") + 1
                yield f"{os.path.relpath(path, ROOT)}:{line}", m.group(1), m.group(2)


def main():
    tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
    lib = os.path.join(ROOT, "packaging", "libmproc.so")
    include = os.path.join(ROOT, "include")
    apr = shlex.split(subprocess.run(["pkg-config", "--cflags", "apr-1"], check=True,
                                     capture_output=True, text=True).stdout)
    cases, failed = [], 0
    found = list(samples())
    jobs = []
    for where, lang, code in found:
        ext, std, compilers = ((".c", "-std=c11", ("gcc", "clang")) if lang == "c"
                               else (".cc", "-std=c++17", ("g++", "clang++")))
        src = os.path.join(tmp, re.sub(r"[^A-Za-z0-9]+", "_", where) + ext)
        with open(src, "w", encoding="utf-8") as f:
            f.write(code)
        for cc in compilers:
            for flavour, extra in (("plain", []), ("apr_cflags", apr)):
                cmd = [cc, std, *STRICT, *extra, "-I", include, src, lib,
                       "-o", src + f"_{cc}_{flavour}"]
                jobs.append((f"{where} {cc} {flavour}", cmd))
    # Every object-like MPROC_ macro of mproc.h, and MPROC_TASK with a body
    # that ignores its arguments, expanded in one program.
    header = open(os.path.join(include, "mproc.h"), encoding="utf-8").read()
    macros = sorted(set(re.findall(r"^#define (MPROC_[A-Z0-9_]+)(?=[ \t]|$)", header, re.M))
                    - {"MPROC_H"})
    expand = os.path.join(tmp, "macros.c")
    with open(expand, "w") as f:
        f.write('#include <stdio.h>\n#include "mproc.h"\nMPROC_TASK(ignores_args) { return 0; }\n'
                "MPROC_TASK(uses_arg) { return arg != NULL; }\n"
                "int main(int argc, char **argv) {\n  (void)argc; (void)argv;\n"
                "  (void)ignores_args; (void)uses_arg;\n")
        for m in macros:
            f.write(f"  {{ double v_ = (double)({m}); (void)v_; }}\n" if m != "MPROC_VERSION_STRING"
                    else f'  puts({m});\n')
        f.write("  return 0;\n}\n")
    for cc in ("gcc", "clang"):
        for flavour, extra in (("plain", []), ("apr_cflags", apr)):
            jobs.append((f"every mproc.h macro {cc} {flavour}",
                         [cc, "-std=c11", *STRICT, *extra, "-I", include, expand, lib,
                          "-o", expand + f"_{cc}_{flavour}"]))
    if len(macros) < 10:
        jobs.append(("mproc.h macros found", None))
    hpp = os.path.join(tmp, "hpp.cc")
    with open(hpp, "w") as f:
        f.write('#include "mproc.hpp"\nint main(int argc, char **argv) {\n'
                '  mproc::init(argc, argv);\n  return 0;\n}\n')
    for cxx in ("g++", "clang++"):
        jobs.append((f"mproc.hpp {cxx}", [cxx, "-std=c++17", *STRICT, "-I", include, hpp, lib,
                                           "-o", os.path.join(tmp, "hpp_" + cxx)]))
    if len(found) < 3:  # README's two and docs/api.md's programs at least
        jobs.append(("samples found", None))
    for name, cmd in jobs:
        if cmd is None:
            ok, out = False, f"too few samples or macros found ({len(found)} samples)"
        else:
            r = subprocess.run(cmd, capture_output=True, text=True)
            ok, out = r.returncode == 0, r.stdout + r.stderr
        print(("PASS " if ok else "FAIL ") + name)
        if ok:
            cases.append(f"<testcase name={quoteattr(name)} status=\"run\"/>")
        else:
            failed += 1
            print(out)
            cases.append(f"<testcase name={quoteattr(name)} status=\"run\">"
                         f"<failure message=\"compile failed\">{escape(out[-2000:])}</failure></testcase>")
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        with open(xml, "w") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>'
                    f'<testsuite name="samples_test" tests="{len(cases)}" failures="{failed}">\n'
                    + "\n".join(cases) + "\n</testsuite></testsuites>\n")
    print(f"{len(cases)} compiles, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
