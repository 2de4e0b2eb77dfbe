#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite. Tests that need a host
# feature this machine lacks skip with the reason; the summary counts them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOSCOPE_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "$@"
