#include "backends/builtin_backends.h"

#include <memory>

#include "backends/container/cgroup.h"
#include "backends/container/container_backend.h"
#include "backends/kvm/kvm_backend.h"
#include "backends/native/native_backend.h"
#include "backends/ptrace/ptrace_backend.h"

namespace isoscope {

void RegisterBuiltinBackends(BackendRegistry& registry) {
  registry.Register("native",
                    "a plain host process: no isolation, the baseline",
                    [] { return std::make_unique<NativeBackend>(); });
  registry.Register(
      "ptrace",
      "a host process under a seccomp filter and a ptrace tracer: syscalls "
      "decided in the kernel or by isoscope, faults trapped and emulated",
      [] { return std::make_unique<PtraceBackend>(); });
  registry.Register(
      "container",
      "namespaces, a fresh root, a cgroup, no capabilities and a seccomp "
      "filter; inspected calls decided (and path calls performed) by isoscope",
      [] { return std::make_unique<ContainerBackend>(); });
  registry.Register(
      "kvm",
      "a KVM virtual machine run by isoscope's own VMM: every syscall a VM "
      "exit decided by isoscope and emulated or proxied; static executables",
      [] { return std::make_unique<KvmBackend>(); },
      KvmBackend::HostSyscallSurface());
}

int RemoveAbandonedBackendState() {
  const std::filesystem::path root = "/sys/fs/cgroup";
  return RemoveAbandonedCgroups(root, ReadCgroupFacts(root));
}

}  // namespace isoscope
