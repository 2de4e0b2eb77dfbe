#!/usr/bin/env bash
# Installs every Debian 12 package isoscope needs to build, test and benchmark.
# Run as root on a fresh machine; safe to run again (apt skips what is present).
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: must run as root (it calls apt-get install)" >&2
  exit 1
fi

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git binutils
  # libraries (see DEVELOPERS guide: use the well-kept library that does the job)
  libseccomp-dev      # seccomp filters, syscall name resolution
  libcap-dev          # capability dropping (container and ptrace backends)
  libyaml-cpp-dev     # policy loader
  libcli11-dev        # command line
  nlohmann-json3-dev  # --json output, reports
  libsqlite3-dev      # results store
  libfmt-dev          # formatting (g++ 12 has no std::format)
  libexpected-dev     # tl::expected: errors as values
  libzydis-dev        # x86 instruction decoding (faults, SSE check)
  libgtest-dev libgmock-dev
  libbenchmark-dev
  # peers measured side by side in bench/
  strace bubblewrap firejail
  # hostile real clients (tests/hostile_clients_test.cc,
  # scripts/hostile-clients.sh): a syscall fuzzer and a stress tool run as
  # workloads under the ptrace and container backends
  trinity stress-ng
  # containment_test's network test: ip netns, veth pairs
  iproute2
  # fidelity_test: the ordinary Debian programs every backend must run as
  # natively (tests/fidelity_test.cc); and the CPython regression tests of
  # scripts/cpython-fidelity.sh
  python3 nodejs perl sqlite3 curl git make gcc tar gzip
  libpython3.11-testsuite
  # packaging (scripts/package.sh): CPack's DEB generator finds the
  # libraries isoscope links with file and dpkg-shlibdeps (dpkg-dev);
  # man-db renders the generated man pages (cli_docs_test) and answers
  # man -w in the package's smoke test
  dpkg-dev file man-db
  # OCI bundles as workloads (tests/bundle_test.cc): a static busybox for
  # the test bundles' rootfs; umoci unpacks OCI image layouts (--image)
  busybox-static umoci
  # style
  clang-format clang-tidy
  # the kvm guest kernel's libFuzzer target (scripts/fuzz.sh): clang with
  # its fuzzer and sanitizer runtimes
  clang
  # report tests: headless chromium renders the HTML report (screenshot, no
  # console errors, charts in the DOM); python3-jsonschema validates JSON
  # reports against reports/schema.json
  chromium python3-jsonschema
)

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps.sh: all ${#packages[@]} packages present"
