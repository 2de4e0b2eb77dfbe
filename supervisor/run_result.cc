#include "supervisor/run_result.h"

#include <algorithm>
#include <variant>

#include <fmt/format.h>

#include "policies/decide.h"
#include "policies/syscalls.h"

namespace isoscope {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kExited:
      return "exited";
    case Outcome::kSignaled:
      return "signaled";
    case Outcome::kViolation:
      return "violation";
    case Outcome::kLimit:
      return "limit";
    case Outcome::kInterrupted:
      return "interrupted";
    case Outcome::kError:
      return "error";
    case Outcome::kRunning:
      return "running";
  }
  return "unknown";
}

std::span<const Outcome> AllOutcomes() {
  static constexpr Outcome kAll[] = {Outcome::kExited,      Outcome::kSignaled,
                                     Outcome::kViolation,   Outcome::kLimit,
                                     Outcome::kInterrupted, Outcome::kError,
                                     Outcome::kRunning};
  return kAll;
}

std::optional<Outcome> OutcomeFromName(std::string_view name) {
  for (const Outcome o : AllOutcomes()) {
    if (OutcomeName(o) == name) return o;
  }
  return std::nullopt;
}

std::string_view LimitKindName(LimitKind kind) {
  switch (kind) {
    case LimitKind::kWallTime:
      return "wall_time";
    case LimitKind::kCpuTime:
      return "cpu_time";
    case LimitKind::kMemory:
      return "memory";
    case LimitKind::kProcesses:
      return "processes";
    case LimitKind::kOpenFiles:
      return "open_files";
    case LimitKind::kFileSize:
      return "file_size";
    case LimitKind::kOutput:
      return "output";
  }
  return "unknown";
}

int Termination::ExitStatus() const {
  if (signal != 0) return 128 + signal;
  return exit_code;
}

std::string SyscallLabel(Abi abi, int number) {
  if (number == kUnnamedSyscalls) return "(unnamed numbers)";
  if (number == kOtherSyscalls) return "(other kinds, table full)";
  if (abi == Abi::kI386) return fmt::format("{}:#{}", AbiName(abi), number);
  std::string name = SyscallName(number);
  if (name.empty()) name = fmt::format("syscall_{}", number);
  if (abi != Abi::kX86_64) name = fmt::format("{}:{}", AbiName(abi), name);
  return name;
}

DenialSummary SummarizeDenials(const RunResult& run, size_t max_kinds) {
  struct Kind {
    std::string label;  // "setresuid x2 [syscalls.default]" without the count
    std::string rule;
    uint64_t count = 0;
  };
  std::vector<Kind> kinds;  // in order of first occurrence
  auto add = [&kinds](Abi abi, int number, const std::string& rule,
                      uint64_t count) {
    const std::string label = SyscallLabel(abi, number);
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](const Kind& k) {
      return k.label == label && k.rule == rule;
    });
    if (it == kinds.end()) {
      kinds.push_back({label, rule, count});
    } else {
      it->count += count;
    }
  };
  if (run.denials) {
    for (const DenialCount& row : *run.denials) {
      if (row.action == Action::kDeny) {
        add(row.abi, row.number, row.rule_id, row.count);
      }
    }
  } else {
    for (const RecordedEvent& event : run.events) {
      const auto* call = std::get_if<SyscallEvent>(&event);
      if (call == nullptr || !call->verdict.has_value() ||
          call->verdict->action.action != Action::kDeny) {
        continue;
      }
      add(call->request.abi, call->request.number, call->verdict->rule_id, 1);
    }
  }
  DenialSummary summary;
  if (kinds.empty()) return summary;
  summary.first_rule = kinds.front().rule;
  std::stable_sort(
      kinds.begin(), kinds.end(),
      [](const Kind& a, const Kind& b) { return a.count > b.count; });
  for (size_t i = 0; i < kinds.size() && i < max_kinds; ++i) {
    summary.text += fmt::format("{}{} x{} [{}]", i == 0 ? "denied: " : ", ",
                                kinds[i].label, kinds[i].count, kinds[i].rule);
  }
  if (kinds.size() > max_kinds) {
    summary.text += fmt::format(" +{} more", kinds.size() - max_kinds);
  }
  return summary;
}

bool AllEventsKept(const RunResult& run) {
  if (!run.event_counts) return run.counters.events_dropped == 0;
  return std::all_of(
      run.event_counts->begin(), run.event_counts->end(),
      [](const EventCount& kind) { return kind.kept == kind.count; });
}

uint64_t EventsCounted(const RunResult& run) {
  if (!run.event_counts) return run.events.size() + run.counters.events_dropped;
  uint64_t total = 0;
  for (const EventCount& kind : *run.event_counts) total += kind.count;
  return total;
}

uint64_t EventsKept(const RunResult& run) {
  if (!run.event_counts) return run.events.size();
  uint64_t total = 0;
  for (const EventCount& kind : *run.event_counts) total += kind.kept;
  return total;
}

}  // namespace isoscope
