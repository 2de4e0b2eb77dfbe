// Backends by name. The CLI registers the built-in ones explicitly (no static
// initialisers), tests register fakes.
#ifndef ISOSCOPE_SUPERVISOR_BACKEND_REGISTRY_H_
#define ISOSCOPE_SUPERVISOR_BACKEND_REGISTRY_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "policies/policy.h"
#include "supervisor/backend.h"
#include "supervisor/host_facts.h"

namespace isoscope {

// A fault kind a policy can decide that a backend cannot trap on this host.
struct UntrappedFault {
  FaultKind kind = FaultKind::kRdtsc;
  std::string reason;  // "not trappable on this host"
  bool operator==(const UntrappedFault&) const = default;
};

// How a backend enforces one section of the policy on a host.
struct SectionEnforcement {
  std::string section;  // one of kPolicySections
  bool enforced = false;
  std::string how;  // by what mechanism, or why not
  bool operator==(const SectionEnforcement&) const = default;
};

// The policy's sections as the enforcement matrix names them.
inline constexpr std::string_view kPolicySections[] = {
    "syscalls", "paths",        "filesystem", "network",
    "identity", "capabilities", "resources",  "faults"};

// Whether `policy` asks anything of `section` (a section it leaves empty
// or at its defaults asks nothing a backend could fail to enforce).
bool PolicyUses(const Policy& policy, std::string_view section);

// One line per section the policy uses that `enforcement` does not enforce:
// "filesystem: not enforced by this backend (no mount view: ...)".
std::vector<std::string> UnenforcedSectionWarnings(
    const Policy& policy, const std::vector<SectionEnforcement>& enforcement);

// Who handles what on a backend, on a given host: the fault routing map of
// reports and the warnings of runs are drawn from it.
struct BackendRouting {
  std::string syscalls_handled_by;  // "host kernel", "seccomp filter ..."
  std::string faults_handled_by;    // "host kernel", "isoscope's tracer ..."
  // Applies the plan's fast path; false: every syscall the workload names
  // reaches the host kernel.
  bool filters = true;
  std::vector<UntrappedFault> untrapped_faults;
  // One entry per kPolicySections section: what the backend enforces.
  std::vector<SectionEnforcement> enforcement;
  // What a comparison's figures for this backend stand for, in plain words
  // (what isolates the workload, where its syscalls go, and how far its
  // costs carry to other designs): reports show it beside the figures.
  std::string measures;
  bool operator==(const BackendRouting&) const = default;
};

// One line per untrapped fault kind that `faults` does something with
// (anything but `report`): "rdtsc: not trappable on this host; the
// policy's `rdtsc: emulate` is not applied".
std::vector<std::string> UnappliedFaultWarnings(
    const FaultPolicy& faults, const std::vector<UntrappedFault>& untrapped);

class BackendRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Backend>()>;
  using Routing = std::function<BackendRouting(const HostFacts&)>;

  struct Entry {
    std::string name;
    std::string description;  // one line for --help and doctor
    Factory factory;
    // A backend that confines itself (the kvm VMM's seccomp filter): the
    // host syscalls it may still make, which is all of the host a workload
    // can reach through it. Empty: the plan says what the workload reaches.
    std::vector<std::string> host_syscall_surface;
    // Who handles the workload's syscalls and faults on `host`; empty for
    // a backend that does not describe itself (then the plan does).
    Routing routing;

    std::optional<BackendRouting> RoutingOn(const HostFacts& host) const {
      if (!routing) return std::nullopt;
      return routing(host);
    }
  };

  // Registering a name twice replaces the earlier entry.
  void Register(std::string name, std::string description, Factory factory,
                std::vector<std::string> host_syscall_surface = {},
                Routing routing = {});

  // Error kInvalidArgument naming the known backends if `name` is unknown.
  Result<std::unique_ptr<Backend>> Create(std::string_view name) const;
  const Entry* Find(std::string_view name) const;
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<std::string> Names() const;

  // `--backends` values: "all" (every registered backend, in registration
  // order) or a comma-separated list of registered names; repeats are
  // dropped. An empty or unknown name is a kInvalidArgument error.
  Result<std::vector<std::string>> Select(std::string_view list) const;

 private:
  std::vector<Entry> entries_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_BACKEND_REGISTRY_H_
