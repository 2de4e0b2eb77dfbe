#include "backends/kvm/guest_signals.h"

#include <signal.h>
#include <sys/ucontext.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "backends/kvm/guest_layout.h"
#include "backends/kvm/guest_memory.h"

namespace isoscope::kvm {
namespace {

// The kernel's x86-64 signal frame (arch/x86/include/asm/sigframe.h,
// uapi/asm/sigcontext.h, uapi/asm-generic/ucontext.h), spelled out so that
// every offset is checked below against the numbers programs rely on.
struct SigContext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2;
  uint64_t fpstate;  // a pointer; NULL: no FPU state saved
  uint64_t reserved1[8];
};

struct StackT {
  uint64_t ss_sp;
  int32_t ss_flags;
  int32_t pad;
  uint64_t ss_size;
};

struct UContext {
  uint64_t uc_flags;
  uint64_t uc_link;
  StackT uc_stack;
  SigContext uc_mcontext;
  uint64_t uc_sigmask;  // the kernel's sigset_t: 64 signals
};

struct SigInfo {
  int32_t signo;
  int32_t errno_value;
  int32_t code;
  int32_t pad;
  uint64_t addr;  // the union's first member for a fault
  uint8_t rest[104];
};

struct RtSigframe {
  uint64_t pretcode;  // sa_restorer: where the handler's `ret` goes
  UContext uc;
  SigInfo info;
};

static_assert(sizeof(SigContext) == 256);
static_assert(offsetof(SigContext, rip) == 128);     // slot 16
static_assert(offsetof(SigContext, eflags) == 136);  // slot 17
static_assert(offsetof(SigContext, cs) == 144);
static_assert(offsetof(SigContext, ss) == 150);
static_assert(offsetof(SigContext, err) == 152);
static_assert(offsetof(SigContext, cr2) == 176);
static_assert(offsetof(SigContext, fpstate) == 184);
static_assert(sizeof(StackT) == 24);
static_assert(offsetof(UContext, uc_stack) == 16);
static_assert(offsetof(UContext, uc_mcontext) == 40);
static_assert(offsetof(UContext, uc_mcontext) + offsetof(SigContext, rip) ==
              168);  // RT_UCONTEXT_RIP in workloads/runtime/rt.h
static_assert(offsetof(UContext, uc_sigmask) == 296);
static_assert(sizeof(UContext) == 304);
static_assert(offsetof(SigInfo, code) == 8);
static_assert(offsetof(SigInfo, addr) == 16);
static_assert(sizeof(SigInfo) == 128);
static_assert(offsetof(RtSigframe, uc) == kSignalFrameUcontext);
static_assert(offsetof(RtSigframe, info) == kSignalFrameSiginfo);
static_assert(sizeof(RtSigframe) == kSignalFrameSize);

// The same offsets as glibc's view of the frame (what a glibc program's
// handler dereferences): ucontext_t and siginfo_t share the kernel's prefix.
static_assert(offsetof(ucontext_t, uc_stack) == offsetof(UContext, uc_stack));
static_assert(offsetof(ucontext_t, uc_mcontext) ==
              offsetof(UContext, uc_mcontext));
static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + REG_RIP * 8 ==
              offsetof(UContext, uc_mcontext) + offsetof(SigContext, rip));
static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + REG_R8 * 8 ==
              offsetof(UContext, uc_mcontext) + offsetof(SigContext, r8));
static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + REG_CR2 * 8 ==
              offsetof(UContext, uc_mcontext) + offsetof(SigContext, cr2));
static_assert(offsetof(ucontext_t, uc_mcontext.fpregs) ==
              offsetof(UContext, uc_mcontext) + offsetof(SigContext, fpstate));
static_assert(offsetof(ucontext_t, uc_sigmask) ==
              offsetof(UContext, uc_sigmask));
static_assert(offsetof(siginfo_t, si_addr) == offsetof(SigInfo, addr));
static_assert(sizeof(siginfo_t) == sizeof(SigInfo));
static_assert(sizeof(stack_t) == sizeof(StackT));

// uc_flags: the saved ss is meaningful and must be restored strictly (a
// 64-bit task); UC_FP_XSTATE is absent because no FPU state is saved.
constexpr uint64_t kUcSigcontextSs = 0x2;
constexpr uint64_t kUcStrictRestoreSs = 0x4;
// Linux's user selectors, what a native program finds in its sigcontext.
constexpr uint16_t kUserCs = 0x33;
constexpr uint16_t kUserDs = 0x2b;

constexpr uint64_t kRedZone = 128;
constexpr uint64_t kFlagsReserved1 = 1ULL << 1;
constexpr uint64_t kFlagsTf = 1ULL << 8;
constexpr uint64_t kFlagsDf = 1ULL << 10;
constexpr uint64_t kFlagsRf = 1ULL << 16;
// FIX_EFLAGS of arch/x86/kernel/signal.c: the flags rt_sigreturn takes
// from the frame (AC OF DF TF SF ZF AF PF CF RF); IF, IOPL, NT, VM, VIF,
// VIP, ID stay as they were.
constexpr uint64_t kFixFlags =
    0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | kFlagsRf;

constexpr int kSignals = 64;
constexpr uint64_t SignalBit(int signal) { return 1ULL << (signal - 1); }
constexpr uint64_t kUnblockable = SignalBit(SIGKILL) | SignalBit(SIGSTOP);

// Page-fault error code bits.
constexpr uint64_t kPfPresent = 1ULL << 0;
constexpr uint64_t kPfUser = 1ULL << 2;
// TASK_SIZE_MAX with 4-level paging: above it, Linux reports every user
// fault as a protection fault so as not to leak the kernel's layout.
constexpr uint64_t kTaskSizeMax = (1ULL << 47) - kPageSize;

constexpr int kSegvCperr = 10;  // SEGV_CPERR, newer than glibc 2.36

// 48-bit canonical: bits 63..47 all equal (the VMM's 4-level paging).
constexpr bool IsCanonical(uint64_t address) {
  const uint64_t top = address >> 47;
  return top == 0 || top == (1ULL << 17) - 1;
}

// Whether [address, address + length) is memory a workload's stack can be
// in: inside RAM, above the system area (page 0 is unmapped for the guest,
// and the VMM's tables are not the workload's to have written for it) and
// outside the stack guard (unmapped: a stack overflow).
bool IsStackMemory(const GuestMemory& memory, uint64_t address,
                   uint64_t length) {
  if (!memory.Contains(address, length) || address < kWorkloadBase) {
    return false;
  }
  if (memory.size() < kMinGuestMemory) return true;  // no guard in the layout
  const StackRegion stack = StackRegionFor(memory.size());
  return address + length <= stack.guard_bottom || address >= stack.bottom;
}

}  // namespace

FaultSignal FaultSignalForVector(uint64_t vector, uint64_t error_code,
                                 uint64_t rip, uint64_t cr2) {
  FaultSignal f{SIGSEGV, SI_KERNEL, 0, error_code, vector};
  switch (vector) {
    case 0:  // #DE
      f.signal = SIGFPE;
      f.code = FPE_INTDIV;
      f.address = rip;
      break;
    case 1:  // #DB
      f.signal = SIGTRAP;
      f.code = TRAP_TRACE;
      f.address = rip;
      break;
    case 3:  // #BP
      f.signal = SIGTRAP;
      break;
    case 6:  // #UD
      f.signal = SIGILL;
      f.code = ILL_ILLOPN;
      f.address = rip;
      break;
    case 9:  // coprocessor segment overrun
      f.signal = SIGFPE;
      break;
    case 11:  // #NP
    case 12:  // #SS
      f.signal = SIGBUS;
      break;
    case 14:  // #PF
      f.code = (error_code & kPfPresent) != 0 ? SEGV_ACCERR : SEGV_MAPERR;
      f.address = cr2;
      f.error_code = error_code | kPfUser;
      if (cr2 >= kTaskSizeMax) f.error_code |= kPfPresent;  // X86_PF_PROT
      break;
    case 16:  // #MF
    case 19:  // #XM
      f.signal = SIGFPE;
      f.code = FPE_FLTINV;
      f.address = rip;
      f.error_code = 0;
      break;
    case 17:  // #AC
      f.signal = SIGBUS;
      f.code = BUS_ADRALN;
      break;
    case 21:  // #CP
      f.code = kSegvCperr;
      break;
    default:  // #GP (13) and everything else
      break;
  }
  return f;
}

std::optional<uint64_t> DeliverFaultSignal(GuestMemory& memory, kvm_regs& regs,
                                           const GuestSignalAction& action,
                                           const FaultSignal& fault,
                                           uint64_t blocked_before,
                                           const GuestAltStack& alt_stack) {
  // x86-64 has no kernel-provided trampoline: without a restorer the
  // handler could not return (Linux fails the frame, then SIGSEGV).
  if ((action.flags & kGuestSaRestorer) == 0) return std::nullopt;
  if (fault.signal < 1 || fault.signal > kSignals) return std::nullopt;
  if (!IsCanonical(action.handler)) return std::nullopt;

  // get_sigframe(): below the red zone, or at the top of the alternate
  // stack when the action asks for it and the workload is not on it yet.
  const bool alt_enabled =
      alt_stack.size != 0 && (alt_stack.flags & kGuestSsDisable) == 0;
  const bool autodisarm = (alt_stack.flags & kGuestSsAutodisarm) != 0;
  const auto within_alt = [&](uint64_t sp) {  // __on_sig_stack()
    return alt_enabled && sp > alt_stack.sp &&
           sp - alt_stack.sp <= alt_stack.size;
  };
  const auto on_alt = [&](uint64_t sp) {  // on_sig_stack()
    return !autodisarm && within_alt(sp);
  };
  const bool nested_altstack = on_alt(regs.rsp);
  bool entering_altstack = false;
  if (regs.rsp < kRedZone) return std::nullopt;
  uint64_t sp = regs.rsp - kRedZone;
  if ((action.flags & kGuestSaOnstack) != 0 && alt_enabled && !on_alt(sp)) {
    if (alt_stack.size > UINT64_MAX - alt_stack.sp) return std::nullopt;
    sp = alt_stack.sp + alt_stack.size;
    entering_altstack = true;
  }
  if (sp < kSignalFrameSize + 16) return std::nullopt;
  // As after a `call`: the handler's RSP + 8 is 16-byte aligned.
  const uint64_t frame = ((sp - kSignalFrameSize) & ~uint64_t{15}) - 8;
  // Overflowing the alternate stack must not spill below it.
  if ((nested_altstack || entering_altstack) && !within_alt(frame)) {
    return std::nullopt;
  }
  if (!IsStackMemory(memory, frame, kSignalFrameSize)) return std::nullopt;

  RtSigframe f{};
  f.pretcode = action.restorer;
  f.uc.uc_flags = kUcSigcontextSs | kUcStrictRestoreSs;
  f.uc.uc_link = 0;
  // The alternate stack exactly as stored (Linux saves sas_ss_flags raw:
  // 0 for a task that never set one), so that rt_sigreturn re-arms one that
  // SS_AUTODISARM disarmed for the handler.
  f.uc.uc_stack.ss_sp = alt_stack.sp;
  f.uc.uc_stack.ss_flags = alt_stack.flags;
  f.uc.uc_stack.ss_size = alt_stack.size;
  SigContext& sc = f.uc.uc_mcontext;
  sc.r8 = regs.r8;
  sc.r9 = regs.r9;
  sc.r10 = regs.r10;
  sc.r11 = regs.r11;
  sc.r12 = regs.r12;
  sc.r13 = regs.r13;
  sc.r14 = regs.r14;
  sc.r15 = regs.r15;
  sc.rdi = regs.rdi;
  sc.rsi = regs.rsi;
  sc.rbp = regs.rbp;
  sc.rbx = regs.rbx;
  sc.rdx = regs.rdx;
  sc.rax = regs.rax;
  sc.rcx = regs.rcx;
  sc.rsp = regs.rsp;
  sc.rip = regs.rip;
  sc.eflags = regs.rflags;
  sc.cs = kUserCs;
  sc.ss = kUserDs;
  sc.err = fault.error_code;
  sc.trapno = fault.trapno;
  sc.oldmask = blocked_before;
  sc.cr2 = fault.trapno == 14 ? fault.address : 0;
  sc.fpstate = 0;
  f.uc.uc_sigmask = blocked_before;
  f.info.signo = fault.signal;
  f.info.errno_value = 0;
  f.info.code = fault.code;
  f.info.addr = fault.address;
  if (!memory.Write(frame, &f, sizeof(f))) return std::nullopt;

  regs.rdi = static_cast<uint64_t>(fault.signal);
  regs.rsi = frame + kSignalFrameSiginfo;
  regs.rdx = frame + kSignalFrameUcontext;
  regs.rax = 0;  // for handlers declared without a prototype (varargs)
  regs.rsp = frame;
  regs.rip = action.handler;
  // Function-entry ABI (DF clear); TF and RF cleared so the handler is not
  // single-stepped into a recursive SIGTRAP, as Linux's handle_signal.
  regs.rflags &= ~(kFlagsDf | kFlagsTf | kFlagsRf);

  uint64_t blocked = blocked_before | action.mask;
  if ((action.flags & kGuestSaNodefer) == 0) {
    blocked |= SignalBit(fault.signal);
  }
  return blocked & ~kUnblockable;
}

std::optional<uint64_t> ReturnFromSignal(const GuestMemory& memory,
                                         kvm_regs& regs,
                                         GuestAltStack* saved_stack) {
  // One read into the VMM's copy; the guest may change its frame
  // afterwards, the copy is what is checked and used.
  UContext uc;
  if (!IsStackMemory(memory, regs.rsp, sizeof(uc)) ||
      !memory.Read(regs.rsp, &uc, sizeof(uc))) {
    return std::nullopt;
  }
  const SigContext& sc = uc.uc_mcontext;
  if (!IsCanonical(sc.rip)) return std::nullopt;

  regs.r8 = sc.r8;
  regs.r9 = sc.r9;
  regs.r10 = sc.r10;
  regs.r11 = sc.r11;
  regs.r12 = sc.r12;
  regs.r13 = sc.r13;
  regs.r14 = sc.r14;
  regs.r15 = sc.r15;
  regs.rdi = sc.rdi;
  regs.rsi = sc.rsi;
  regs.rbp = sc.rbp;
  regs.rbx = sc.rbx;
  regs.rdx = sc.rdx;
  regs.rax = sc.rax;
  regs.rcx = sc.rcx;
  regs.rsp = sc.rsp;
  regs.rip = sc.rip;
  regs.rflags =
      (regs.rflags & ~kFixFlags) | (sc.eflags & kFixFlags) | kFlagsReserved1;
  if (saved_stack != nullptr) {
    *saved_stack = GuestAltStack{uc.uc_stack.ss_sp, uc.uc_stack.ss_flags,
                                 uc.uc_stack.ss_size};
  }
  return uc.uc_sigmask & ~kUnblockable;
}

}  // namespace isoscope::kvm
