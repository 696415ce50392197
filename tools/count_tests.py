#!/usr/bin/env python3
"""Sums googletest's XML reports under bazel-testlogs and prints the plain
closing line "N passed, N failed" (", N skipped" when some were skipped).
A test target that failed without a report counts as one failure, so a
crash or build error can never read as a pass. Exit status: non-zero when
anything failed or bazel itself failed."""
import os
import sys
import xml.etree.ElementTree as ET


def main(testlogs, bazel_status):
    passed = failed = skipped = 0
    for root, _dirs, files in os.walk(testlogs):
        if "test.xml" not in files:
            continue
        try:
            tree = ET.parse(os.path.join(root, "test.xml"))
        except ET.ParseError:
            failed += 1
            continue
        cases = list(tree.iter("testcase"))
        if not cases:  # bazel wrote its own report: the binary crashed
            failed += 1
            continue
        for case in cases:
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None or case.get("result") == "skipped":
                skipped += 1
            else:
                passed += 1
    if bazel_status not in (0, 3) and failed == 0:
        failed = 1  # bazel failed before any test could report (build error)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed or bazel_status != 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
