// What a backend reports to the supervisor's loop. Events are values; the
// loop fills in verdicts and keeps them in the RunResult.
#ifndef ISOSCOPE_SUPERVISOR_EVENT_H_
#define ISOSCOPE_SUPERVISOR_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "policies/decide.h"
#include "policies/policy.h"

namespace isoscope {

// Where a syscall was decided.
enum class DecidedBy {
  kKernelFilter,  // the backend's fast path (seccomp filter, VMM table)
  kSupervisor,    // the supervisor's loop, via Decide
};

struct SyscallEvent {
  int pid = 0;  // the thread that made the call (guest: 1)
  SyscallRequest request;
  // Filled by the supervisor when it decides; a backend reporting a syscall
  // its fast path decided (for example a seccomp kill) fills both itself.
  std::optional<Verdict> verdict;
  DecidedBy decided_by = DecidedBy::kSupervisor;
  // Not a call the workload made: a file the kernel ran by itself for an
  // execve already done (a `#!` interpreter, an ELF's dynamic loader),
  // asked about as an execve of that path. The supervisor does not count
  // it as a syscall; its verdict's reason says what it was (the store keeps
  // that, not this flag).
  bool exec_image = false;
  bool operator==(const SyscallEvent&) const = default;
};

struct FaultEvent {
  int pid = 0;
  FaultKind kind = FaultKind::kPrivilegedInstruction;
  int signal = 0;              // the signal the host raised, if any
  uint64_t rip = 0;            // faulting instruction
  uint64_t address = 0;        // faulting data address (page faults)
  std::string mnemonic;        // decoded instruction ("cpuid"), if known
  std::vector<uint8_t> bytes;  // instruction bytes, if read
  std::optional<Verdict> verdict;
  bool operator==(const FaultEvent&) const = default;
};

// A signal delivered to the workload that was not a fault.
struct SignalEvent {
  int pid = 0;
  int signal = 0;
  bool operator==(const SignalEvent&) const = default;
};

enum class OutputStream { kStdout, kStderr };

// Bytes the workload wrote; the loop passes them through and captures them
// up to the policy's output limit.
struct OutputEvent {
  OutputStream stream = OutputStream::kStdout;
  std::string bytes;
  bool operator==(const OutputEvent&) const = default;
};

enum class LimitKind {
  kWallTime,
  kCpuTime,
  kMemory,
  kProcesses,
  kOpenFiles,
  kFileSize,
  kOutput
};
std::string_view LimitKindName(LimitKind kind);

// A resource limit was hit (found by the backend, e.g. an OOM kill, or by the
// loop, e.g. the wall-time deadline).
struct LimitEvent {
  LimitKind kind = LimitKind::kWallTime;
  std::string detail;
  bool operator==(const LimitEvent&) const = default;
};

// Resource use of the whole workload, reported with its exit.
struct Usage {
  int64_t user_cpu_us = 0;
  int64_t system_cpu_us = 0;
  // The workload's own peak resident set (the largest of its processes'),
  // not counting what isoscope's child held before the exec; nullopt when
  // it cannot be known (see docs of each backend).
  std::optional<int64_t> max_rss_kib;
  // Every syscall the workload made, counted by the kernel
  // (supervisor/syscall_counter.h) plus those answered without the kernel
  // running them; nullopt when this host cannot count them.
  std::optional<uint64_t> syscalls;
  bool operator==(const Usage&) const = default;
};

// The workload ended; always the last event of a run.
struct ExitEvent {
  bool signaled = false;
  int exit_code = 0;  // valid when !signaled
  int signal = 0;     // valid when signaled
  bool core_dumped = false;
  Usage usage;
  // What ended it when the signal alone does not say (a VM's triple fault,
  // an instruction the hypervisor cannot emulate); empty otherwise.
  std::string detail;
  bool operator==(const ExitEvent&) const = default;
};

using Event = std::variant<SyscallEvent, FaultEvent, SignalEvent, OutputEvent,
                           LimitEvent, ExitEvent>;

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_EVENT_H_
