// The VMM thread's own seccomp filter: once the VM is built, the thread that
// runs it (and proxies the guest's file calls) may make only the host
// syscalls listed here. A guest that subverted the VMM would reach this
// surface of the host kernel and nothing more; its length is the kvm
// backend's host syscall surface in reports.
#ifndef ISOSCOPE_BACKENDS_KVM_VMM_SANDBOX_H_
#define ISOSCOPE_BACKENDS_KVM_VMM_SANDBOX_H_

#include <span>
#include <string_view>

#include "base/error.h"

namespace isoscope::kvm {

// Sorted syscall names.
std::span<const std::string_view> VmmAllowedSyscalls();

// Installs the filter on the calling thread only (no TSYNC: the supervisor's
// other threads keep their freedom). Any other syscall fails with EPERM,
// which the VMM reports as an error of the run, rather than killing the
// whole supervisor.
Status ConfineVmmThread();

}  // namespace isoscope::kvm

#endif  // ISOSCOPE_BACKENDS_KVM_VMM_SANDBOX_H_
