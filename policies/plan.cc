#include "policies/plan.h"

#include <sys/syscall.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "policies/syscalls.h"

namespace isoscope {
namespace {

// A statically known action becomes a fast-path disposition; log and emulate
// need the supervisor even without conditions (it records or answers).
SyscallPlan StaticPlan(const ActionSpec& action, const std::string& rule_id) {
  switch (action.action) {
    case Action::kAllow:
      return {Disposition::kAllow, 0, rule_id};
    case Action::kDeny:
      return {Disposition::kErrno, action.errno_value, rule_id};
    case Action::kKill:
      return {Disposition::kKill, 0, rule_id};
    default:
      return {Disposition::kInspect, 0, ""};
  }
}

SyscallPlan PlanFor(const SyscallPolicy& syscalls, int number) {
  for (const Rule& rule : syscalls.rules) {
    bool names = false;
    for (int named : rule.syscalls) names = names || named == number;
    if (!names) continue;
    if (!rule.args.empty() || rule.paths) {
      return {Disposition::kInspect, 0, ""};
    }
    return StaticPlan(rule.action, rule.id);
  }
  return StaticPlan(syscalls.default_action, "syscalls.default");
}

// Non-native ABIs are only ever killed or denied (the loader enforces it);
// anything else is planned as kill so the fast path still fails closed.
SyscallPlan AbiPlan(const ActionSpec& action, const std::string& rule_id) {
  SyscallPlan plan = StaticPlan(action, rule_id);
  if (plan.disposition == Disposition::kInspect ||
      plan.disposition == Disposition::kAllow) {
    return {Disposition::kKill, 0, rule_id};
  }
  return plan;
}

// clone with namespace flags (Decide): a clone that does not run stays as
// it is; one that runs gets unshare's refusal, or goes to the supervisor
// when either needs it.
SyscallPlan CloneNamespacesPlan(const SyscallPolicy& syscalls) {
  SyscallPlan own = PlanFor(syscalls, SYS_clone);
  if (own.disposition != Disposition::kAllow) return own;
  SyscallPlan unshare = PlanFor(syscalls, SYS_unshare);
  if (unshare.disposition == Disposition::kAllow) return own;
  return unshare;  // errno, kill (its rule decides) or inspect
}

// clone3 (Decide): ENOSYS where it would run and namespaces are not plainly
// allowed. That does not depend on clone3's arguments, so a statically
// allowed clone3 is planned from Decide itself.
SyscallPlan Clone3Plan(const Policy& policy) {
  SyscallPlan own = PlanFor(policy.syscalls, SYS_clone3);
  if (own.disposition != Disposition::kAllow) return own;
  SyscallRequest request;
  request.number = SYS_clone3;
  Verdict verdict = Decide(policy, request);
  return StaticPlan(verdict.action, verdict.rule_id);  // allow or ENOSYS
}

// The calls Decide holds to the endpoint lists: one the rules allow
// statically needs the supervisor to read its address (sendmmsg, which
// Decide refuses whatever its arguments, is planned from Decide itself).
SyscallPlan EndpointPlan(const Policy& policy, int number) {
  SyscallPlan own = PlanFor(policy.syscalls, number);
  if (own.disposition != Disposition::kAllow ||
      !EndpointListsApply(policy, number)) {
    return own;
  }
  if (number == SYS_sendmmsg) {
    SyscallRequest request;
    request.number = number;
    Verdict verdict = Decide(policy, request);
    return StaticPlan(verdict.action, verdict.rule_id);
  }
  return {Disposition::kInspect, 0, ""};
}

// setsockopt of a routing option (Decide): refused where setsockopt would
// run and a network.connect list applies. That depends only on the level
// and option registers, so it is planned from Decide itself.
SyscallPlan RoutingOptionsPlan(const Policy& policy) {
  SyscallPlan own = PlanFor(policy.syscalls, SYS_setsockopt);
  if (own.disposition != Disposition::kAllow ||
      !EndpointListsApply(policy, SYS_setsockopt)) {
    return own;
  }
  const RoutingSocketOption& option = RoutingSocketOptions().front();
  SyscallRequest request;
  request.number = SYS_setsockopt;
  request.args[1] = static_cast<uint64_t>(option.level);
  request.args[2] = static_cast<uint64_t>(option.option);
  Verdict verdict = Decide(policy, request);
  return StaticPlan(verdict.action, verdict.rule_id);
}

}  // namespace

std::string_view DispositionName(Disposition disposition) {
  switch (disposition) {
    case Disposition::kAllow:
      return "allow";
    case Disposition::kErrno:
      return "errno";
    case Disposition::kKill:
      return "kill";
    case Disposition::kInspect:
      return "inspect";
  }
  return "unknown";
}

CompiledPlan CompiledPlan::Uncompiled(std::shared_ptr<const Policy> policy) {
  CompiledPlan plan;
  plan.policy_ = std::move(policy);
  const SyscallPolicy& syscalls = plan.policy_->syscalls;
  plan.unknown_ = StaticPlan(syscalls.default_action, "syscalls.default");
  plan.i386_ = AbiPlan(syscalls.abi.i386, "syscalls.abi.i386");
  plan.x32_ = AbiPlan(syscalls.abi.x32, "syscalls.abi.x32");
  plan.clone_namespaces_ = plan.unknown_;
  plan.routing_options_ = plan.unknown_;
  return plan;
}

CompiledPlan CompiledPlan::Compile(std::shared_ptr<const Policy> policy) {
  // What every plan has, then the plan of every syscall.
  CompiledPlan plan = Uncompiled(std::move(policy));
  const SyscallPolicy& syscalls = plan.policy_->syscalls;
  plan.by_number_.assign(kMaxSyscallNumber + 1, plan.unknown_);
  for (int number : AllSyscallNumbers()) {
    plan.by_number_[static_cast<size_t>(number)] = PlanFor(syscalls, number);
  }
  plan.by_number_[SYS_clone3] = Clone3Plan(*plan.policy_);
  for (int number : {SYS_socket, SYS_connect, SYS_bind, SYS_sendto, SYS_sendmsg,
                     SYS_sendmmsg}) {
    plan.by_number_[static_cast<size_t>(number)] =
        EndpointPlan(*plan.policy_, number);
  }
  plan.clone_namespaces_ = CloneNamespacesPlan(syscalls);
  plan.routing_options_ = RoutingOptionsPlan(*plan.policy_);
  return plan;
}

const SyscallPlan& CompiledPlan::ForCall(
    int number, const std::array<uint64_t, 6>& args) const {
  if (number == SYS_clone && (args[0] & kCloneNamespaceFlags) != 0) {
    return clone_namespaces_;
  }
  if (number == SYS_setsockopt &&
      FindRoutingSocketOption(args[1], args[2]) != nullptr) {
    return routing_options_;
  }
  return For(number);
}

const SyscallPlan& CompiledPlan::For(int number) const {
  if (number < 0 || static_cast<size_t>(number) >= by_number_.size()) {
    return unknown_;  // out of range, or a plan left uncompiled
  }
  return by_number_[static_cast<size_t>(number)];
}

std::vector<int> CompiledPlan::NumbersWith(Disposition disposition) const {
  std::vector<int> out;
  for (int number : AllSyscallNumbers()) {
    if (For(number).disposition == disposition) out.push_back(number);
  }
  return out;
}

}  // namespace isoscope
