#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
echo "coverage is not available in the offline build" >&2
exit 1
