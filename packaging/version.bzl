"""mproc's version for the build (keep in step with include/mproc.h)."""
MPROC_VERSION = "0.1.0"
MPROC_SOMAJOR = "0"
MPROC_SOMINOR = "1"
