#include "supervisor/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/io.h"
#include "base/wall_clock.h"
#include "policies/decide.h"
#include "policies/plan.h"
#include "policies/syscalls.h"
#include "supervisor/host_facts.h"
#include "supervisor/workload_env.h"

namespace isoscope {
namespace {

using Clock = std::chrono::steady_clock;

// How long a backend may take to report the exit of a workload it was told
// to kill before the loop gives up on it.
constexpr auto kKillGrace = std::chrono::seconds(5);

int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                              start)
      .count();
}

std::string SignalName(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? fmt::format("SIG{}", abbrev)
                           : fmt::format("signal {}", signal);
}

// Why isoscope ended the run, when it did; decided once, first reason wins.
struct StopReason {
  Outcome outcome;
  std::optional<LimitKind> limit;
  std::string rule_id;
  std::string reason;
};

// One run's state: the loop body, split from Supervisor::Run so each event
// kind is handled in one small function.
class RunLoop {
 public:
  RunLoop(const Policy& policy, const SupervisorOptions& options,
          Backend& backend, RunResult& result)
      : policy_(policy),
        options_(options),
        backend_(backend),
        result_(result) {}

  Status Run(Clock::time_point started) {
    WaitLimit wait;
    wait.interrupt_fd = options_.interrupt_fd;
    Clock::time_point wall_deadline = Clock::time_point::max();
    if (policy_.resources.wall_time_ms) {
      wall_deadline =
          started + std::chrono::milliseconds(*policy_.resources.wall_time_ms);
    }
    while (!exited_) {
      wait.deadline = killed_ ? kill_deadline_ : wall_deadline;
      auto next = backend_.NextEvent(wait);
      if (!next) {
        backend_.Kill();
        return tl::unexpected(next.error().WithContext(
            fmt::format("backend {}", backend_.name())));
      }
      if (next->has_value()) {
        if (auto handled = Handle(**next); !handled) {
          backend_.Kill();
          return handled;
        }
        continue;
      }
      // Woken without an event: an interrupt, the wall-time deadline, or the
      // grace period after a kill running out.
      if (IsReadable(wait.interrupt_fd)) {
        Stop({Outcome::kInterrupted, std::nullopt, "",
              "isoscope was interrupted; the workload was killed"});
        wait.interrupt_fd = -1;  // level-triggered: do not wake on it again
      } else if (killed_ && Clock::now() >= kill_deadline_) {
        return Fail(ErrorCode::kInternal,
                    fmt::format("backend {} did not report the workload's "
                                "exit within {}s of killing it",
                                backend_.name(), kKillGrace.count()));
      } else if (!killed_ && Clock::now() >= wall_deadline) {
        std::string detail = fmt::format("wall-time limit of {} ms reached",
                                         *policy_.resources.wall_time_ms);
        Record(LimitEvent{LimitKind::kWallTime, detail});
        Stop({Outcome::kLimit, LimitKind::kWallTime, "", detail});
      }
    }
    return {};
  }

 private:
  Status Handle(Event& event) {
    if (options_.observer != nullptr) options_.observer->Append(event);
    return std::visit([this](auto& e) { return On(e); }, event);
  }

  Status On(SyscallEvent& event) {
    if (event.verdict) {
      // Decided by the backend's fast path from the compiled plan.
      ++result_.counters.syscalls_in_kernel;
    } else {
      auto begin = Clock::now();
      event.verdict = Decide(policy_, event.request);
      result_.timings.decision_ns += NanosSince(begin);
      event.decided_by = DecidedBy::kSupervisor;
      if (event.exec_image) {
        event.verdict->reason = fmt::format(
            "a file the kernel ran for an execve (the program a #! script "
            "becomes, an ELF's loader), checked after the exec: {}",
            event.verdict->reason);
      } else {
        ++result_.counters.syscalls_trapped;
      }
      if (auto resolved = backend_.Resolve(event, *event.verdict); !resolved) {
        return resolved;
      }
    }
    const Verdict& verdict = *event.verdict;
    if (verdict.action.action == Action::kDeny) {
      ++result_.counters.syscalls_denied;
    }
    if (verdict.action.action == Action::kKill) {
      ++result_.counters.violations;
      std::string name = SyscallName(event.request.number);
      Stop({Outcome::kViolation, std::nullopt, verdict.rule_id,
            fmt::format("syscall {} ({}) killed by rule '{}'",
                        name.empty() ? "?" : name, event.request.number,
                        verdict.rule_id)});
    }
    if (verdict.action.action == Action::kDeny ||
        verdict.action.action == Action::kKill) {
      const bool keep = CountDenial(event);
      Record(std::move(event), keep);
    } else if (verdict.action.action != Action::kAllow) {
      Record(std::move(event));
    }
    return {};
  }

  Status On(FaultEvent& event) {
    ++result_.counters.faults;
    event.verdict = DecideFault(policy_, FaultRequest{event.kind});
    if (auto resolved = backend_.Resolve(event, *event.verdict); !resolved) {
      return resolved;
    }
    if (event.verdict->action.action == Action::kKill) {
      ++result_.counters.violations;
      Stop({Outcome::kViolation, std::nullopt, event.verdict->rule_id,
            fmt::format("{} fault at 0x{:x} ({}) killed by rule '{}'",
                        FaultKindName(event.kind), event.rip,
                        event.mnemonic.empty() ? "?" : event.mnemonic,
                        event.verdict->rule_id)});
    }
    const bool keep = CountSignal(event.signal, event.verdict->action.action) <=
                      kSignalEventsKept;
    Record(std::move(event), keep);
    return {};
  }

  Status On(SignalEvent& event) {
    ++result_.counters.signals;
    Record(event,
           CountSignal(event.signal, Action::kDeliver) <= kSignalEventsKept);
    return {};
  }

  Status On(OutputEvent& event) {
    CapturedOutput& out = result_.output;
    const std::optional<uint64_t>& cap = policy_.resources.output_bytes;
    uint64_t captured = out.stdout_bytes.size() + out.stderr_bytes.size();
    out.total_bytes += event.bytes.size();
    std::string_view bytes = event.bytes;
    if (cap && captured + bytes.size() > *cap) {
      bytes = bytes.substr(0, *cap - captured);
      out.truncated = true;
    }
    (event.stream == OutputStream::kStdout ? out.stdout_bytes
                                           : out.stderr_bytes)
        .append(bytes);
    if (options_.output_sink && !bytes.empty()) {
      options_.output_sink(event.stream, bytes);
    }
    if (out.truncated && !killed_) {
      std::string detail =
          fmt::format("output limit of {} bytes exceeded", *cap);
      Record(LimitEvent{LimitKind::kOutput, detail});
      Stop({Outcome::kLimit, LimitKind::kOutput, "", detail});
    }
    return {};
  }

  Status On(LimitEvent& event) {
    Stop({Outcome::kLimit, event.kind, "", event.detail});
    Record(std::move(event));
    return {};
  }

  Status On(ExitEvent& event) {
    exited_ = true;
    Termination& term = result_.termination;
    term.exit_code = event.signaled ? 0 : event.exit_code;
    term.signal = event.signaled ? event.signal : 0;
    term.core_dumped = event.core_dumped;
    result_.timings.user_cpu_us = event.usage.user_cpu_us;
    result_.timings.system_cpu_us = event.usage.system_cpu_us;
    result_.counters.max_rss_kib = event.usage.max_rss_kib;
    result_.counters.syscalls_total = event.usage.syscalls;
    if (!stop_ && event.signaled && event.signal == SIGXCPU &&
        policy_.resources.cpu_time_ms) {
      // The kernel enforced the policy's RLIMIT_CPU.
      stop_ = StopReason{Outcome::kLimit, LimitKind::kCpuTime, "",
                         fmt::format("cpu-time limit of {} ms reached",
                                     *policy_.resources.cpu_time_ms)};
    }
    if (!stop_ && event.signaled && event.signal == SIGXFSZ &&
        policy_.resources.file_size_bytes) {
      // The kernel enforced the policy's RLIMIT_FSIZE.
      stop_ = StopReason{Outcome::kLimit, LimitKind::kFileSize, "",
                         fmt::format("file-size limit of {} bytes reached",
                                     *policy_.resources.file_size_bytes)};
    }
    if (stop_) {
      term.outcome = stop_->outcome;
      term.limit = stop_->limit;
      term.rule_id = stop_->rule_id;
      term.reason = stop_->reason;
    } else if (event.signaled) {
      term.outcome = Outcome::kSignaled;
      term.reason =
          fmt::format("killed by {}{}{}", SignalName(event.signal),
                      event.core_dumped ? " (core dumped)" : "",
                      event.detail.empty() ? "" : ": " + event.detail);
    } else {
      term.outcome = Outcome::kExited;
      term.reason = fmt::format("exited with status {}", event.exit_code);
    }
    Record(event);
    return {};
  }

  // Ends the run for `reason` unless another reason already did.
  void Stop(StopReason reason) {
    if (!stop_) stop_ = std::move(reason);
    if (!killed_) {
      backend_.Kill();
      killed_ = true;
      kill_deadline_ = Clock::now() + kKillGrace;
    }
  }

  // Counts a denied or killed call in its row of the denial table (see
  // kUnnamedSyscalls for the rows numbers share); returns whether to keep
  // it as an event: the first of its row with a first path not seen in the
  // row before, up to kDenialEventsKept.
  bool CountDenial(const SyscallEvent& event) {
    const Verdict& verdict = *event.verdict;
    const int errno_value =
        verdict.action.action == Action::kDeny ? verdict.action.errno_value : 0;
    const Abi abi = event.request.abi;
    int number = event.request.number;
    const bool named = abi == Abi::kI386
                           ? number >= 0 && number <= kMaxSyscallNumber
                           : !SyscallName(number).empty();
    if (!named) number = kUnnamedSyscalls;
    DenialKey key{abi, number, verdict.rule_id, verdict.action.action,
                  errno_value};
    std::vector<DenialCount>& table = *result_.denials;
    auto found = denial_rows_.find(key);
    if (found == denial_rows_.end() && table.size() >= kMaxDenialKinds) {
      // One row per rule and answer beyond the cap: bounded by the policy.
      key = DenialKey{Abi::kX86_64, kOtherSyscalls, verdict.rule_id,
                      verdict.action.action, errno_value};
      found = denial_rows_.find(key);
    }
    if (found == denial_rows_.end()) {
      found = denial_rows_.try_emplace(std::move(key), table.size()).first;
      table.push_back(DenialCount{std::get<0>(found->first),
                                  std::get<1>(found->first), verdict.rule_id,
                                  verdict.action.action, errno_value, 0});
    }
    DenialRow& row = denial_row_state_[found->second];
    ++table[found->second].count;
    if (row.kept >= kDenialEventsKept) return false;
    // What the call tried: its first path, or for a named call without one
    // (a socket option, an address, a control message) the reason, which
    // names it; the shared rows keep their first only.
    const std::string empty;
    const std::string& tried = !event.request.paths.empty()
                                   ? event.request.paths.front().path
                               : std::get<1>(found->first) >= 0 ? verdict.reason
                                                                : empty;
    if (!row.paths_seen.insert(std::hash<std::string>{}(tried)).second) {
      return false;
    }
    ++row.kept;
    return true;
  }

  // The same for a signal or fault, by (signal, action).
  uint64_t CountSignal(int signal, Action action) {
    std::vector<SignalCount>& table = *result_.signal_counts;
    auto [row, added] =
        signal_rows_.try_emplace(std::pair{signal, action}, table.size());
    if (added) table.push_back(SignalCount{signal, action, 0});
    return ++table[row->second].count;
  }

  // Counts `event` in its kind's row and keeps it, unless `keep` is false
  // (a denial or signal its table keeps no more of), while its kind has
  // kept fewer than kEventsKeptPerKind and the run fewer than
  // kMaxRecordedEvents: to the sink when there is one, else in the result.
  void Record(Event event, bool keep = true) {
    EventCount& row = (*result_.event_counts)[KindRow(event)];
    ++row.count;
    if (!keep || row.kept >= kEventsKeptPerKind ||
        kept_ >= kMaxRecordedEvents) {
      ++result_.counters.events_dropped;
      return;
    }
    ++row.kept;
    ++kept_;
    if (options_.event_sink != nullptr) {
      options_.event_sink->Append(event);
    } else {
      result_.events.push_back(std::move(event));
    }
  }

  // What identifies an event's kind: its type (the variant's index), and
  // for a syscall its ABI and number, for a fault its kind, for a signal
  // its number, for a limit its kind; the verdict's action and rule.
  struct KindKey {
    size_t type = 0;
    int abi = 0;
    int what = 0;
    int action = -1;
    std::string_view rule_id;  // into rule_ids_ once in the table
    bool operator==(const KindKey&) const = default;
  };
  struct KindKeyHash {
    size_t operator()(const KindKey& key) const {
      size_t h = std::hash<std::string_view>{}(key.rule_id);
      for (size_t part :
           {key.type, static_cast<size_t>(key.abi),
            static_cast<size_t>(key.what), static_cast<size_t>(key.action)}) {
        h = h * 1000003 ^ part;
      }
      return h;
    }
  };
  static constexpr int kOtherKind = std::numeric_limits<int>::min();

  static KindKey KeyOf(const Event& event) {
    KindKey key;
    key.type = event.index();
    const auto verdict = [&key](const std::optional<Verdict>& v) {
      if (!v) return;
      key.action = static_cast<int>(v->action.action);
      key.rule_id = v->rule_id;
    };
    if (const auto* call = std::get_if<SyscallEvent>(&event)) {
      key.abi = static_cast<int>(call->request.abi);
      key.what = call->request.number;
      verdict(call->verdict);
    } else if (const auto* fault = std::get_if<FaultEvent>(&event)) {
      key.what = static_cast<int>(fault->kind);
      verdict(fault->verdict);
    } else if (const auto* signal = std::get_if<SignalEvent>(&event)) {
      key.what = signal->signal;
    } else if (const auto* limit = std::get_if<LimitEvent>(&event)) {
      key.what = static_cast<int>(limit->kind);
    }
    return key;
  }

  static std::string KindLabel(const Event& event, const KindKey& key) {
    static constexpr std::string_view kTypes[] = {"syscall", "fault", "signal",
                                                  "output",  "limit", "exit"};
    static_assert(std::size(kTypes) == std::variant_size_v<Event>);
    const std::string_view type = kTypes[key.type];
    if (key.what == kOtherKind) return fmt::format("{} other", type);
    if (const auto* call = std::get_if<SyscallEvent>(&event)) {
      return fmt::format("{} {}", type,
                         SyscallLabel(call->request.abi, call->request.number));
    }
    if (const auto* fault = std::get_if<FaultEvent>(&event)) {
      return fmt::format("{} {}", type, FaultKindName(fault->kind));
    }
    if (const auto* signal = std::get_if<SignalEvent>(&event)) {
      return fmt::format("{} {}", type, SignalName(signal->signal));
    }
    if (const auto* limit = std::get_if<LimitEvent>(&event)) {
      return fmt::format("{} {}", type, LimitKindName(limit->kind));
    }
    return std::string(type);
  }

  // The row of `event`'s kind in result_'s event_counts, added if new. A
  // workload can make syscall kinds at will (every number, every ABI):
  // once the table holds kMaxEventKinds of them, a new one counts in the
  // "syscall other" row of its action and rule. Other types have few kinds.
  size_t KindRow(const Event& event) {
    KindKey key = KeyOf(event);
    auto found = kind_rows_.find(key);
    if (found != kind_rows_.end()) return found->second;
    const bool syscall = std::holds_alternative<SyscallEvent>(event);
    if (syscall && syscall_kinds_ >= kMaxEventKinds) {
      key.abi = 0;
      key.what = kOtherKind;
      found = kind_rows_.find(key);
      if (found != kind_rows_.end()) return found->second;
    } else if (syscall) {
      ++syscall_kinds_;
    }
    std::vector<EventCount>& table = *result_.event_counts;
    EventCount row;
    row.kind = KindLabel(event, key);
    if (key.action >= 0) {
      row.action = ActionName(static_cast<Action>(key.action));
    }
    row.rule_id = std::string(key.rule_id);
    key.rule_id = *rule_ids_.insert(row.rule_id).first;
    table.push_back(std::move(row));
    kind_rows_.emplace(key, table.size() - 1);
    return table.size() - 1;
  }

  const Policy& policy_;
  const SupervisorOptions& options_;
  Backend& backend_;
  RunResult& result_;
  // Where each kind's row is in result_'s tables.
  using DenialKey = std::tuple<Abi, int, std::string, Action, int>;
  std::map<DenialKey, size_t> denial_rows_;
  // Per row of the denial table: events kept, and the first paths seen.
  struct DenialRow {
    uint64_t kept = 0;
    std::set<size_t> paths_seen;
  };
  std::map<size_t, DenialRow> denial_row_state_;
  std::map<std::pair<int, Action>, size_t> signal_rows_;
  // Where each event kind's row is in result_'s event_counts; the rule ids
  // the keys view (a node-based set: its strings never move).
  std::unordered_map<KindKey, size_t, KindKeyHash> kind_rows_;
  std::set<std::string, std::less<>> rule_ids_;
  size_t kept_ = 0;           // events kept so far
  size_t syscall_kinds_ = 0;  // syscall kinds with a row of their own
  std::optional<StopReason> stop_;
  bool killed_ = false;
  Clock::time_point kill_deadline_;
  bool exited_ = false;
};

// The workload's own first exec is decided like any later one: a backend's
// machinery lets isoscope's exec of it through, so a policy that would
// refuse the program must refuse to start it. Decided on the file the path
// reaches, as the backends decide paths.
// An observer (SupervisorOptions::observer) sees it as the run's first
// syscall event.
Status DecideFirstExec(const Policy& policy, const Workload& workload,
                       EventSink* observer) {
  std::string reached = workload.executable;
  if (workload.root.empty()) {
    std::error_code ec;
    std::filesystem::path real =
        std::filesystem::canonical(workload.executable, ec);
    if (!ec) reached = real.string();
  } else if (auto real = CanonicalInRoot(workload.root, workload.executable)) {
    reached = std::move(*real);
  }
  SyscallRequest request;
  request.number = SYS_execve;
  request.paths.push_back(PathArgument{0, reached});
  if (observer != nullptr) observer->Append(SyscallEvent{0, request});
  Verdict verdict = Decide(policy, request);
  if (verdict.action.action != Action::kDeny &&
      verdict.action.action != Action::kKill) {
    return {};
  }
  return Fail(
      ErrorCode::kNotExecutable,
      fmt::format("the policy refuses to start {}: rule '{}' {} its "
                  "execve ({})",
                  request.paths[0].path, verdict.rule_id,
                  verdict.action.action == Action::kKill ? "kills" : "denies",
                  verdict.reason));
}

}  // namespace

Supervisor::Supervisor(std::shared_ptr<const Policy> policy,
                       SupervisorOptions options)
    : policy_(std::move(policy)), options_(std::move(options)) {}

Result<RunResult> Supervisor::Run(Backend& backend, const Workload& workload,
                                  RunResult* failed) {
  RunResult result;
  result.backend = std::string(backend.name());
  result.argv = workload.argv;
  result.workdir = workload.workdir;
  result.source = workload.source;
  result.policy_name = policy_->name;
  result.policy_text = policy_->source;
  result.host = options_.host_facts ? *options_.host_facts : ReadHostFacts();
  // One policy, one containment: what this backend cannot enforce of it
  // is said with the run (the native baseline, which filters nothing by
  // design, says so in `policy explain` instead of on every run).
  if (options_.routing && options_.routing->filters) {
    result.warnings =
        UnenforcedSectionWarnings(*policy_, options_.routing->enforcement);
    for (std::string& warning : UnappliedFaultWarnings(
             policy_->faults, options_.routing->untrapped_faults)) {
      result.warnings.push_back(std::move(warning));
    }
  }
  result.started_at_unix_ms = NowUnixMs();
  result.termination.outcome = Outcome::kRunning;
  if (options_.on_started) {
    if (auto recorded = options_.on_started(result); !recorded) {
      return tl::unexpected(recorded.error());
    }
  }
  // Counted from here; a run recorded as started has no counts yet (if
  // isoscope dies, its streamed events are all the store knows).
  result.event_counts.emplace();

  // From here on a failure still leaves the run as far as it got (the loop
  // has killed the backend).
  auto fail = [&](Error error) -> Result<RunResult> {
    if (failed != nullptr) {
      result.termination = Termination{};
      result.termination.outcome = Outcome::kError;
      result.termination.reason = error.ToString();
      *failed = std::move(result);
    }
    return tl::unexpected(std::move(error));
  };
  if (backend.AppliesPolicy()) {
    if (Status allowed = DecideFirstExec(*policy_, workload, options_.observer);
        !allowed) {
      return fail(std::move(allowed).error());
    }
  }
  CompiledPlan plan = backend.AppliesPolicy()
                          ? CompiledPlan::Compile(policy_)
                          : CompiledPlan::Uncompiled(policy_);
  auto started = Clock::now();
  if (auto st = backend.Start(workload, plan); !st) {
    backend.Kill();
    return fail(st.error().WithContext(fmt::format(
        "starting {} on backend {}", workload.executable, backend.name())));
  }
  result.timings.startup_ns = NanosSince(started);

  RunLoop loop(*policy_, options_, backend, result);
  auto ran = loop.Run(started);
  result.timings.wall_ns = NanosSince(started);
  if (!ran) return fail(std::move(ran).error());
  return result;
}

}  // namespace isoscope
