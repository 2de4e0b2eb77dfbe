#!/usr/bin/env bash
# isoscope's main job on its embedded defaults: sets up and builds, then
# compares a built-in workload (syscall-storm) on every backend this host
# can run, with the probe suite, records everything in the results store and
# writes the HTML report (isoscope-report.html, or the path given).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
report=${1:-$root/isoscope-report.html}
"$root/scripts/setup.sh"
build=${ISOSCOPE_BUILD_DIR:-$root/build}
"$build/isoscope" compare --probes --report "$report" -- \
  "$build/workloads/bench/syscall-storm" 100000
echo "report: $report (re-render with: $build/isoscope report latest)"
