// Tests of fault_decoder and instruction_emulator: byte strings in,
// classifications and register files out. No tracee is needed.
#include "backends/ptrace/fault_decoder.h"

#include <signal.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "backends/ptrace/instruction_emulator.h"

namespace isoscope {
namespace {

using Bytes = std::vector<uint8_t>;
using Kind = DecodedOperand::Kind;

constexpr uint64_t kRip = 0x401000;
constexpr uint64_t kDataAddress = 0xdead0000;

DecodedOperand Reg(const char* name, uint16_t bits) {
  return {.kind = Kind::kRegister, .reg = name, .bits = bits};
}
DecodedOperand Imm(uint64_t value, uint16_t bits) {
  return {.kind = Kind::kImmediate, .bits = bits, .immediate = value};
}

// --- DecodeInstruction -----------------------------------------------------

TEST(DecodeInstructionTest, CpuidIgnoresTheBytesAfterIt) {
  auto decoded = DecodeInstruction(Bytes{0x0f, 0xa2, 0x90, 0x90});
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->mnemonic, "cpuid");
  EXPECT_EQ(decoded->length, 2);
  EXPECT_FALSE(decoded->privileged);
  EXPECT_FALSE(decoded->port_io);
  EXPECT_FALSE(decoded->rep);
  EXPECT_TRUE(decoded->operands.empty());
}

TEST(DecodeInstructionTest, TimeStampCounter) {
  auto rdtsc = DecodeInstruction(Bytes{0x0f, 0x31});
  ASSERT_TRUE(rdtsc.has_value());
  EXPECT_EQ(rdtsc->mnemonic, "rdtsc");
  EXPECT_EQ(rdtsc->length, 2);
  EXPECT_FALSE(rdtsc->privileged);
  auto rdtscp = DecodeInstruction(Bytes{0x0f, 0x01, 0xf9});
  ASSERT_TRUE(rdtscp.has_value());
  EXPECT_EQ(rdtscp->mnemonic, "rdtscp");
  EXPECT_EQ(rdtscp->length, 3);
}

TEST(DecodeInstructionTest, PortIoOperandsInIntelOrder) {
  struct Case {
    Bytes bytes;
    const char* mnemonic;
    uint8_t length;
    std::vector<DecodedOperand> operands;
  };
  const Case cases[] = {
      {{0xee}, "out", 1, {Reg("dx", 16), Reg("al", 8)}},
      {{0x66, 0xef}, "out", 2, {Reg("dx", 16), Reg("ax", 16)}},
      {{0xef}, "out", 1, {Reg("dx", 16), Reg("eax", 32)}},
      {{0xe6, 0x80}, "out", 2, {Imm(0x80, 8), Reg("al", 8)}},
      {{0xe6, 0xff}, "out", 2, {Imm(0xff, 8), Reg("al", 8)}},
      {{0xec}, "in", 1, {Reg("al", 8), Reg("dx", 16)}},
      {{0x66, 0xed}, "in", 2, {Reg("ax", 16), Reg("dx", 16)}},
      {{0xed}, "in", 1, {Reg("eax", 32), Reg("dx", 16)}},
      {{0xe4, 0x60}, "in", 2, {Reg("al", 8), Imm(0x60, 8)}},
  };
  for (const Case& c : cases) {
    auto decoded = DecodeInstruction(c.bytes);
    ASSERT_TRUE(decoded.has_value()) << c.mnemonic;
    EXPECT_EQ(decoded->mnemonic, c.mnemonic);
    EXPECT_EQ(decoded->length, c.length) << c.mnemonic;
    EXPECT_EQ(decoded->operands, c.operands) << c.mnemonic;
    EXPECT_TRUE(decoded->port_io) << c.mnemonic;
    EXPECT_TRUE(decoded->privileged) << c.mnemonic << ": IOPL-gated";
  }
}

TEST(DecodeInstructionTest, PrivilegedInstructions) {
  const std::pair<Bytes, const char*> cases[] = {
      {{0xf4}, "hlt"},
      {{0xfa}, "cli"},
      {{0xfb}, "sti"},
      {{0x0f, 0x32}, "rdmsr"},
      {{0x0f, 0x30}, "wrmsr"},
      {{0x0f, 0x01, 0x10}, "lgdt"},
      {{0x0f, 0x01, 0x18}, "lidt"},
      {{0x0f, 0x00, 0x18}, "ltr"},
      {{0x0f, 0x22, 0xd8}, "mov"},  // mov cr3, rax
      {{0x0f, 0x20, 0xd8}, "mov"},  // mov rax, cr3
      {{0x0f, 0x23, 0xc0}, "mov"},  // mov dr0, rax
      {{0x0f, 0x01, 0x38}, "invlpg"},
      {{0x0f, 0x09}, "wbinvd"},
      {{0x0f, 0x06}, "clts"},
      {{0x0f, 0x01, 0x00}, "sgdt"},
      {{0x0f, 0x01, 0xe0}, "smsw"},
      {{0x0f, 0x33}, "rdpmc"},
      {{0x6c}, "insb"},
      {{0x6e}, "outsb"},
  };
  for (const auto& [bytes, mnemonic] : cases) {
    auto decoded = DecodeInstruction(bytes);
    ASSERT_TRUE(decoded.has_value()) << mnemonic;
    EXPECT_EQ(decoded->mnemonic, mnemonic);
    EXPECT_EQ(decoded->length, bytes.size()) << mnemonic;
    EXPECT_TRUE(decoded->privileged) << mnemonic;
  }
  auto mov_cr3 = DecodeInstruction(Bytes{0x0f, 0x22, 0xd8});
  ASSERT_TRUE(mov_cr3.has_value());
  EXPECT_EQ(mov_cr3->operands,
            (std::vector<DecodedOperand>{Reg("cr3", 64), Reg("rax", 64)}));
}

TEST(DecodeInstructionTest, OrdinaryInstructions) {
  const std::pair<Bytes, const char*> cases[] = {
      {{0x0f, 0xa2}, "cpuid"}, {{0x0f, 0x31}, "rdtsc"},   {{0x0f, 0x0b}, "ud2"},
      {{0xcc}, "int3"},        {{0xf1}, "int1"},          {{0xf7, 0xf1}, "div"},
      {{0x8b, 0x03}, "mov"},   {{0x0f, 0x05}, "syscall"}, {{0xcd, 0x80}, "int"},
  };
  for (const auto& [bytes, mnemonic] : cases) {
    auto decoded = DecodeInstruction(bytes);
    ASSERT_TRUE(decoded.has_value()) << mnemonic;
    EXPECT_EQ(decoded->mnemonic, mnemonic);
    EXPECT_EQ(decoded->length, bytes.size()) << mnemonic;
    EXPECT_FALSE(decoded->privileged) << mnemonic;
    EXPECT_FALSE(decoded->port_io) << mnemonic;
  }
  auto load = DecodeInstruction(Bytes{0x8b, 0x03});  // mov eax, [rbx]
  ASSERT_TRUE(load.has_value());
  ASSERT_EQ(load->operands.size(), 2u);
  EXPECT_EQ(load->operands[0], Reg("eax", 32));
  EXPECT_EQ(load->operands[1].kind, Kind::kMemory);
  EXPECT_EQ(load->operands[1].bits, 32);
}

TEST(DecodeInstructionTest, RepPrefix) {
  auto rep_outsb = DecodeInstruction(Bytes{0xf3, 0x6e});
  ASSERT_TRUE(rep_outsb.has_value());
  EXPECT_EQ(rep_outsb->mnemonic, "outsb");
  EXPECT_EQ(rep_outsb->length, 2);
  EXPECT_TRUE(rep_outsb->rep);
  EXPECT_TRUE(rep_outsb->port_io);
  auto outsb = DecodeInstruction(Bytes{0x6e});
  ASSERT_TRUE(outsb.has_value());
  EXPECT_FALSE(outsb->rep);
}

TEST(DecodeInstructionTest, TruncatedIsNotAnInstruction) {
  EXPECT_FALSE(DecodeInstruction(Bytes{}).has_value());
  EXPECT_FALSE(DecodeInstruction(Bytes{0x0f}).has_value());
  EXPECT_FALSE(DecodeInstruction(Bytes{0x0f, 0x01}).has_value());
  EXPECT_FALSE(DecodeInstruction(Bytes{0xe6}).has_value());  // no imm8
  EXPECT_FALSE(DecodeInstruction(Bytes{0x48}).has_value());  // a REX alone
}

TEST(DecodeInstructionTest, GarbageIsNotAnInstruction) {
  // Invalid in 64-bit mode: push es, salc; 0f 04 is undefined.
  EXPECT_FALSE(DecodeInstruction(Bytes{0x06, 0x90}).has_value());
  EXPECT_FALSE(DecodeInstruction(Bytes{0xd6, 0x90}).has_value());
  EXPECT_FALSE(DecodeInstruction(Bytes{0x0f, 0x04}).has_value());
  // Longer than 15 bytes.
  Bytes too_long(15, 0x66);
  too_long.push_back(0x90);
  EXPECT_FALSE(DecodeInstruction(too_long).has_value());
  Bytes longest(14, 0x66);
  longest.push_back(0x90);
  auto nop = DecodeInstruction(longest);
  ASSERT_TRUE(nop.has_value());
  EXPECT_EQ(nop->mnemonic, "nop");
  EXPECT_EQ(nop->length, 15);
}

// --- ClassifyFault ---------------------------------------------------------

FaultInfo Info(FaultKind kind, std::string mnemonic, Bytes bytes,
               uint64_t address) {
  return {.kind = kind,
          .mnemonic = std::move(mnemonic),
          .bytes = std::move(bytes),
          .address = address};
}

TEST(ClassifyFaultTest, CpuidFaulting) {
  EXPECT_EQ(
      ClassifyFault(SIGSEGV, SI_KERNEL, 0, kRip, Bytes{0x0f, 0xa2, 0x90, 0x90}),
      Info(FaultKind::kCpuid, "cpuid", {0x0f, 0xa2}, kRip));
}

TEST(ClassifyFaultTest, TimeStampDisabled) {
  EXPECT_EQ(ClassifyFault(SIGSEGV, SI_KERNEL, 0, kRip, Bytes{0x0f, 0x31, 0xc3}),
            Info(FaultKind::kRdtsc, "rdtsc", {0x0f, 0x31}, kRip));
  EXPECT_EQ(
      ClassifyFault(SIGSEGV, SI_KERNEL, 0, kRip, Bytes{0x0f, 0x01, 0xf9, 0xc3}),
      Info(FaultKind::kRdtsc, "rdtscp", {0x0f, 0x01, 0xf9}, kRip));
}

TEST(ClassifyFaultTest, PrivilegedInstructions) {
  const std::pair<Bytes, const char*> cases[] = {
      {{0xf4}, "hlt"},
      {{0xfa}, "cli"},
      {{0xfb}, "sti"},
      {{0xee}, "out"},
      {{0xe6, 0x80}, "out"},
      {{0xec}, "in"},
      {{0x0f, 0x32}, "rdmsr"},
      {{0x0f, 0x01, 0x10}, "lgdt"},
      {{0x0f, 0x22, 0xd8}, "mov"},
      {{0xcd, 0x81}, "int"},
      {{0xf3, 0x6e}, "outsb"},
  };
  for (const auto& [instruction, mnemonic] : cases) {
    Bytes read = instruction;
    read.insert(read.end(), {0x90, 0x90, 0xc3});
    EXPECT_EQ(
        ClassifyFault(SIGSEGV, SI_KERNEL, 0, kRip, read),
        Info(FaultKind::kPrivilegedInstruction, mnemonic, instruction, kRip))
        << mnemonic;
  }
}

TEST(ClassifyFaultTest, PageFaultKeepsTheDataAddress) {
  // mov eax, [rbx] on an unmapped page.
  EXPECT_EQ(ClassifyFault(SIGSEGV, SEGV_MAPERR, kDataAddress, kRip,
                          Bytes{0x8b, 0x03, 0xc3}),
            Info(FaultKind::kPageFault, "mov", {0x8b, 0x03}, kDataAddress));
  // A non-canonical address is a #GP (SI_KERNEL, si_addr 0), still the
  // workload's own memory access.
  EXPECT_EQ(ClassifyFault(SIGSEGV, SI_KERNEL, 0, kRip, Bytes{0x8b, 0x03, 0xc3}),
            Info(FaultKind::kPageFault, "mov", {0x8b, 0x03}, 0));
  EXPECT_EQ(
      ClassifyFault(SIGBUS, BUS_ADRERR, kDataAddress, kRip, Bytes{0x8b, 0x03}),
      Info(FaultKind::kPageFault, "mov", {0x8b, 0x03}, kDataAddress));
}

TEST(ClassifyFaultTest, OnlyAGeneralProtectionFaultIsAnInstructionFault) {
  // The si_code decides: a page-fault code is a page fault whatever the
  // bytes at RIP say.
  EXPECT_EQ(ClassifyFault(SIGSEGV, SEGV_ACCERR, kDataAddress, kRip,
                          Bytes{0x0f, 0x31}),
            Info(FaultKind::kPageFault, "rdtsc", {0x0f, 0x31}, kDataAddress));
}

TEST(ClassifyFaultTest, UnreadableOrUndecodableRip) {
  // A jump to an unmapped page: nothing could be read at RIP.
  EXPECT_EQ(ClassifyFault(SIGSEGV, SEGV_MAPERR, kRip, kRip, Bytes{}),
            Info(FaultKind::kPageFault, "", {}, kRip));
  EXPECT_EQ(ClassifyFault(SIGSEGV, SI_KERNEL, 0, kRip, Bytes{0x0f}),
            Info(FaultKind::kPageFault, "", {0x0f}, 0));
}

TEST(ClassifyFaultTest, InvalidInstruction) {
  EXPECT_EQ(
      ClassifyFault(SIGILL, ILL_ILLOPN, kRip, kRip, Bytes{0x0f, 0x0b, 0x90}),
      Info(FaultKind::kInvalidInstruction, "ud2", {0x0f, 0x0b}, kRip));
  // An undefined opcode keeps what was read.
  EXPECT_EQ(ClassifyFault(SIGILL, ILL_ILLOPN, kRip, kRip, Bytes{0x06, 0x90}),
            Info(FaultKind::kInvalidInstruction, "", {0x06, 0x90}, kRip));
}

TEST(ClassifyFaultTest, DivideError) {
  EXPECT_EQ(
      ClassifyFault(SIGFPE, FPE_INTDIV, kRip, kRip, Bytes{0xf7, 0xf1, 0xc3}),
      Info(FaultKind::kArithmetic, "div", {0xf7, 0xf1}, kRip));
}

TEST(ClassifyFaultTest, BreakpointsNameTheTrapFromSiCode) {
  // RIP is past the trap; the bytes there are the next instruction.
  const Bytes next{0x90, 0xc3};
  EXPECT_EQ(ClassifyFault(SIGTRAP, SI_KERNEL, 0, kRip, next),
            Info(FaultKind::kBreakpoint, "int3", {}, kRip - 1));
  EXPECT_EQ(ClassifyFault(SIGTRAP, TRAP_BRKPT, 0, kRip, next),
            Info(FaultKind::kBreakpoint, "int1", {}, kRip - 1));
  EXPECT_EQ(ClassifyFault(SIGTRAP, TRAP_TRACE, 0, kRip, next),
            Info(FaultKind::kBreakpoint, "", {}, kRip));
}

TEST(ClassifyFaultTest, AnotherSignalIsNoInstructionFault) {
  EXPECT_EQ(
      ClassifyFault(SIGUSR1, SI_KERNEL, kDataAddress, kRip, Bytes{0x0f, 0xa2}),
      Info(FaultKind::kPageFault, "cpuid", {0x0f, 0xa2}, kDataAddress));
}

// --- InstructionEmulator ---------------------------------------------------

constexpr uint32_t kIntelLeaf0[] = {0x16, 0x756e6547, 0x6c65746e, 0x49656e69};
constexpr uint32_t kAmdLeaf0[] = {0x10, 0x68747541, 0x444d4163, 0x69746e65};
constexpr CpuidRegisters kLeaf1{0x000906ea, 0x01100800, 0xfffa3203, 0x1f8bfbff};
constexpr CpuidRegisters kLeaf16{0x00000bb8, 0x00001194, 0x00000064, 0};
constexpr CpuidRegisters kKvmLeaf{0x40000001, 0x4b4d564b, 0x564b4d56,
                                  0x0000004d};
constexpr CpuidRegisters kMaxExtended{0x80000008, 0, 0, 0};

// A host CPU with a hypervisor (bit 31 of leaf 1 ECX and KVM's leaf) whose
// other leaves answer with their own inputs, so a test sees which leaf and
// subleaf were asked. It counts the questions.
struct FakeCpu {
  bool intel = true;
  std::shared_ptr<std::map<std::pair<uint32_t, uint32_t>, int>> asked =
      std::make_shared<std::map<std::pair<uint32_t, uint32_t>, int>>();

  int Asked(uint32_t leaf, uint32_t subleaf) const {
    auto it = asked->find({leaf, subleaf});
    return it == asked->end() ? 0 : it->second;
  }

  CpuidRegisters operator()(uint32_t leaf, uint32_t subleaf) const {
    ++(*asked)[{leaf, subleaf}];
    const uint32_t* leaf0 = intel ? kIntelLeaf0 : kAmdLeaf0;
    if (leaf == 0) return {leaf0[0], leaf0[1], leaf0[2], leaf0[3]};
    if (leaf == 1) return kLeaf1;
    if (leaf == 0x16 && intel) return kLeaf16;
    if (leaf == 0x40000000) return kKvmLeaf;
    if (leaf == 0x80000000) return kMaxExtended;
    return {leaf, subleaf, leaf ^ 0xa5a5a5a5, subleaf + 1};
  }
};

struct FakeClock {
  std::shared_ptr<uint64_t> now = std::make_shared<uint64_t>(5'000'000'000);
  uint64_t operator()() const { return *now; }
};

// The type of each field: unsigned long long, as the kernel's ABI has it.
using RegisterWord = decltype(RegisterFile::rax);

// Every field set to something distinct, so a write shows.
RegisterFile Garbage() {
  RegisterFile regs{};
  uint64_t value = 0x0101010101010101;
  for (RegisterWord* field :
       {&regs.r15,      &regs.r14,     &regs.r13,    &regs.r12, &regs.rbp,
        &regs.rbx,      &regs.r11,     &regs.r10,    &regs.r9,  &regs.r8,
        &regs.rax,      &regs.rcx,     &regs.rdx,    &regs.rsi, &regs.rdi,
        &regs.orig_rax, &regs.cs,      &regs.eflags, &regs.rsp, &regs.ss,
        &regs.fs_base,  &regs.gs_base, &regs.ds,     &regs.es,  &regs.fs,
        &regs.gs}) {
    *field = value;
    value += 0x0101010101010101;
  }
  regs.rip = kRip;
  regs.eflags = 0x246;  // IF set, as the kernel keeps it in user space
  return regs;
}

// The names of the fields that differ, in struct order.
std::string Changed(const RegisterFile& before, const RegisterFile& after) {
  const std::pair<const char*, RegisterWord RegisterFile::*> fields[] = {
      {"r15", &RegisterFile::r15},
      {"r14", &RegisterFile::r14},
      {"r13", &RegisterFile::r13},
      {"r12", &RegisterFile::r12},
      {"rbp", &RegisterFile::rbp},
      {"rbx", &RegisterFile::rbx},
      {"r11", &RegisterFile::r11},
      {"r10", &RegisterFile::r10},
      {"r9", &RegisterFile::r9},
      {"r8", &RegisterFile::r8},
      {"rax", &RegisterFile::rax},
      {"rcx", &RegisterFile::rcx},
      {"rdx", &RegisterFile::rdx},
      {"rsi", &RegisterFile::rsi},
      {"rdi", &RegisterFile::rdi},
      {"orig_rax", &RegisterFile::orig_rax},
      {"rip", &RegisterFile::rip},
      {"cs", &RegisterFile::cs},
      {"eflags", &RegisterFile::eflags},
      {"rsp", &RegisterFile::rsp},
      {"ss", &RegisterFile::ss},
      {"fs_base", &RegisterFile::fs_base},
      {"gs_base", &RegisterFile::gs_base},
      {"ds", &RegisterFile::ds},
      {"es", &RegisterFile::es},
      {"fs", &RegisterFile::fs},
      {"gs", &RegisterFile::gs}};
  std::string out;
  for (const auto& [name, field] : fields) {
    if (before.*field != after.*field) {
      if (!out.empty()) out += ' ';
      out += name;
    }
  }
  return out;
}

DecodedInstruction Decode(const Bytes& bytes) {
  auto decoded = DecodeInstruction(bytes);
  EXPECT_TRUE(decoded.has_value());
  return decoded.value_or(DecodedInstruction{});
}

class EmulatorTest : public ::testing::Test {
 protected:
  InstructionEmulator Make(bool hide_hypervisor, bool intel = true) {
    cpu_.intel = intel;
    return InstructionEmulator(hide_hypervisor, clock_, cpu_);
  }
  // Runs `bytes` on a copy of `regs`; expects it emulated.
  RegisterFile Run(InstructionEmulator& emulator, const Bytes& bytes,
                   const RegisterFile& regs, std::string* serial = nullptr) {
    RegisterFile after = regs;
    EmulationResult result = emulator.Emulate(Decode(bytes), after);
    EXPECT_TRUE(result.emulated) << result.why_not;
    EXPECT_TRUE(result.why_not.empty());
    if (serial != nullptr) {
      *serial += result.serial_output;
    } else {
      EXPECT_EQ(result.serial_output, "");
    }
    return after;
  }
  // Runs `bytes`; expects a refusal that leaves the registers alone.
  std::string Refused(InstructionEmulator& emulator, const Bytes& bytes,
                      const RegisterFile& regs) {
    RegisterFile after = regs;
    EmulationResult result = emulator.Emulate(Decode(bytes), after);
    EXPECT_FALSE(result.emulated);
    EXPECT_EQ(result.serial_output, "");
    EXPECT_EQ(Changed(regs, after), "");
    return result.why_not;
  }

  FakeClock clock_;
  FakeCpu cpu_;
};

TEST_F(EmulatorTest, CpuidHidesTheHypervisorBit) {
  InstructionEmulator emulator = Make(/*hide_hypervisor=*/true);
  RegisterFile regs = Garbage();
  regs.rax = 0xffffffff'00000001;  // leaf 1; the upper half is not the leaf
  regs.rcx = 0xffffffff'00000000;
  RegisterFile after = Run(emulator, {0x0f, 0xa2}, regs);
  EXPECT_EQ(after.rax, 0x000906eau);
  EXPECT_EQ(after.rbx, 0x01100800u);
  EXPECT_EQ(after.rcx, 0x7ffa3203u);  // bit 31 cleared, the rest kept
  EXPECT_EQ(after.rdx, 0x1f8bfbffu);
  EXPECT_EQ(after.rip, kRip + 2);
  EXPECT_EQ(Changed(regs, after), "rbx rax rcx rdx rip");
  EXPECT_EQ(cpu_.Asked(1, 0), 1);
}

TEST_F(EmulatorTest, CpuidKeepsTheHypervisorBitWhenAsked) {
  InstructionEmulator emulator = Make(/*hide_hypervisor=*/false);
  RegisterFile regs = Garbage();
  regs.rax = 1;
  RegisterFile after = Run(emulator, {0x0f, 0xa2}, regs);
  EXPECT_EQ(after.rcx, 0xfffa3203u);
  EXPECT_EQ(emulator.Cpuid(0x40000000, 0), kKvmLeaf);
}

TEST_F(EmulatorTest, HypervisorLeavesAreZeroWhenHidden) {
  InstructionEmulator emulator = Make(/*hide_hypervisor=*/true);
  EXPECT_EQ(emulator.Cpuid(0x40000000, 0), CpuidRegisters{});
  EXPECT_EQ(emulator.Cpuid(0x400000ff, 3), CpuidRegisters{});
  EXPECT_EQ(cpu_.Asked(0x40000000, 0), 0);
  RegisterFile regs = Garbage();
  regs.rax = 0x40000000;
  RegisterFile after = Run(emulator, {0x0f, 0xa2}, regs);
  EXPECT_EQ(after.rax, 0u);
  EXPECT_EQ(after.rbx, 0u);
  EXPECT_EQ(after.rcx, 0u);
  EXPECT_EQ(after.rdx, 0u);
}

TEST_F(EmulatorTest, CpuidPassesTheSubleaf) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  regs.rax = 7;
  regs.rcx = 0xabcdef00'00000002;
  RegisterFile after = Run(emulator, {0x0f, 0xa2}, regs);
  EXPECT_EQ(after.rax, 7u);
  EXPECT_EQ(after.rbx, 2u);
  EXPECT_EQ(after.rcx, 7u ^ 0xa5a5a5a5u);
  EXPECT_EQ(after.rdx, 3u);
}

TEST_F(EmulatorTest, LeavesBeyondTheMaximumAnswerAsIntelDoes) {
  InstructionEmulator emulator = Make(true, /*intel=*/true);
  // The highest basic leaf (0x16) answers.
  EXPECT_EQ(emulator.Cpuid(0x17, 0), kLeaf16);
  EXPECT_EQ(emulator.Cpuid(0x80000009, 0), kLeaf16);
  EXPECT_EQ(emulator.Cpuid(0x40000100, 0), kLeaf16);
  EXPECT_EQ(emulator.Cpuid(0xffffffff, 0), kLeaf16);
  // In range: the host's.
  EXPECT_EQ(emulator.Cpuid(0x80000008, 0),
            (CpuidRegisters{0x80000008, 0, 0x80000008 ^ 0xa5a5a5a5, 1}));
}

TEST_F(EmulatorTest, LeavesBeyondTheMaximumAreZeroOnAmd) {
  InstructionEmulator emulator = Make(true, /*intel=*/false);
  EXPECT_EQ(emulator.Cpuid(0x11, 0), CpuidRegisters{});
  EXPECT_EQ(emulator.Cpuid(0x80000009, 0), CpuidRegisters{});
  EXPECT_EQ(emulator.Cpuid(0x10, 0),
            (CpuidRegisters{0x10, 0, 0x10 ^ 0xa5a5a5a5, 1}));
}

TEST_F(EmulatorTest, OneConsistentCpuForTheRun) {
  InstructionEmulator emulator = Make(true);
  EXPECT_EQ(cpu_.Asked(0, 0), 1);  // read at construction
  EXPECT_EQ(cpu_.Asked(0x80000000, 0), 1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(emulator.Cpuid(1, 0).eax, kLeaf1.eax);
    EXPECT_EQ(emulator.Cpuid(0, 0).eax, 0x16u);
  }
  EXPECT_EQ(cpu_.Asked(1, 0), 1);
  EXPECT_EQ(cpu_.Asked(0, 0), 1);
}

TEST_F(EmulatorTest, HostCpuAnswersLikeTheHost) {
  InstructionEmulator hidden(/*hide_hypervisor=*/true);
  const CpuidRegisters host0 = InstructionEmulator::HostCpuid(0, 0);
  EXPECT_EQ(hidden.Cpuid(0, 0), host0);
  const CpuidRegisters host1 = InstructionEmulator::HostCpuid(1, 0);
  const CpuidRegisters leaf1 = hidden.Cpuid(1, 0);
  EXPECT_EQ(leaf1.eax, host1.eax);  // family, model, stepping
  EXPECT_EQ(leaf1.ecx, host1.ecx & ~(1u << 31));
  EXPECT_EQ(leaf1.edx, host1.edx);
  InstructionEmulator shown(/*hide_hypervisor=*/false);
  EXPECT_EQ(shown.Cpuid(1, 0).ecx, host1.ecx);
}

TEST_F(EmulatorTest, RdtscCountsNanosecondsSinceTheStart) {
  InstructionEmulator emulator = Make(true);
  *clock_.now += 1234;
  RegisterFile regs = Garbage();
  RegisterFile after = Run(emulator, {0x0f, 0x31}, regs);
  EXPECT_EQ(after.rax, 1234u);  // upper half zeroed
  EXPECT_EQ(after.rdx, 0u);
  EXPECT_EQ(after.rip, kRip + 2);
  EXPECT_EQ(Changed(regs, after), "rax rdx rip");

  *clock_.now += 0x1'00000000;  // EDX takes the high half
  after = Run(emulator, {0x0f, 0x31}, regs);
  EXPECT_EQ(after.rax, 1234u);
  EXPECT_EQ(after.rdx, 1u);
}

TEST_F(EmulatorTest, TscStrictlyIncreasesWhenTheClockStandsStill) {
  InstructionEmulator emulator = Make(true);
  EXPECT_EQ(emulator.ReadTsc(), 0u);
  EXPECT_EQ(emulator.ReadTsc(), 1u);
  *clock_.now += 10;
  EXPECT_EQ(emulator.ReadTsc(), 10u);
  EXPECT_EQ(emulator.ReadTsc(), 11u);
}

TEST_F(EmulatorTest, RdtscpAlsoReturnsTscAux) {
  InstructionEmulator emulator = Make(true);
  *clock_.now += 0x2'00000007;
  RegisterFile regs = Garbage();
  RegisterFile after = Run(emulator, {0x0f, 0x01, 0xf9}, regs);
  EXPECT_EQ(after.rax, 7u);
  EXPECT_EQ(after.rdx, 2u);
  EXPECT_EQ(after.rcx, 0u);
  EXPECT_EQ(after.rip, kRip + 3);
  EXPECT_EQ(Changed(regs, after), "rax rcx rdx rip");
}

TEST_F(EmulatorTest, OutToCom1IsSerialOutput) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  regs.rdx = 0xffffffff'ffff03f8;  // the port is DX alone
  std::string serial;
  for (char c : std::string("hi\n")) {
    regs.rax = 0x12345600u | static_cast<uint8_t>(c);
    RegisterFile after = Run(emulator, {0xee}, regs, &serial);
    EXPECT_EQ(after.rip, kRip + 1);
    EXPECT_EQ(Changed(regs, after), "rip");
  }
  EXPECT_EQ(serial, "hi\n");
}

TEST_F(EmulatorTest, WideOutWritesOneByteToEachPort) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  regs.rdx = 0x3f8;
  regs.rax = 0x4142;  // AL to THR, AH to the interrupt enable register
  std::string serial;
  RegisterFile after = Run(emulator, {0x66, 0xef}, regs, &serial);
  EXPECT_EQ(serial, "B");
  EXPECT_EQ(after.rip, kRip + 2);
}

TEST_F(EmulatorTest, DivisorLatchBytesAreNotOutput) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  std::string serial;
  auto out = [&](uint16_t port, uint8_t value) {
    regs.rdx = port;
    regs.rax = value;
    Run(emulator, {0xee}, regs, &serial);
  };
  out(0x3fb, 0x80);  // DLAB on
  out(0x3f8, 0x01);  // divisor low: 115200 baud
  out(0x3f9, 0x00);
  out(0x3fb, 0x03);  // 8N1, DLAB off
  out(0x3f8, 'A');
  EXPECT_EQ(serial, "A");
}

TEST_F(EmulatorTest, InReadsCom1Registers) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  regs.rax = 0x11223344'55667788;
  regs.rdx = 0x3fd;
  RegisterFile after = Run(emulator, {0xec}, regs);  // in al, dx: LSR
  EXPECT_EQ(after.rax, 0x11223344'55667760u);        // only AL written
  EXPECT_EQ(after.rip, kRip + 1);
  EXPECT_EQ(Changed(regs, after), "rax rip");

  after = Run(emulator, {0x66, 0xed}, regs);  // in ax, dx: LSR, MSR
  EXPECT_EQ(after.rax, 0x11223344'55660060u);
  EXPECT_EQ(after.rip, kRip + 2);

  regs.rdx = 0x3f8;
  after = Run(emulator, {0xec}, regs);  // receive buffer: no input
  EXPECT_EQ(after.rax, 0x11223344'55667700u);

  regs.rax = 0x03;  // 8N1, written to the line control register
  regs.rdx = 0x3fb;
  Run(emulator, {0xee}, regs);
  regs.rdx = 0x3f8;
  regs.rax = 0x11223344'55667788;
  // in eax, dx: RBR 0, IER 0, IIR 0x01 (no interrupt), LCR 0x03; the upper
  // half zeroed.
  after = Run(emulator, {0xed}, regs);
  EXPECT_EQ(after.rax, 0x03010000u);
}

TEST_F(EmulatorTest, OtherPortsAreRefused) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  regs.rdx = 0x60;
  EXPECT_EQ(Refused(emulator, {0xee}, regs),
            "out to port 0x60 has no virtual device");
  EXPECT_EQ(Refused(emulator, {0xec}, regs),
            "in from port 0x60 has no virtual device");
  // imm8 reaches ports 0..0xff only, so never COM1.
  EXPECT_EQ(Refused(emulator, {0xe6, 0x80}, regs),
            "out to port 0x80 has no virtual device");
  EXPECT_EQ(Refused(emulator, {0xe4, 0x60}, regs),
            "in from port 0x60 has no virtual device");
  regs.rdx = 0x3fe;
  EXPECT_EQ(Refused(emulator, {0xef}, regs),
            "32-bit out to port 0x3fe runs past COM1 (0x3f8-0x3ff)");
  regs.rdx = 0x2f8;  // COM2
  EXPECT_EQ(Refused(emulator, {0xee}, regs),
            "out to port 0x2f8 has no virtual device");
}

TEST_F(EmulatorTest, StringIoIsRefused) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  regs.rdx = 0x3f8;
  EXPECT_EQ(Refused(emulator, {0xf3, 0x6e}, regs),
            "rep outsb: string I/O is not emulated");
  EXPECT_EQ(Refused(emulator, {0x6e}, regs),
            "outsb: string I/O is not emulated");
  EXPECT_EQ(Refused(emulator, {0x6c}, regs),
            "insb: string I/O is not emulated");
}

TEST_F(EmulatorTest, CliAndStiMoveTheVirtualInterruptFlag) {
  InstructionEmulator emulator = Make(true);
  EXPECT_TRUE(emulator.interrupt_flag());
  RegisterFile regs = Garbage();
  RegisterFile after = Run(emulator, {0xfa}, regs);
  EXPECT_FALSE(emulator.interrupt_flag());
  EXPECT_EQ(after.rip, kRip + 1);
  EXPECT_EQ(Changed(regs, after), "rip");  // RFLAGS.IF stays set
  after = Run(emulator, {0xfa}, regs);
  EXPECT_FALSE(emulator.interrupt_flag());
  after = Run(emulator, {0xfb}, regs);
  EXPECT_TRUE(emulator.interrupt_flag());
  EXPECT_EQ(Changed(regs, after), "rip");
}

TEST_F(EmulatorTest, HltOnlyMovesRip) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  RegisterFile after = Run(emulator, {0xf4}, regs);
  EXPECT_EQ(after.rip, kRip + 1);
  EXPECT_EQ(Changed(regs, after), "rip");
  EXPECT_TRUE(emulator.interrupt_flag());
}

TEST_F(EmulatorTest, EverythingElseIsRefusedWithAReason) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  EXPECT_EQ(Refused(emulator, {0x0f, 0x0b}, regs), "ud2 is not emulated");
  EXPECT_EQ(Refused(emulator, {0x0f, 0x32}, regs), "rdmsr is not emulated");
  EXPECT_EQ(Refused(emulator, {0x0f, 0x30}, regs), "wrmsr is not emulated");
  EXPECT_EQ(Refused(emulator, {0xcc}, regs), "int3 is not emulated");
  EXPECT_EQ(Refused(emulator, {0xf7, 0xf1}, regs), "div is not emulated");
  EXPECT_EQ(Refused(emulator, {0x8b, 0x03}, regs), "mov is not emulated");
  EXPECT_EQ(Refused(emulator, {0x0f, 0x22, 0xd8}, regs), "mov is not emulated");
}

TEST_F(EmulatorTest, MalformedInstructionsAreRefused) {
  InstructionEmulator emulator = Make(true);
  RegisterFile regs = Garbage();
  RegisterFile after = regs;
  DecodedInstruction no_length{.mnemonic = "cpuid", .length = 0};
  EmulationResult result = emulator.Emulate(no_length, after);
  EXPECT_FALSE(result.emulated);
  EXPECT_EQ(result.why_not, "cpuid: instruction length 0 is not valid");
  DecodedInstruction bare_out{.mnemonic = "out", .length = 1};
  result = emulator.Emulate(bare_out, after);
  EXPECT_FALSE(result.emulated);
  EXPECT_EQ(result.why_not, "out with unexpected operands is not emulated");
  EXPECT_EQ(Changed(regs, after), "");
}

}  // namespace
}  // namespace isoscope
