// The policy engine's decision function: pure and deterministic, the same on
// every backend. The supervisor's loop is its only caller at run time.
#ifndef ISOSCOPE_POLICIES_DECIDE_H_
#define ISOSCOPE_POLICIES_DECIDE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "policies/policy.h"

namespace isoscope {

enum class Abi { kX86_64, kI386, kX32 };
std::string_view AbiName(Abi abi);

// A path argument as the backend read it once from the workload, made
// absolute (against the dirfd or cwd) by the backend.
struct PathArgument {
  int arg_index = 0;
  std::string path;
  bool operator==(const PathArgument&) const = default;
};

struct SyscallRequest {
  Abi abi = Abi::kX86_64;
  int number = 0;  // for kX32, without the x32 bit
  std::array<uint64_t, 6> args{};
  std::vector<PathArgument> paths;     // decoded path arguments
  std::optional<uint64_t> open_flags;  // openat2's how.flags, decoded
  bool operator==(const SyscallRequest&) const = default;
};

struct FaultRequest {
  FaultKind kind = FaultKind::kPrivilegedInstruction;
};

// A decision with its provenance.
struct Verdict {
  ActionSpec action;
  // The deciding rule: its id, "<id>.else" for its else branch,
  // "syscalls.default", "syscalls.abi.i386", "syscalls.abi.x32", or
  // "faults.<kind>".
  std::string rule_id;
  // One line saying why, for `policy explain` and reports.
  std::string reason;
  bool operator==(const Verdict&) const = default;
};

Verdict Decide(const Policy& policy, const SyscallRequest& request);
Verdict DecideFault(const Policy& policy, const FaultRequest& request);

// Lexically normalises an absolute path ("/a/./b/../c" -> "/a/c"); relative
// input is returned unchanged.
std::string NormalizePath(const std::string& path);
// Glob match as documented on PathGlobs.
bool GlobMatch(std::string_view glob, std::string_view path);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_DECIDE_H_
