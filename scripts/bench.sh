#!/usr/bin/env bash
# Runs every benchmark once on this machine and prints their BENCH/RATIO
# lines: whole `isoscope run` processes against bare exec and the peers
# (whole_process_bench: what a user waits for), then each backend's own
# figures timed inside the benchmark's process (backend_overhead_bench,
# native_overhead_bench). Builds first (run scripts/setup.sh once on a
# fresh machine).
# Usage: scripts/bench.sh [REPEAT]  (each benchmark has its own default)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOSCOPE_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
"$build/bench/whole_process_bench" ${1:+"$1"}
"$build/bench/native_overhead_bench" "${1:-30}"
"$build/bench/backend_overhead_bench" ptrace ${1:+"$1"}
"$build/bench/backend_overhead_bench" container ${1:+"$1"}
"$build/bench/backend_overhead_bench" kvm ${1:+"$1"}
"$build/bench/recording_bench" ${1:+"$1"}
