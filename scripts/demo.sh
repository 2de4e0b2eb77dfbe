#!/usr/bin/env bash
# isoscope's main job on its embedded defaults: sets up, builds, runs the
# built-in workload on the native backend under the default policy, records
# it in the results store and shows the stored run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
isoscope=${ISOSCOPE_BUILD_DIR:-$root/build}/isoscope
"$isoscope" run
"$isoscope" runs show latest
