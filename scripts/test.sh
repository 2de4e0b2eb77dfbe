#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite. Tests that need a host
# feature this machine lacks skip with the reason; the summary counts them,
# and the output ends with each skipped test and its reason (gtest prints
# it, ctest only says "Skipped"). The exit status is ctest's.
# Usage: scripts/test.sh [--sanitize] [CTEST ARGUMENTS...]
#   --sanitize: the same suite built with AddressSanitizer and UBSan
#   (-DISOSCOPE_SANITIZE=ON) into build-asan/ (or $ISOSCOPE_BUILD_DIR); any
#   finding (overflow, use after free, leak, undefined behaviour) ends the
#   process it happens in, and so fails its test. CI runs both.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
configure=()
if [[ ${1:-} == --sanitize ]]; then
  shift
  build=${ISOSCOPE_BUILD_DIR:-$root/build-asan}
  configure=(-DISOSCOPE_SANITIZE=ON)
  # Reports with their stacks. The isoscope binaries the tests start
  # inherit these; the workloads get a clean environment.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
  build=${ISOSCOPE_BUILD_DIR:-$root/build}
fi
ISOSCOPE_BUILD_DIR=$build "$root/scripts/setup.sh" "${configure[@]}"

# Each skipped test of a ctest JUnit file with the message gtest printed
# between "<file>:<line>: Skipped" and "[  SKIPPED ]", on one line.
skipped_tests() {
  awk '
    function unescape(s) {
      gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s)
      gsub(/&apos;/, "\047", s); gsub(/&amp;/, "\\&", s)
      return s
    }
    function flush() {
      if (name == "") return
      count++
      lines[count] = sprintf("  %s: %s", name,
                             reason == "" ? "(no reason printed)" : reason)
      name = ""
    }
    /<testcase / {
      in_out = 0; grab = 0; reason = ""; name = ""
      if ($0 ~ /status="notrun"/ && match($0, /name="[^"]*"/)) {
        name = unescape(substr($0, RSTART + 6, RLENGTH - 7))
      }
    }
    name != "" && /<system-out>/ { in_out = 1; sub(/.*<system-out>/, "") }
    in_out {
      line = $0
      done = sub(/<\/system-out>.*/, "", line)
      if (line ~ /^\[  SKIPPED \]/) grab = 0
      else if (grab && line != "") {
        reason = reason (reason == "" ? "" : " ") unescape(line)
      }
      else if (line ~ /: Skipped$/) grab = 1
      if (done) { in_out = 0; flush() }
    }
    END {
      printf "\nSkipped tests (%d), each with the reason it gave:\n", count
      for (i = 1; i <= count; i++) print lines[i]
      if (count == 0) print "  (none)"
    }
  ' "$1"
}

junit="$build/Testing/isoscope-junit.xml"
rm -f "$junit"
status=0
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" \
  --output-junit "$junit" "$@" || status=$?
if [[ -f "$junit" ]]; then
  skipped_tests "$junit"
fi
exit "$status"
