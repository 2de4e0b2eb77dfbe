// The KVM virtual machine the workload runs in: /dev/kvm, one VM with one
// vCPU in 64-bit long mode (guest ring 0), identity-mapped RAM, the VMM's
// GDT/IDT/TSS and the guest stubs (guest_stubs.S), and one KVM_RUN at a time
// turned into a decoded VcpuExit. It decides nothing: what an exit means for
// the workload is the caller's business.
//
// Threading: one thread (the vCPU thread) calls everything except
// RequestImmediateExit, which a signal handler or another thread may call to
// kick the vCPU out of KVM_RUN (send the vCPU thread a signal as well: the
// flag alone is only seen when KVM_RUN is entered).
#ifndef ISOSCOPE_BACKENDS_KVM_KVM_VM_H_
#define ISOSCOPE_BACKENDS_KVM_KVM_VM_H_

#include <linux/kvm.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "backends/kvm/guest_layout.h"
#include "backends/kvm/guest_memory.h"
#include "base/error.h"
#include "base/unique_fd.h"

namespace isoscope::kvm {

struct VmConfig {
  // Guest RAM: a multiple of 2 MiB in [kMinGuestMemory, kMaxGuestMemory].
  uint64_t memory_size = kDefaultGuestMemory;
  // Clears CPUID's "hypervisor present" bit and drops the hypervisor leaves
  // (0x40000000-0x4fffffff), so the workload cannot ask who runs it.
  bool hide_hypervisor = true;
};

// One KVM_RUN's outcome, copied out of the kvm_run page (validated against
// its size): a value the caller dispatches on without touching kvm_run.
struct VcpuExit {
  enum class Kind {
    kSyscall,        // `out` on kSyscallPort: the LSTAR stub (see regs())
    kException,      // `out` on kExceptionPort: see ReadExceptionFrame()
    kIo,             // any other port I/O (see port, io_*)
    kHlt,            // the guest executed `hlt`
    kMmio,           // an access to guest-physical memory outside RAM
    kShutdown,       // triple fault
    kInternalError,  // KVM could not go on (here: an instruction the
                     // software hypervisor cannot emulate, such as SSE)
    kFailEntry,      // VM entry failed (hardware rejected the vCPU state)
    kInterrupted,    // KVM_RUN returned EINTR: a signal or immediate_exit
    kOther,          // any other exit reason (see exit_reason)
  };
  Kind kind = Kind::kOther;
  uint32_t exit_reason = 0;  // KVM_EXIT_*, raw (0 for kInterrupted)
  uint64_t rip = 0;          // the guest's RIP at the exit (regs().rip)

  // kSyscall, kException, kIo.
  uint16_t port = 0;
  bool io_out = false;
  uint8_t io_size = 0;    // 1, 2 or 4 bytes per item
  uint32_t io_count = 0;  // items (string I/O: more than 1)
  // The first bytes of an `out` (io_data_length of them are valid).
  std::array<uint8_t, 8> io_data{};
  uint8_t io_data_length = 0;

  // kMmio.
  uint64_t mmio_address = 0;  // guest-physical
  bool mmio_write = false;
  uint32_t mmio_length = 0;
  std::array<uint8_t, 8> mmio_data{};  // the bytes of a write

  // kInternalError.
  uint32_t internal_suberror = 0;  // KVM_INTERNAL_ERROR_*
  uint32_t internal_ndata = 0;     // valid words (clamped to the array)
  std::array<uint64_t, 16> internal_data{};

  // kFailEntry.
  uint64_t hardware_entry_failure_reason = 0;  // kFailEntry
};

// What an exception stub reported (guest_stubs.S) plus CR2.
struct ExceptionFrame {
  uint64_t vector = 0;  // 0..31
  uint64_t error_code = 0;
  uint64_t rip = 0;
  uint64_t cs = 0;
  uint64_t rflags = 0;
  uint64_t rsp = 0;
  uint64_t ss = 0;
  uint64_t cr2 = 0;  // the faulting address of a #PF
};

class Vm {
 public:
  // Opens /dev/kvm and builds the VM, ready to run once the caller has set
  // rip and rsp through regs() and MarkRegsDirty(). kUnavailable when KVM
  // or a capability this VMM needs is missing; kInvalidArgument for a bad
  // config.
  static Result<std::unique_ptr<Vm>> Create(const VmConfig& config);

  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;
  ~Vm();

  GuestMemory& memory() { return memory_; }
  const GuestMemory& memory() const { return memory_; }

  // The vCPU's general registers, kept in the kvm_run page by KVM
  // (KVM_CAP_SYNC_REGS): valid after every Run(). After changing them, call
  // MarkRegsDirty() so the next Run() hands them to KVM.
  kvm_regs& regs() { return run_->s.regs.regs; }
  void MarkRegsDirty() { run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS; }

  // Finishes a kSyscall exit as SYSRET would: rax = `result`, resume at rcx
  // with rflags from r11 (only the flags SYSRET restores; bit 1 set).
  void CompleteSyscall(uint64_t result);

  // One KVM_RUN. An error only when the ioctl itself fails; everything the
  // guest does (faults, triple faults, emulation failures) is an exit.
  Result<VcpuExit> Run();

  // Async-signal-safe: the next (or current, once a signal interrupts it)
  // KVM_RUN returns kInterrupted. Stays set until ClearImmediateExit().
  void RequestImmediateExit() {
    __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  }
  void ClearImmediateExit() {
    __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
  }

  // After a kException exit: the stub's frame at regs().rsp, bounds-checked
  // (the guest may have pointed RSP anywhere or lied about the vector:
  // kInternal error, not a crash), and CR2 from the vCPU.
  Result<ExceptionFrame> ReadExceptionFrame();

  // An execve: guest RAM back to zero, the system tables, segment
  // registers and MSRs as Create left them, general registers cleared.
  Status ResetGuest();
  // A forked child ended: the parent's segment registers back (the child
  // ran in ring 0 and may have changed them).
  Result<kvm_sregs> GetSregs();
  Status SetSregs(const kvm_sregs& sregs);
  Result<uint64_t> GetFsBase() { return GetMsr(kMsrFsBase); }
  Result<uint64_t> GetGsBase() { return GetMsr(kMsrGsBase); }
  Status SetFsBase(uint64_t base) { return SetMsr(kMsrFsBase, base); }
  Status SetGsBase(uint64_t base) { return SetMsr(kMsrGsBase, base); }

  int vcpu_fd() const { return vcpu_fd_.get(); }

  // The guest address of the LSTAR entry and of exception vector `v`'s stub.
  static uint64_t SyscallEntryAddress();
  static uint64_t VectorStubAddress(unsigned vector);

 private:
  static constexpr uint32_t kMsrFsBase = 0xC0000100;
  static constexpr uint32_t kMsrGsBase = 0xC0000101;

  // Owns the kvm_run mapping.
  class RunMapping {
   public:
    RunMapping() = default;
    RunMapping(const RunMapping&) = delete;
    RunMapping& operator=(const RunMapping&) = delete;
    ~RunMapping() { Reset(nullptr, 0); }
    // Unmaps the current mapping (if any) and takes `run`.
    void Reset(kvm_run* run, size_t size);
    kvm_run* get() const { return run_; }
    size_t size() const { return size_; }

   private:
    kvm_run* run_ = nullptr;
    size_t size_ = 0;
  };

  Vm(GuestMemory memory, UniqueFd kvm_fd, UniqueFd vm_fd)
      : memory_(std::move(memory)),
        kvm_fd_(std::move(kvm_fd)),
        vm_fd_(std::move(vm_fd)) {}

  Status Initialize(const VmConfig& config);
  Status WriteSystemTables();
  Status SetUpCpuid(bool hide_hypervisor);
  Status SetUpSregs();
  Status SetUpMsrs();
  Result<uint64_t> GetMsr(uint32_t index);
  Status SetMsr(uint32_t index, uint64_t value);
  void DecodeExit(VcpuExit& exit) const;

  // Declared first, so destroyed last: guest RAM is unmapped only after the
  // VM that maps it is gone.
  GuestMemory memory_;
  UniqueFd kvm_fd_;
  UniqueFd vm_fd_;
  UniqueFd vcpu_fd_;
  RunMapping run_mapping_;
  kvm_run* run_ = nullptr;  // run_mapping_.get(), for the hot path
};

// A one-line description of an exit for error messages and reports.
std::string DescribeExit(const VcpuExit& exit);
std::string_view ExitKindName(VcpuExit::Kind kind);

}  // namespace isoscope::kvm

#endif  // ISOSCOPE_BACKENDS_KVM_KVM_VM_H_
