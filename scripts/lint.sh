#!/usr/bin/env bash
# Style gate: clang-format over every C++ file and clang-tidy (.clang-tidy)
# over the C++ sources, using the build's compile_commands.json. Exits
# non-zero on any finding. Usage: scripts/lint.sh [format | changed [BASE]]
#   (none):         clang-tidy over every source (about 20-25 minutes on 2
#                   cores)
#   format:         the clang-format check only (seconds)
#   changed [BASE]: clang-tidy over the sources changed since BASE only
#                   (what CI runs); see changed_sources for the default BASE
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOSCOPE_BUILD_DIR:-$root/build}
jobs=$(nproc)
cd "$root"
mapfile -t cxx < <(git ls-files '*.cc' '*.h' | grep -v '^workloads/\(runtime\|bench\|probes\)/')
clang-format --dry-run --Werror "${cxx[@]}"
if [[ ${1:-} == format ]]; then
  echo "lint: clang-format clean"
  exit 0
fi
dirs='(base|policies|supervisor|backends|reports|learn|bench|tests|workloads)'

# The commit `changed` compares with: BASE if given, else where HEAD left
# origin/main (git merge-base), which a clean clone of any branch has; on
# main itself (HEAD is that merge base) HEAD's first parent, the change that
# landed last. Fails when there is none (a shallow clone, no origin/main).
tidy_base() {
  if [[ -n ${1:-} ]]; then
    git rev-parse --verify "$1^{commit}"
    return
  fi
  local base
  base=$(git merge-base HEAD origin/main 2>/dev/null) || return 1
  if [[ $base == "$(git rev-parse HEAD)" ]]; then
    git rev-parse -q --verify 'HEAD^1'
    return
  fi
  echo "$base"
}

# The .cc files changed between `$1` and the work tree (committed or not)
# that still exist, and for each changed header the source beside it.
changed_sources() {
  git diff --name-only --diff-filter=d "$1" -- '*.cc' '*.h' |
    grep -E "^$dirs/" | while read -r file; do
      case $file in
        *.h) if [[ -f ${file%.h}.cc ]]; then echo "${file%.h}.cc"; fi ;;
        *) echo "$file" ;;
      esac
    done | sort -u
}

if [[ ! -f $build/compile_commands.json ]]; then
  echo "lint: $build/compile_commands.json missing: build first" >&2
  exit 1
fi
pattern='^'"$root"'/'"$dirs"'/.*\.cc$'
if [[ ${1:-} == changed ]]; then
  if base=$(tidy_base "${2:-}"); then
    mapfile -t sources < <(changed_sources "$base")
    echo "lint: clang-tidy on the ${#sources[@]} sources changed since" \
      "$(git rev-parse --short "$base")"
    if ((${#sources[@]} == 0)); then
      echo "lint: clean"
      exit 0
    fi
    printf -v pattern '%s|' "${sources[@]}"
    pattern='^'"$root"'/('"${pattern%|}"')$'
  else
    echo "lint: no commit to compare with: clang-tidy on every source" >&2
  fi
fi
# g++-only warning flags in compile_commands.json are unknown to clang. The
# header filter names this tree wherever it is cloned (.clang-tidy's names
# the main checkout's).
run-clang-tidy -p "$build" -j "$jobs" -quiet \
  -header-filter='^'"$root"'/'"$dirs"'/' \
  -extra-arg=-Wno-unknown-warning-option \
  "$pattern" > "$build/clang-tidy.log" 2>&1 || true
if grep -qE '(warning|error):' "$build/clang-tidy.log"; then
  grep -E '(warning|error):' "$build/clang-tidy.log" | sed 's/\x1b\[[0-9;]*m//g' | sort -u
  echo "lint: clang-tidy findings above (full log: $build/clang-tidy.log)" >&2
  exit 1
fi
echo "lint: clean"
