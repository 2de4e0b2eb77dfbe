#!/usr/bin/env bash
# Configures and builds isoscope into build/ (or $ISOSCOPE_BUILD_DIR).
# Extra arguments go to the CMake configure step (e.g. -DISOSCOPE_SANITIZE=ON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOSCOPE_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
