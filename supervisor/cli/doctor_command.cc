// `isoscope doctor`: what this host offers each backend, and what to do
// about what is missing.
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "supervisor/backend_registry.h"
#include "supervisor/cli/commands.h"
#include "supervisor/host_facts.h"
#include "supervisor/run_result_json.h"
#include "supervisor/syscall_counter.h"

namespace isoscope::cli {
namespace {

void PrintFeature(std::string_view name, const Feature& feature) {
  fmt::print("  {:<22} {:<4} {}\n", name, feature.available ? "yes" : "NO",
             feature.detail);
}

}  // namespace

int DoctorCommand(const Context& context, bool json) {
  HostFacts facts = ReadHostFacts();
  facts.syscall_counter = HostSyscallCounter().feature;
  if (json) {
    nlohmann::json out = ToJson(facts);
    nlohmann::json backends = nlohmann::json::array();
    for (const auto& entry : context.backends->entries()) {
      ProbeResult probe = entry.factory()->Probe();
      backends.push_back({{"name", entry.name},
                          {"available", probe.available},
                          {"reason", probe.reason}});
    }
    out["backends"] = backends;
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  fmt::print("host\n");
  fmt::print("  kernel                 {} ({})\n", facts.kernel_release,
             facts.machine);
  fmt::print("  cpu                    {} x {}\n", facts.cpus, facts.cpu_model);
  fmt::print("  running as root        {}\n", facts.is_root ? "yes" : "no");
  fmt::print("  virtualization         {}{}\n",
             VirtualizationKindName(facts.virtualization),
             facts.virtualization == VirtualizationKind::kPvm
                 ? " (software PVM hypervisor: guest code is emulated)"
                 : "");
  fmt::print("  cgroups                {}",
             CgroupLayoutName(facts.cgroups.layout));
  if (!facts.cgroups.v1_controllers.empty()) {
    fmt::print("; v1: {}", fmt::join(facts.cgroups.v1_controllers, " "));
  }
  if (!facts.cgroups.v2_root.empty()) {
    fmt::print(
        "; v2 at {}: {}", facts.cgroups.v2_root.string(),
        facts.cgroups.v2_controllers.empty()
            ? std::string("(no controllers)")
            : fmt::format("{}", fmt::join(facts.cgroups.v2_controllers, " ")));
  }
  fmt::print("\n\nfeatures\n");
  PrintFeature("seccomp filters", facts.seccomp);
  PrintFeature("seccomp user notif", facts.seccomp_user_notif);
  PrintFeature("ptrace", facts.ptrace);
  PrintFeature("user namespaces", facts.user_namespaces);
  PrintFeature("CPUID faulting", facts.cpuid_faulting);
  PrintFeature("RDTSC trapping",
               facts.rdtsc_trapping.value_or(Feature{false, "not probed"}));
  PrintFeature("/dev/kvm", facts.kvm);
  PrintFeature("syscall counting", *facts.syscall_counter);
  fmt::print("\nbackends\n");
  for (const auto& entry : context.backends->entries()) {
    ProbeResult probe = entry.factory()->Probe();
    fmt::print("  {:<10} {:<4} {}\n", entry.name,
               probe.available ? "yes" : "NO",
               probe.available ? entry.description : probe.reason);
    // What this host keeps the backend from doing, as runs will warn.
    const std::optional<BackendRouting> routing = entry.RoutingOn(facts);
    if (!probe.available || !routing) continue;
    for (const UntrappedFault& fault : routing->untrapped_faults) {
      fmt::print("  {:<10} {:<4} {}: {}\n", "", "", FaultKindName(fault.kind),
                 fault.reason);
    }
  }
  return 0;
}

}  // namespace isoscope::cli
