// The outcome of one run: a value, stored as is and rendered by reports.
#ifndef ISOSCOPE_SUPERVISOR_RUN_RESULT_H_
#define ISOSCOPE_SUPERVISOR_RUN_RESULT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/event.h"
#include "supervisor/host_facts.h"
#include "supervisor/workload_source.h"

namespace isoscope {

enum class Outcome {
  kExited,       // the workload exited by itself (any status)
  kSignaled,     // the workload died of a signal it was not sent by isoscope
  kViolation,    // isoscope killed it for a policy `kill` decision
  kLimit,        // isoscope (or the kernel, for the policy) stopped it at a
                 // resource limit
  kInterrupted,  // isoscope itself was interrupted (SIGINT/SIGTERM), or
                 // died mid-run (found and marked by the next isoscope)
  kError,        // isoscope itself failed; `reason` holds its message
  kRunning,      // still running: how the results store keeps a run from
                 // its start until it ends
};
std::string_view OutcomeName(Outcome outcome);
// Every outcome, in declaration order.
std::span<const Outcome> AllOutcomes();
// Inverse of OutcomeName; nullopt for an unknown name.
std::optional<Outcome> OutcomeFromName(std::string_view name);

struct Termination {
  Outcome outcome = Outcome::kExited;
  int exit_code = 0;  // kExited
  int signal = 0;     // the signal that ended the workload, if any
  bool core_dumped = false;
  std::optional<LimitKind> limit;  // kLimit
  std::string rule_id;             // kViolation: the deciding rule
  std::string reason;              // one line for humans
  // The exit status isoscope itself returns: the workload's code, or
  // 128 + signal.
  int ExitStatus() const;
  bool operator==(const Termination&) const = default;
};

struct CapturedOutput {
  std::string stdout_bytes;  // at most the policy's output limit in total
  std::string stderr_bytes;
  uint64_t total_bytes = 0;  // what the workload wrote, captured or not
  bool truncated = false;
  bool operator==(const CapturedOutput&) const = default;
};

struct Timings {
  int64_t startup_ns = 0;  // Backend::Start, until the workload runs
  int64_t wall_ns = 0;     // Start to exit
  int64_t user_cpu_us = 0;
  int64_t system_cpu_us = 0;
  int64_t decision_ns = 0;  // time in the loop deciding trapped syscalls
  bool operator==(const Timings&) const = default;
};

struct Counters {
  // Every syscall the workload made (Usage::syscalls); nullopt when not
  // known: the host cannot count them, or the run was recorded before
  // isoscope counted them.
  std::optional<uint64_t> syscalls_total;
  uint64_t syscalls_trapped = 0;    // decided by the supervisor
  uint64_t syscalls_in_kernel = 0;  // fast-path decisions reported to us
  uint64_t syscalls_denied = 0;     // denied or killed, by either
  uint64_t faults = 0;
  uint64_t signals = 0;
  uint64_t violations = 0;
  uint64_t events_dropped = 0;         // events counted but not kept (caps)
  std::optional<int64_t> max_rss_kib;  // Usage::max_rss_kib
  bool operator==(const Counters&) const = default;
};

// The events worth keeping: everything except plain output (which lives in
// CapturedOutput) and allowed, unlogged syscalls. Denied and killed calls,
// signals and faults are counted in tables (DenialCount, SignalCount); only
// the first few of each kind are kept as events.
using RecordedEvent = Event;

// Events of one kind the run recorded (EventCount::kind): how many there
// were and how many of them are kept. Kinds are: a syscall by ABI, number,
// action and rule; a fault by kind, action and rule; a signal; a limit; the
// exit.
struct EventCount {
  std::string kind;     // "syscall getppid", "fault rdtsc", "signal SIGCHLD",
                        // "limit wall_time", "exit"; "... other" (see below)
  std::string action;   // the verdict's action name; empty when none
  std::string rule_id;  // the deciding rule; empty when none
  uint64_t count = 0;   // exact
  uint64_t kept = 0;    // the first `kept` of them are in RunResult::events
  bool operator==(const EventCount&) const = default;
};

// Denied or killed syscalls of one kind: (ABI, syscall, rule, action,
// errno), whoever decided them (the supervisor, or a fast path that
// reported them: a seccomp kill, a backend's own refusal).
struct DenialCount {
  Abi abi = Abi::kX86_64;
  int number = 0;  // for kX32, without the x32 bit
  std::string rule_id;
  Action action = Action::kDeny;  // kDeny or kKill
  int errno_value = 0;            // kDeny
  uint64_t count = 0;
  bool operator==(const DenialCount&) const = default;
};

// Signals of one kind the workload got: a signal passed on to it (action
// kDeliver) or a fault and what the policy did with it.
struct SignalCount {
  int signal = 0;
  Action action = Action::kDeliver;
  uint64_t count = 0;
  bool operator==(const SignalCount&) const = default;
};

// How many events of one denial kind are kept: the first call of each
// distinct first path (so one harmless denied open does not hide the file
// a later one tried; for a call without a path, of each distinct reason:
// one refused address or socket option does not hide another), up to this
// many; the rest are counted only.
inline constexpr uint64_t kDenialEventsKept = 8;
inline constexpr uint64_t kSignalEventsKept = 3;
// Denial rows of numbers that name no syscall (x86-64 and x32: no name;
// i386: above kMaxSyscallNumber), one row per rule and answer, so a
// workload cannot make a kind of every number it tries; and of the kinds
// that came after the table held kMaxDenialKinds rows, likewise per rule.
inline constexpr int kUnnamedSyscalls = -1;
inline constexpr int kOtherSyscalls = -2;
inline constexpr size_t kMaxDenialKinds = 1024;

struct RunResult {
  int64_t id = 0;  // assigned by the store; 0 until recorded
  std::string backend;
  std::vector<std::string> argv;
  std::string workdir;
  // Where the workload came from (an OCI bundle or image); nullopt: a
  // program of the host, or a run recorded before runs said (schema < 5).
  std::optional<WorkloadSource> source;
  std::string policy_name;
  std::string policy_text;  // the YAML that was applied
  int64_t started_at_unix_ms = 0;
  Termination termination;
  CapturedOutput output;
  Timings timings;
  Counters counters;
  // The first kEventsKeptPerKind of each kind, at most kMaxRecordedEvents
  // in all, in the order they happened.
  std::vector<RecordedEvent> events;
  // Every event kind the run recorded, in order of first occurrence, with
  // exact counts: whether `events` holds them all or only the first of
  // each kind. The supervisor's loop fills it; nullopt in runs recorded
  // before isoscope counted them (the first 10000 events were kept, the
  // rest counted in counters.events_dropped).
  std::optional<std::vector<EventCount>> event_counts;
  // In order of first occurrence; nullopt in runs recorded before isoscope
  // counted them (shown as n/a).
  std::optional<std::vector<DenialCount>> denials = std::vector<DenialCount>{};
  std::optional<std::vector<SignalCount>> signal_counts =
      std::vector<SignalCount>{};
  // What the policy asks for that this backend cannot do on this host (a
  // fault kind it cannot trap), one line each; shown with the run.
  std::vector<std::string> warnings;
  HostFacts host;
  bool operator==(const RunResult&) const = default;
};

// How many events a run keeps: the first kEventsKeptPerKind of each kind
// (of a denial kind, those kDenialEventsKept allows; of a signal or fault
// kind, kSignalEventsKept), and at most kMaxRecordedEvents in all; the
// others are counted only. A run counts at most kMaxEventKinds syscall
// kinds, then one more per action and rule (kind "syscall other"), so a
// workload cannot grow the table without bound by trying every number.
inline constexpr uint64_t kEventsKeptPerKind = 10000;
inline constexpr size_t kMaxRecordedEvents = 100000;
inline constexpr size_t kMaxEventKinds = 1024;

// Whether every event the run recorded is kept: true when its counts say
// so; for a run recorded before isoscope counted kinds, when none was
// dropped.
bool AllEventsKept(const RunResult& run);
// Events counted, kept or not; events kept (also when `run.events` is
// empty because they were streamed to the results store).
uint64_t EventsCounted(const RunResult& run);
uint64_t EventsKept(const RunResult& run);

// A syscall as run reports name it: "openat", "x32:write", "i386:#20" (i386
// numbers have other names), "syscall_1000" for a number without a name.
std::string SyscallLabel(Abi abi, int number);

// What a run was refused, most frequent first, for one line: "denied:
// setresuid x2 [syscalls.default], openat x1 [files.else] +3 more" (at
// most `max_kinds` named), and the rule of the first call denied; both
// empty when nothing was. From the run's table of denials, or, in a run
// recorded before isoscope counted them, from its recorded events. Kills
// are left out: the run's reason names the one that ended it.
struct DenialSummary {
  std::string text;
  std::string first_rule;
};
DenialSummary SummarizeDenials(const RunResult& run, size_t max_kinds);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_RUN_RESULT_H_
