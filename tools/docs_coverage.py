#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that docs/ covers every public function and every seam function:
lists each mproc_* function declared in the public headers (include/mproc.h,
and the optional components' headers: mpi/include/mproc_mpi.h) and fails (exit 1)
naming those that no docs/*.md file mentions by its full name, and each mp_*
function of platform/platform.h that docs/porting.md does not name (a porter
implements exactly that list). Internal helpers (a trailing _) are not
public. Run from anywhere: paths are relative to the repository."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PUBLIC_HEADERS = [ROOT / "include" / "mproc.h",
                  ROOT / "mpi" / "include" / "mproc_mpi.h"]


def declared(header, prefix):
    # Declarations start a line; comments never do (they start with / or *).
    # Static inline helpers of a header are not functions to implement.
    decl = re.compile(r"^(?!static)[A-Za-z_][\w \t*]*?\b(" + prefix +
                      r"\w+)\s*\(", re.M)
    names = decl.findall(header.read_text())
    return sorted({n for n in names if not n.endswith("_")})


def undocumented(funcs, text):
    return [f for f in funcs
            if not re.search(r"(?<!\w)" + re.escape(f) + r"(?!\w)", text)]


def main():
    docs = "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    funcs, missing = [], []
    for header in PUBLIC_HEADERS:
        names = declared(header, "mproc_")
        funcs += names
        for f in undocumented(names, docs):
            missing.append(f)
            print(f"docs_coverage: {f} ({header.relative_to(ROOT)}) is named "
                  f"in no docs/*.md")
    print(f"docs_coverage: {len(funcs) - len(missing)} of {len(funcs)} "
          f"functions documented in docs/")
    seam = declared(ROOT / "platform" / "platform.h", "mp_")
    porting = (ROOT / "docs" / "porting.md").read_text()
    seam_missing = undocumented(seam, porting)
    for f in seam_missing:
        print(f"docs_coverage: {f} (platform/platform.h) is not in "
              f"docs/porting.md")
    print(f"docs_coverage: {len(seam) - len(seam_missing)} of {len(seam)} "
          f"seam functions in docs/porting.md")
    return 1 if missing or seam_missing or not funcs or not seam else 0


if __name__ == "__main__":
    sys.exit(main())
