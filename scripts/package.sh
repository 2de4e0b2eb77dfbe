#!/usr/bin/env bash
# Builds the Debian package of isoscope with CPack, from the install rules:
# build/isoscope_<version>_<arch>.deb (or under $ISOSCOPE_BUILD_DIR).
#
#   scripts/package.sh           build the package
#   scripts/package.sh --smoke   build it, install it with apt-get, check the
#                                installed isoscope from its installed paths
#                                (--version, doctor, run, compare, man page,
#                                completion), then remove it again
#
# --smoke runs as root and refuses to run where isoscope is already
# installed as a package (it removes what it installed, and only that).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOSCOPE_BUILD_DIR:-$root/build}

smoke=0
for arg in "$@"; do
  case $arg in
    --smoke) smoke=1 ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0 ;;
    *)
      echo "package.sh: unknown argument '$arg' (see --help)" >&2
      exit 64 ;;
  esac
done
if ((smoke)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "package.sh: --smoke must run as root (it calls apt-get install)" >&2
    exit 1
  fi
  if dpkg-query -W -f='${Status}' isoscope 2>/dev/null | grep -q "ok installed"; then
    echo "package.sh: isoscope is already installed as a package; --smoke" \
      "would replace and then remove it (apt-get remove isoscope first)" >&2
    exit 1
  fi
fi

bash "$root/scripts/build.sh"
rm -f "$build"/isoscope_*.deb
(cd "$build" && cpack -G DEB --config CPackConfig.cmake >/dev/null)
debs=("$build"/isoscope_*.deb)
deb=${debs[0]}
echo "package.sh: built $deb"
dpkg-deb --field "$deb" Package Version Architecture Depends

((smoke)) || exit 0

scratch=$(mktemp -d /tmp/isoscope-package-smoke.XXXXXX)
cleanup() {
  # Whatever happened, the machine is left without the package.
  apt-get remove -y -qq --purge isoscope >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

step() { echo "package.sh: smoke: $*"; }
fail() {
  echo "package.sh: smoke: FAILED: $*" >&2
  exit 1
}

step "apt-get install $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "$deb" >/dev/null

# The installed paths only: no build tree on PATH or in the environment, a
# results store of its own, and a working directory outside the source.
export XDG_DATA_HOME=$scratch/data
unset ISOSCOPE_WORKLOADS_DIR ISOSCOPE_BUILD_DIR ISOSCOPE_SOURCE_DIR
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
cd "$scratch"
[[ $(command -v isoscope) == /usr/bin/isoscope ]] ||
  fail "isoscope on PATH is $(command -v isoscope), not /usr/bin/isoscope"

step "isoscope --version"
isoscope --version
step "isoscope doctor"
isoscope doctor
step "the built-in workloads come from /usr/libexec"
# Each output is read whole before it is searched: `grep -q` stops reading at
# its first match, and isoscope, like any filter, exits 141 on a closed
# stdout, which pipefail would report as this script's failure.
workloads=$(isoscope workloads)
grep -q '^  /usr/libexec/isoscope/workloads/bench/hello$' <<<"$workloads" ||
  fail "isoscope workloads does not list /usr/libexec/isoscope/workloads/bench/hello"
step "the presets are found"
isoscope policy check strict >/dev/null
[[ -f /usr/share/isoscope/presets/default.yaml ]] ||
  fail "no /usr/share/isoscope/presets/default.yaml"
step "isoscope run (the built-in hello, then /bin/echo under ptrace)"
hello=$(isoscope run -q)
grep -q "hello from isoscope" <<<"$hello" || fail "run of hello"
[[ $(isoscope run -q --backend ptrace -- /bin/echo installed) == installed ]] ||
  fail "run of /bin/echo under ptrace"
step "isoscope compare"
isoscope compare --backends native,ptrace,container -n 1 --report "$scratch/report.html" \
  -- /bin/echo compared
[[ -s $scratch/report.html ]] || fail "compare --report wrote nothing"
runs=$(isoscope runs list --json)
grep -q '"command": "/bin/echo compared"' <<<"$runs" ||
  fail "runs list --json does not list the compared command"
step "man -w isoscope-compare"
man -w isoscope-compare
man -w isoscope >/dev/null
step "bash completion"
bash --norc --noprofile -c '
  source /usr/share/bash-completion/completions/isoscope
  COMP_WORDS=(isoscope ru); COMP_CWORD=1; _isoscope
  [[ "${COMPREPLY[*]}" == "run runs" ]]' || fail "completion of 'isoscope ru'"

step "apt-get remove isoscope"
apt-get remove -y -qq --purge isoscope >/dev/null
[[ ! -e /usr/bin/isoscope ]] || fail "/usr/bin/isoscope is still there"
echo "package.sh: smoke test passed"
