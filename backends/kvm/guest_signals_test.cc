#include "backends/kvm/guest_signals.h"

#include <linux/kvm.h>
#include <signal.h>
#include <sys/ucontext.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "backends/kvm/guest_layout.h"
#include "backends/kvm/guest_memory.h"

namespace isoscope::kvm {
namespace {

constexpr uint64_t kMemorySize = 16ULL << 20;
constexpr StackRegion kStack = StackRegionFor(kMemorySize);
// A stack pointer in the middle of the stack, deliberately misaligned.
constexpr uint64_t kRsp = kStack.top - 0x10000 + 0x38;
constexpr uint64_t kHandler = 0x401230;
constexpr uint64_t kRestorer = 0x401100;
constexpr uint64_t kFaultRip = 0x402468;

// Offsets from the frame's address, written out as numbers (not taken from
// the implementation's structs) so a layout mistake fails here.
constexpr uint64_t kUc = 8;
constexpr uint64_t kMcontext = kUc + 40;
constexpr uint64_t kSavedRsp = kMcontext + 120;
constexpr uint64_t kSavedRip = kUc + 168;  // RT_UCONTEXT_RIP
constexpr uint64_t kSavedFlags = kMcontext + 136;
constexpr uint64_t kSigmask = kUc + 296;
constexpr uint64_t kInfo = 8 + 304;

constexpr uint64_t Bit(int signal) { return 1ULL << (signal - 1); }

class GuestSignalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = GuestMemory::Create(kMemorySize);
    ASSERT_TRUE(memory.has_value()) << memory.error().ToString();
    memory_.emplace(std::move(*memory));
    // Distinct values in every register, so a swapped pair shows.
    regs_.rax = 0x1111;
    regs_.rbx = 0x2222;
    regs_.rcx = 0x3333;
    regs_.rdx = 0x4444;
    regs_.rsi = 0x5555;
    regs_.rdi = 0x6666;
    regs_.rbp = 0x7777;
    regs_.r8 = 0x8888;
    regs_.r9 = 0x9999;
    regs_.r10 = 0xaaaa;
    regs_.r11 = 0xbbbb;
    regs_.r12 = 0xcccc;
    regs_.r13 = 0xdddd;
    regs_.r14 = 0xeeee;
    regs_.r15 = 0xffff;
    regs_.rsp = kRsp;
    regs_.rip = kFaultRip;
    regs_.rflags = 0x202 | 0x400 | 0x100 | 0x10000 | 0x1;  // IF DF TF RF CF
    action_.handler = kHandler;
    action_.flags = SA_SIGINFO | kGuestSaRestorer;
    action_.restorer = kRestorer;
  }

  GuestMemory& memory() { return *memory_; }
  uint64_t U64(uint64_t address) {
    auto value = memory_->ReadValue<uint64_t>(address);
    EXPECT_TRUE(value.has_value()) << std::hex << address;
    return value.value_or(0xdeadbeef);
  }
  int32_t I32(uint64_t address) {
    auto value = memory_->ReadValue<int32_t>(address);
    EXPECT_TRUE(value.has_value()) << std::hex << address;
    return value.value_or(-12345);
  }

  std::optional<GuestMemory> memory_;
  kvm_regs regs_{};
  GuestSignalAction action_;
  FaultSignal segv_ = FaultSignalForVector(14, 0x6, kFaultRip, 0xdead000);
};

TEST(FaultSignalForVectorTest, MatchesLinuxTraps) {
  struct Case {
    uint64_t vector;
    int signal;
    int code;
    uint64_t address;
  };
  constexpr uint64_t kRip = 0x401000;
  constexpr uint64_t kCr2 = 0x7000;
  const Case cases[] = {
      {0, SIGFPE, FPE_INTDIV, kRip},
      {1, SIGTRAP, TRAP_TRACE, kRip},
      {3, SIGTRAP, SI_KERNEL, 0},
      {4, SIGSEGV, SI_KERNEL, 0},
      {6, SIGILL, ILL_ILLOPN, kRip},
      {7, SIGSEGV, SI_KERNEL, 0},
      {9, SIGFPE, SI_KERNEL, 0},
      {10, SIGSEGV, SI_KERNEL, 0},
      {11, SIGBUS, SI_KERNEL, 0},
      {12, SIGBUS, SI_KERNEL, 0},
      {13, SIGSEGV, SI_KERNEL, 0},
      {14, SIGSEGV, SEGV_MAPERR, kCr2},
      {16, SIGFPE, FPE_FLTINV, kRip},
      {17, SIGBUS, BUS_ADRALN, 0},
      {18, SIGSEGV, SI_KERNEL, 0},
      {19, SIGFPE, FPE_FLTINV, kRip},
      {21, SIGSEGV, 10 /* SEGV_CPERR */, 0},
      {31, SIGSEGV, SI_KERNEL, 0},
      {255, SIGSEGV, SI_KERNEL, 0},
  };
  for (const Case& c : cases) {
    const FaultSignal f = FaultSignalForVector(c.vector, 0, kRip, kCr2);
    EXPECT_EQ(f.signal, c.signal) << "vector " << c.vector;
    EXPECT_EQ(f.code, c.code) << "vector " << c.vector;
    EXPECT_EQ(f.address, c.address) << "vector " << c.vector;
    EXPECT_EQ(f.trapno, c.vector);
  }
}

TEST(FaultSignalForVectorTest, PageFaultCodeAndErrorBits) {
  // Not present: MAPERR; the error code gains the user bit, as Linux's.
  FaultSignal f = FaultSignalForVector(14, 0x2, 0x401000, 0x5000);
  EXPECT_EQ(f.code, SEGV_MAPERR);
  EXPECT_EQ(f.error_code, 0x6u);
  // Present (a protection fault): ACCERR.
  f = FaultSignalForVector(14, 0x3, 0x401000, 0x5000);
  EXPECT_EQ(f.code, SEGV_ACCERR);
  EXPECT_EQ(f.error_code, 0x7u);
  // Above the user address space: reported as a protection fault.
  f = FaultSignalForVector(14, 0x0, 0x401000, 0xffff800000000000);
  EXPECT_EQ(f.code, SEGV_MAPERR);
  EXPECT_EQ(f.error_code, 0x5u);
  EXPECT_EQ(f.address, 0xffff800000000000);
  // #GP keeps its selector error code.
  EXPECT_EQ(FaultSignalForVector(13, 0x18, 0, 0).error_code, 0x18u);
}

TEST_F(GuestSignalsTest, FrameLayoutMatchesLinux) {
  const kvm_regs before = regs_;
  auto blocked = DeliverFaultSignal(memory(), regs_, action_, segv_, 0);
  ASSERT_TRUE(blocked.has_value());
  const uint64_t frame = regs_.rsp;

  // Alignment as after a call, below the red zone.
  EXPECT_EQ((frame + 8) % 16, 0u);
  EXPECT_LE(frame + kSignalFrameSize, before.rsp - 128);
  EXPECT_GT(frame + kSignalFrameSize + 24, before.rsp - 128);

  EXPECT_EQ(U64(frame), kRestorer);      // pretcode
  EXPECT_EQ(U64(frame + kUc), 0x6u);     // UC_SIGCONTEXT_SS|STRICT_RESTORE
  EXPECT_EQ(U64(frame + kUc + 8), 0u);   // uc_link
  EXPECT_EQ(U64(frame + kUc + 16), 0u);  // ss_sp
  EXPECT_EQ(I32(frame + kUc + 24), 0);   // never set: raw 0, as Linux
  EXPECT_EQ(U64(frame + kUc + 32), 0u);  // ss_size
  const uint64_t expected_gprs[] = {
      before.r8,  before.r9,  before.r10,   before.r11, before.r12,
      before.r13, before.r14, before.r15,   before.rdi, before.rsi,
      before.rbp, before.rbx, before.rdx,   before.rax, before.rcx,
      before.rsp, before.rip, before.rflags};
  for (size_t i = 0; i < std::size(expected_gprs); ++i) {
    EXPECT_EQ(U64(frame + kMcontext + 8 * i), expected_gprs[i]) << "slot " << i;
  }
  EXPECT_EQ(U64(frame + kSavedRip), kFaultRip);
  EXPECT_EQ(U64(frame + kSavedRsp), kRsp);
  auto selectors =
      memory().ReadValue<std::array<uint16_t, 4>>(frame + kMcontext + 144);
  ASSERT_TRUE(selectors.has_value());
  EXPECT_EQ((*selectors)[0], 0x33);                     // cs
  EXPECT_EQ((*selectors)[3], 0x2b);                     // ss
  EXPECT_EQ(U64(frame + kMcontext + 152), 0x6u);        // err (| user bit)
  EXPECT_EQ(U64(frame + kMcontext + 160), 14u);         // trapno
  EXPECT_EQ(U64(frame + kMcontext + 176), 0xdead000u);  // cr2
  EXPECT_EQ(U64(frame + kMcontext + 184), 0u);          // fpstate: none
  EXPECT_EQ(U64(frame + kSigmask), 0u);
  EXPECT_EQ(I32(frame + kInfo), SIGSEGV);
  EXPECT_EQ(I32(frame + kInfo + 4), 0);  // si_errno
  EXPECT_EQ(I32(frame + kInfo + 8), SEGV_MAPERR);
  EXPECT_EQ(U64(frame + kInfo + 16), 0xdead000u);  // si_addr

  // The handler's entry registers.
  EXPECT_EQ(regs_.rip, kHandler);
  EXPECT_EQ(regs_.rdi, static_cast<uint64_t>(SIGSEGV));
  EXPECT_EQ(regs_.rsi, frame + kInfo);
  EXPECT_EQ(regs_.rdx, frame + kUc);
  EXPECT_EQ(regs_.rax, 0u);
  EXPECT_EQ(regs_.rflags, 0x203u);  // DF, TF, RF cleared; IF, CF kept
  EXPECT_EQ(regs_.rbx, before.rbx);
  EXPECT_EQ(regs_.r15, before.r15);
  EXPECT_EQ(*blocked, Bit(SIGSEGV));
}

TEST_F(GuestSignalsTest, GlibcSeesTheSameFrame) {
  // A glibc program's handler reads the frame through ucontext_t and
  // siginfo_t: copy the frame out and look at it through those types.
  ASSERT_TRUE(DeliverFaultSignal(memory(), regs_, action_, segv_, 0));
  std::vector<uint8_t> bytes(kSignalFrameSize);
  ASSERT_TRUE(memory().Read(regs_.rsp, bytes.data(), bytes.size()));
  ucontext_t uc{};
  std::memcpy(&uc, bytes.data() + (regs_.rdx - regs_.rsp),
              kSignalFrameSize - 8);  // the kernel's ucontext is shorter
  siginfo_t info{};
  std::memcpy(&info, bytes.data() + (regs_.rsi - regs_.rsp), sizeof(info));
  EXPECT_EQ(static_cast<uint64_t>(uc.uc_mcontext.gregs[REG_RIP]), kFaultRip);
  EXPECT_EQ(static_cast<uint64_t>(uc.uc_mcontext.gregs[REG_RSP]), kRsp);
  EXPECT_EQ(static_cast<uint64_t>(uc.uc_mcontext.gregs[REG_RBX]), 0x2222u);
  EXPECT_EQ(static_cast<uint64_t>(uc.uc_mcontext.gregs[REG_R8]), 0x8888u);
  EXPECT_EQ(uc.uc_mcontext.gregs[REG_TRAPNO], 14);
  EXPECT_EQ(uc.uc_mcontext.gregs[REG_ERR], 6);
  EXPECT_EQ(static_cast<uint64_t>(uc.uc_mcontext.gregs[REG_CR2]), 0xdead000u);
  EXPECT_EQ(uc.uc_mcontext.fpregs, nullptr);
  EXPECT_EQ(uc.uc_stack.ss_flags, 0);
  EXPECT_EQ(info.si_signo, SIGSEGV);
  EXPECT_EQ(info.si_code, SEGV_MAPERR);
  EXPECT_EQ(reinterpret_cast<uint64_t>(info.si_addr), 0xdead000u);
}

TEST_F(GuestSignalsTest, AlignmentAndRedZoneForEveryLowBitPattern) {
  for (uint64_t low = 0; low < 32; ++low) {
    kvm_regs regs = regs_;
    regs.rsp = kRsp - 0x38 + low;
    ASSERT_TRUE(DeliverFaultSignal(memory(), regs, action_, segv_, 0)) << low;
    EXPECT_EQ((regs.rsp + 8) % 16, 0u) << low;
    EXPECT_LE(regs.rsp + kSignalFrameSize, kRsp - 0x38 + low - 128) << low;
  }
}

TEST_F(GuestSignalsTest, HandlerRewritesRipAndSigreturnRestoresAll) {
  const kvm_regs before = regs_;
  ASSERT_TRUE(DeliverFaultSignal(memory(), regs_, action_, segv_, 0));
  const uint64_t frame = regs_.rsp;
  // The handler (fault-map's on_fault) sets RT_UCONTEXT_RIP(uc) and
  // clobbers registers; its `ret` then pops pretcode into rip.
  constexpr uint64_t kResume = 0x40246b;
  ASSERT_TRUE(memory().WriteValue<uint64_t>(regs_.rdx + 168, kResume));
  regs_ = kvm_regs{};
  regs_.rsp = frame + 8;
  regs_.rip = kRestorer + 7;
  regs_.rax = 15;
  regs_.rflags = 0x202;  // R11 at the syscall: the handler's flags

  auto mask = ReturnFromSignal(memory(), regs_);
  ASSERT_TRUE(mask.has_value());
  EXPECT_EQ(*mask, 0u);
  EXPECT_EQ(regs_.rip, kResume);
  EXPECT_EQ(regs_.rsp, before.rsp);
  EXPECT_EQ(regs_.rax, before.rax);
  EXPECT_EQ(regs_.rbx, before.rbx);
  EXPECT_EQ(regs_.rcx, before.rcx);
  EXPECT_EQ(regs_.rdx, before.rdx);
  EXPECT_EQ(regs_.rsi, before.rsi);
  EXPECT_EQ(regs_.rdi, before.rdi);
  EXPECT_EQ(regs_.rbp, before.rbp);
  EXPECT_EQ(regs_.r8, before.r8);
  EXPECT_EQ(regs_.r9, before.r9);
  EXPECT_EQ(regs_.r10, before.r10);
  EXPECT_EQ(regs_.r11, before.r11);
  EXPECT_EQ(regs_.r12, before.r12);
  EXPECT_EQ(regs_.r13, before.r13);
  EXPECT_EQ(regs_.r14, before.r14);
  EXPECT_EQ(regs_.r15, before.r15);
  // The interrupted flags come back (DF TF RF CF are user flags).
  EXPECT_EQ(regs_.rflags, before.rflags);
}

TEST_F(GuestSignalsTest, SigreturnSanitizesFlags) {
  ASSERT_TRUE(DeliverFaultSignal(memory(), regs_, action_, segv_, 0));
  const uint64_t frame = regs_.rsp;
  // IOPL 3, NT, VM, VIF, VIP, ID and a cleared IF and bit 1, plus the user
  // flags ZF, AC and OF.
  const uint64_t hostile = 0x3000 | 0x4000 | 0x20000 | 0x80000 | 0x100000 |
                           0x200000 | 0x40 | 0x40000 | 0x800;
  ASSERT_TRUE(memory().WriteValue<uint64_t>(frame + kSavedFlags, hostile));
  regs_.rsp = frame + 8;
  regs_.rflags = 0x202;
  ASSERT_TRUE(ReturnFromSignal(memory(), regs_));
  EXPECT_EQ(regs_.rflags, 0x202u | 0x40 | 0x40000 | 0x800);

  // IF stays as it was even when the frame sets it.
  ASSERT_TRUE(memory().WriteValue<uint64_t>(frame + kSavedFlags, 0x246));
  regs_.rsp = frame + 8;
  regs_.rflags = 0x2;
  ASSERT_TRUE(ReturnFromSignal(memory(), regs_));
  EXPECT_EQ(regs_.rflags, 0x46u);
}

TEST_F(GuestSignalsTest, MaskRoundTrip) {
  const uint64_t before = Bit(SIGUSR1) | Bit(SIGALRM);
  action_.mask = Bit(SIGUSR2);
  auto blocked = DeliverFaultSignal(memory(), regs_, action_, segv_, before);
  ASSERT_TRUE(blocked.has_value());
  EXPECT_EQ(*blocked, before | Bit(SIGUSR2) | Bit(SIGSEGV));
  const uint64_t frame = regs_.rsp;
  EXPECT_EQ(U64(frame + kSigmask), before);
  EXPECT_EQ(U64(frame + kMcontext + 168), before);  // oldmask

  regs_.rsp = frame + 8;
  auto restored = ReturnFromSignal(memory(), regs_);
  ASSERT_TRUE(restored.has_value());
  EXPECT_EQ(*restored, before);

  // A handler may change uc_sigmask; SIGKILL and SIGSTOP never stick.
  ASSERT_TRUE(memory().WriteValue<uint64_t>(frame + kSigmask, ~0ULL));
  regs_.rsp = frame + 8;
  restored = ReturnFromSignal(memory(), regs_);
  ASSERT_TRUE(restored.has_value());
  EXPECT_EQ(*restored, ~(Bit(SIGKILL) | Bit(SIGSTOP)));
}

TEST_F(GuestSignalsTest, NodeferAndUnblockableMask) {
  action_.flags |= SA_NODEFER;
  action_.mask = Bit(SIGKILL) | Bit(SIGSTOP) | Bit(SIGHUP);
  auto blocked = DeliverFaultSignal(memory(), regs_, action_, segv_, 0);
  ASSERT_TRUE(blocked.has_value());
  EXPECT_EQ(*blocked, Bit(SIGHUP));
}

TEST_F(GuestSignalsTest, WithoutRestorerFails) {
  action_.flags = SA_SIGINFO;
  const kvm_regs before = regs_;
  EXPECT_FALSE(DeliverFaultSignal(memory(), regs_, action_, segv_, 0));
  EXPECT_EQ(std::memcmp(&regs_, &before, sizeof(before)), 0);
}

TEST_F(GuestSignalsTest, NonCanonicalHandlerOrSignalFails) {
  action_.handler = 0x0000800000000000;
  EXPECT_FALSE(DeliverFaultSignal(memory(), regs_, action_, segv_, 0));
  action_.handler = kHandler;
  FaultSignal bad = segv_;
  bad.signal = 0;
  EXPECT_FALSE(DeliverFaultSignal(memory(), regs_, action_, bad, 0));
  bad.signal = 65;
  EXPECT_FALSE(DeliverFaultSignal(memory(), regs_, action_, bad, 0));
  EXPECT_EQ(regs_.rip, kFaultRip);
}

TEST_F(GuestSignalsTest, HostileStackPointersFailWithoutWriting) {
  const uint64_t cases[] = {
      0,
      8,
      127,
      600,
      0x1000,                        // the system area
      kWorkloadBase + 128 + 100,     // the frame would dip below it
      kStack.bottom + 128 + 100,     // the frame would reach the guard
      kStack.guard_bottom + 0x1000,  // inside the guard
      kMemorySize + 128 + 200,       // the frame straddles RAM's end
      kMemorySize + 0x10000,
      0x8000000000000000,
      UINT64_MAX,
      UINT64_MAX - 127,
  };
  for (const uint64_t rsp : cases) {
    kvm_regs regs = regs_;
    regs.rsp = rsp;
    const kvm_regs before = regs;
    EXPECT_FALSE(DeliverFaultSignal(memory(), regs, action_, segv_, 0))
        << std::hex << rsp;
    EXPECT_EQ(std::memcmp(&regs, &before, sizeof(before)), 0)
        << std::hex << rsp;
  }
  // Nothing was written anywhere: RAM is still all zero where backed.
  EXPECT_EQ(memory().ResidentBytes(), 0u);
}

TEST_F(GuestSignalsTest, HighestAndLowestValidFrames) {
  // The top of the stack (RAM's end) and the bottom of the workload area.
  kvm_regs top = regs_;
  top.rsp = kMemorySize;
  ASSERT_TRUE(DeliverFaultSignal(memory(), top, action_, segv_, 0));
  EXPECT_LE(top.rsp + kSignalFrameSize, kMemorySize - 128);
  kvm_regs low = regs_;
  low.rsp = kWorkloadBase + 128 + kSignalFrameSize + 24;
  ASSERT_TRUE(DeliverFaultSignal(memory(), low, action_, segv_, 0));
  EXPECT_GE(low.rsp, kWorkloadBase);
}

TEST_F(GuestSignalsTest, SigreturnWithWildStackFails) {
  const uint64_t cases[] = {0,
                            0x1000,
                            kStack.guard_bottom,
                            kStack.bottom - 8,  // straddles the guard
                            kMemorySize - 303,  // straddles RAM's end
                            kMemorySize,
                            UINT64_MAX,
                            UINT64_MAX - 300};
  for (const uint64_t rsp : cases) {
    kvm_regs regs = regs_;
    regs.rsp = rsp;
    const kvm_regs before = regs;
    EXPECT_FALSE(ReturnFromSignal(memory(), regs)) << std::hex << rsp;
    EXPECT_EQ(std::memcmp(&regs, &before, sizeof(before)), 0);
  }
  // The last ucontext that fits is readable.
  kvm_regs regs = regs_;
  regs.rsp = kMemorySize - 304;
  ASSERT_TRUE(memory().WriteValue<uint64_t>(kMemorySize - 304 + 168, 0x401000));
  EXPECT_TRUE(ReturnFromSignal(memory(), regs));
  EXPECT_EQ(regs.rip, 0x401000u);
}

TEST_F(GuestSignalsTest, SigreturnToNonCanonicalRipFails) {
  ASSERT_TRUE(DeliverFaultSignal(memory(), regs_, action_, segv_, 0));
  const uint64_t frame = regs_.rsp;
  ASSERT_TRUE(
      memory().WriteValue<uint64_t>(frame + kSavedRip, 0x1234000000000000));
  regs_.rsp = frame + 8;
  EXPECT_FALSE(ReturnFromSignal(memory(), regs_));
  // Kernel-half canonical addresses are canonical: the guest may go there
  // (it is ring 0 anyway; they are outside RAM and fault).
  ASSERT_TRUE(
      memory().WriteValue<uint64_t>(frame + kSavedRip, 0xffffffffff600000));
  EXPECT_TRUE(ReturnFromSignal(memory(), regs_));
}

TEST_F(GuestSignalsTest, AlternateStack) {
  constexpr uint64_t kAltSp = kWorkloadBase + 0x100000;
  constexpr uint64_t kAltSize = 0x4000;
  const GuestAltStack alt{kAltSp, 0, kAltSize};
  action_.flags |= kGuestSaOnstack;

  // Entering: the frame sits at the top of the alternate stack.
  kvm_regs regs = regs_;
  ASSERT_TRUE(DeliverFaultSignal(memory(), regs, action_, segv_, 0, alt));
  EXPECT_GT(regs.rsp, kAltSp + kAltSize - kSignalFrameSize - 32);
  EXPECT_LE(regs.rsp + kSignalFrameSize, kAltSp + kAltSize);
  EXPECT_EQ((regs.rsp + 8) % 16, 0u);
  EXPECT_EQ(U64(regs.rdx + 16), kAltSp);
  EXPECT_EQ(I32(regs.rdx + 24), 0);
  EXPECT_EQ(U64(regs.rdx + 32), kAltSize);
  EXPECT_EQ(U64(regs.rdx + 40 + 120), kRsp);  // the interrupted rsp

  // Nested (a fault inside the handler): below the current rsp.
  kvm_regs nested = regs;
  nested.rsp = regs.rsp - 64;
  const uint64_t nested_sp = nested.rsp;
  ASSERT_TRUE(DeliverFaultSignal(memory(), nested, action_, segv_, 0, alt));
  EXPECT_LE(nested.rsp + kSignalFrameSize, nested_sp - 128);

  // Overflowing it: the frame would leave the alternate stack.
  kvm_regs overflow = regs_;
  overflow.rsp = kAltSp + 128 + 256;
  EXPECT_FALSE(DeliverFaultSignal(memory(), overflow, action_, segv_, 0, alt));

  // Without SA_ONSTACK, or disabled, the normal stack is used.
  kvm_regs plain = regs_;
  action_.flags &= ~kGuestSaOnstack;
  ASSERT_TRUE(DeliverFaultSignal(memory(), plain, action_, segv_, 0, alt));
  EXPECT_GT(plain.rsp, kStack.bottom);
  action_.flags |= kGuestSaOnstack;
  plain = regs_;
  ASSERT_TRUE(DeliverFaultSignal(memory(), plain, action_, segv_, 0,
                                 GuestAltStack{kAltSp, kGuestSsDisable, 0}));
  EXPECT_GT(plain.rsp, kStack.bottom);
}

TEST_F(GuestSignalsTest, DisabledAlternateStackIsSavedAsStored) {
  // After sigaltstack(SS_DISABLE) Linux stores {0, SS_DISABLE, 0} and the
  // frame shows that; SA_ONSTACK then uses the normal stack.
  action_.flags |= kGuestSaOnstack;
  ASSERT_TRUE(DeliverFaultSignal(memory(), regs_, action_, segv_, 0,
                                 GuestAltStack{0, kGuestSsDisable, 0}));
  EXPECT_GT(regs_.rsp, kStack.bottom);
  EXPECT_EQ(I32(regs_.rdx + 24), SS_DISABLE);
}

TEST_F(GuestSignalsTest, AlternateStackWithAutodisarm) {
  constexpr uint64_t kAltSp = kWorkloadBase + 0x100000;
  constexpr uint64_t kAltSize = 0x4000;
  const GuestAltStack alt{kAltSp, kGuestSsAutodisarm, kAltSize};
  action_.flags |= kGuestSaOnstack;
  kvm_regs regs = regs_;
  ASSERT_TRUE(DeliverFaultSignal(memory(), regs, action_, segv_, 0, alt));
  EXPECT_EQ(I32(regs.rdx + 24), kGuestSsAutodisarm);
  // With SS_AUTODISARM a fault on the alternate stack starts it over (the
  // caller disarmed it; re-armed here it does not count as "on it").
  kvm_regs again = regs;
  ASSERT_TRUE(DeliverFaultSignal(memory(), again, action_, segv_, 0, alt));
  EXPECT_EQ(again.rsp, regs.rsp);

  // rt_sigreturn hands uc_stack back for sigaltstack to re-arm.
  regs.rsp += 8;
  GuestAltStack saved;
  ASSERT_TRUE(ReturnFromSignal(memory(), regs, &saved));
  EXPECT_EQ(saved.sp, kAltSp);
  EXPECT_EQ(saved.size, kAltSize);
  EXPECT_EQ(saved.flags, kGuestSsAutodisarm);
}

TEST_F(GuestSignalsTest, AlternateStackWrappingFails) {
  action_.flags |= kGuestSaOnstack;
  const GuestAltStack wraps[] = {
      {UINT64_MAX - 0x100, 0, 0x1000},
      {kMemorySize - 0x100, 0, 0x1000},  // top beyond RAM
      {0, 0, 0x400},                     // frame would be in page 0
  };
  for (const GuestAltStack& alt : wraps) {
    kvm_regs regs = regs_;
    EXPECT_FALSE(DeliverFaultSignal(memory(), regs, action_, segv_, 0, alt))
        << std::hex << alt.sp;
    EXPECT_EQ(regs.rsp, kRsp);
  }
}

TEST_F(GuestSignalsTest, RandomRegistersNeverEscapeRam) {
  std::mt19937_64 random(20240611);
  const uint64_t interesting[] = {0,
                                  1,
                                  128,
                                  kWorkloadBase,
                                  kStack.guard_bottom,
                                  kStack.bottom,
                                  kMemorySize,
                                  UINT64_MAX};
  int delivered = 0;
  for (int i = 0; i < 20000; ++i) {
    kvm_regs regs = regs_;
    auto pick = [&] {
      const uint64_t base = interesting[random() % std::size(interesting)];
      switch (random() % 3) {
        case 0:
          return base + (random() % 2048) - 1024;
        case 1:
          return static_cast<uint64_t>(random());
        default:
          return random() % (kMemorySize + 4096);
      }
    };
    regs.rsp = pick();
    GuestAltStack alt{
        pick(),
        static_cast<int32_t>(random() % 4 == 0 ? kGuestSsAutodisarm : 0),
        pick()};
    GuestSignalAction action = action_;
    if (random() % 2 != 0) action.flags |= kGuestSaOnstack;
    if (DeliverFaultSignal(memory(), regs, action, segv_, 0, alt)) {
      ++delivered;
      ASSERT_GE(regs.rsp, kWorkloadBase);
      ASSERT_LE(regs.rsp + kSignalFrameSize, kMemorySize);
      ASSERT_EQ((regs.rsp + 8) % 16, 0u);
    }
    kvm_regs back = regs_;
    back.rsp = pick();
    if (ReturnFromSignal(memory(), back)) {
      ASSERT_GE(back.rflags & 0x2, 0x2u);
      ASSERT_EQ(back.rflags & 0x3000, 0u);  // never IOPL
    }
  }
  EXPECT_GT(delivered, 0);  // the generator does reach valid stacks
}

}  // namespace
}  // namespace isoscope::kvm
