#include "policies/policy.h"

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/error.h"
#include "policies/decide.h"

namespace isoscope {
namespace {

constexpr std::string_view kWorkdirPlaceholder = "{workdir}";

// Substitutes the placeholder and collapses the "//" a root workdir ("/")
// would leave behind, so "{workdir}/**" with "/" becomes "/**".
std::string SubstituteWorkdir(const std::string& text,
                              const std::string& workdir) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t found = text.find(kWorkdirPlaceholder, pos);
    if (found == std::string::npos) {
      out.append(text, pos, std::string::npos);
      break;
    }
    out.append(text, pos, found - pos);
    out.append(workdir);
    pos = found + kWorkdirPlaceholder.size();
  }
  std::string collapsed;
  collapsed.reserve(out.size());
  for (char c : out) {
    if (c == '/' && !collapsed.empty() && collapsed.back() == '/') continue;
    collapsed.push_back(c);
  }
  return collapsed;
}

void SubstituteAll(std::vector<std::string>& items,
                   const std::string& workdir) {
  for (std::string& item : items) item = SubstituteWorkdir(item, workdir);
}

}  // namespace

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kAllow:
      return "allow";
    case Action::kDeny:
      return "deny";
    case Action::kKill:
      return "kill";
    case Action::kLog:
      return "log";
    case Action::kEmulate:
      return "emulate";
    case Action::kReport:
      return "report";
    case Action::kDeliver:
      return "deliver";
  }
  return "unknown";
}

std::string DescribeAction(const ActionSpec& spec) {
  switch (spec.action) {
    case Action::kDeny: {
      std::string_view name = ErrnoName(spec.errno_value);
      if (name.empty()) return fmt::format("deny {}", spec.errno_value);
      return fmt::format("deny {}", name);
    }
    case Action::kEmulate:
      return fmt::format("emulate {}", spec.emulate_value);
    default:
      return std::string(ActionName(spec.action));
  }
}

std::string_view PathIntentName(PathIntent intent) {
  switch (intent) {
    case PathIntent::kRead:
      return "read";
    case PathIntent::kWrite:
      return "write";
    case PathIntent::kExec:
      return "exec";
  }
  return "unknown";
}

std::string_view FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kPrivilegedInstruction:
      return "privileged_instruction";
    case FaultKind::kCpuid:
      return "cpuid";
    case FaultKind::kRdtsc:
      return "rdtsc";
    case FaultKind::kPageFault:
      return "page_fault";
    case FaultKind::kInvalidInstruction:
      return "invalid_instruction";
    case FaultKind::kBreakpoint:
      return "breakpoint";
    case FaultKind::kArithmetic:
      return "arithmetic";
  }
  return "unknown";
}

bool CanEmulate(FaultKind kind) {
  switch (kind) {
    case FaultKind::kPrivilegedInstruction:
    case FaultKind::kCpuid:
    case FaultKind::kRdtsc:
      return true;
    // A page fault is the workload's own memory access, an invalid
    // instruction has no defined result, a breakpoint is a request for a
    // debugger, and a divide error has no quotient: nothing to make up.
    case FaultKind::kPageFault:
    case FaultKind::kInvalidInstruction:
    case FaultKind::kBreakpoint:
    case FaultKind::kArithmetic:
      return false;
  }
  return false;
}

std::string_view NetworkModeName(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kNone:
      return "none";
    case NetworkMode::kLoopback:
      return "loopback";
    case NetworkMode::kHost:
      return "host";
  }
  return "unknown";
}

Action FaultPolicy::For(FaultKind kind) const {
  switch (kind) {
    case FaultKind::kPrivilegedInstruction:
      return privileged_instruction;
    case FaultKind::kCpuid:
      return cpuid;
    case FaultKind::kRdtsc:
      return rdtsc;
    case FaultKind::kPageFault:
      return page_fault;
    case FaultKind::kInvalidInstruction:
      return invalid_instruction;
    case FaultKind::kBreakpoint:
      return breakpoint;
    case FaultKind::kArithmetic:
      return arithmetic;
  }
  return Action::kKill;  // unreachable for valid kinds; fail closed
}

void FaultPolicy::Set(FaultKind kind, Action action) {
  switch (kind) {
    case FaultKind::kPrivilegedInstruction:
      privileged_instruction = action;
      return;
    case FaultKind::kCpuid:
      cpuid = action;
      return;
    case FaultKind::kRdtsc:
      rdtsc = action;
      return;
    case FaultKind::kPageFault:
      page_fault = action;
      return;
    case FaultKind::kInvalidInstruction:
      invalid_instruction = action;
      return;
    case FaultKind::kBreakpoint:
      breakpoint = action;
      return;
    case FaultKind::kArithmetic:
      arithmetic = action;
      return;
  }
}

std::string_view CompareOpName(CompareOp op) {
  switch (op) {
    case CompareOp::kEq:
      return "eq";
    case CompareOp::kNe:
      return "ne";
    case CompareOp::kLt:
      return "lt";
    case CompareOp::kLe:
      return "le";
    case CompareOp::kGt:
      return "gt";
    case CompareOp::kGe:
      return "ge";
    case CompareOp::kMaskedEq:
      return "masked_eq";
  }
  return "?";
}

Policy WithWorkdir(const Policy& policy, const std::string& workdir) {
  Policy out = policy;
  std::string dir = NormalizePath(workdir);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  for (Rule& rule : out.syscalls.rules) {
    if (!rule.paths) continue;
    SubstituteAll(rule.paths->read, dir);
    SubstituteAll(rule.paths->write, dir);
    SubstituteAll(rule.paths->exec, dir);
  }
  SubstituteAll(out.filesystem.readonly, dir);
  SubstituteAll(out.filesystem.writable, dir);
  SubstituteAll(out.filesystem.tmpfs, dir);
  SubstituteAll(out.filesystem.hidden, dir);
  return out;
}

}  // namespace isoscope
