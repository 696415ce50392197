#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Sums the googletest XML reports of the given test targets under
bazel-testlogs (usage: count_tests.py TESTLOGS BAZEL_STATUS LABEL...
[--xml=PATH...]) and
prints the plain closing line "N passed, N failed" (", N skipped" when some
were skipped). Each --xml=PATH adds one more report from outside
TESTLOGS (the non-Bazel steps of tools/test); a missing one is a failure.
A test target that failed without a report counts as one failure, so a
crash or build error can never read as a pass. Exit status: non-zero when
anything failed or bazel itself failed."""
import os
import sys
import xml.etree.ElementTree as ET


def reports(testlogs, labels):
    """The XML reports of the given test labels (//pkg:name): the target's
    own test.xml, or those of its run_N_of_M shards when it has none. A
    label without any report yields None (it never ran: build failure)."""
    for label in labels:
        pkg, _, name = label.lstrip("/").partition(":")
        folder = os.path.join(testlogs, pkg, name)
        own = os.path.join(folder, "test.xml")
        if os.path.exists(own):
            yield own
            continue
        runs = sorted(os.path.join(folder, d, "test.xml")
                      for d in (os.listdir(folder) if os.path.isdir(folder) else [])
                      if d.startswith("run_") and os.path.exists(os.path.join(folder, d, "test.xml")))
        if runs:
            yield from runs
        else:
            yield None


def main(testlogs, bazel_status, labels, extra=()):
    passed = failed = skipped = 0
    extra = [p if os.path.exists(p) else None for p in extra]
    for path in list(reports(testlogs, labels)) + extra:
        if path is None:
            failed += 1
            continue
        try:
            tree = ET.parse(path)
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
    args = sys.argv[3:]
    xml = [a[len("--xml="):] for a in args if a.startswith("--xml=")]
    labels = [a for a in args if not a.startswith("--xml=")]
    sys.exit(main(sys.argv[1], int(sys.argv[2]), labels, xml))
