#!/usr/bin/env bash
# Style gate: clang-format over every C++ file and clang-tidy (.clang-tidy)
# over every C++ source, using the build's compile_commands.json. Exits
# non-zero on any finding. Usage: scripts/lint.sh [format]
#   format: the clang-format check only (seconds; CI runs it on every change)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOSCOPE_BUILD_DIR:-$root/build}
jobs=$(nproc)
cd "$root"
mapfile -t cxx < <(git ls-files '*.cc' '*.h' | grep -v '^workloads/\(runtime\|bench\|probes\)/')
clang-format --dry-run --Werror "${cxx[@]}"
if [[ ${1:-} == format ]]; then
  echo "lint: clang-format clean"
  exit 0
fi
# g++-only warning flags in compile_commands.json are unknown to clang.
run-clang-tidy -p "$build" -j "$jobs" -quiet \
  -extra-arg=-Wno-unknown-warning-option \
  '^'"$root"'/(base|policies|supervisor|backends|reports|bench|tests|workloads)/.*\.cc$' \
  > "$build/clang-tidy.log" 2>&1 || true
if grep -qE '(warning|error):' "$build/clang-tidy.log"; then
  grep -E '(warning|error):' "$build/clang-tidy.log" | sed 's/\x1b\[[0-9;]*m//g' | sort -u
  echo "lint: clang-tidy findings above (full log: $build/clang-tidy.log)" >&2
  exit 1
fi
echo "lint: clean"
