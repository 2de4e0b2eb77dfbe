#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (docs/fuzzing.md), built by CMake with
# ISOSCOPE_FUZZ=ON and clang (-fsanitize=fuzzer,address,undefined) into
# build-fuzz/ (or $ISOSCOPE_FUZZ_DIR), then run.
#
#   scripts/fuzz.sh --list             the targets, one line each
#   scripts/fuzz.sh --smoke [SECONDS]  every target for SECONDS (default 15)
#                                      from its seed corpus; what CI runs
#   scripts/fuzz.sh TARGET [SECONDS]   one target for SECONDS (default 600)
#
# A long run keeps what it learns in build-fuzz/corpus/TARGET/ (read with the
# seeds of tests/fuzz/corpus/TARGET/, which it never writes), so runs
# continue one another. A finding (a sanitizer report, or a property the
# target checks: "TARGET finding: ...") stops the run with a non-zero status
# and leaves the input in build-fuzz/findings/TARGET/crash-*; replay it with
#   build-fuzz/tests/fuzz/TARGET_fuzz build-fuzz/findings/TARGET/crash-...
# Once fixed, copy it into tests/fuzz/corpus/TARGET/ (fuzz_corpus_test then
# runs it with the unit tests). Extra CMake configure arguments:
# $ISOSCOPE_FUZZ_CMAKE_ARGS (for example a compiler launcher). An input that
# runs longer than $ISOSCOPE_FUZZ_TIMEOUT seconds of wall time (default 10)
# is a finding; raise it for a run at low priority beside other work, which
# can starve the fuzzer long enough to look like a hang.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${ISOSCOPE_FUZZ_DIR:-$root/build-fuzz}

usage() {
  sed -n '6,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

targets() {
  sed -n '/set(ISOSCOPE_FUZZ_TARGETS/,/)/p' "$root/tests/fuzz/CMakeLists.txt" |
    sed 's/set(ISOSCOPE_FUZZ_TARGETS//; s/)//' | tr -s ' \n' '\n' | sed '/^$/d'
}

build() {
  # shellcheck disable=SC2086  # word splitting of the extra arguments
  cmake -S "$root" -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
    -DISOSCOPE_FUZZ=ON ${ISOSCOPE_FUZZ_CMAKE_ARGS:-} >/dev/null
  cmake --build "$out" --target fuzz -j"$(nproc)"
}

# run TARGET SECONDS CORPUS_DIR: libFuzzer on CORPUS_DIR (written) and the
# seeds (read only).
run() {
  local target=$1 seconds=$2 corpus=$3
  local findings="$out/findings/$target"
  mkdir -p "$corpus" "$findings"
  # Sanitizers abort on the first finding; leaks are checked per input.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$out/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" \
    -timeout="${ISOSCOPE_FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" "$root/tests/fuzz/corpus/$target"
}

case ${1:-} in
  --list)
    targets
    ;;
  --smoke)
    seconds=${2:-15}
    build
    scratch=$(mktemp -d /tmp/isoscope-fuzz-smoke-XXXXXX)
    trap 'rm -rf "$scratch"' EXIT
    failed=()
    for target in $(targets); do
      echo "fuzz.sh: $target for ${seconds}s"
      if ! run "$target" "$seconds" "$scratch/$target" >"$scratch/$target.log" 2>&1; then
        tail -40 "$scratch/$target.log" >&2
        failed+=("$target")
      else
        grep -E '^(stat::number_of_executed_units|Done )' \
          "$scratch/$target.log" || true
      fi
    done
    if ((${#failed[@]})); then
      echo "fuzz.sh: findings in ${failed[*]} (inputs in $out/findings/)" >&2
      exit 1
    fi
    echo "fuzz.sh: smoke run clean: $(targets | wc -l) targets, ${seconds}s each"
    ;;
  "" | -*)
    usage
    ;;
  *)
    target=$1
    seconds=${2:-600}
    grep -qx "$target" <<<"$(targets)" || {
      echo "fuzz.sh: no target '$target' (scripts/fuzz.sh --list)" >&2
      exit 64
    }
    build
    run "$target" "$seconds" "$out/corpus/$target"
    ;;
esac
