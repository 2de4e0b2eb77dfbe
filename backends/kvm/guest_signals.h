// Delivering a synchronous fault (#PF, #UD, #DE, #BP, #GP, ...) of the KVM
// guest to the workload's own signal handler, and rt_sigreturn, the way
// Linux x86-64 does for a user process: an rt_sigframe (pretcode, ucontext,
// siginfo) on the guest's stack, laid out byte for byte as the kernel's, so
// a handler that reads or rewrites the saved registers through its ucontext
// (glibc's ucontext_t, or RT_UCONTEXT_RIP in workloads/runtime/rt.h) works
// unchanged.
//
// Pure functions over GuestMemory and a kvm_regs value: they decide
// nothing (the policy chose "deliver"), touch no KVM fd, allocate nothing.
//
// The guest is hostile. Its stack pointer, alternate stack and the frame it
// hands back to rt_sigreturn are checked with overflow-safe arithmetic
// against the memory a workload's stack may occupy (inside RAM, not in the
// system area below kWorkloadBase, not in the unmapped stack guard); the
// frame is read once into a VMM copy and only the copy is used.
//
// Known differences from Linux, all deliberate:
//  - No FPU/SSE state is saved: sigcontext.fpstate is NULL and uc_flags
//    lacks UC_FP_XSTATE (the guest cannot run SSE here; x87 state is left
//    as it is across the handler).
//  - The saved cs/ss are Linux's user selectors (0x33/0x2b), what the
//    program would see natively, not the guest's ring-0 ones; rt_sigreturn
//    ignores them (segments are the VMM's).
//  - A handler or restored RIP that is not canonical fails (nullopt, the
//    backend kills with SIGSEGV) instead of faulting on the return to user
//    mode.
#ifndef ISOSCOPE_BACKENDS_KVM_GUEST_SIGNALS_H_
#define ISOSCOPE_BACKENDS_KVM_GUEST_SIGNALS_H_

#include <linux/kvm.h>

#include <cstdint>
#include <optional>

#include "backends/kvm/guest_memory.h"

namespace isoscope::kvm {

// sa_flags bits of the Linux x86-64 ABI that delivery reads.
inline constexpr uint64_t kGuestSaOnstack = 0x08000000;
inline constexpr uint64_t kGuestSaRestorer = 0x04000000;
inline constexpr uint64_t kGuestSaNodefer = 0x40000000;
// ss_flags of stack_t.
inline constexpr int32_t kGuestSsOnstack = 1;
inline constexpr int32_t kGuestSsDisable = 2;
inline constexpr int32_t kGuestSsAutodisarm = INT32_MIN;  // 1U << 31

// The size of the frame on the guest's stack and where its parts are, from
// the frame's address (what the handler finds at its RSP).
inline constexpr uint64_t kSignalFrameSize = 440;
inline constexpr uint64_t kSignalFrameUcontext = 8;
inline constexpr uint64_t kSignalFrameSiginfo = 312;

// A handler as rt_sigaction stored it (the kernel's struct k_sigaction on
// x86-64: handler, flags, restorer, mask).
struct GuestSignalAction {
  uint64_t handler = 0;
  uint64_t flags = 0;
  uint64_t restorer = 0;
  uint64_t mask = 0;
};

// The alternate signal stack as sigaltstack stored it (the kernel's
// sas_ss_sp, sas_ss_flags, sas_ss_size): disabled when size is 0 (or flags
// has SS_DISABLE); SS_AUTODISARM in flags. The default is a task's that
// never called sigaltstack. Saved raw into uc_stack, as Linux does.
struct GuestAltStack {
  uint64_t sp = 0;
  int32_t flags = 0;
  uint64_t size = 0;
};

// What a fault becomes: the siginfo and the sigcontext's err and trapno.
struct FaultSignal {
  int signal = 0;
  int code = 0;          // si_code
  uint64_t address = 0;  // si_addr
  uint64_t error_code = 0;
  uint64_t trapno = 0;  // the vector; sigcontext.cr2 = address for #PF (14)
};

// The signal Linux sends a user process for exception `vector`:
//   0 #DE         SIGFPE  FPE_INTDIV   at rip
//   1 #DB         SIGTRAP TRAP_TRACE   at rip (Linux picks the code from
//                 DR6, which the VMM does not have: TRAP_TRACE is what a
//                 TF single-step gets; icebp would get TRAP_BRKPT)
//   3 #BP         SIGTRAP SI_KERNEL    address 0 (do_int3_user -> do_trap
//                 with no siginfo -> force_sig)
//   6 #UD         SIGILL  ILL_ILLOPN   at rip
//  13 #GP         SIGSEGV SI_KERNEL    address 0
//  14 #PF         SIGSEGV SEGV_MAPERR, or SEGV_ACCERR when the error code's
//                 P bit is set, at cr2; err gets X86_PF_USER (the fault was
//                 the user's), and X86_PF_PROT above the user address space
//  16 #MF, 19 #XM SIGFPE  FPE_FLTINV   at rip (Linux derives the code from
//                 the FPU status, which the VMM does not read)
//  17 #AC         SIGBUS  BUS_ADRALN   address 0
//   9             SIGFPE  SI_KERNEL;  11 #NP, 12 #SS: SIGBUS SI_KERNEL
//  21 #CP         SIGSEGV SEGV_CPERR   address 0
//  anything else  SIGSEGV SI_KERNEL    address 0
// `rip` is the faulting instruction's (for #BP and #DB, the one after).
FaultSignal FaultSignalForVector(uint64_t vector, uint64_t error_code,
                                 uint64_t rip, uint64_t cr2);

// Delivers `fault` to the handler `action` (which the caller looked up: not
// SIG_DFL or SIG_IGN, and the signal not blocked in `blocked_before`; Linux
// kills with the signal itself in those cases). `regs` is the interrupted
// context (the faulting rip, the workload's rsp and rflags, not the stub's).
//
// Builds the rt_sigframe below regs.rsp (after the 128-byte red zone, or at
// the top of the alternate stack for SA_ONSTACK when not already on it),
// at an address that is 8 mod 16 as after a call, writes it, and sets rip =
// handler, rsp = frame, rdi = signal, rsi = &siginfo, rdx = &ucontext, rax
// = 0 and clears DF, TF and RF. uc_sigmask = blocked_before.
//
// Returns the blocked mask while the handler runs (blocked_before |
// action.mask | the signal unless SA_NODEFER; never SIGKILL or SIGSTOP), or
// nullopt, leaving `regs` unchanged, when the frame cannot be written (the
// stack outside the workload's memory, or overflowing the alternate stack),
// the action has no SA_RESTORER, or the handler address is not canonical:
// Linux then kills with SIGSEGV. After a delivery the caller disarms an
// alternate stack that has SS_AUTODISARM, as Linux does.
std::optional<uint64_t> DeliverFaultSignal(GuestMemory& memory, kvm_regs& regs,
                                           const GuestSignalAction& action,
                                           const FaultSignal& fault,
                                           uint64_t blocked_before,
                                           const GuestAltStack& alt_stack = {});

// rt_sigreturn (syscall 15): the ucontext is at regs.rsp (the restorer's
// `ret` popped pretcode). `regs.rflags` must be the workload's flags at the
// syscall (R11), not the stub's. Reads the ucontext once, restores every
// general register, rip, rsp, and the flags a user may change (Linux's
// FIX_EFLAGS: AC OF DF TF SF ZF AF PF CF RF; IF and the rest stay as they
// were), and returns the restored signal mask (uc_sigmask without SIGKILL
// and SIGSTOP). The caller resumes the vCPU with exactly these registers
// (not through the syscall return, which would set rip from rcx and rax
// from a result) and, when `saved_stack` is given, gets uc_stack there to
// apply as sigaltstack would (errors ignored, as Linux's restore_altstack).
// nullopt, leaving `regs` unchanged, when the ucontext is not readable or
// the restored rip is not canonical: the backend kills with SIGSEGV.
std::optional<uint64_t> ReturnFromSignal(const GuestMemory& memory,
                                         kvm_regs& regs,
                                         GuestAltStack* saved_stack = nullptr);

}  // namespace isoscope::kvm

#endif  // ISOSCOPE_BACKENDS_KVM_GUEST_SIGNALS_H_
