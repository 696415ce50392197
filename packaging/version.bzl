# SPDX-License-Identifier: Apache-2.0
"""The SONAME's major version for //packaging:libmproc.so. Keep it equal to
MPROC_VERSION_MAJOR in include/mproc.h: //packaging:install_test checks the
SONAME against the header."""

MPROC_SOMAJOR = "0"
