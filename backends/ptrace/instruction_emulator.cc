#include "backends/ptrace/instruction_emulator.h"

#include <cpuid.h>
#include <time.h>

#include <fmt/format.h>

namespace isoscope {
namespace {

constexpr uint32_t kHypervisorLeafFirst = 0x40000000;
constexpr uint32_t kHypervisorLeafLast = 0x400000ff;
constexpr uint32_t kExtendedLeafFirst = 0x80000000;
constexpr uint32_t kHypervisorPresentBit = 1u << 31;  // leaf 1 ECX

// "GenuineIntel" as leaf 0 returns it in EBX, EDX, ECX.
constexpr uint32_t kIntelEbx = 0x756e6547;  // "Genu"
constexpr uint32_t kIntelEdx = 0x49656e69;  // "ineI"
constexpr uint32_t kIntelEcx = 0x6c65746e;  // "ntel"

// Bounds the cache when a workload walks subleaves; beyond it answers still
// come from the host, only no longer pinned.
constexpr size_t kMaxCachedCpuidAnswers = 4096;

constexpr unsigned kCom1Base = 0x3f8;
constexpr unsigned kCom1Last = 0x3ff;
// COM1 registers, as offsets from kCom1Base.
constexpr unsigned kThr = 0;  // transmit holding (write) / receive (read)
constexpr unsigned kIir = 2;  // interrupt identification (read)
constexpr unsigned kLcr = 3;  // line control
constexpr unsigned kLsr = 5;  // line status
constexpr uint8_t kLcrDlab = 0x80;
// Transmit holding register empty and transmitter empty: ready for the
// next byte at once, so a polling driver never waits.
constexpr uint8_t kLsrIdle = 0x60;
// Bit 0 set: no interrupt pending (0 would mean one is).
constexpr uint8_t kIirNoInterrupt = 0x01;

EmulationResult Refuse(std::string why) {
  EmulationResult result;
  result.why_not = std::move(why);
  return result;
}

}  // namespace

uint64_t InstructionEmulator::MonotonicNanoseconds() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u +
         static_cast<uint64_t>(now.tv_nsec);
}

CpuidRegisters InstructionEmulator::HostCpuid(uint32_t leaf, uint32_t subleaf) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  __cpuid_count(leaf, subleaf, a, b, c, d);
  return {a, b, c, d};
}

InstructionEmulator::InstructionEmulator(bool hide_hypervisor, Clock clock,
                                         CpuidSource cpuid)
    : hide_hypervisor_(hide_hypervisor),
      clock_(std::move(clock)),
      cpuid_(std::move(cpuid)),
      tsc_start_ns_(clock_()) {
  const CpuidRegisters vendor = HostAnswer(0, 0);
  max_basic_leaf_ = vendor.eax;
  intel_ = vendor.ebx == kIntelEbx && vendor.edx == kIntelEdx &&
           vendor.ecx == kIntelEcx;
  max_extended_leaf_ = HostAnswer(kExtendedLeafFirst, 0).eax;
}

CpuidRegisters InstructionEmulator::HostAnswer(uint32_t leaf,
                                               uint32_t subleaf) {
  const auto key = std::make_pair(leaf, subleaf);
  if (auto it = cpuid_cache_.find(key); it != cpuid_cache_.end()) {
    return it->second;
  }
  const CpuidRegisters answer = cpuid_(leaf, subleaf);
  if (cpuid_cache_.size() < kMaxCachedCpuidAnswers) {
    cpuid_cache_.emplace(key, answer);
  }
  return answer;
}

CpuidRegisters InstructionEmulator::Cpuid(uint32_t leaf, uint32_t subleaf) {
  if (leaf >= kHypervisorLeafFirst && leaf <= kHypervisorLeafLast) {
    return hide_hypervisor_ ? CpuidRegisters{} : HostAnswer(leaf, subleaf);
  }
  const bool basic = leaf <= max_basic_leaf_;
  const bool extended =
      leaf >= kExtendedLeafFirst && leaf <= max_extended_leaf_;
  if (!basic && !extended) {
    if (!intel_) return CpuidRegisters{};
    leaf = max_basic_leaf_;
  }
  CpuidRegisters answer = HostAnswer(leaf, subleaf);
  if (leaf == 1 && hide_hypervisor_) answer.ecx &= ~kHypervisorPresentBit;
  return answer;
}

uint64_t InstructionEmulator::ReadTsc() {
  const uint64_t now = clock_();
  uint64_t tsc = now >= tsc_start_ns_ ? now - tsc_start_ns_ : 0;
  if (last_tsc_ && tsc <= *last_tsc_) tsc = *last_tsc_ + 1;
  last_tsc_ = tsc;
  return tsc;
}

EmulationResult InstructionEmulator::Emulate(
    const DecodedInstruction& instruction, RegisterFile& regs) {
  const std::string& m = instruction.mnemonic;
  if (instruction.length == 0 || instruction.length > kMaxInstructionLength) {
    return Refuse(fmt::format("{}: instruction length {} is not valid",
                              m.empty() ? "?" : m, instruction.length));
  }
  EmulationResult result;
  if (m == "cpuid") {
    const CpuidRegisters answer =
        Cpuid(static_cast<uint32_t>(regs.rax), static_cast<uint32_t>(regs.rcx));
    // 32-bit results: the upper halves are zeroed.
    regs.rax = answer.eax;
    regs.rbx = answer.ebx;
    regs.rcx = answer.ecx;
    regs.rdx = answer.edx;
  } else if (m == "rdtsc" || m == "rdtscp") {
    const uint64_t tsc = ReadTsc();
    regs.rax = tsc & 0xffffffff;
    regs.rdx = tsc >> 32;
    // TSC_AUX: the virtual CPU is CPU 0 of node 0.
    if (m == "rdtscp") regs.rcx = 0;
  } else if (m == "in" || m == "out") {
    result = PortIo(instruction, regs);
    if (!result.emulated) return result;
  } else if (instruction.port_io) {
    return Refuse(fmt::format("{}{}: string I/O is not emulated",
                              instruction.rep ? "rep " : "", m));
  } else if (m == "cli") {
    interrupt_flag_ = false;
  } else if (m == "sti") {
    interrupt_flag_ = true;
  } else if (m == "hlt") {
    // Nothing to wait for: no virtual device raises interrupts.
  } else {
    return Refuse(fmt::format("{} is not emulated", m.empty() ? "?" : m));
  }
  regs.rip += instruction.length;
  result.emulated = true;
  return result;
}

EmulationResult InstructionEmulator::PortIo(
    const DecodedInstruction& instruction, RegisterFile& regs) {
  const bool out = instruction.mnemonic == "out";
  const std::string unexpected = fmt::format(
      "{} with unexpected operands is not emulated", instruction.mnemonic);
  if (instruction.operands.size() != 2) return Refuse(unexpected);
  const DecodedOperand& data = instruction.operands[out ? 1 : 0];
  const DecodedOperand& port_operand = instruction.operands[out ? 0 : 1];
  if (data.kind != DecodedOperand::Kind::kRegister ||
      !(data.reg == "al" || data.reg == "ax" || data.reg == "eax")) {
    return Refuse(unexpected);
  }
  unsigned port = 0;
  if (port_operand.kind == DecodedOperand::Kind::kImmediate) {
    port = static_cast<unsigned>(port_operand.immediate & 0xff);
  } else if (port_operand.kind == DecodedOperand::Kind::kRegister &&
             port_operand.reg == "dx") {
    port = static_cast<unsigned>(regs.rdx & 0xffff);
  } else {
    return Refuse(unexpected);
  }
  const char* direction = out ? "out to" : "in from";
  if (port < kCom1Base || port > kCom1Last) {
    return Refuse(
        fmt::format("{} port {:#x} has no virtual device", direction, port));
  }
  // A wide access to an 8-bit device is one byte per port, in order, as
  // the bus splits it; every one of them must be COM1's.
  const unsigned width = data.bits / 8;
  if (port + width - 1 > kCom1Last) {
    return Refuse(
        fmt::format("{}-bit {} port {:#x} runs past COM1 "
                    "(0x3f8-0x3ff)",
                    data.bits, direction, port));
  }

  EmulationResult result;
  if (out) {
    for (unsigned i = 0; i < width; ++i) {
      WriteCom1(port - kCom1Base + i, static_cast<uint8_t>(regs.rax >> (8 * i)),
                result.serial_output);
    }
  } else {
    uint64_t value = 0;
    for (unsigned i = 0; i < width; ++i) {
      value |= uint64_t{ReadCom1(port - kCom1Base + i)} << (8 * i);
    }
    if (width == 4) {
      regs.rax = value;  // eax: the upper half is zeroed
    } else {
      const uint64_t mask = width == 1 ? 0xff : 0xffff;
      regs.rax = (regs.rax & ~mask) | value;  // al, ax: the rest is kept
    }
  }
  result.emulated = true;
  return result;
}

void InstructionEmulator::WriteCom1(unsigned offset, uint8_t value,
                                    std::string& output) {
  switch (offset) {
    case kThr:
      if ((com1_lcr_ & kLcrDlab) == 0) {
        output.push_back(static_cast<char>(value));
      }
      break;
    case kLcr:
      com1_lcr_ = value;
      break;
    default:
      break;  // interrupt enable, FIFO, modem control, scratch: no effect
  }
}

uint8_t InstructionEmulator::ReadCom1(unsigned offset) const {
  switch (offset) {
    case kIir:
      return kIirNoInterrupt;
    case kLcr:
      return com1_lcr_;
    case kLsr:
      return kLsrIdle;
    default:
      return 0;  // no input, no modem lines, divisor and scratch read 0
  }
}

}  // namespace isoscope
