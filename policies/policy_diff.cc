#include "policies/policy_diff.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "policies/plan.h"
#include "policies/syscalls.h"

namespace isoscope {
namespace {

// What a policy does with one syscall, in words: "allowed (rule stdio)",
// "denied EPERM (default)", "killed (rule no-ptrace)", "decided per call
// (rules files, files-else)".
std::string Outcome(const CompiledPlan& plan, int number) {
  const SyscallPlan& p = plan.For(number);
  const std::string by = p.rule_id.empty() || p.rule_id == "syscalls.default"
                             ? std::string("default")
                             : "rule " + p.rule_id;
  switch (p.disposition) {
    case Disposition::kAllow:
      return fmt::format("allowed ({})", by);
    case Disposition::kErrno: {
      const std::string_view name = ErrnoName(p.errno_value);
      return fmt::format(
          "denied {} ({})",
          name.empty() ? std::to_string(p.errno_value) : std::string(name), by);
    }
    case Disposition::kKill:
      return fmt::format("killed ({})", by);
    case Disposition::kInspect: {
      std::vector<std::string> rules;
      for (const Rule& rule : plan.policy().syscalls.rules) {
        if (std::ranges::find(rule.syscalls, number) != rule.syscalls.end()) {
          rules.push_back(rule.id);
        }
      }
      if (rules.empty()) {
        return fmt::format(
            "decided per call (default {})",
            DescribeAction(plan.policy().syscalls.default_action));
      }
      return fmt::format("decided per call (rule{} {})",
                         rules.size() == 1 ? "" : "s", fmt::join(rules, ", "));
    }
  }
  return "?";
}

std::optional<SectionDiff> SyscallsDiff(const Policy& a, const Policy& b,
                                        const std::string& a_name,
                                        const std::string& b_name) {
  const CompiledPlan plan_a =
      CompiledPlan::Compile(std::make_shared<const Policy>(a));
  const CompiledPlan plan_b =
      CompiledPlan::Compile(std::make_shared<const Policy>(b));
  // (outcome in a, outcome in b) -> the syscalls with that pair, in order.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>>
      groups;
  std::vector<std::pair<std::string, std::string>> order;
  for (int number : AllSyscallNumbers()) {
    std::string in_a = Outcome(plan_a, number);
    std::string in_b = Outcome(plan_b, number);
    if (in_a == in_b) continue;
    auto key = std::make_pair(std::move(in_a), std::move(in_b));
    auto [it, inserted] = groups.try_emplace(key);
    if (inserted) order.push_back(key);
    it->second.push_back(SyscallName(number));
  }
  SectionDiff diff{"syscalls", {}};
  for (const auto& key : order) {
    const auto& names = groups[key];
    diff.lines.push_back(fmt::format("{} in {}, {} in {}: {}", key.first,
                                     a_name, key.second, b_name,
                                     fmt::join(names, " ")));
  }
  for (const auto& [abi, pa, pb] :
       {std::tuple{"i386", &plan_a.i386(), &plan_b.i386()},
        std::tuple{"x32", &plan_a.x32(), &plan_b.x32()}}) {
    if (*pa == *pb) continue;
    diff.lines.push_back(fmt::format("{} calls: {} in {}, {} in {}", abi,
                                     DispositionName(pa->disposition), a_name,
                                     DispositionName(pb->disposition), b_name));
  }
  if (diff.lines.empty()) return std::nullopt;
  return diff;
}

// "a: X, b: Y" for a field that differs; `show` renders one side.
template <typename T, typename Show>
void Field(std::vector<std::string>* lines, std::string_view field, const T& a,
           const T& b, const std::string& a_name, const std::string& b_name,
           Show show) {
  if (a == b) return;
  lines->push_back(fmt::format("{}: {} in {}, {} in {}", field, show(a), a_name,
                               show(b), b_name));
}

std::string Limit(const std::optional<uint64_t>& value) {
  return value.has_value() ? std::to_string(*value) : "no limit";
}

// Entries one list has and the other not, as two lines.
void ListField(std::vector<std::string>* lines, std::string_view field,
               const std::vector<std::string>& a,
               const std::vector<std::string>& b, const std::string& a_name,
               const std::string& b_name) {
  const std::set<std::string> set_a(a.begin(), a.end());
  const std::set<std::string> set_b(b.begin(), b.end());
  std::vector<std::string> only_a;
  std::vector<std::string> only_b;
  std::ranges::set_difference(set_a, set_b, std::back_inserter(only_a));
  std::ranges::set_difference(set_b, set_a, std::back_inserter(only_b));
  if (!only_a.empty()) {
    lines->push_back(fmt::format("{}: only in {}: {}", field, a_name,
                                 fmt::join(only_a, " ")));
  }
  if (!only_b.empty()) {
    lines->push_back(fmt::format("{}: only in {}: {}", field, b_name,
                                 fmt::join(only_b, " ")));
  }
}

}  // namespace

std::vector<SectionDiff> DiffPolicies(const Policy& a, const Policy& b,
                                      const std::string& a_name,
                                      const std::string& b_name) {
  std::vector<SectionDiff> out;
  if (auto syscalls = SyscallsDiff(a, b, a_name, b_name)) {
    out.push_back(std::move(*syscalls));
  }
  const auto add = [&](std::string section, std::vector<std::string> lines) {
    if (!lines.empty()) out.push_back({std::move(section), std::move(lines)});
  };

  std::vector<std::string> faults;
  for (FaultKind kind : kAllFaultKinds) {
    Field(&faults, FaultKindName(kind), a.faults.For(kind), b.faults.For(kind),
          a_name, b_name, [](Action action) { return ActionName(action); });
  }
  Field(&faults, "hide_hypervisor", a.faults.hide_hypervisor,
        b.faults.hide_hypervisor, a_name, b_name,
        [](bool v) { return v ? "true" : "false"; });
  add("faults", std::move(faults));

  std::vector<std::string> resources;
  const std::pair<std::string_view, std::optional<uint64_t> Resources::*>
      limits[] = {{"memory (bytes)", &Resources::memory_bytes},
                  {"processes", &Resources::processes},
                  {"cpu_time (ms)", &Resources::cpu_time_ms},
                  {"wall_time (ms)", &Resources::wall_time_ms},
                  {"open_files", &Resources::open_files},
                  {"file_size (bytes)", &Resources::file_size_bytes},
                  {"output (bytes)", &Resources::output_bytes}};
  for (const auto& [name, member] : limits) {
    Field(&resources, name, a.resources.*member, b.resources.*member, a_name,
          b_name, Limit);
  }
  add("resources", std::move(resources));

  std::vector<std::string> filesystem;
  ListField(&filesystem, "readonly", a.filesystem.readonly,
            b.filesystem.readonly, a_name, b_name);
  ListField(&filesystem, "writable", a.filesystem.writable,
            b.filesystem.writable, a_name, b_name);
  ListField(&filesystem, "tmpfs", a.filesystem.tmpfs, b.filesystem.tmpfs,
            a_name, b_name);
  ListField(&filesystem, "hidden", a.filesystem.hidden, b.filesystem.hidden,
            a_name, b_name);
  add("filesystem", std::move(filesystem));

  std::vector<std::string> network;
  Field(&network, "mode", a.network, b.network, a_name, b_name,
        [](NetworkMode mode) { return NetworkModeName(mode); });
  // An absent list leaves the mode to decide; a present one, even empty,
  // allows its entries only.
  const auto texts = [](const std::vector<EndpointPattern>& list) {
    std::vector<std::string> out;
    for (const EndpointPattern& pattern : list) out.push_back(pattern.text);
    return out;
  };
  const auto show_list =
      [&texts](const std::optional<std::vector<EndpointPattern>>& list) {
        if (!list) return std::string("any endpoint the mode reaches");
        if (list->empty()) return std::string("none");
        return fmt::format("{}", fmt::join(texts(*list), " "));
      };
  for (const auto& [field, member] :
       {std::pair{"connect", &NetworkEndpoints::connect},
        std::pair{"bind", &NetworkEndpoints::bind}}) {
    const auto& list_a = a.endpoints.*member;
    const auto& list_b = b.endpoints.*member;
    if (list_a && list_b) {
      ListField(&network, field, texts(*list_a), texts(*list_b), a_name,
                b_name);
    } else {
      Field(&network, field, list_a, list_b, a_name, b_name, show_list);
    }
  }
  if (!a.endpoints.empty() || !b.endpoints.empty()) {
    Field(&network, "errno", a.endpoints.errno_value, b.endpoints.errno_value,
          a_name, b_name, [](int value) { return ErrnoName(value); });
  }
  add("network", std::move(network));

  std::vector<std::string> identity;
  Field(&identity, "hostname", a.identity.hostname, b.identity.hostname, a_name,
        b_name, [](const std::optional<std::string>& v) {
          return v.value_or("the host's");
        });
  const auto id = [](const std::optional<uint32_t>& v) {
    return v.has_value() ? std::to_string(*v)
                         : std::string("unchanged (isoscope's)");
  };
  Field(&identity, "uid", a.identity.uid, b.identity.uid, a_name, b_name, id);
  Field(&identity, "gid", a.identity.gid, b.identity.gid, a_name, b_name, id);
  Field(&identity, "user_namespace", a.identity.user_namespace,
        b.identity.user_namespace, a_name, b_name,
        [](bool v) { return v ? "true" : "false"; });
  add("identity", std::move(identity));

  std::vector<std::string> capabilities;
  ListField(&capabilities, "capabilities", a.capabilities, b.capabilities,
            a_name, b_name);
  add("capabilities", std::move(capabilities));

  std::vector<std::string> holes;
  const auto hole_names = [](const Policy& p) {
    std::vector<std::string> names;
    for (const AcceptedHole& hole : p.accepted_holes) {
      for (int number : hole.syscalls) names.push_back(SyscallName(number));
    }
    return names;
  };
  ListField(&holes, "accepted", hole_names(a), hole_names(b), a_name, b_name);
  add("accepted_holes", std::move(holes));
  return out;
}

}  // namespace isoscope
