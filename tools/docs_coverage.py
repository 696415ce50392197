#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that docs/ covers every public function: lists each mproc_*
function declared in include/mproc.h and fails (exit 1) naming those that no
docs/*.md file mentions by its full name. Internal helpers (a trailing _)
are not public. Run from anywhere: paths are relative to the repository."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DECL = re.compile(r"^[A-Za-z_][\w \t*]*?\b(mproc_\w+)\s*\(", re.M)


def declared(header):
    # Declarations start a line; comments never do (they start with / or *).
    names = DECL.findall(header.read_text())
    return sorted({n for n in names if not n.endswith("_")})


def main():
    funcs = declared(ROOT / "include" / "mproc.h")
    docs = "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    missing = [f for f in funcs
               if not re.search(r"(?<!\w)" + re.escape(f) + r"(?!\w)", docs)]
    for f in missing:
        print(f"docs_coverage: {f} (include/mproc.h) is named in no docs/*.md")
    print(f"docs_coverage: {len(funcs) - len(missing)} of {len(funcs)} "
          f"functions documented in docs/")
    return 1 if missing or not funcs else 0


if __name__ == "__main__":
    sys.exit(main())
