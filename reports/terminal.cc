#include "reports/terminal.h"

#include <string.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "base/error.h"
#include "policies/policy.h"
#include "policies/syscalls.h"
#include "reports/text.h"

namespace isoscope {
namespace {

constexpr size_t kMaxPolicyColumn = 24;
constexpr size_t kMinCommandColumn = 12;

// ---------------------------------------------------------------------------
// Text helpers (the shared ones are in reports/text.h)

using report_text::Columns;
using report_text::CommandLine;
using report_text::FormatBytes;
using report_text::FormatKib;
using report_text::FormatNs;
using report_text::Line;
using report_text::PadLeft;
using report_text::PadRight;
using report_text::Printable;
using report_text::SourceText;
using report_text::Truncate;
using report_text::TruncateMiddle;
using report_text::UtcTime;

std::string FormatDuration(int64_t ns) {
  return FormatNs(static_cast<double>(ns));
}

std::string FormatMicros(int64_t us) { return FormatDuration(us * 1000); }

// "1 fault", "2 faults".
std::string Count(uint64_t n, std::string_view singular,
                  std::string_view plural) {
  return fmt::format("{} {}", n, n == 1 ? singular : plural);
}

std::string SignalName(int signal) {
  const char* abbrev = signal > 0 ? ::sigabbrev_np(signal) : nullptr;
  if (abbrev == nullptr) return fmt::format("signal {}", signal);
  return fmt::format("SIG{}", abbrev);
}

std::string OutcomeText(const Termination& t) {
  std::string text(OutcomeName(t.outcome));
  if (t.outcome == Outcome::kLimit && t.limit.has_value()) {
    text += fmt::format(" ({})", LimitKindName(*t.limit));
  }
  if (!t.reason.empty()) text += ": " + Line(t.reason);
  if (t.outcome == Outcome::kViolation && !t.rule_id.empty()) {
    text += fmt::format(" [rule {}]", Line(t.rule_id));
  }
  return text;
}

std::string ExitText(const Termination& t) {
  std::string text = fmt::format("status {}", t.ExitStatus());
  if (t.signal != 0) {
    text += fmt::format(" (killed by {}{})", SignalName(t.signal),
                        t.core_dumped ? ", core dumped" : "");
  }
  return text;
}

std::string VerdictText(const Verdict& v, bool syscall) {
  std::string text(ActionName(v.action.action));
  if (v.action.action == Action::kDeny) {
    const std::string_view name = ErrnoName(v.action.errno_value);
    text += name.empty() ? fmt::format(" errno {}", v.action.errno_value)
                         : fmt::format(" {}", name);
  }
  if (v.action.action == Action::kEmulate && syscall) {
    text += fmt::format(" = {}", v.action.emulate_value);
  }
  if (!v.rule_id.empty()) text += fmt::format(" [{}]", Line(v.rule_id));
  return text;
}

// "setresuid", "x32:setresuid", "syscall_999"; "i386:#20": isoscope names
// only x86-64 numbers, which x32 shares and i386 does not.
// How many denial kinds the failure line names before "+N more".
constexpr size_t kFailureLineDenials = 3;

std::string DenialsText(const std::optional<std::vector<DenialCount>>& rows) {
  if (!rows) {
    return "\nDenied and killed syscalls: n/a (recorded before isoscope "
           "counted them)\n";
  }
  uint64_t calls = 0;
  for (const DenialCount& row : *rows) calls += row.count;
  std::string out = fmt::format("\nDenied and killed syscalls ({}, {})\n",
                                Count(rows->size(), "kind", "kinds"),
                                Count(calls, "call", "calls"));
  if (rows->empty()) return out + "  (none)\n";
  size_t width = 0;
  for (const DenialCount& row : *rows) {
    width = std::max(width, SyscallLabel(row.abi, row.number).size());
  }
  for (const DenialCount& row : *rows) {
    Verdict verdict{ActionSpec{row.action, row.errno_value}, row.rule_id, ""};
    out += fmt::format("  {}  x{:<6}  {}\n",
                       PadRight(SyscallLabel(row.abi, row.number), width),
                       row.count, VerdictText(verdict, true));
  }
  return out;
}

std::string SignalCountsText(
    const std::optional<std::vector<SignalCount>>& rows) {
  if (!rows) {
    return "\nSignals and faults: n/a (recorded before isoscope counted "
           "them)\n";
  }
  if (rows->empty()) return "\nSignals and faults: none\n";
  std::string out = "\nSignals and faults (by signal and action)\n";
  for (const SignalCount& row : *rows) {
    out +=
        fmt::format("  {}  x{:<6}  {}\n", PadRight(SignalName(row.signal), 9),
                    row.count, ActionName(row.action));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Events

// How many events the run kept, and whether that is all of them.
std::string EventsText(const RunResult& r) {
  const uint64_t kept = EventsKept(r);
  if (!r.event_counts) {
    std::string out = fmt::format("{} recorded", kept);
    if (r.counters.events_dropped != 0) {
      out += fmt::format(", {} dropped", r.counters.events_dropped);
    }
    return out;
  }
  if (AllEventsKept(r)) return fmt::format("{} recorded", kept);
  return fmt::format(
      "{} recorded of {}: the first of each kind, at most {} in all; every "
      "kind counted",
      kept, EventsCounted(r), kMaxRecordedEvents);
}

// The table of event kinds, when the run did not keep every event: what
// each kind counted and kept.
std::string EventCountsText(const RunResult& r) {
  if (!r.event_counts || AllEventsKept(r)) return "";
  std::string out = fmt::format(
      "\nEvent kinds ({}; counts exact; kept: the first {} of each, of "
      "denials {} with distinct paths, of signals and faults {})\n",
      Count(r.event_counts->size(), "kind", "kinds"), kEventsKeptPerKind,
      kDenialEventsKept, kSignalEventsKept);
  size_t width = 0;
  for (const EventCount& row : *r.event_counts) {
    width = std::max(width, Columns(Line(row.kind)));
  }
  for (const EventCount& row : *r.event_counts) {
    std::string line = fmt::format("  {}  x{:<8}kept ",
                                   PadRight(Line(row.kind), width), row.count);
    line += row.action.empty()
                ? std::to_string(row.kept)
                : fmt::format("{:<6}  {}", row.kept, Line(row.action));
    if (!row.rule_id.empty()) line += fmt::format(" [{}]", Line(row.rule_id));
    out += line + "\n";
  }
  return out;
}

struct EventLine {
  std::string operator()(const SyscallEvent& e) const {
    const auto& r = e.request;
    std::string text =
        fmt::format("[{}] {}(", e.pid, SyscallLabel(r.abi, r.number));
    for (size_t i = 0; i < r.args.size(); ++i) {
      text += fmt::format("{}{:#x}", i == 0 ? "" : ", ", r.args[i]);
    }
    text += ")";
    for (const auto& p : r.paths) {
      text += fmt::format(" arg{}=\"{}\"", p.arg_index, Line(p.path));
    }
    if (e.verdict.has_value()) {
      text += " -> " + VerdictText(*e.verdict, true);
    }
    text += e.decided_by == DecidedBy::kKernelFilter ? " (in kernel)"
                                                     : " (supervisor)";
    if (e.verdict.has_value() && !e.verdict->reason.empty()) {
      text += ": " + Line(e.verdict->reason);
    }
    return text;
  }
  std::string operator()(const FaultEvent& e) const {
    std::string text = fmt::format("[{}] fault {} at {:#x}", e.pid,
                                   FaultKindName(e.kind), e.rip);
    if (!e.mnemonic.empty() || !e.bytes.empty()) {
      text += ":";
      if (!e.mnemonic.empty()) text += " " + Line(e.mnemonic);
      if (!e.bytes.empty()) {
        text += " (";
        for (size_t i = 0; i < e.bytes.size(); ++i) {
          text += fmt::format("{}{:02x}", i == 0 ? "" : " ", e.bytes[i]);
        }
        text += ")";
      }
    }
    if (e.address != 0) text += fmt::format(", address {:#x}", e.address);
    if (e.signal != 0) text += ", " + SignalName(e.signal);
    if (e.verdict.has_value()) {
      text += " -> " + VerdictText(*e.verdict, false);
    }
    return text;
  }
  std::string operator()(const SignalEvent& e) const {
    return fmt::format("[{}] signal {} ({})", e.pid, SignalName(e.signal),
                       e.signal);
  }
  std::string operator()(const OutputEvent& e) const {
    return fmt::format("{}: {} \"{}\"",
                       e.stream == OutputStream::kStdout ? "stdout" : "stderr",
                       FormatBytes(e.bytes.size()),
                       Line(Truncate(e.bytes, 60)));
  }
  std::string operator()(const LimitEvent& e) const {
    std::string text = fmt::format("limit {}", LimitKindName(e.kind));
    if (!e.detail.empty()) text += ": " + Line(e.detail);
    return text;
  }
  std::string operator()(const ExitEvent& e) const {
    std::string text =
        e.signaled ? fmt::format("exit: killed by {}{}", SignalName(e.signal),
                                 e.core_dumped ? " (core dumped)" : "")
                   : fmt::format("exit: code {}", e.exit_code);
    text += fmt::format(
        "; user {}, sys {}, peak {}", FormatMicros(e.usage.user_cpu_us),
        FormatMicros(e.usage.system_cpu_us), FormatKib(e.usage.max_rss_kib));
    return text;
  }
};

std::string HostText(const HostFacts& h) {
  std::string out = "Host\n";
  out += fmt::format(
      "  kernel          {} ({}), {}, {}\n", Line(h.kernel_release),
      Line(h.machine),
      Count(static_cast<uint64_t>(std::max(h.cpus, 0)), "CPU", "CPUs"),
      h.cpu_model.empty() ? "unknown CPU" : Line(h.cpu_model));
  std::string cgroups(CgroupLayoutName(h.cgroups.layout));
  if (!h.cgroups.v2_root.empty()) {
    cgroups += " at " + Line(h.cgroups.v2_root.string());
  }
  std::vector<std::string> controllers = h.cgroups.v2_controllers;
  controllers.insert(controllers.end(), h.cgroups.v1_controllers.begin(),
                     h.cgroups.v1_controllers.end());
  if (!controllers.empty()) {
    std::string list;
    for (const auto& c : controllers) {
      if (!list.empty()) list += ", ";
      list += Line(c);
    }
    cgroups += " (" + list + ")";
  }
  out += fmt::format("  cgroups         {}\n", cgroups);
  out += fmt::format("  virtualization  {}\n",
                     VirtualizationKindName(h.virtualization));
  // Available features in one list, missing ones with why: the reason is
  // what explains a backend that could not run.
  const std::pair<std::string_view, const Feature*> features[] = {
      {"seccomp", &h.seccomp},
      {"seccomp-notify", &h.seccomp_user_notif},
      {"ptrace", &h.ptrace},
      {"user-namespaces", &h.user_namespaces},
      {"cpuid-faulting", &h.cpuid_faulting},
      {"rdtsc-trapping",
       h.rdtsc_trapping ? &*h.rdtsc_trapping : nullptr},  // n/a: not known
      {"kvm", &h.kvm}};
  std::string available;
  for (const auto& [name, feature] : features) {
    if (feature == nullptr || !feature->available) continue;
    if (!available.empty()) available += ", ";
    available += name;
  }
  out += fmt::format("  available       {}{}\n",
                     available.empty() ? "(none)" : available,
                     h.is_root ? "; running as root" : "");
  for (const auto& [name, feature] : features) {
    if (feature == nullptr || feature->available) continue;
    out +=
        fmt::format("  missing         {}{}{}\n", name,
                    feature->detail.empty() ? "" : ": ", Line(feature->detail));
  }
  if (!h.rdtsc_trapping) {
    out += "  n/a             rdtsc-trapping: not recorded with this run\n";
  }
  return out;
}

// One captured stream; truncation is marked once, above both streams,
// since the limit is on their total.
std::string OutputText(std::string_view name, const std::string& bytes) {
  if (bytes.empty()) return fmt::format("{}: (empty)\n", name);
  std::string out = fmt::format("{} ({}):\n", name, FormatBytes(bytes.size()));
  out += Printable(bytes, true);
  if (out.back() != '\n') out += "\n(no newline at end)\n";
  return out;
}

// "100003 made, ", or why the total is not known and how to get it.
std::string SyscallsMade(const RunResult& r) {
  if (r.counters.syscalls_total) {
    return fmt::format("{} made, ", *r.counters.syscalls_total);
  }
  if (!r.host.syscall_counter) {
    return "made: n/a (isoscope run --count-syscalls counts them); ";
  }
  if (!r.host.syscall_counter->available) {
    return "made: n/a (this host cannot count them: isoscope doctor says "
           "why); ";
  }
  return "made: n/a; ";
}

}  // namespace

std::string RenderRunSummary(const RunResult& r) {
  std::string out;
  const std::string run =
      r.id != 0 ? fmt::format("Run {}", r.id) : std::string("Run");
  out += fmt::format("{}: {} backend, policy {}\n", run, Line(r.backend),
                     r.policy_name.empty() ? "(none)" : Line(r.policy_name));
  out += fmt::format("  command   {}\n", CommandLine(r.argv));
  if (r.source) out += fmt::format("  from      {}\n", SourceText(*r.source));
  out += fmt::format("  outcome   {}\n", OutcomeText(r.termination));
  out += fmt::format("  exit      {}\n", ExitText(r.termination));
  out += fmt::format("  time      wall {}, start-up {}, deciding {}\n",
                     FormatDuration(r.timings.wall_ns),
                     FormatDuration(r.timings.startup_ns),
                     FormatDuration(r.timings.decision_ns));
  out += fmt::format("  cpu       user {}, sys {}\n",
                     FormatMicros(r.timings.user_cpu_us),
                     FormatMicros(r.timings.system_cpu_us));
  out +=
      fmt::format("  memory    peak {}\n", FormatKib(r.counters.max_rss_kib));
  out += fmt::format("  syscalls  {}{} decided by isoscope, {} denied\n",
                     SyscallsMade(r), r.counters.syscalls_trapped,
                     r.counters.syscalls_denied);
  out += fmt::format("  faults    {}, {}, {}\n",
                     Count(r.counters.faults, "fault", "faults"),
                     Count(r.counters.signals, "signal", "signals"),
                     Count(r.counters.violations, "violation", "violations"));
  const uint64_t captured =
      r.output.stdout_bytes.size() + r.output.stderr_bytes.size();
  std::string output = fmt::format("{} captured", FormatBytes(captured));
  if (r.output.total_bytes != captured) {
    output += fmt::format(" of {} written", FormatBytes(r.output.total_bytes));
  }
  if (r.output.truncated) output += " (truncated)";
  out += fmt::format("  output    {}\n", output);
  out += fmt::format("  events    {}\n", EventsText(r));
  for (const std::string& warning : r.warnings) {
    out += fmt::format("  warning   {}\n", Line(warning));
  }
  return out;
}

std::string RenderRunList(const std::vector<RunSummary>& runs,
                          std::optional<size_t> width) {
  if (runs.empty()) {
    return "No runs recorded yet: every run isoscope supervises is kept "
           "here.\n";
  }
  struct Row {
    std::string id, when, backend, outcome, status, wall, policy, command;
  };
  std::vector<Row> rows;
  rows.reserve(runs.size() + 1);
  rows.push_back({"ID", "WHEN (UTC)", "BACKEND", "OUTCOME", "STATUS", "WALL",
                  "POLICY", "COMMAND"});
  for (const auto& run : runs) {
    // A run still running, or one that isoscope did not see to its end
    // (its own error, its death), has no status or time to show.
    const bool unfinished = run.outcome == Outcome::kRunning ||
                            ((run.outcome == Outcome::kError ||
                              run.outcome == Outcome::kInterrupted) &&
                             run.wall_ns == 0);
    rows.push_back({std::to_string(run.id), UtcTime(run.started_at_unix_ms),
                    Line(run.backend), std::string(OutcomeName(run.outcome)),
                    unfinished ? "-" : std::to_string(run.exit_status),
                    unfinished ? "-" : FormatDuration(run.wall_ns),
                    width ? Truncate(Line(run.policy_name), kMaxPolicyColumn)
                          : Line(run.policy_name),
                    Line(run.command)});
  }
  size_t w_id = 0, w_when = 0, w_backend = 0, w_outcome = 0, w_status = 0,
         w_wall = 0, w_policy = 0;
  for (const auto& row : rows) {
    w_id = std::max(w_id, Columns(row.id));
    w_when = std::max(w_when, Columns(row.when));
    w_backend = std::max(w_backend, Columns(row.backend));
    w_outcome = std::max(w_outcome, Columns(row.outcome));
    w_status = std::max(w_status, Columns(row.status));
    w_wall = std::max(w_wall, Columns(row.wall));
    w_policy = std::max(w_policy, Columns(row.policy));
  }
  // Seven two-space gaps between eight columns; the command gets the rest.
  const size_t fixed = w_id + w_when + w_backend + w_outcome + w_status +
                       w_wall + w_policy + size_t{7} * 2;
  std::optional<size_t> w_command;
  if (width) {
    w_command =
        fixed + kMinCommandColumn < *width ? *width - fixed : kMinCommandColumn;
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line =
        PadLeft(row.id, w_id) + "  " + PadRight(row.when, w_when) + "  " +
        PadRight(row.backend, w_backend) + "  " +
        PadRight(row.outcome, w_outcome) + "  " +
        PadLeft(row.status, w_status) + "  " + PadLeft(row.wall, w_wall) +
        "  " + PadRight(row.policy, w_policy) + "  " +
        (w_command ? TruncateMiddle(row.command, *w_command) : row.command);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string RenderRunDetail(const RunResult& r) {
  std::string out = RenderRunSummary(r);
  if (!r.workdir.empty()) {
    out += fmt::format("  workdir   {}\n", Line(r.workdir));
  }
  if (r.started_at_unix_ms != 0) {
    out += fmt::format("  started   {} UTC\n", UtcTime(r.started_at_unix_ms));
  }
  out += "\n" + HostText(r.host);
  out += DenialsText(r.denials);
  out += SignalCountsText(r.signal_counts);

  out += EventCountsText(r);
  out += fmt::format("\nEvents ({} recorded", r.events.size());
  if (r.counters.events_dropped != 0) {
    out += fmt::format(", {} more not kept", r.counters.events_dropped);
  }
  out += ")\n";
  if (r.events.empty()) out += "  (none)\n";
  for (const auto& event : r.events) {
    out += "  " + std::visit(EventLine{}, event) + "\n";
  }

  out += "\nOutput";
  if (r.output.truncated) {
    out += fmt::format(" (truncated: {} written, only the first part kept)",
                       FormatBytes(r.output.total_bytes));
  }
  out += "\n";
  out += OutputText("stdout", r.output.stdout_bytes);
  out += OutputText("stderr", r.output.stderr_bytes);
  return out;
}

std::string RenderFailureLine(const RunResult& r) {
  const Termination& t = r.termination;
  if (t.outcome == Outcome::kExited && t.exit_code == 0) return "";
  std::vector<std::string> parts;
  if (t.outcome == Outcome::kViolation || t.outcome == Outcome::kLimit ||
      t.outcome == Outcome::kInterrupted) {
    parts.push_back(Line(t.reason));
  }
  DenialSummary denials = SummarizeDenials(r, kFailureLineDenials);
  if (!denials.text.empty()) parts.push_back(Line(denials.text));
  if (parts.empty()) return "";
  std::string out = "isoscope: " + parts[0];
  for (size_t i = 1; i < parts.size(); ++i) out += "; " + parts[i];
  if (r.id != 0) out += fmt::format(" (isoscope runs show {})", r.id);
  return out + "\n";
}

}  // namespace isoscope
