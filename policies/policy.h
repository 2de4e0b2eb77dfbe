// The policy model: immutable data, built only by the loader (or tests), read
// by Decide and by the plan compiler. See policies/README.md for the schema.
#ifndef ISOSCOPE_POLICIES_POLICY_H_
#define ISOSCOPE_POLICIES_POLICY_H_

#include <array>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "policies/endpoints.h"

namespace isoscope {

// What happens to a syscall or a fault. Syscalls use kAllow, kDeny, kKill,
// kLog, kEmulate; faults use kKill, kReport, kDeliver, kEmulate.
enum class Action {
  kAllow,    // run it
  kDeny,     // do not run it; return -errno
  kKill,     // kill the workload (a violation)
  kLog,      // run it and record it
  kEmulate,  // do not run it; return a given value (syscall) or emulate the
             // instruction (fault, where the backend can)
  kReport,   // fault: record it and resume (the kernel's default follows)
  kDeliver,  // fault: deliver the signal to the workload's own handler
};

std::string_view ActionName(Action action);

struct ActionSpec {
  Action action = Action::kKill;
  int errno_value = 0;        // kDeny: the errno returned
  int64_t emulate_value = 0;  // kEmulate (syscall): the value returned
  bool operator==(const ActionSpec&) const = default;
};

// One-word-or-two form for reasons and reports: "allow", "deny EACCES",
// "emulate 0", "kill".
std::string DescribeAction(const ActionSpec& spec);

// Where a rule came from, for error messages and provenance.
struct SourcePosition {
  int line = 0;    // 1-based; 0 when unknown (built in code)
  int column = 0;  // 1-based
  bool operator==(const SourcePosition&) const = default;
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kMaskedEq };

// The name a policy file gives it: "eq", ..., "masked_eq".
std::string_view CompareOpName(CompareOp op);

// args[index] <op> value; for kMaskedEq: (args[index] & mask) == value.
// Comparisons are on the unsigned 64-bit register value.
struct ArgCondition {
  int index = 0;  // 0..5
  CompareOp op = CompareOp::kEq;
  uint64_t value = 0;
  uint64_t mask = ~uint64_t{0};
  bool operator==(const ArgCondition&) const = default;
};

// Why a path argument is used, derived from the syscall and its flags.
enum class PathIntent { kRead, kWrite, kExec };

std::string_view PathIntentName(PathIntent intent);

// Globs allowed per intent. `*` matches within one path component, `**`
// matches any number of components, `{workdir}` is the run's working
// directory. A path matches the rule when it matches a glob of its intent.
struct PathGlobs {
  std::vector<std::string> read;
  std::vector<std::string> write;
  std::vector<std::string> exec;
  bool operator==(const PathGlobs&) const = default;
};

struct Rule {
  std::string id;             // unique; "rules[N]" when the file names none
  std::vector<int> syscalls;  // x86-64 numbers, validated at load
  std::vector<ArgCondition> args;  // all must hold
  std::optional<PathGlobs> paths;  // path arguments must match their intent
  ActionSpec action;               // when the syscall and conditions match
  std::optional<ActionSpec> otherwise;  // `else`: the syscall matches but a
                                        // condition does not; absent: fall
                                        // through to the next rule
  SourcePosition position;
  bool operator==(const Rule&) const = default;
};

// What happens to syscalls made through a non-native ABI.
struct AbiPolicy {
  ActionSpec i386{Action::kKill};  // int 0x80 (and 32-bit sysenter)
  ActionSpec x32{Action::kKill};   // x32 numbers (bit 30 set)
  bool operator==(const AbiPolicy&) const = default;
};

struct SyscallPolicy {
  ActionSpec default_action{Action::kKill};  // fails closed
  SourcePosition default_position;           // of `default:`; 0 if absent
  std::vector<Rule> rules;                   // first match decides
  AbiPolicy abi;
  bool operator==(const SyscallPolicy&) const = default;
};

enum class FaultKind {
  kPrivilegedInstruction,  // #GP from a ring-0 or I/O instruction (SIGSEGV)
  kCpuid,                  // cpuid under CPUID faulting (SIGSEGV)
  kRdtsc,                  // rdtsc/rdtscp with CR4.TSD set (SIGSEGV)
  kPageFault,              // any other SIGSEGV/SIGBUS
  kInvalidInstruction,     // #UD: ud2, an undefined opcode (SIGILL)
  kBreakpoint,             // int3/int1, a debug trap (SIGTRAP)
  kArithmetic,             // #DE: divide error (SIGFPE)
};
inline constexpr std::array kAllFaultKinds = {FaultKind::kPrivilegedInstruction,
                                              FaultKind::kCpuid,
                                              FaultKind::kRdtsc,
                                              FaultKind::kPageFault,
                                              FaultKind::kInvalidInstruction,
                                              FaultKind::kBreakpoint,
                                              FaultKind::kArithmetic};

std::string_view FaultKindName(FaultKind kind);  // "privileged_instruction"...

// Whether `emulate` is a possible action for faults of this kind: only for
// instructions whose result isoscope can make up.
bool CanEmulate(FaultKind kind);

struct FaultPolicy {
  Action privileged_instruction = Action::kKill;
  Action cpuid = Action::kReport;
  Action rdtsc = Action::kReport;
  Action page_fault = Action::kDeliver;
  // Ordinary program faults: the workload's own handler (or the kernel's
  // default) sees them as it would outside the sandbox.
  Action invalid_instruction = Action::kDeliver;
  Action breakpoint = Action::kDeliver;
  Action arithmetic = Action::kDeliver;
  // The virtual CPU that `emulate` of cpuid answers from.
  bool hide_hypervisor = true;
  Action For(FaultKind kind) const;
  void Set(FaultKind kind, Action action);
  bool operator==(const FaultPolicy&) const = default;
};

// Resource limits; absent means unlimited.
struct Resources {
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> processes;
  std::optional<uint64_t> cpu_time_ms;
  std::optional<uint64_t> wall_time_ms;
  std::optional<uint64_t> open_files;
  std::optional<uint64_t> file_size_bytes;  // largest file it may write
  std::optional<uint64_t> output_bytes;
  bool operator==(const Resources&) const = default;
};

struct FilesystemView {
  std::vector<std::string> readonly;  // host paths visible read-only
  std::vector<std::string> writable;  // host paths visible read-write
  std::vector<std::string> tmpfs;     // fresh empty tmpfs at these paths
  std::vector<std::string> hidden;    // never visible
  bool operator==(const FilesystemView&) const = default;
};

enum class NetworkMode { kNone, kLoopback, kHost };
std::string_view NetworkModeName(NetworkMode mode);

// The endpoints the workload may reach (`network.connect`: connect, and the
// destination of sendto, sendmsg, sendmmsg) and bind (`network.bind`), each
// list absent when the mode alone decides. A call whose IPv4 or IPv6
// address no pattern matches fails with `errno_value` (rule
// "network.connect" or "network.bind"); see Decide for other families.
struct NetworkEndpoints {
  std::optional<std::vector<EndpointPattern>> connect;
  std::optional<std::vector<EndpointPattern>> bind;
  int errno_value = EACCES;
  bool operator==(const NetworkEndpoints&) const = default;
  bool empty() const { return !connect && !bind; }
};

struct Identity {
  std::optional<std::string> hostname;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  // Container backend: run in a new user namespace that maps uid and gid
  // (or 0 when absent) to the same ids outside, so even "root" inside is
  // nobody special on the host.
  bool user_namespace = false;
  bool operator==(const Identity&) const = default;
};

// Holes the policy accepts on purpose (an `accepted_holes` entry): calls
// that step around its path rules or its network mode (see holes.h),
// allowed anyway for the stated reason.
struct AcceptedHole {
  std::vector<int> syscalls;  // x86-64 numbers, each in one entry only
  std::string reason;         // required, never blank
  SourcePosition position;
  bool operator==(const AcceptedHole&) const = default;
};

struct Policy {
  int version = 1;
  std::string name;    // preset name or file path
  std::string source;  // the YAML text it was parsed from (for the record)
  SyscallPolicy syscalls;
  FaultPolicy faults;
  Resources resources;
  FilesystemView filesystem;
  NetworkMode network = NetworkMode::kNone;
  NetworkEndpoints endpoints;
  Identity identity;
  // Capabilities the workload keeps (canonical "CAP_NET_BIND_SERVICE"
  // names); every other one is dropped where a backend drops them.
  std::vector<std::string> capabilities;
  std::vector<AcceptedHole> accepted_holes;
  bool operator==(const Policy&) const = default;
};

// Returns a copy with `{workdir}` in every glob and filesystem path replaced
// by `workdir` (normalised, no trailing slash).
Policy WithWorkdir(const Policy& policy, const std::string& workdir);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_POLICY_H_
