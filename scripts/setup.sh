#!/usr/bin/env bash
# From a fresh clone on Debian 12, as root: installs the packages isoscope
# needs and builds it. Used by the README's two commands and by CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$@"
