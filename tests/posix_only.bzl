# SPDX-License-Identifier: Apache-2.0
"""Test binaries that drive POSIX calls directly (fork, prctl, rlimits,
/proc, Unix sockets, pthread robust mutexes) build, for Windows
(--config=windows), as tests/windows_skip.cc: one test that skips with
why, so the Windows suite names every binary it does not run."""

def mproc_test(name, srcs, deps, why = "", **kwargs):
    """A cc_test; with why, on Windows the skip in its place.

    Args:
      name: the test's name.
      srcs: the test's sources.
      deps: the test's dependencies.
      why: a reason, words joined by spaces (no quotes or commas); empty:
        the test is portable and builds everywhere.
      **kwargs: the rest of cc_test's attributes.
    """
    if not why:
        native.cc_test(name = name, srcs = srcs, deps = deps, **kwargs)
        return
    windows = "//toolchains/mingw:windows"
    native.cc_test(
        name = name,
        srcs = select({windows: ["//tests:windows_skip.cc"], "//conditions:default": srcs}),
        deps = select({
            windows: ["@gtest//:gtest_main"],
            "//conditions:default": deps,
        }),
        local_defines = select({
            # One token: windows_skip.cc turns the underscores back into spaces.
            windows: ["MPROC_POSIX_ONLY_WHY=" + why.replace(" ", "_")],
            "//conditions:default": [],
        }),
        **kwargs
    )
