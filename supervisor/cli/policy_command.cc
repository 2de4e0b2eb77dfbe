// `isoscope policy check|explain|show`.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/io.h"
#include "policies/decide.h"
#include "policies/endpoints.h"
#include "policies/holes.h"
#include "policies/loader.h"
#include "policies/oci_import.h"
#include "policies/plan.h"
#include "policies/policy_diff.h"
#include "policies/syscalls.h"
#include "supervisor/backend_registry.h"
#include "supervisor/cli/commands.h"
#include "supervisor/cli/exit_status.h"
#include "supervisor/host_facts.h"

namespace isoscope::cli {
namespace {

std::string DescribePlan(const SyscallPlan& plan) {
  switch (plan.disposition) {
    case Disposition::kErrno: {
      std::string_view name = ErrnoName(plan.errno_value);
      return fmt::format("errno {}", name.empty()
                                         ? std::to_string(plan.errno_value)
                                         : std::string(name));
    }
    default:
      return std::string(DispositionName(plan.disposition));
  }
}

// Symbolic constants accepted in `policy explain` arguments.
struct NamedConstant {
  std::string_view name;
  int64_t value;
};
constexpr NamedConstant kConstants[] = {
    {"O_RDONLY", O_RDONLY},       {"O_WRONLY", O_WRONLY},
    {"O_RDWR", O_RDWR},           {"O_CREAT", O_CREAT},
    {"O_TRUNC", O_TRUNC},         {"O_APPEND", O_APPEND},
    {"O_EXCL", O_EXCL},           {"O_CLOEXEC", O_CLOEXEC},
    {"O_DIRECTORY", O_DIRECTORY}, {"O_PATH", O_PATH},
    {"AT_FDCWD", AT_FDCWD},
};

// A number (decimal, 0x hex, negative) or CONST|CONST; nullopt otherwise.
std::optional<uint64_t> ParseArgValue(std::string_view text) {
  uint64_t value = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('|', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(start, end - start);
    bool matched = false;
    for (const auto& constant : kConstants) {
      if (constant.name == part) {
        value |= static_cast<uint64_t>(constant.value);
        matched = true;
      }
    }
    if (!matched) {
      bool negative = !part.empty() && part.front() == '-';
      if (negative) part.remove_prefix(1);
      int base = 10;
      if (part.starts_with("0x") || part.starts_with("0X")) {
        part.remove_prefix(2);
        base = 16;
      }
      uint64_t number = 0;
      auto [ptr, ec] =
          std::from_chars(part.data(), part.data() + part.size(), number, base);
      if (part.empty() || ec != std::errc() ||
          ptr != part.data() + part.size()) {
        return std::nullopt;
      }
      value |= negative ? static_cast<uint64_t>(-static_cast<int64_t>(number))
                        : number;
    }
    start = end + 1;
  }
  return value;
}

// `policy explain P KIND`: a fault kind's verdict, from the same DecideFault
// the supervisor asks.
std::optional<FaultKind> FaultKindNamed(std::string_view name) {
  if (name.starts_with("faults.")) name.remove_prefix(7);
  for (FaultKind kind : kAllFaultKinds) {
    if (FaultKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

int ExplainFault(const Policy& policy, FaultKind kind,
                 const std::vector<std::string>& args) {
  if (!args.empty()) {
    return ReportError(Error(
        ErrorCode::kInvalidArgument,
        fmt::format("fault kind {} takes no arguments", FaultKindName(kind))));
  }
  Verdict verdict = DecideFault(policy, FaultRequest{kind});
  fmt::print("fault {}\n", FaultKindName(kind));
  fmt::print("  decision: {}\n", ActionName(verdict.action.action));
  fmt::print("  rule:     {}\n", verdict.rule_id);
  fmt::print("  why:      {}\n", verdict.reason);
  return 0;
}

// The enforcement matrix: section x backend, then how, for every backend
// registered, as each describes itself on this host.
int ExplainEnforcement(const BackendRegistry& backends, const Policy& policy) {
  const HostFacts host = ReadHostFacts();
  std::vector<std::pair<std::string, BackendRouting>> routings;
  for (const BackendRegistry::Entry& entry : backends.entries()) {
    if (auto routing = entry.RoutingOn(host)) {
      routings.emplace_back(entry.name, *std::move(routing));
    }
  }
  auto find = [](const BackendRouting& routing,
                 std::string_view section) -> const SectionEnforcement* {
    for (const SectionEnforcement& entry : routing.enforcement) {
      if (entry.section == section) return &entry;
    }
    return nullptr;
  };
  fmt::print("policy {}: what each backend enforces on this host\n\n",
             policy.name);
  fmt::print("{:<14}{:<8}", "section", "used");
  for (const auto& [name, routing] : routings) fmt::print("{:<11}", name);
  fmt::print("\n");
  for (std::string_view section : kPolicySections) {
    fmt::print("{:<14}{:<8}", section,
               PolicyUses(policy, section) ? "yes" : "no");
    for (const auto& [name, routing] : routings) {
      const SectionEnforcement* entry = find(routing, section);
      fmt::print("{:<11}", entry == nullptr  ? "n/a"
                           : entry->enforced ? "enforced"
                                             : "NOT");
    }
    fmt::print("\n");
  }
  for (const auto& [name, routing] : routings) {
    fmt::print("\n{}:\n", name);
    for (std::string_view section : kPolicySections) {
      const SectionEnforcement* entry = find(routing, section);
      if (entry == nullptr) continue;
      fmt::print("  {:<13} {}{}\n", fmt::format("{}:", section),
                 entry->enforced ? "" : "not enforced: ", entry->how);
    }
    for (const UntrappedFault& fault : routing.untrapped_faults) {
      fmt::print("  {:<13} {}: {}\n", "faults:", FaultKindName(fault.kind),
                 fault.reason);
    }
  }
  return 0;
}

// The holes the policy accepts (a policy with others is not valid), by
// accepting entry: what each call reaches, which rule lets it run, and the
// policy's reason.
void PrintAcceptedHoles(const Policy& policy) {
  std::vector<Hole> holes = FindHoles(policy);
  if (holes.empty()) {
    fmt::print("\naccepted holes: none\n");
    return;
  }
  fmt::print("\naccepted holes ({}):\n", holes.size());
  for (size_t i = 0; i < policy.accepted_holes.size(); ++i) {
    // "connect, bind (unix address, by socket-io)": calls grouped by kind
    // and by the rule that lets them run.
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    for (const Hole& hole : holes) {
      if (hole.accepted != i) continue;
      std::string key =
          fmt::format("{}, by {}", HoleKindName(hole.kind), hole.rule_id);
      auto it =
          std::find_if(groups.begin(), groups.end(),
                       [&](const auto& group) { return group.first == key; });
      if (it == groups.end()) it = groups.insert(groups.end(), {key, {}});
      it->second.push_back(SyscallName(hole.syscall));
    }
    if (groups.empty()) continue;
    std::vector<std::string> calls;
    for (const auto& [key, names] : groups) {
      calls.push_back(fmt::format("{} ({})", fmt::join(names, " "), key));
    }
    fmt::print("  {}\n    reason: {}\n", fmt::join(calls, "; "),
               policy.accepted_holes[i].reason);
  }
}

}  // namespace

int PolicyCheckCommand(const std::string& name) {
  auto policy = LoadPolicyForThisHost(name);
  if (!policy) return ReportError(policy.error());
  auto shared = std::make_shared<const Policy>(*policy);
  CompiledPlan plan = CompiledPlan::Compile(shared);

  fmt::print("policy {}: valid (version {}, {} rules)\n", policy->name,
             policy->version, policy->syscalls.rules.size());
  fmt::print("default action: {}\n",
             DescribeAction(policy->syscalls.default_action));
  // One line per (rule, outcome): which rule decides which syscalls.
  auto print_group = [&](Disposition disposition, std::string_view title) {
    std::vector<int> numbers = plan.NumbersWith(disposition);
    fmt::print("\n{} ({}):\n", title, numbers.size());
    std::vector<std::pair<std::string, std::vector<std::string>>> by_rule;
    for (int nr : numbers) {
      const SyscallPlan& entry = plan.For(nr);
      std::string key =
          fmt::format("{} by {}", DescribePlan(entry),
                      entry.rule_id.empty() ? "its rules" : entry.rule_id);
      auto it =
          std::find_if(by_rule.begin(), by_rule.end(),
                       [&](const auto& group) { return group.first == key; });
      if (it == by_rule.end()) it = by_rule.insert(by_rule.end(), {key, {}});
      it->second.push_back(SyscallName(nr));
    }
    for (const auto& [key, names] : by_rule) {
      fmt::print("  {} ({}):\n    {}\n", key, names.size(),
                 fmt::join(names, " "));
    }
  };
  print_group(Disposition::kAllow, "decided statically: allow");
  print_group(Disposition::kErrno, "decided statically: errno");
  print_group(Disposition::kKill, "decided statically: kill");
  print_group(Disposition::kInspect, "need inspection by the supervisor");
  fmt::print("\nclone with namespace flags (CLONE_NEW*): {} by {}\n",
             DescribePlan(plan.clone_namespaces()),
             plan.clone_namespaces().rule_id.empty()
                 ? "its rules"
                 : plan.clone_namespaces().rule_id);
  if (plan.routing_options() != plan.For(SYS_setsockopt)) {
    std::vector<std::string> options;
    for (const RoutingSocketOption& option : RoutingSocketOptions()) {
      options.emplace_back(option.name.substr(option.name.find(' ') + 1));
    }
    fmt::print("setsockopt of a routing option ({}): {} by {}\n",
               fmt::join(options, ", "), DescribePlan(plan.routing_options()),
               plan.routing_options().rule_id.empty()
                   ? "its rules"
                   : plan.routing_options().rule_id);
  }
  fmt::print("unnamed syscall numbers: {}\n", DescribePlan(plan.unknown()));
  fmt::print("non-native ABIs: i386 (int 0x80) {}, x32 {}\n",
             DescribePlan(plan.i386()), DescribePlan(plan.x32()));
  std::vector<std::string> faults;
  for (FaultKind kind : kAllFaultKinds) {
    faults.push_back(fmt::format("{} {}", FaultKindName(kind),
                                 ActionName(policy->faults.For(kind))));
  }
  fmt::print("faults: {} (hide_hypervisor: {})\n", fmt::join(faults, ", "),
             policy->faults.hide_hypervisor);
  PrintAcceptedHoles(*policy);
  return 0;
}

int PolicyExplainCommand(const Context& context,
                         const ExplainOptions& options) {
  auto loaded = LoadPolicyArgument(options.policy);
  if (!loaded) return ReportError(loaded.error());
  Policy policy = WithWorkdir(*loaded, options.workdir);
  if (options.syscall.empty()) {
    if (!options.args.empty()) {
      return ReportError(Error(ErrorCode::kInvalidArgument,
                               "arguments need a syscall or fault kind"));
    }
    return ExplainEnforcement(*context.backends, policy);
  }

  SyscallRequest request;
  if (auto number = SyscallNumber(options.syscall)) {
    request.number = *number;
  } else if (auto kind = FaultKindNamed(options.syscall)) {
    return ExplainFault(policy, *kind, options.args);
  } else if (auto value = ParseArgValue(options.syscall);
             value && *value <= 0xffffffff) {
    request.number = static_cast<int>(*value);
  } else {
    return ReportError(
        Error(ErrorCode::kInvalidArgument,
              fmt::format("unknown x86-64 syscall or fault kind '{}'",
                          options.syscall)));
  }
  if (options.args.size() > 6) {
    return ReportError(Error(ErrorCode::kInvalidArgument,
                             "a syscall takes at most 6 arguments"));
  }
  const std::span<const PathArgSpec> path_args = PathArguments(request.number);
  for (size_t i = 0; i < options.args.size(); ++i) {
    const std::string& arg = options.args[i];
    bool is_path_position = false;
    for (const auto& spec : path_args) {
      if (spec.path_index == static_cast<int>(i)) is_path_position = true;
    }
    if (is_path_position) {
      request.paths.push_back(PathArgument{static_cast<int>(i), arg});
      continue;
    }
    // The socket address of connect, bind, sendmsg (arg 1) or sendto
    // (arg 4) as HOST:PORT, standing for the decoded address.
    const int address_index =
        request.number == SYS_sendto
            ? 4
            : (request.number == SYS_connect || request.number == SYS_bind ||
                       request.number == SYS_sendmsg
                   ? 1
                   : -1);
    if (static_cast<int>(i) == address_index && arg.find(':') != arg.npos) {
      auto endpoint = ParseEndpointPattern(arg);
      if (!endpoint || endpoint->any_host ||
          endpoint->port_low != endpoint->port_high) {
        return ReportError(
            Error(ErrorCode::kInvalidArgument,
                  fmt::format("argument {} '{}': expected one endpoint such as "
                              "127.0.0.1:8080 or [::1]:8080",
                              i, arg)));
      }
      SocketAddress address;
      address.kind = SocketAddress::Kind::kIp;
      address.family = endpoint->host.ipv6 ? AF_INET6 : AF_INET;
      address.ip = endpoint->host;
      address.ip.port = endpoint->port_low;
      request.address = address;
      continue;
    }
    auto value = ParseArgValue(arg);
    if (!value) {
      return ReportError(
          Error(ErrorCode::kInvalidArgument,
                fmt::format("argument {} '{}': expected a number or constants "
                            "like O_WRONLY|O_CREAT",
                            i, arg)));
    }
    request.args[i] = *value;
  }
  std::string name = SyscallName(request.number);
  Verdict verdict = Decide(policy, request);
  auto shared = std::make_shared<const Policy>(policy);
  SyscallPlan plan =
      CompiledPlan::Compile(shared).ForCall(request.number, request.args);

  fmt::print("{}({})\n", name.empty() ? std::to_string(request.number) : name,
             fmt::join(options.args, ", "));
  fmt::print("  decision: {}\n", DescribeAction(verdict.action));
  fmt::print("  rule:     {}\n", verdict.rule_id);
  fmt::print("  why:      {}\n", verdict.reason);
  fmt::print("  fast path: {}{}\n", DescribePlan(plan),
             plan.disposition == Disposition::kInspect
                 ? " (the supervisor decides each call)"
                 : " (decided without the supervisor)");
  return 0;
}

int PolicyShowCommand(const std::string& preset) {
  auto text = PresetText(preset);
  if (!text) return ReportError(text.error());
  fmt::print("{}", *text);
  return 0;
}

int PolicyImportCommand(const std::string& config, const std::string& output) {
  auto imported = ImportOciConfigFile(config);
  if (!imported) return ReportError(imported.error());
  if (output.empty()) {
    fmt::print("{}", imported->yaml);
  } else {
    if (Status written = WriteFileReplacing(output, imported->yaml); !written) {
      return ReportError(written.error());
    }
  }
  for (const std::string& note : imported->notes) {
    fmt::print(stderr, "isoscope: not carried over: {}\n", note);
  }
  return 0;
}

int PolicyDiffCommand(const std::string& a, const std::string& b) {
  auto policy_a = LoadPolicyArgument(a);
  if (!policy_a) return ReportError(policy_a.error());
  auto policy_b = LoadPolicyArgument(b);
  if (!policy_b) return ReportError(policy_b.error());
  const auto diff = DiffPolicies(*policy_a, *policy_b, a, b);
  if (diff.empty()) {
    fmt::print("{} and {} allow the same: no section differs.\n", a, b);
    return 0;
  }
  for (const SectionDiff& section : diff) {
    fmt::print("{}:\n", section.section);
    for (const std::string& line : section.lines) {
      fmt::print("  {}\n", line);
    }
  }
  return 1;
}

}  // namespace isoscope::cli
