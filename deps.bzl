# SPDX-License-Identifier: Apache-2.0
"""Everything mproc needs from outside, for WORKSPACE users (Bazel 4.2+).

In a consumer's WORKSPACE:

    local_repository(name = "mproc", path = "/path/to/mproc")  # or http_archive
    load("@mproc//:deps.bzl", "mproc_dependencies")
    mproc_dependencies()

The system libraries come from Debian packages (libapr1-dev, libmsgpack-dev,
libsodium-dev) under private names (mproc_apr, mproc_msgpack, mproc_sodium),
so they never clash with a consumer's own @apr or @sodium. Bazel's own
@bazel_tools needs rules_cc, rules_java and remote_coverage_tools, which
cannot be downloaded offline; they are declared with mproc's stand-ins
unless the consumer declared them first.
"""

def _mproc_dir_impl(ctx):
    # The folder holding `marker`, inside mproc's own repository, wherever
    # that repository was checked out or unpacked.
    folder = ctx.path(ctx.attr.marker).dirname
    for entry in folder.readdir():
        ctx.symlink(entry, entry.basename)

_mproc_dir = repository_rule(
    implementation = _mproc_dir_impl,
    attrs = {"marker": attr.label(allow_single_file = True)},
    local = True,
)

def _windows_deps_impl(ctx):
    # tools/windows-deps installs into .windows-deps/prefix of the mproc
    # checkout (or $MPROC_WINDOWS_DEPS); missing folders leave the
    # libraries empty, so only a --config=windows link notices.
    root = ctx.path(ctx.attr.marker).dirname
    prefix = ctx.os.environ.get("MPROC_WINDOWS_DEPS", "%s/.windows-deps/prefix" % root)
    for sub in ["include", "lib"]:
        path = ctx.path("%s/%s" % (prefix, sub))
        if path.exists:
            ctx.symlink(path, sub)
    ctx.symlink(ctx.attr.build_file, "BUILD.bazel")

_windows_deps = repository_rule(
    implementation = _windows_deps_impl,
    attrs = {
        "marker": attr.label(allow_single_file = True),
        "build_file": attr.label(allow_single_file = True),
    },
    environ = ["MPROC_WINDOWS_DEPS"],
    local = True,
)

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def mproc_dependencies(system_prefix = "/usr"):
    """Declares mproc's external repositories.

    Args:
      system_prefix: where the Debian -dev packages installed their headers
        and libraries (include/, lib/); /usr on Debian.
    """
    _maybe(
        _mproc_dir,
        name = "rules_cc",
        marker = Label("//third_party/rules_cc:WORKSPACE"),
    )
    _maybe(
        native.local_repository,
        name = "rules_java",
        path = "/usr/share/bazel/rules/java",
    )
    _maybe(
        _mproc_dir,
        name = "remote_coverage_tools",
        marker = Label("//third_party/remote_coverage_tools:WORKSPACE"),
    )
    # The same libraries built for Windows (--config=windows only).
    _maybe(
        _windows_deps,
        name = "mproc_windows_deps",
        marker = Label("//:WORKSPACE"),
        build_file = Label("//third_party/windows:deps.BUILD"),
    )
    for lib in ["apr", "msgpack", "sodium"]:
        _maybe(
            native.new_local_repository,
            name = "mproc_" + lib,
            path = system_prefix,
            build_file = str(Label("//third_party:%s.BUILD" % lib)),
        )
