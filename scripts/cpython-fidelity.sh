#!/usr/bin/env bash
# Runs CPython's own regression-test modules (Debian's
# libpython3.11-testsuite, installed by scripts/install-deps.sh) natively and
# under each backend with one policy, and prints the per-module counts side
# by side: tests run / failures / errors / skipped. Exits 1 when a backend's
# failures or errors differ from native's for some module, 0 otherwise.
# Longer than the test suite (a few minutes); not part of it.
#
# Usage: scripts/cpython-fidelity.sh [--backends B,B] [--policy P] [MODULE...]
#   defaults: --backends ptrace,container --policy permissive and the modules
#   of issue 15 (test_os test_posix test_subprocess ...).
# Builds first (run scripts/setup.sh once on a fresh machine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOSCOPE_BUILD_DIR:-$root/build}

backends=ptrace,container
policy=permissive
modules=()
while (($#)); do
  case $1 in
    --backends) backends=$2; shift 2 ;;
    --policy) policy=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "cpython-fidelity.sh: unknown option $1" >&2; exit 64 ;;
    *) modules+=("$1"); shift ;;
  esac
done
if ((${#modules[@]} == 0)); then
  modules=(test_os test_posix test_subprocess test_threading test_signal
           test_select test_socket test_mmap test_tempfile test_shutil
           test_fileio test_time test_json test_pathlib)
fi
python=/usr/bin/python3
if ! "$python" -c 'import test.support' 2>/dev/null; then
  echo "cpython-fidelity.sh: CPython's test package is missing;" \
       "run scripts/install-deps.sh (libpython3.11-testsuite)" >&2
  exit 69
fi

"$root/scripts/build.sh" >/dev/null
isoscope=$build/isoscope
work=$(mktemp -d /tmp/isoscope-cpython-XXXXXX)
trap 'rm -rf "$work"' EXIT
# The presets' uids (1000 under default, 65534 under strict) reach their
# workdirs through it.
chmod 0711 "$work"

# Prints "ran/failures/errors/skipped" from unittest's summary on stdin, or
# "crashed(STATUS)" when there is none.
counts() {
  awk -v status="$1" '
    /^Ran [0-9]+ test/ { ran = $2 }
    /^(OK|FAILED)/ {
      f = 0; e = 0; s = 0
      if (match($0, /failures=[0-9]+/)) f = substr($0, RSTART + 9, RLENGTH - 9)
      if (match($0, /errors=[0-9]+/)) e = substr($0, RSTART + 7, RLENGTH - 7)
      if (match($0, /skipped=[0-9]+/)) s = substr($0, RSTART + 8, RLENGTH - 8)
      done = 1
    }
    END {
      if (done && ran != "") printf "%s/%s/%s/%s\n", ran, f, e, s
      else printf "crashed(%s)\n", status
    }'
}

# Runs one module on one backend ("native" is isoscope's native backend, so
# every column gets the same environment and workdir set-up).
run_module() {
  local backend=$1 module=$2 dir status=0
  dir=$(mktemp -d "$work/$backend-$module-XXXXXX")
  chmod 0777 "$dir"
  "$isoscope" --db "$work/runs.db" run -q --backend "$backend" \
      --policy "$policy" --workdir "$dir" -- \
      "$python" -m unittest -v "test.$module" >"$dir.out" 2>&1 || status=$?
  cp "$dir.out" "$work/$backend.$module.out"
  counts "$status" <"$dir.out"
}

IFS=, read -r -a columns <<<"native,$backends"
printf '%-18s' module
for b in "${columns[@]}"; do printf ' %-22s' "$b"; done
printf '\n'
differ=0
for module in "${modules[@]}"; do
  printf '%-18s' "$module"
  native=
  for b in "${columns[@]}"; do
    result=$(run_module "$b" "$module")
    mark=
    if [[ $b == native ]]; then
      native=$result
    elif [[ ${result#*/} != "${native#*/}" ]]; then
      # Failures and errors must match; skips may differ (listed).
      IFS=/ read -r _ nf ne _ <<<"$native"
      IFS=/ read -r _ bf be _ <<<"$result"
      if [[ $result == crashed* || $nf != "$bf" || $ne != "$be" ]]; then
        mark=' !'
        differ=1
      else
        mark=' ~'
      fi
    fi
    printf ' %-22s' "$result$mark"
  done
  printf '\n'
done
echo "columns: tests run/failures/errors/skipped (policy $policy);" \
     "! failures or errors differ from native's, ~ only skips differ"
# The tests whose skip differs from native's, with the reason given.
skipped() { grep -E '\.\.\. skipped' "$1" | sed 's/[0-9][0-9]*/N/g' | sort -u || true; }
for module in "${modules[@]}"; do
  for b in "${columns[@]:1}"; do
    extra=$(comm -13 <(skipped "$work/native.$module.out") \
                     <(skipped "$work/$b.$module.out"))
    [[ -n $extra ]] && printf 'skipped on %s only (%s):\n%s\n' "$b" "$module" "$extra"
  done
done
exit "$differ"
