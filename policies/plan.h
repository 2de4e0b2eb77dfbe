// The compiled plan: for every syscall, whether a backend's fast path can
// decide it statically or it needs the supervisor. Backends build their fast
// path (seccomp filter, VMM table) from this and nothing else.
#ifndef ISOSCOPE_POLICIES_PLAN_H_
#define ISOSCOPE_POLICIES_PLAN_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "policies/decide.h"
#include "policies/policy.h"

namespace isoscope {

enum class Disposition {
  kAllow,    // statically allowed
  kErrno,    // statically denied with errno_value
  kKill,     // statically killed
  kInspect,  // the supervisor must decide (conditions, log, emulate)
};

std::string_view DispositionName(Disposition disposition);

struct SyscallPlan {
  Disposition disposition = Disposition::kKill;
  int errno_value = 0;
  std::string rule_id;  // the rule that decides statically (empty: inspect)
  bool operator==(const SyscallPlan&) const = default;
};

class CompiledPlan {
 public:
  // Compiles `policy` (already instantiated with WithWorkdir if needed).
  static CompiledPlan Compile(std::shared_ptr<const Policy> policy);
  // `policy` without a per-syscall plan, for a backend that does not apply
  // the policy (Backend::AppliesPolicy): For() answers what
  // syscalls.default would for every number. Compiling costs about a fifth
  // of a millisecond of every run's start (the plan of every syscall).
  static CompiledPlan Uncompiled(std::shared_ptr<const Policy> policy);

  // False for Uncompiled: a backend that enforces the policy refuses such
  // a plan rather than enforce syscalls.default alone.
  bool compiled() const { return !by_number_.empty(); }

  const Policy& policy() const { return *policy_; }
  const std::shared_ptr<const Policy>& shared_policy() const { return policy_; }

  // Plan for an x86-64 syscall number; numbers outside 0..kMaxSyscallNumber
  // or without a name get `unknown()`.
  const SyscallPlan& For(int number) const;
  const SyscallPlan& unknown() const { return unknown_; }
  // clone whose flags (arg 0) hold a CLONE_NEW* flag (kCloneNamespaceFlags):
  // what unshare's plan makes of For(clone) (see Decide). A fast path reads
  // arg 0 and applies this instead of For(clone).
  const SyscallPlan& clone_namespaces() const { return clone_namespaces_; }
  // setsockopt of a routing option (FindRoutingSocketOption of args 1 and
  // 2): refused by Decide where setsockopt runs and a network.connect list
  // applies. A fast path reads both registers (their low 32 bits) and
  // applies this instead of For(setsockopt).
  const SyscallPlan& routing_options() const { return routing_options_; }
  // The plan for one call: clone_namespaces() for a clone with namespace
  // flags, routing_options() for a setsockopt of a routing option,
  // For(number) otherwise.
  const SyscallPlan& ForCall(int number,
                             const std::array<uint64_t, 6>& args) const;
  // What happens to syscalls through a non-native ABI (from the policy's
  // syscalls.abi; never kInspect).
  const SyscallPlan& i386() const { return i386_; }
  const SyscallPlan& x32() const { return x32_; }

  // Syscall numbers by disposition, ascending (named syscalls only).
  std::vector<int> NumbersWith(Disposition disposition) const;

 private:
  std::shared_ptr<const Policy> policy_;
  std::vector<SyscallPlan> by_number_;  // index = syscall number
  SyscallPlan unknown_;
  SyscallPlan clone_namespaces_;
  SyscallPlan routing_options_;
  SyscallPlan i386_;
  SyscallPlan x32_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_PLAN_H_
