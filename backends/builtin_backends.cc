#include "backends/builtin_backends.h"

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
  return {"host kernel", "host kernel", false, {}};
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
      {}};
  if (!rdtsc_traps) {
    routing.untrapped_faults.push_back(
        {FaultKind::kRdtsc, "not trappable on this host"});
  }
  return routing;
}

BackendRouting ContainerRouting(const HostFacts& /*host*/) {
  return {
      "seccomp filter in the host kernel; inspected calls decided by isoscope "
      "(user notification; checked path calls performed by isoscope in the "
      "container's root)",
      "host kernel (not intercepted: the run reports the signal it ended "
      "with)",
      true,
      {}};
}

BackendRouting KvmRouting(const HostFacts& /*host*/) {
  return {
      "isoscope's VMM: every syscall is a VM exit decided by isoscope, then "
      "emulated or proxied through the VMM's own descriptor table",
      "guest stubs report every exception (vectors 0-31) to the VMM; hlt, "
      "port I/O and MMIO exit to it",
      true,
      {}};
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

int RemoveAbandonedBackendState() {
  const std::filesystem::path root = "/sys/fs/cgroup";
  return RemoveAbandonedCgroups(root, ReadCgroupFacts(root));
}

}  // namespace isoscope
