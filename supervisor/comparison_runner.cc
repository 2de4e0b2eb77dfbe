#include "supervisor/comparison_runner.h"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "base/io.h"
#include "base/stats.h"
#include "base/temp_dir.h"
#include "base/wall_clock.h"
#include "policies/syscalls.h"
#include "supervisor/bundle_workload.h"
#include "supervisor/host_facts.h"
#include "supervisor/recorded_run.h"
#include "supervisor/supervisor.h"
#include "supervisor/syscall_counter.h"
#include "supervisor/workload_env.h"

namespace isoscope {
namespace {

constexpr std::string_view kNative = "native";

template <typename Field>
Spread SpreadOf(const std::vector<RunResult>& runs, Field field) {
  std::vector<double> samples;
  samples.reserve(runs.size());
  for (const RunResult& run : runs) {
    samples.push_back(static_cast<double>(field(run)));
  }
  return Summarize(std::move(samples));
}

template <typename Field>
uint64_t MedianOf(const std::vector<RunResult>& runs, Field field) {
  const double median = SpreadOf(runs, field).median;
  return median > 0 ? static_cast<uint64_t>(std::llround(median)) : 0;
}

// The spread of a figure over the runs that know it (count 0: none did).
template <typename Field>
Spread KnownSpreadOf(const std::vector<RunResult>& runs, Field field) {
  std::vector<double> samples;
  for (const RunResult& run : runs) {
    if (const auto value = field(run)) {
      samples.push_back(static_cast<double>(*value));
    }
  }
  return Summarize(std::move(samples));
}

// The median of a figure when every run knows it; nullopt otherwise.
template <typename Field>
std::optional<uint64_t> KnownMedianOf(const std::vector<RunResult>& runs,
                                      Field field) {
  const bool known = std::all_of(runs.begin(), runs.end(), [&](const auto& r) {
    return field(r).has_value();
  });
  if (!known) return std::nullopt;
  const double median = KnownSpreadOf(runs, field).median;
  return median > 0 ? static_cast<uint64_t>(std::llround(median)) : 0;
}

// "exited with status 1", "was killed by SIGSEGV" (the supervisor's own
// words for a signal).
std::string Ended(const Termination& t) {
  if (t.outcome != Outcome::kSignaled) {
    return fmt::format("exited with status {}", t.ExitStatus());
  }
  return t.reason.empty() ? fmt::format("was killed by signal {}", t.signal)
                          : "was " + t.reason;
}

// How many kinds of denied call a failure names.
constexpr size_t kMaxDenials = 3;

// The last non-empty line the workload wrote to stderr, cut to a line's
// worth: most programs say there why they gave up.
constexpr size_t kMaxStderrLine = 200;
std::string LastStderrLine(const RunResult& run) {
  std::string_view err = run.output.stderr_bytes;
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) {
    err.remove_suffix(1);
  }
  const size_t newline = err.rfind('\n');
  if (newline != std::string_view::npos) err.remove_prefix(newline + 1);
  return std::string(err.substr(0, kMaxStderrLine));
}

// How `run` failed, if it did: against native's first measured run
// (`reference`, null without native) for how it ended by itself.
std::optional<RunFailure> FailureOf(const RunResult& run,
                                    const Termination* reference) {
  const Termination& t = run.termination;
  RunFailure failure;
  failure.run_id = run.id;
  failure.reason = t.reason;
  switch (t.outcome) {
    case Outcome::kViolation:
      failure.what = "killed by the policy";
      failure.rule_id = t.rule_id;
      return failure;
    case Outcome::kLimit:
      failure.what = "stopped at a resource limit";
      return failure;
    case Outcome::kError:
      failure.what = "ended by an isoscope error";
      return failure;
    case Outcome::kInterrupted:
    case Outcome::kRunning:
      failure.what = "did not finish";
      return failure;
    case Outcome::kExited:
    case Outcome::kSignaled:
      break;
  }
  const bool ended_like_native =
      reference == nullptr ? t.outcome == Outcome::kExited
                           : t.outcome == reference->outcome &&
                                 t.ExitStatus() == reference->ExitStatus();
  if (ended_like_native) return std::nullopt;
  failure.what =
      reference == nullptr
          ? Ended(t)
          : fmt::format("{} where native {}", Ended(t), Ended(*reference));
  DenialSummary denials = SummarizeDenials(run, kMaxDenials);
  failure.rule_id = std::move(denials.first_rule);
  const std::string last_words = LastStderrLine(run);
  failure.reason = !denials.text.empty() ? std::move(denials.text)
                   : !last_words.empty() ? "stderr: " + last_words
                                         : std::string();
  return failure;
}

// One run of the workload on a fresh backend, in a fresh workdir with the
// clean workload environment, through the Supervisor's loop.
Result<RunResult> RunOnce(const BackendRegistry& registry,
                          const CompareOptions& options,
                          const std::string& backend_name,
                          const HostFacts& host, Store& store) {
  auto backend = registry.Create(backend_name);
  if (!backend) return tl::unexpected(backend.error());
  SupervisorOptions supervisor_options;
  supervisor_options.interrupt_fd = options.interrupt_fd;
  supervisor_options.host_facts = host;
  if (const BackendRegistry::Entry* entry = registry.Find(backend_name)) {
    supervisor_options.routing = entry->RoutingOn(host);
  }
  if (options.bundle) {
    // The bundle's process in its rootfs and cwd: no scratch workdir.
    auto workload = BundleWorkload(*options.bundle, {});
    if (!workload) return tl::unexpected(workload.error());
    workload->count_syscalls = true;  // as below
    RecordedRun recorded =
        RunRecorded(std::make_shared<const Policy>(PolicyForBundle(
                        *options.policy, options.bundle->bundle)),
                    std::move(supervisor_options), **backend, *workload, store);
    backend->reset();
    if (!recorded.recorded) return tl::unexpected(recorded.recorded.error());
    return std::move(recorded.run);
  }
  auto workdir = TempDir::Create("isoscope-compare-");
  if (!workdir) return tl::unexpected(workdir.error());
  const std::string dir = workdir->path().string();

  Workload workload{options.executable, options.argv, WorkloadEnvironment(dir),
                    dir, /*scratch_workdir=*/true};
  // The syscall column's total. The tracepoint stays registered from the
  // first run's counter to the end of the process (syscall_counter.cc): a
  // comparison pays its registration once, not once per run.
  workload.count_syscalls = true;
  if (options.copy_into_workdir) {
    auto copy = CopyProgramIntoWorkdir(options.executable, dir);
    if (!copy) return tl::unexpected(copy.error());
    workload.executable = *copy;
    workload.argv.front() = *copy;
  }
  // Recorded however it ends (recorded_run.h).
  RecordedRun recorded = RunRecorded(
      std::make_shared<const Policy>(WithWorkdir(*options.policy, dir)),
      std::move(supervisor_options), **backend, workload, store);
  backend->reset();  // reaps and cleans up before the workdir goes
  if (!recorded.recorded) return tl::unexpected(recorded.recorded.error());
  return std::move(recorded.run);
}

}  // namespace

BackendTraits TraitsFor(const std::optional<BackendRouting>& routing,
                        const CompiledPlan& plan,
                        const std::vector<std::string>& host_syscall_surface) {
  BackendTraits traits;
  const size_t allowed = plan.NumbersWith(Disposition::kAllow).size();
  const size_t inspected = plan.NumbersWith(Disposition::kInspect).size();
  if (routing) {
    traits.syscalls_handled_by = routing->syscalls_handled_by;
    traits.faults_handled_by = routing->faults_handled_by;
    traits.measures = routing->measures;
    traits.enforcement = routing->enforcement;
  } else {
    traits.syscalls_handled_by =
        inspected > 0
            ? fmt::format(
                  "host kernel, after the policy's fast path; "
                  "isoscope decides {} inspected syscalls",
                  inspected)
            : std::string("host kernel, after the policy's fast path");
    traits.faults_handled_by = "not described for this backend yet";
  }
  if (!host_syscall_surface.empty()) {
    // The workload's syscalls never reach the host kernel as such: the
    // backend performs them with this list of its own.
    traits.vmm_allowed_syscalls = host_syscall_surface;
    traits.reachable_host_syscalls =
        static_cast<int>(host_syscall_surface.size());
  } else if (routing && !routing->filters) {
    // Nothing filters: every named syscall reaches the host kernel.
    traits.reachable_host_syscalls = static_cast<int>(
        allowed + inspected + plan.NumbersWith(Disposition::kErrno).size() +
        plan.NumbersWith(Disposition::kKill).size());
  } else {
    traits.reachable_host_syscalls = static_cast<int>(allowed + inspected);
  }
  return traits;
}

void SummarizeRuns(const std::vector<RunResult>& runs,
                   BackendComparison& column) {
  if (runs.empty()) return;
  const Termination& first = runs.front().termination;
  column.outcome = first.outcome;
  column.exit_status = first.ExitStatus();
  column.consistent = std::all_of(runs.begin(), runs.end(), [&](const auto& r) {
    return r.termination.outcome == first.outcome &&
           r.termination.ExitStatus() == first.ExitStatus();
  });
  column.startup_ns =
      SpreadOf(runs, [](const RunResult& r) { return r.timings.startup_ns; });
  column.wall_ns =
      SpreadOf(runs, [](const RunResult& r) { return r.timings.wall_ns; });
  column.user_cpu_us =
      SpreadOf(runs, [](const RunResult& r) { return r.timings.user_cpu_us; });
  column.system_cpu_us = SpreadOf(
      runs, [](const RunResult& r) { return r.timings.system_cpu_us; });
  column.max_rss_kib = KnownSpreadOf(
      runs, [](const RunResult& r) { return r.counters.max_rss_kib; });
  column.syscalls_total = KnownMedianOf(
      runs, [](const RunResult& r) { return r.counters.syscalls_total; });
  column.syscalls_denied = MedianOf(
      runs, [](const RunResult& r) { return r.counters.syscalls_denied; });
  column.syscalls_trapped = MedianOf(
      runs, [](const RunResult& r) { return r.counters.syscalls_trapped; });
  column.syscalls_in_kernel = MedianOf(
      runs, [](const RunResult& r) { return r.counters.syscalls_in_kernel; });
  column.faults =
      MedianOf(runs, [](const RunResult& r) { return r.counters.faults; });
  column.violations =
      MedianOf(runs, [](const RunResult& r) { return r.counters.violations; });
}

std::optional<size_t> NativeColumn(
    const std::vector<std::vector<RunResult>>& runs,
    const std::vector<BackendComparison>& columns) {
  std::optional<size_t> native;
  for (size_t i = 0; i < columns.size() && i < runs.size(); ++i) {
    if (columns[i].backend == kNative && !runs[i].empty()) native = i;
  }
  return native;
}

void FindFailures(const std::vector<std::vector<RunResult>>& runs,
                  std::vector<BackendComparison>& columns) {
  const std::optional<size_t> native = NativeColumn(runs, columns);
  const Termination* reference =
      native.has_value() ? &runs[*native].front().termination : nullptr;
  for (size_t i = 0; i < columns.size() && i < runs.size(); ++i) {
    BackendComparison& column = columns[i];
    column.failure.reset();
    for (const RunResult& run : runs[i]) {
      std::optional<RunFailure> failure = FailureOf(run, reference);
      if (!failure.has_value()) continue;
      if (!column.failure.has_value()) column.failure = std::move(failure);
      ++column.failure->failed_runs;
    }
  }
}

void CompareWithNative(const std::vector<std::vector<RunResult>>& runs,
                       std::vector<BackendComparison>& columns) {
  const std::optional<size_t> native = NativeColumn(runs, columns);
  if (!native.has_value()) return;
  // Native's first measured run is the reference; native's own column then
  // says whether the workload is deterministic at all.
  const RunResult& reference = runs[*native].front();
  const BackendComparison& baseline = columns[*native];
  for (size_t i = 0; i < columns.size() && i < runs.size(); ++i) {
    if (runs[i].empty()) continue;
    BackendComparison& column = columns[i];
    column.output_matches_native =
        std::all_of(runs[i].begin(), runs[i].end(), [&](const RunResult& r) {
          return r.output.stdout_bytes == reference.output.stdout_bytes &&
                 r.termination.ExitStatus() ==
                     reference.termination.ExitStatus();
        });
    // A cost is a ratio of two runs of the same work: none when either
    // side's runs failed.
    if (column.failure.has_value() || baseline.failure.has_value()) continue;
    column.wall_ratio = Ratio(column.wall_ns.median, baseline.wall_ns.median);
    column.startup_ratio =
        Ratio(column.startup_ns.median, baseline.startup_ns.median);
  }
}

ComparisonRunner::ComparisonRunner(const BackendRegistry& registry,
                                   Store& store, CompareOptions options)
    : registry_(registry), store_(store), options_(std::move(options)) {}

Result<Comparison> ComparisonRunner::Run() {
  if (options_.policy == nullptr) {
    return Fail(ErrorCode::kInternal,
                "comparison runner started without a policy");
  }
  if (options_.repeat < 1) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("--repeat {}: expected at least 1", options_.repeat));
  }
  if (options_.argv.empty() || options_.executable.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "no workload to compare");
  }
  // Every backend name is checked before anything runs.
  for (const std::string& name : options_.backends) {
    auto backend = registry_.Create(name);
    if (!backend) return tl::unexpected(backend.error());
  }

  Comparison comparison;
  comparison.started_at_unix_ms = NowUnixMs();
  comparison.argv = options_.argv;
  if (options_.bundle) comparison.source = options_.bundle->source;
  comparison.policy_name = options_.policy->name;
  comparison.policy_text = options_.policy->source;
  comparison.repeat = options_.repeat;
  comparison.host = ReadHostFacts();  // once, not per run
  comparison.host.syscall_counter = HostSyscallCounter().feature;
  for (std::string_view section : kPolicySections) {
    if (PolicyUses(*options_.policy, section)) {
      comparison.policy_sections_used.emplace_back(section);
    }
  }

  // The plan's dispositions do not depend on the workdir (path conditions
  // are inspected wherever they point), so one plan describes every run.
  const CompiledPlan plan = CompiledPlan::Compile(
      std::make_shared<const Policy>(WithWorkdir(*options_.policy, "/")));

  std::vector<std::vector<RunResult>> measured;
  for (const std::string& name : options_.backends) {
    BackendComparison column;
    column.backend = name;
    const BackendRegistry::Entry* entry = registry_.Find(name);
    column.traits = entry != nullptr
                        ? TraitsFor(entry->RoutingOn(comparison.host), plan,
                                    entry->host_syscall_surface)
                        : TraitsFor(std::nullopt, plan);
    std::vector<RunResult>& runs = measured.emplace_back();
    auto backend = registry_.Create(name);
    if (!backend) return tl::unexpected(backend.error());
    const ProbeResult availability = (*backend)->Probe();
    backend->reset();
    if (!availability.available) {
      column.available = false;
      column.unavailable_reason = availability.reason;
    } else if (comparison.interrupted) {
      column.error = "not run: the comparison was interrupted";
    }
    for (int repetition = 0; column.available && !comparison.interrupted &&
                             repetition <= options_.repeat;
         ++repetition) {
      if (IsReadable(options_.interrupt_fd)) {
        comparison.interrupted = true;
        break;
      }
      if (options_.on_progress) {
        options_.on_progress(
            CompareProgress{name, repetition, options_.repeat});
      }
      auto run = RunOnce(registry_, options_, name, comparison.host, store_);
      // Evidence the store cannot keep ends the comparison.
      if (!run && run.error().code() == ErrorCode::kStore) {
        return tl::unexpected(run.error());
      }
      if (!run) {
        // The backend failed (to start, or mid-run): its column says so,
        // the comparison goes on with the next backend.
        column.error = run.error().ToString();
        break;
      }
      // Recorded, but a run cut short by the interrupt is no measurement.
      if (run->termination.outcome == Outcome::kInterrupted) {
        comparison.interrupted = true;
        break;
      }
      if (repetition == 0) continue;  // the warm-up
      column.run_ids.push_back(run->id);
      runs.push_back(std::move(*run));
    }
    SummarizeRuns(runs, column);
    comparison.backends.push_back(std::move(column));
  }
  FindFailures(measured, comparison.backends);
  CompareWithNative(measured, comparison.backends);

  if (options_.probes && !comparison.interrupted) {
    ProbeOptions probe_options;
    probe_options.backends = options_.backends;
    probe_options.policy = options_.policy;
    probe_options.probes = options_.probe_specs;
    probe_options.interrupt_fd = options_.interrupt_fd;
    ProbeRunner probes(registry_, store_, std::move(probe_options));
    auto session = probes.Run();
    if (!session) {
      return tl::unexpected(session.error().WithContext("running the probes"));
    }
    comparison.probe_session_id = session->id;
    if (session->interrupted) comparison.interrupted = true;
  }

  auto id = store_.RecordComparison(comparison);
  if (!id) return tl::unexpected(id.error());
  comparison.id = *id;
  return comparison;
}

}  // namespace isoscope
