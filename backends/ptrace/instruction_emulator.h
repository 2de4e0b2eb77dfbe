// Emulation of the few instructions a sandboxed workload may not execute but
// whose result isoscope can make up: cpuid, rdtsc/rdtscp, port I/O to a
// virtual COM1, cli/sti and hlt. One emulator per run holds the virtual
// state those share; the tracer reads the registers, calls Emulate, and
// writes them back. Pure logic over values: no ptrace.
#ifndef ISOSCOPE_BACKENDS_PTRACE_INSTRUCTION_EMULATOR_H_
#define ISOSCOPE_BACKENDS_PTRACE_INSTRUCTION_EMULATOR_H_

#include <sys/user.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "backends/ptrace/fault_decoder.h"

namespace isoscope {

// The registers as PTRACE_GETREGS/PTRACE_SETREGS move them.
using RegisterFile = user_regs_struct;

struct CpuidRegisters {
  uint32_t eax = 0;
  uint32_t ebx = 0;
  uint32_t ecx = 0;
  uint32_t edx = 0;
  bool operator==(const CpuidRegisters&) const = default;
};

struct EmulationResult {
  bool emulated = false;
  std::string serial_output;  // bytes written to the virtual serial port
  // When !emulated: why, for the record ("out to port 0x60 has no virtual
  // device"); the registers are then untouched.
  std::string why_not;
};

class InstructionEmulator {
 public:
  // Nanoseconds on a monotonic clock.
  using Clock = std::function<uint64_t()>;
  // What the CPU answers for cpuid(leaf, subleaf).
  using CpuidSource = std::function<CpuidRegisters(uint32_t, uint32_t)>;

  static uint64_t MonotonicNanoseconds();  // CLOCK_MONOTONIC
  static CpuidRegisters HostCpuid(uint32_t leaf, uint32_t subleaf);

  // Starts the virtual TSC at 0 (construct it when the run starts). With
  // `hide_hypervisor` (FaultPolicy::hide_hypervisor) cpuid clears the
  // hypervisor-present bit (leaf 1 ECX bit 31) and answers the hypervisor
  // leaves 0x40000000-0x400000ff with zeros. `cpuid` defaults to the host;
  // tests give a fake CPU.
  explicit InstructionEmulator(bool hide_hypervisor,
                               Clock clock = MonotonicNanoseconds,
                               CpuidSource cpuid = HostCpuid);

  // Emulates `instruction` on `regs`. On success RIP moves past it and only
  // the registers the instruction writes change (a 32-bit destination
  // zeroes its upper half, an 8- or 16-bit one keeps the rest, as on x86).
  // Emulated: cpuid; rdtsc; rdtscp (TSC_AUX = 0); in/out of 8, 16 or 32
  // bits with the port in DX or an imm8, to COM1 (0x3f8-0x3ff) only; cli
  // and sti (the virtual interrupt flag; RFLAGS.IF stays set, as the kernel
  // keeps it in user space); hlt (a no-op: the tracer yields the CPU before
  // resuming). Anything else, string I/O (ins/outs, rep or not) included,
  // is not emulated.
  EmulationResult Emulate(const DecodedInstruction& instruction,
                          RegisterFile& regs);

  // The virtual interrupt flag: set at start, cleared by cli, set by sti.
  bool interrupt_flag() const { return interrupt_flag_; }

  // The virtual CPU's answer to cpuid(leaf, subleaf). The host's answers
  // are read once per (leaf, subleaf) (leaves 0 and 0x80000000 at
  // construction) and kept, so the workload sees one consistent CPU even
  // when the tracer moves between host CPUs (APIC ids differ). A leaf above
  // the highest basic or extended leaf is answered as the vendor's CPUs do:
  // Intel with the highest basic leaf's values, others (AMD, Hygon) zeros.
  CpuidRegisters Cpuid(uint32_t leaf, uint32_t subleaf);

  // The virtual TSC: nanoseconds since construction (a fixed 1 GHz), and
  // strictly increasing from one read to the next, as a real TSC is (code
  // divides by TSC deltas; two reads within one clock tick must differ).
  uint64_t ReadTsc();

 private:
  CpuidRegisters HostAnswer(uint32_t leaf, uint32_t subleaf);
  EmulationResult PortIo(const DecodedInstruction& instruction,
                         RegisterFile& regs);
  // One byte of COM1, `offset` 0..7 from 0x3f8.
  void WriteCom1(unsigned offset, uint8_t value, std::string& output);
  uint8_t ReadCom1(unsigned offset) const;

  bool hide_hypervisor_;
  Clock clock_;
  CpuidSource cpuid_;
  uint64_t tsc_start_ns_;
  std::optional<uint64_t> last_tsc_;
  bool interrupt_flag_ = true;
  // COM1's line control register: its bit 7 (DLAB) turns 0x3f8/0x3f9 into
  // the baud-rate divisor, whose bytes are not output.
  uint8_t com1_lcr_ = 0;
  std::map<std::pair<uint32_t, uint32_t>, CpuidRegisters> cpuid_cache_;
  uint32_t max_basic_leaf_ = 0;
  uint32_t max_extended_leaf_ = 0;
  bool intel_ = false;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PTRACE_INSTRUCTION_EMULATOR_H_
