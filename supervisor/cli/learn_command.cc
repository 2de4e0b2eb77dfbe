// `isoscope learn`: observe, write the policy, prove it on every backend.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "backends/process/socket_address.h"
#include "base/io.h"
#include "base/temp_dir.h"
#include "learn/learned_policy.h"
#include "learn/observation.h"
#include "learn/proof.h"
#include "policies/endpoints.h"
#include "policies/loader.h"
#include "reports/text.h"
#include "supervisor/bundle_workload.h"
#include "supervisor/cli/commands.h"
#include "supervisor/cli/exit_status.h"
#include "supervisor/cli/interrupt.h"
#include "supervisor/cli/terminal_output.h"
#include "supervisor/cli/workload_request.h"
#include "supervisor/recorded_run.h"
#include "supervisor/supervisor.h"
#include "supervisor/workload_env.h"
#include "workloads/catalog.h"

namespace isoscope::cli {
namespace {

// The endpoint a call names, read from the workload while its call waits
// (observation.h), by the decoder enforcement uses. Observing only: nothing
// is decided on it.
std::optional<InetEndpoint> ReadEndpoint(const SyscallEvent& event) {
  const std::optional<IpEndpoint> read =
      ReadObservedEndpoint(event.pid, event.request.number, event.request.args);
  if (!read) return std::nullopt;
  return InetEndpoint{FormatAddress(*read), read->port, IsLoopback(*read)};
}

// The base with every x86-64 syscall allowed and logged (so each one
// reaches the loop, decoded), every fault reported instead of killed, and
// the host's network; its limits, identity, view and answer to other ABIs
// stay the base's.
Policy ObservingPolicy(const Policy& base, bool unobserved_tasks) {
  Policy observing = base;
  observing.name = fmt::format("learning from {}", base.name);
  observing.source = fmt::format(
      "# isoscope learn: the policy below with every syscall allowed and "
      "logged, faults reported, network host\n{}",
      base.source);
  observing.syscalls.default_action = ActionSpec{Action::kLog};
  observing.syscalls.rules.clear();
  if (unobserved_tasks) {
    // The container backend can only notify: a fork notified while a
    // signal arrives fails with EINTR, so the clone family runs in the
    // kernel (clone with namespace flags is still decided as unshare, which
    // is logged), and new tasks are inferred.
    Rule clone;
    clone.id = "learn-clone";
    clone.syscalls = {SYS_clone};
    clone.action = ActionSpec{Action::kAllow};
    Rule forks;
    forks.id = "learn-fork";
    forks.syscalls = {SYS_fork, SYS_vfork, SYS_clone3};
    forks.action = ActionSpec{Action::kAllow};
    observing.syscalls.rules = {std::move(clone), std::move(forks)};
  }
  // Calls through another ABI keep the base's answer (kill or deny, the only
  // ones possible: isoscope decodes x86-64 arguments alone).
  for (FaultKind kind : kAllFaultKinds) {
    if (observing.faults.For(kind) == Action::kKill) {
      observing.faults.Set(kind, Action::kReport);
    }
  }
  observing.network = NetworkMode::kHost;
  observing.accepted_holes.clear();
  return observing;
}

// Runs the workload, recorded, each time in a fresh workdir (a bundle's
// process: in its rootfs and cwd); an observer made for that workdir (when
// asked) sees its events.
class Runner {
 public:
  Runner(const Context& context, Store& store, int interrupt_fd,
         const LearnOptions& options, std::string executable,
         const SourcedBundle* bundle, ProgressLine& progress)
      : context_(context),
        store_(store),
        interrupt_fd_(interrupt_fd),
        options_(options),
        executable_(std::move(executable)),
        bundle_(bundle),
        progress_(progress) {}

  Result<RunResult> Run(
      Backend& backend, const Policy& policy,
      const std::function<EventSink*(const std::string&)>& make_observer) {
    std::optional<TempDir> dir;
    Workload workload;
    std::shared_ptr<const Policy> applied;
    if (bundle_ != nullptr) {
      auto made = BundleWorkload(*bundle_, options_.env);
      if (!made) return tl::unexpected(made.error());
      workload = std::move(*made);
      applied = std::make_shared<const Policy>(
          PolicyForBundle(policy, bundle_->bundle));
    } else {
      auto made = TempDir::Create("isoscope-learn-");
      if (!made) return tl::unexpected(made.error());
      dir.emplace(std::move(*made));
      const std::string workdir = dir->path().string();
      workload = Workload{executable_,
                          options_.command,
                          WorkloadEnvironment(workdir, options_.env),
                          workdir,
                          /*scratch_workdir=*/true,
                          /*count_syscalls=*/false};
      if (IsBuiltinWorkloadProgram(executable_)) {
        auto copy = CopyProgramIntoWorkdir(executable_, workdir);
        if (!copy) return tl::unexpected(copy.error());
        workload.executable = *copy;
        workload.argv.front() = *copy;
      }
      applied = std::make_shared<const Policy>(WithWorkdir(policy, workdir));
    }
    SupervisorOptions supervisor_options;
    supervisor_options.interrupt_fd = interrupt_fd_;
    supervisor_options.host_facts = ReadHostFacts();
    if (const auto* entry =
            context_.backends->Find(std::string(backend.name()))) {
      supervisor_options.routing =
          entry->RoutingOn(*supervisor_options.host_facts);
    }
    supervisor_options.observer =
        make_observer ? make_observer(workload.workdir) : nullptr;
    // The workload's stderr passes through (the progress line cleared for
    // it), so a run that fails says why; its stdout is compared, not shown.
    supervisor_options.output_sink = [this](OutputStream stream,
                                            std::string_view bytes) {
      if (stream != OutputStream::kStderr) return;
      progress_.Clear();
      fmt::print(stderr, "{}", bytes);
    };
    RecordedRun recorded =
        RunRecorded(std::move(applied), std::move(supervisor_options), backend,
                    workload, store_);
    if (!recorded.recorded && recorded.run) {
      fmt::print(stderr,
                 "isoscope: warning: run {} was not fully recorded: {}\n",
                 recorded.run->id, recorded.recorded.error().message());
    }
    return std::move(recorded.run);
  }

 private:
  const Context& context_;
  Store& store_;
  int interrupt_fd_;
  const LearnOptions& options_;
  std::string executable_;
  const SourcedBundle* bundle_;  // null: a program of the host
  ProgressLine& progress_;
};

std::string Describe(const RunResult& run) {
  const Termination& t = run.termination;
  if (t.outcome == Outcome::kExited) {
    return fmt::format("exited {}", t.exit_code);
  }
  // The reason may quote the workload (a path): safe to print.
  return fmt::format("{}: {}", OutcomeName(t.outcome),
                     report_text::Line(t.reason));
}

// The rule that refused the most calls of a run, or that ended it.
std::string RefusingRule(const RunResult& run) {
  if (!run.termination.rule_id.empty()) return run.termination.rule_id;
  const DenialCount* most = nullptr;
  if (run.denials) {
    for (const DenialCount& denial : *run.denials) {
      if (most == nullptr || denial.count > most->count) most = &denial;
    }
  }
  if (most == nullptr) return "";
  return fmt::format("{} ({} x{})", most->rule_id,
                     SyscallLabel(most->abi, most->number), most->count);
}

}  // namespace

int LearnCommand(const Context& context, const LearnOptions& options) {
  if (Status source =
          CheckWorkloadSource("learn", options.command, options.bundle,
                              options.image, /*command_required=*/true);
      !source) {
    return ReportError(source.error());
  }
  if (Status env = CheckEnvEntries(options.env); !env) {
    return ReportError(env.error());
  }
  const bool from_bundle = !options.bundle.empty() || !options.image.empty();
  if (options.backend != "ptrace" && options.backend != "container") {
    return ReportError(Error(
        ErrorCode::kInvalidArgument,
        fmt::format("--backend {}: learn observes on ptrace or container (the "
                    "backends that decode every call's paths for isoscope)",
                    options.backend)));
  }
  auto backend = context.backends->Create(options.backend);
  if (!backend) return ReportError(backend.error());
  if (ProbeResult probe = (*backend)->Probe(); !probe.available) {
    return ReportError(
        Error(ErrorCode::kUnavailable,
              fmt::format("backend {} cannot run on this host: {}",
                          options.backend, probe.reason)));
  }
  auto base = LoadPolicyForThisHost(options.base);
  if (!base) return ReportError(base.error());
  std::optional<Policy> merge;
  if (!options.merge.empty()) {
    auto loaded = LoadPolicyFile(options.merge);
    if (!loaded) return ReportError(loaded.error());
    merge = std::move(*loaded);
  }
  std::optional<SourcedBundle> bundle;
  std::vector<std::string> argv = options.command;
  Result<std::string> executable;
  if (from_bundle) {
    auto loaded = LoadBundleOrImage(options.bundle, options.image);
    if (!loaded) return ReportError(loaded.error());
    // The entrypoint and cwd are checked before anything runs.
    auto workload = BundleWorkload(*loaded, options.env);
    if (!workload) return ReportError(workload.error());
    executable = workload->executable;
    argv = workload->argv;
    bundle = std::move(*loaded);
  } else {
    executable = ResolveExecutable(options.command.front());
  }
  if (!executable) return ReportError(executable.error());
  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());
  auto interrupts = InterruptSignals::Install();
  if (!interrupts) return ReportError(interrupts.error());

  // On a terminal, which run is going on (as compare and probe show it).
  ProgressLine progress;
  Runner runner(context, *store, interrupts->fd(), options, *executable,
                bundle ? &*bundle : nullptr, progress);
  const bool unobserved_tasks = options.backend == "container";
  const Policy observing = ObservingPolicy(*base, unobserved_tasks);
  Observation observation;
  std::optional<RunResult> first;
  for (int i = 1; i <= options.runs; ++i) {
    std::optional<Observer> observer;
    progress.Show(fmt::format("learn: observing on {} {}/{}", options.backend,
                              i, options.runs));
    auto run =
        runner.Run(**backend, observing,
                   [&observer, unobserved_tasks](const std::string& workdir) {
                     observer.emplace(workdir, ReadEndpoint);
                     if (unobserved_tasks) observer->InferTaskCreation();
                     return &*observer;
                   });
    backend->reset();
    progress.Clear();
    if (!run) return ReportError(run.error());
    const Termination& t = run->termination;
    fmt::print(stderr, "learn: run {} of {} on {} (run {}): {}\n", i,
               options.runs, options.backend, run->id, Describe(*run));
    if (t.outcome == Outcome::kInterrupted) return kExitInterrupted;
    if (t.outcome != Outcome::kExited && t.outcome != Outcome::kSignaled) {
      return ReportError(
          Error(ErrorCode::kUnavailable,
                fmt::format("the observed run did not end by itself ({}); its "
                            "limits are the base policy's ({})",
                            Describe(*run), base->name)));
    }
    observation.Merge(observer->Finish(run->timings.wall_ns / 1000000,
                                       run->output.total_bytes));
    if (!first) first = std::move(*run);
    auto recreated = context.backends->Create(options.backend);
    if (!recreated) return ReportError(recreated.error());
    backend = std::move(recreated);
  }

  std::string command_line = report_text::CommandLine(argv);
  if (bundle) {
    command_line +=
        fmt::format(" (from {})", report_text::SourceText(bundle->source));
  }
  auto learned =
      LearnPolicy(observation, *base,
                  LearnContext{command_line, options.backend, base->name,
                               merge ? &*merge : nullptr});
  if (!learned) return ReportError(learned.error());
  for (const std::string& note : learned->notes) {
    fmt::print(stderr, "learn: note: {}\n", report_text::Line(note));
  }
  if (options.output.empty()) {
    fmt::print("{}", learned->yaml);
    (void)std::fflush(stdout);
  } else if (auto written = WriteFileReplacing(options.output, learned->yaml);
             !written) {
    return ReportError(written.error());
  } else {
    fmt::print(stderr, "learn: wrote {}\n", options.output);
  }
  if (options.no_verify) return 0;

  auto policy = ParsePolicy(
      learned->yaml, options.output.empty() ? "learned" : options.output);
  if (!policy) return ReportError(policy.error());
  fmt::print(stderr, "\nThe learned policy, proven on each backend:\n");
  fmt::print(stderr, "  {:<10} {:<28} {:<7} {:<7} {}\n", "backend", "outcome",
             "stdout", "exit", "refused by");
  bool differs = false;
  for (const auto& entry : context.backends->entries()) {
    auto candidate = context.backends->Create(entry.name);
    if (!candidate) continue;
    if (!(*candidate)->AppliesPolicy()) continue;
    if (ProbeResult probe = (*candidate)->Probe(); !probe.available) {
      fmt::print(stderr, "  {:<10} not run: {}\n", entry.name, probe.reason);
      continue;
    }
    progress.Show(fmt::format("learn: proving on {}", entry.name));
    LastFault last_fault;
    auto run = runner.Run(**candidate, *policy,
                          [&last_fault](const std::string&) -> EventSink* {
                            return &last_fault;
                          });
    candidate->reset();
    progress.Clear();
    if (!run) {
      // A backend that cannot run this program at all (kvm and a dynamic
      // executable) proves nothing either way; any other failure to start
      // (the policy refusing the first exec) is the policy's.
      const bool unavailable = run.error().code() == ErrorCode::kUnavailable;
      differs = differs || !unavailable;
      fmt::print(stderr, "  {:<10} {}: {}\n", entry.name,
                 unavailable ? "not run" : "FAILED", run.error().message());
      continue;
    }
    if (run->termination.outcome == Outcome::kInterrupted) {
      return kExitInterrupted;
    }
    const ProofOutcome proof =
        ClassifyProof(*first, observation, *run, last_fault.fault());
    if (proof.kind == ProofOutcome::Kind::kNotRun) {
      // The backend, not the policy: as a backend that cannot start it.
      fmt::print(stderr, "  {:<10} not run (run {}): {}\n", entry.name, run->id,
                 report_text::Line(proof.reason));
      continue;
    }
    differs = differs || proof.kind == ProofOutcome::Kind::kDiffers;
    fmt::print(stderr, "  {:<10} {:<28} {:<7} {:<7} {}\n", entry.name,
               report_text::Truncate(Describe(*run), 28),
               proof.same_stdout ? "same" : "DIFFERS",
               proof.same_exit ? "same" : "DIFFERS",
               RefusingRule(*run).empty() ? "-" : RefusingRule(*run));
  }
  if (differs) {
    fmt::print(stderr,
               "learn: the workload ran differently under the learned "
               "policy: see the rule named above (isoscope runs show ID "
               "has every refusal)\n");
    return 1;
  }
  return 0;
}

}  // namespace isoscope::cli
