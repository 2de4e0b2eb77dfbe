#include "supervisor/backend_registry.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace isoscope {

std::vector<std::string> UnappliedFaultWarnings(
    const FaultPolicy& faults, const std::vector<UntrappedFault>& untrapped) {
  std::vector<std::string> warnings;
  for (const UntrappedFault& fault : untrapped) {
    const Action action = faults.For(fault.kind);
    if (action == Action::kReport) continue;
    warnings.push_back(
        fmt::format("{}: {}; the policy's `{}: {}` is not applied",
                    FaultKindName(fault.kind), fault.reason,
                    FaultKindName(fault.kind), ActionName(action)));
  }
  return warnings;
}

bool PolicyUses(const Policy& policy, std::string_view section) {
  if (section == "syscalls") return true;
  if (section == "paths") {
    return std::any_of(policy.syscalls.rules.begin(),
                       policy.syscalls.rules.end(),
                       [](const Rule& rule) { return rule.paths.has_value(); });
  }
  if (section == "filesystem") return policy.filesystem != FilesystemView{};
  if (section == "network") {
    return policy.network != NetworkMode::kHost || !policy.endpoints.empty();
  }
  if (section == "identity") return policy.identity != Identity{};
  // Every capability not listed is to be dropped.
  if (section == "capabilities") return true;
  if (section == "resources") return policy.resources != Resources{};
  if (section == "faults") {
    return std::any_of(
        kAllFaultKinds.begin(), kAllFaultKinds.end(), [&](FaultKind kind) {
          const Action action = policy.faults.For(kind);
          return action == Action::kKill || action == Action::kEmulate;
        });
  }
  return false;
}

std::vector<std::string> UnenforcedSectionWarnings(
    const Policy& policy, const std::vector<SectionEnforcement>& enforcement) {
  std::vector<std::string> warnings;
  for (const SectionEnforcement& entry : enforcement) {
    if (entry.enforced || !PolicyUses(policy, entry.section)) continue;
    warnings.push_back(fmt::format("{}: not enforced by this backend ({})",
                                   entry.section, entry.how));
  }
  return warnings;
}

void BackendRegistry::Register(std::string name, std::string description,
                               Factory factory,
                               std::vector<std::string> host_syscall_surface,
                               Routing routing) {
  Entry added{std::move(name), std::move(description), std::move(factory),
              std::move(host_syscall_surface), std::move(routing)};
  for (auto& entry : entries_) {
    if (entry.name == added.name) {
      entry = std::move(added);
      return;
    }
  }
  entries_.push_back(std::move(added));
}

const BackendRegistry::Entry* BackendRegistry::Find(
    std::string_view name) const {
  for (const auto& entry : entries_) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

Result<std::unique_ptr<Backend>> BackendRegistry::Create(
    std::string_view name) const {
  const Entry* entry = Find(name);
  if (entry == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("unknown backend '{}' (known: {})", name,
                            fmt::join(Names(), ", ")));
  }
  return entry->factory();
}

Result<std::vector<std::string>> BackendRegistry::Select(
    std::string_view list) const {
  if (list == "all") return Names();
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string name(list.substr(start, comma - start));
    if (name.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("--backends '{}': empty backend name", list));
    }
    if (Find(name) == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("unknown backend '{}' (known: {})", name,
                              fmt::join(Names(), ", ")));
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(std::move(name));
    }
    start = comma + 1;
  }
  return names;
}

std::vector<std::string> BackendRegistry::Names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& entry : entries_) names.push_back(entry.name);
  return names;
}

}  // namespace isoscope
