#!/usr/bin/env bash
# Builds the guest kernel's libFuzzer target (backends/kvm/guest_kernel_fuzz.cc)
# with clang++ -fsanitize=fuzzer,address,undefined and runs it.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
# Environment: ISOSCOPE_FUZZ_DIR (default build-fuzz) holds the binary, the
# corpus (corpus/) and any crash-*/leak-*/timeout-* reproducers; rerun one
# with: build-fuzz/guest_kernel_fuzz <file>.
#
# The target is compiled directly (not through CMake, which builds the
# project with g++): only the sources the guest kernel needs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${ISOSCOPE_FUZZ_DIR:-$root/build-fuzz}
seconds=${1:-60}
mkdir -p "$out/corpus"

sources=(
  backends/kvm/guest_kernel_fuzz.cc
  backends/kvm/guest_kernel.cc
  backends/kvm/guest_memory.cc
  backends/process/syscall_paths.cc
  backends/process/tracee_memory.cc
  base/error.cc
  base/temp_dir.cc
  policies/decide.cc
  policies/policy.cc
  policies/syscalls.cc
)
binary="$out/guest_kernel_fuzz"
newest=$(cd "$root" && ls -t "${sources[@]}" backends/kvm/*.h base/*.h \
  policies/*.h | head -1)
if [[ ! -x $binary || $root/$newest -nt $binary ]]; then
  echo "fuzz.sh: building $binary"
  (cd "$root" && clang++ -std=c++20 -O1 -g -I"$root" -DFMT_SHARED \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fno-omit-frame-pointer "${sources[@]}" -o "$binary" \
    -lfmt -lseccomp)
fi

# Sanitizers abort on the first finding; leaks are checked per input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$out"
exec "$binary" -max_total_time="$seconds" -max_len=4096 -len_control=0 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 corpus
