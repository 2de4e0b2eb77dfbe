// The kvm backend: the workload runs alone in a KVM virtual machine built by
// isoscope's own VMM, in guest ring 0 with a few stubs for a kernel. Every
// syscall is a VM exit that the VMM hands to the supervisor's loop and then
// emulates or proxies (GuestKernel); every exception is reported by a stub
// and decided as a fault. The VMM runs on a thread of its own that confines
// itself with a seccomp filter once the VM is built.
//
// How a guest can end, besides exit_group (each a precise outcome):
//   exception (vector 0-31)  FaultEvent (kind from the vector, rip, cr2),
//                            then the signal Linux would send (SIGSEGV...)
//   hlt, port I/O to an unknown port
//                            FaultEvent kPrivilegedInstruction ("hlt",
//                            "out"/"in"), then SIGSEGV
//   MMIO (an address beyond guest RAM the guest mapped itself)
//                            FaultEvent kPageFault at that address, SIGSEGV
//   triple fault (KVM_EXIT_SHUTDOWN)
//                            ExitEvent SIGSEGV, detail "triple fault ..."
//   an instruction the hypervisor cannot emulate (KVM_EXIT_INTERNAL_ERROR)
//                            FaultEvent kInvalidInstruction with its bytes,
//                            then SIGILL (with a hint to build without SSE
//                            when it uses vector registers)
#ifndef ISOSCOPE_BACKENDS_KVM_KVM_BACKEND_H_
#define ISOSCOPE_BACKENDS_KVM_KVM_BACKEND_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/backend.h"

namespace isoscope {

class KvmBackend final : public Backend {
 public:
  KvmBackend();
  ~KvmBackend() override;
  KvmBackend(const KvmBackend&) = delete;
  KvmBackend& operator=(const KvmBackend&) = delete;

  std::string_view name() const override { return "kvm"; }
  ProbeResult Probe() const override;
  Status Start(const Workload& workload, const CompiledPlan& plan) override;
  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) override;
  Status Resolve(const Event& event, const Verdict& verdict) override;
  void Kill() override;

  // The host syscalls the VMM thread's own seccomp filter allows (sorted
  // names): the whole host kernel surface a guest can reach through it.
  static std::vector<std::string> HostSyscallSurface();

 private:
  class Vmm;
  std::unique_ptr<Vmm> vmm_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_KVM_KVM_BACKEND_H_
