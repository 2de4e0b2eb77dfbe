// Turns what the tracer sees at a fault (the signal, its siginfo, RIP and
// the bytes there) into the policy's FaultKind. Pure logic over values: no
// ptrace, so every rule is tested with byte strings.
#ifndef ISOSCOPE_BACKENDS_PTRACE_FAULT_DECODER_H_
#define ISOSCOPE_BACKENDS_PTRACE_FAULT_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "policies/policy.h"

namespace isoscope {

// The architectural limit: reading this many bytes at RIP always covers the
// whole instruction (fewer when the next page is unmapped).
inline constexpr size_t kMaxInstructionLength = 15;

// One operand as the emulator needs it; the decoder library's types stay in
// fault_decoder.cc.
struct DecodedOperand {
  enum class Kind { kRegister, kImmediate, kMemory, kPointer };
  Kind kind = Kind::kRegister;
  std::string reg;         // kRegister: lower-case name: "al", "dx", "cr3"
  uint16_t bits = 0;       // the operand's size
  uint64_t immediate = 0;  // kImmediate: the value, zero-extended from `bits`
  bool operator==(const DecodedOperand&) const = default;
};

// One x86-64 instruction, decoded in 64-bit mode.
struct DecodedInstruction {
  std::string mnemonic;  // lower-case, without prefixes: "cpuid", "outsb"
  uint8_t length = 0;    // bytes, 1..15
  // Refused at CPL 3 with #GP (SIGSEGV, SI_KERNEL) in an ordinary Linux
  // process: ring-0 only, or gated by IOPL (in, out, ins*, outs*, cli,
  // sti), UMIP (sgdt, sidt, sldt, smsw, str) or CR4.PCE (rdpmc).
  bool privileged = false;
  bool port_io = false;  // in, out, ins*, outs*
  bool rep = false;      // a rep/repe/repne prefix applies
  // The visible operands (explicit and implicit-but-named, like `dx` and
  // `al` of `out dx, al`), in Intel order: destination first.
  std::vector<DecodedOperand> operands;
  bool operator==(const DecodedInstruction&) const = default;
};

// nullopt when the bytes are not a valid instruction in 64-bit mode, or end
// before it does (fewer bytes were readable than it needs).
std::optional<DecodedInstruction> DecodeInstruction(
    std::span<const uint8_t> bytes);

struct FaultInfo {
  FaultKind kind = FaultKind::kPageFault;
  std::string mnemonic;  // "" when unknown
  // The faulting instruction's bytes when decoded (exactly its length);
  // otherwise what was read. Empty for SIGTRAP (see ClassifyFault).
  std::vector<uint8_t> bytes;
  // kPageFault: the data address (si_addr); otherwise the address of the
  // faulting instruction.
  uint64_t address = 0;
  bool operator==(const FaultInfo&) const = default;
};

// Classifies a fault the CPU raised in the tracee. The tracer calls it at a
// signal-delivery-stop of SIGSEGV, SIGBUS, SIGILL, SIGTRAP or SIGFPE whose
// si_code is > 0 (raised by the kernel, not sent with kill/tgkill/sigqueue;
// ptrace's own syscall and event SIGTRAPs are not signal-delivery-stops and
// never come here). `fault_address` is siginfo's si_addr (a macro, hence
// the name); `bytes` are up to kMaxInstructionLength bytes read at `rip`
// (empty when RIP itself is unmapped).
//
//   SIGSEGV/SIGBUS with si_code SI_KERNEL (#GP, not a page fault) on
//     rdtsc, rdtscp                   -> kRdtsc (CR4.TSD, PR_SET_TSC)
//     cpuid                           -> kCpuid (CPUID faulting)
//     a privileged instruction, or
//     int n (a gate the kernel keeps) -> kPrivilegedInstruction
//   any other SIGSEGV/SIGBUS          -> kPageFault, address = si_addr
//   SIGILL                            -> kInvalidInstruction
//   SIGFPE                            -> kArithmetic
//   SIGTRAP                           -> kBreakpoint
//
// SIGTRAP is a trap, so RIP is already past the instruction and the bytes at
// RIP are the next one: they are not decoded and not kept. The mnemonic
// comes from si_code: SI_KERNEL is int3 (0xcc) and TRAP_BRKPT is int1
// (0xf1, icebp), both one byte, so their address is rip - 1; TRAP_TRACE
// (the workload set TF) and TRAP_HWBKPT have no mnemonic and keep rip.
//
// Any other signal is not a fault: the caller should not ask; it comes back
// as kPageFault at si_addr, whose default action (deliver) is harmless.
FaultInfo ClassifyFault(int signal, int si_code, uint64_t fault_address,
                        uint64_t rip, std::span<const uint8_t> bytes);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PTRACE_FAULT_DECODER_H_
