#!/usr/bin/env bash
# The long version of the hostile real clients (tests/hostile_clients_test.cc):
# trinity and stress-ng as workloads of isoscope under the ptrace and
# container backends, with tests/policies/hostile-clients.yaml, and the same
# checks as the short version in the suite (isoscope survives, every run is
# recorded, no canary is touched, nothing is left behind).
#
#   bash scripts/hostile-clients.sh [TRINITY_SYSCALLS] [STRESS_SECONDS]
#
# TRINITY_SYSCALLS: syscalls trinity makes per backend (default 100000, with
# 4 children and a seed of trinity's choosing, printed: the suite's short
# version uses a fixed one); STRESS_SECONDS: how long each stress-ng stressor of the cpu,
# filesystem, interrupt, memory, os, pipe, scheduler and vm classes runs, in
# turn (default 2). Needs root, a build (scripts/build.sh) and the Debian
# packages trinity and stress-ng (scripts/install-deps.sh). Prints one line
# per run (outcome, wall time, what isoscope saw) and trinity's count of
# syscalls made; the full log goes to $ISOSCOPE_BUILD_DIR/hostile-clients.log.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ISOSCOPE_BUILD_DIR:-$root/build}"
test_binary="$build/tests/hostile_clients_test"
if [[ ! -x "$test_binary" ]]; then
  echo "hostile-clients.sh: $test_binary missing: build the" \
    "hostile_clients_test target first" >&2
  exit 1
fi
for tool in trinity stress-ng; do
  if ! command -v "$tool" > /dev/null; then
    echo "hostile-clients.sh: $tool missing: run scripts/install-deps.sh" >&2
    exit 1
  fi
done

log="$build/hostile-clients.log"
start=$(date +%s)
status=0
ISOSCOPE_HOSTILE_TRINITY_SYSCALLS="${1:-100000}" \
  ISOSCOPE_HOSTILE_TRINITY_CHILDREN=4 \
  ISOSCOPE_HOSTILE_TRINITY_SEED=0 \
  ISOSCOPE_HOSTILE_STRESS_SECONDS="${2:-2}" \
  ISOSCOPE_HOSTILE_STRESS_ALL=1 \
  ISOSCOPE_HOSTILE_WALL_TIME=1800 \
  "$test_binary" > "$log" 2>&1 || status=$?
grep -E '^\s+(ptrace|container) |trinity ran|trinity stopped|^\[  (PASSED|FAILED|SKIPPED)' \
  "$log" || true
echo "hostile-clients.sh: $(($(date +%s) - start)) s in all," \
  "exit status $status; log: $log"
exit "$status"
