#include "backends/ptrace/fault_decoder.h"

#include <signal.h>

#include <Zydis/Zydis.h>

namespace isoscope {
namespace {

const ZydisDecoder& Decoder64() {
  static const ZydisDecoder decoder = [] {
    ZydisDecoder d;
    ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    return d;
  }();
  return decoder;
}

// Zydis's IS_PRIVILEGED covers the ring-0-only instructions (hlt, rdmsr,
// mov to a control register, ...) but not the ones a Linux process is
// refused for other reasons, which fault the same way (#GP).
bool RefusedAtCpl3(ZydisMnemonic mnemonic) {
  switch (mnemonic) {
    // IOPL is 0 for every Linux process (iopl(2) aside).
    case ZYDIS_MNEMONIC_IN:
    case ZYDIS_MNEMONIC_OUT:
    case ZYDIS_MNEMONIC_INSB:
    case ZYDIS_MNEMONIC_INSW:
    case ZYDIS_MNEMONIC_INSD:
    case ZYDIS_MNEMONIC_OUTSB:
    case ZYDIS_MNEMONIC_OUTSW:
    case ZYDIS_MNEMONIC_OUTSD:
    case ZYDIS_MNEMONIC_CLI:
    case ZYDIS_MNEMONIC_STI:
    // UMIP: the kernel emulates these for 32-bit processes only.
    case ZYDIS_MNEMONIC_SGDT:
    case ZYDIS_MNEMONIC_SIDT:
    case ZYDIS_MNEMONIC_SLDT:
    case ZYDIS_MNEMONIC_SMSW:
    case ZYDIS_MNEMONIC_STR:
    // CR4.PCE is clear unless perf hands out user-space counters.
    case ZYDIS_MNEMONIC_RDPMC:
    // Ring 0 only; Zydis 4.0's table misses it (lidt has the flag).
    case ZYDIS_MNEMONIC_LGDT:
      return true;
    default:
      return false;
  }
}

bool IsPortIo(ZydisMnemonic mnemonic) {
  switch (mnemonic) {
    case ZYDIS_MNEMONIC_IN:
    case ZYDIS_MNEMONIC_OUT:
    case ZYDIS_MNEMONIC_INSB:
    case ZYDIS_MNEMONIC_INSW:
    case ZYDIS_MNEMONIC_INSD:
    case ZYDIS_MNEMONIC_OUTSB:
    case ZYDIS_MNEMONIC_OUTSW:
    case ZYDIS_MNEMONIC_OUTSD:
      return true;
    default:
      return false;
  }
}

DecodedOperand ToOperand(const ZydisDecodedOperand& op) {
  DecodedOperand out;
  out.bits = op.size;
  switch (op.type) {
    case ZYDIS_OPERAND_TYPE_REGISTER: {
      out.kind = DecodedOperand::Kind::kRegister;
      const char* name = ZydisRegisterGetString(op.reg.value);
      out.reg = name != nullptr ? name : "";
      break;
    }
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
      out.kind = DecodedOperand::Kind::kImmediate;
      // Zydis sign-extends signed immediates to 64 bits; keep the encoded
      // width so `out 0xff, al` is port 0xff, not 0xffff...ff.
      out.immediate = op.imm.value.u;
      if (op.size > 0 && op.size < 64) {
        out.immediate &= (uint64_t{1} << op.size) - 1;
      }
      break;
    case ZYDIS_OPERAND_TYPE_MEMORY:
      out.kind = DecodedOperand::Kind::kMemory;
      break;
    default:
      out.kind = DecodedOperand::Kind::kPointer;
      break;
  }
  return out;
}

constexpr uint64_t kRepAttributes =
    ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE;

// si_code values of SIGTRAP that name the trapping instruction.
std::string TrapMnemonic(int si_code) {
  if (si_code == SI_KERNEL) return "int3";
  if (si_code == TRAP_BRKPT) return "int1";
  return "";
}

}  // namespace

std::optional<DecodedInstruction> DecodeInstruction(
    std::span<const uint8_t> bytes) {
  if (bytes.empty()) return std::nullopt;
  ZydisDecodedInstruction instruction;
  ZydisDecodedOperand operands[ZYDIS_MAX_OPERAND_COUNT];
  const ZyanStatus status = ZydisDecoderDecodeFull(
      &Decoder64(), bytes.data(), bytes.size(), &instruction, operands);
  if (!ZYAN_SUCCESS(status)) return std::nullopt;

  DecodedInstruction out;
  const char* mnemonic = ZydisMnemonicGetString(instruction.mnemonic);
  out.mnemonic = mnemonic != nullptr ? mnemonic : "";
  out.length = instruction.length;
  out.privileged = (instruction.attributes & ZYDIS_ATTRIB_IS_PRIVILEGED) != 0 ||
                   RefusedAtCpl3(instruction.mnemonic);
  out.port_io = IsPortIo(instruction.mnemonic);
  out.rep = (instruction.attributes & kRepAttributes) != 0;
  // Zydis lists the visible operands first.
  for (int i = 0; i < instruction.operand_count_visible; ++i) {
    out.operands.push_back(ToOperand(operands[i]));
  }
  return out;
}

FaultInfo ClassifyFault(int signal, int si_code, uint64_t fault_address,
                        uint64_t rip, std::span<const uint8_t> bytes) {
  FaultInfo info;
  info.address = rip;
  if (signal == SIGTRAP) {
    info.kind = FaultKind::kBreakpoint;
    info.mnemonic = TrapMnemonic(si_code);
    if (!info.mnemonic.empty()) info.address = rip - 1;
    return info;
  }

  std::optional<DecodedInstruction> decoded = DecodeInstruction(bytes);
  if (decoded) {
    info.mnemonic = decoded->mnemonic;
    info.bytes.assign(bytes.begin(), bytes.begin() + decoded->length);
  } else {
    info.bytes.assign(bytes.begin(), bytes.end());
  }

  switch (signal) {
    case SIGILL:
      info.kind = FaultKind::kInvalidInstruction;
      return info;
    case SIGFPE:
      info.kind = FaultKind::kArithmetic;
      return info;
    case SIGSEGV:
    case SIGBUS:
      // A #GP is reported with SI_KERNEL; a page fault has its own codes
      // (SEGV_MAPERR, SEGV_ACCERR, BUS_ADRERR, ...) whatever instruction
      // made it.
      if (si_code == SI_KERNEL && decoded) {
        const std::string& m = decoded->mnemonic;
        if (m == "rdtsc" || m == "rdtscp") {
          info.kind = FaultKind::kRdtsc;
          return info;
        }
        if (m == "cpuid") {
          info.kind = FaultKind::kCpuid;
          return info;
        }
        // `int n` through a gate user space may not use is a #GP too:
        // int 0x80 as well on a host without the i386 ABI
        // (CONFIG_IA32_EMULATION off, ia32_emulation=0), where bare it
        // would be the same SIGSEGV; int3 raises SIGTRAP.
        if (decoded->privileged || m == "int") {
          info.kind = FaultKind::kPrivilegedInstruction;
          return info;
        }
      }
      break;
    default:
      break;
  }
  info.kind = FaultKind::kPageFault;
  info.address = fault_address;
  return info;
}

}  // namespace isoscope
