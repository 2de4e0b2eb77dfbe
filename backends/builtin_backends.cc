#include "backends/builtin_backends.h"

#include <algorithm>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "backends/container/cgroup.h"
#include "backends/container/container_backend.h"
#include "backends/kvm/kvm_backend.h"
#include "backends/native/native_backend.h"
#include "backends/ptrace/ptrace_backend.h"

namespace isoscope {
namespace {

// Who handles what on each backend, as the architecture describes it; the
// parts that depend on the host are computed from its facts.

BackendRouting NativeRouting(const HostFacts& /*host*/) {
  BackendRouting routing{"host kernel", "host kernel", false, {}, {}};
  routing.measures =
      "the baseline: the workload as a plain host process, nothing "
      "isolating it; the other backends' ratios are to these figures";
  for (std::string_view section : kPolicySections) {
    routing.enforcement.push_back(
        {std::string(section), false, "the baseline enforces nothing"});
  }
  return routing;
}

// What the process backends share: identity, capabilities and network by
// the same set-up code.
std::vector<SectionEnforcement> ProcessEnforcement() {
  return {
      {"syscalls", true,
       "seccomp filter in the host kernel; inspected calls decided by "
       "isoscope"},
      {"paths", true,
       "decided on the file the path reaches (symlinks and the caller's "
       "magic links followed), performed by isoscope on that path"},
      {"filesystem", false, ""},
      {"network", true,
       "own network namespace (none: no interface up, loopback: lo only); "
       "pathname unix sockets are reached by file permissions"},
      {"identity", true,
       "the policy's uid and gid, supplementary groups only the gid; the "
       "host name in a UTS namespace"},
      {"capabilities", true,
       "all but the policy's dropped from every set; securebits locked; "
       "no_new_privs"},
      {"resources", true, ""},
      {"faults", true, ""},
  };
}

SectionEnforcement& Section(BackendRouting& routing, std::string_view name) {
  for (SectionEnforcement& entry : routing.enforcement) {
    if (entry.section == name) return entry;
  }
  routing.enforcement.push_back({std::string(name), false, ""});
  return routing.enforcement.back();
}

// RDTSC traps only where the CPU or hypervisor honours CR4.TSD
// (HostFacts::rdtsc_trapping). CPUID is never trapped: the kernel turns
// CPUID faulting off at every exec, so it cannot be set for the workload.
BackendRouting PtraceRouting(const HostFacts& host) {
  const bool rdtsc_traps =
      host.rdtsc_trapping.has_value() && host.rdtsc_trapping->available;
  BackendRouting routing{
      "seccomp filter in the host kernel; inspected calls decided by isoscope "
      "(user notification; path calls resolved to what they reach and "
      "performed by isoscope, exec and chdir by one ptrace stop with a "
      "checked copy)",
      fmt::format("isoscope's tracer (SIGSEGV/SIGILL/SIGBUS/SIGFPE/SIGTRAP "
                  "decided; {}port I/O to COM1, cli/sti, hlt emulated; {}; "
                  "cpuid untrapped: {})",
                  rdtsc_traps ? "rdtsc, " : "",
                  rdtsc_traps ? "rdtsc trapped with PR_SET_TSC"
                              : "rdtsc: not trappable on this host",
                  host.cpuid_faulting.available
                      ? "the kernel turns CPUID faulting off at exec"
                      : "no CPUID faulting on this host"),
      true,
      {},
      ProcessEnforcement()};
  if (!rdtsc_traps) {
    routing.untrapped_faults.push_back(
        {FaultKind::kRdtsc, "not trappable on this host"});
  }
  routing.untrapped_faults.push_back(
      {FaultKind::kCpuid,
       "not trappable: the kernel turns CPUID faulting off at every exec"});
  Section(routing, "filesystem").how =
      "no mount view: the path rules alone decide which files are reached";
  Section(routing, "network").how +=
      "; network.connect and network.bind: decided by isoscope at a ptrace "
      "stop on a read-only copy of the socket address (connect, bind, "
      "sendto, and sendmsg's whole msghdr and control) that the kernel then "
      "uses; sendmmsg, source-routing socket options and control messages "
      "refused";
  Section(routing, "capabilities").how +=
      "; CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE cannot be kept (either "
      "opens the region of checked copies for writing), nor CAP_SYS_PTRACE "
      "(it would reach only isoscope's own processes in the workload's pid "
      "namespace): such a policy does not run";
  Section(routing, "resources").how =
      "rlimits (memory as address space, cpu time, file size, open files), "
      "processes counted by the tracer, wall time, output";
  Section(routing, "faults").how =
      rdtsc_traps ? "trapped and decided by the tracer; cpuid untrapped"
                  : "trapped and decided by the tracer; cpuid and rdtsc "
                    "untrapped on this host";
  routing.measures =
      "a host process under a seccomp filter and a ptrace tracer: calls the "
      "filter allows run in the host kernel at native cost; each inspected "
      "call stops in isoscope (a user notification or a ptrace stop) and "
      "pays that round trip; faults stop in the tracer";
  return routing;
}

BackendRouting ContainerRouting(const HostFacts& /*host*/) {
  BackendRouting routing{
      "seccomp filter in the host kernel; inspected calls decided by isoscope "
      "(user notification; checked path calls performed by isoscope in the "
      "container's root)",
      "host kernel (not intercepted: the run reports the signal it ended "
      "with)",
      true,
      {},
      ProcessEnforcement()};
  Section(routing, "paths").how += ", inside the container's root";
  Section(routing, "filesystem") = {
      "filesystem", true,
      "mounts of a fresh root: readonly, writable, tmpfs, hidden"};
  Section(routing, "identity").how += " (optionally in a user namespace)";
  Section(routing, "network").how +=
      "; network.connect and network.bind: connect, bind, sendto and "
      "sendmsg performed by isoscope on the workload's IPv4/IPv6 socket "
      "with the address it decided on (refused on other sockets: AF_UNIX, "
      "AF_NETLINK); sendmmsg, source-routing socket options and control "
      "messages refused";
  Section(routing, "resources").how =
      "a cgroup (memory, processes, cpu time), rlimits, wall time, output";
  Section(routing, "faults") = {
      "faults", false,
      "the host kernel delivers faults; the run reports the signal"};
  routing.measures =
      "a host process in its own namespaces, a cgroup and a seccomp filter "
      "with user notification: start-up includes building the container; "
      "calls the filter allows run in the host kernel at native cost; each "
      "inspected call waits for isoscope's decision (and path calls are "
      "performed by isoscope)";
  return routing;
}

BackendRouting KvmRouting(const HostFacts& /*host*/) {
  BackendRouting routing{
      "isoscope's VMM: every syscall is a VM exit decided by isoscope, then "
      "emulated or proxied through the VMM's own descriptor table",
      "guest stubs report every exception (vectors 0-31) to the VMM; hlt, "
      "port I/O and MMIO exit to it",
      true,
      {},
      {{"syscalls", true, "every syscall a VM exit decided by isoscope"},
       {"paths", true, "resolved by the VMM inside the view's roots"},
       {"filesystem", true, "the VMM's view: only the policy's roots"},
       {"network", true,
        "no socket calls in the guest (ENOSYS), so no endpoint of "
        "network.connect or network.bind is ever reached"},
       {"identity", true, "answered from the policy; no host identity"},
       {"capabilities", true,
        "nothing of the host's: the guest holds no host credentials"},
       {"resources", true,
        "guest RAM, the VMM's descriptor, output and cpu-time limits"},
       {"faults", true,
        "every exception reaches the VMM; rdtsc runs without an exit"}}};
  routing.untrapped_faults.push_back(
      {FaultKind::kRdtsc, "runs in the guest without an exit"});
  routing.measures =
      "a syscall-forwarding VM: the workload runs in a KVM guest with no "
      "kernel of its own and every guest syscall exits to isoscope's VMM (as "
      "on gVisor's KVM platform or Hyperlight), so its per-syscall cost is "
      "an upper bound for a full-kernel microVM such as Firecracker, whose "
      "guest syscalls stay inside the guest";
  return routing;
}

}  // namespace

void RegisterBuiltinBackends(BackendRegistry& registry) {
  registry.Register(
      "native", "a plain host process: no isolation, the baseline",
      [] { return std::make_unique<NativeBackend>(); }, {}, NativeRouting);
  registry.Register(
      "ptrace",
      "a host process under a seccomp filter and a ptrace tracer: syscalls "
      "decided in the kernel or by isoscope, faults trapped and emulated",
      [] { return std::make_unique<PtraceBackend>(); }, {}, PtraceRouting);
  registry.Register(
      "container",
      "namespaces, a fresh root, a cgroup, no capabilities and a seccomp "
      "filter; inspected calls decided (and path calls performed) by isoscope",
      [] { return std::make_unique<ContainerBackend>(); }, {},
      ContainerRouting);
  registry.Register(
      "kvm",
      "a KVM virtual machine run by isoscope's own VMM: every syscall a VM "
      "exit decided by isoscope and emulated or proxied; static executables",
      [] { return std::make_unique<KvmBackend>(); },
      KvmBackend::HostSyscallSurface(), KvmRouting);
}

SweepResult RemoveAbandonedBackendState(
    const std::vector<std::filesystem::path>& recorded_parents) {
  const std::filesystem::path root = "/sys/fs/cgroup";
  // After a dead leftover mark: the layout is read only when a run cgroup
  // may be left (native's kill groups below isoscope's own cgroup are
  // recorded in their marks).
  const bool recorded =
      std::any_of(recorded_parents.begin(), recorded_parents.end(),
                  [&](const std::filesystem::path& parent) {
                    return parent.string().starts_with(root.string() + "/");
                  });
  if (!recorded && !MayHaveAbandonedCgroups(root)) return {};
  return RemoveAbandonedCgroups(root, ReadCgroupFacts(root), "/proc",
                                recorded_parents);
}

}  // namespace isoscope
