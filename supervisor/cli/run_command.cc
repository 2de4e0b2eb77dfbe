// `isoscope run`: one workload, one backend, one policy; recorded and shown.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "base/io.h"
#include "base/temp_dir.h"
#include "policies/loader.h"
#include "reports/terminal.h"
#include "supervisor/bundle_workload.h"
#include "supervisor/cli/commands.h"
#include "supervisor/cli/exit_status.h"
#include "supervisor/cli/interrupt.h"
#include "supervisor/cli/workload_request.h"
#include "supervisor/recorded_run.h"
#include "supervisor/run_result_json.h"
#include "supervisor/supervisor.h"
#include "supervisor/syscall_counter.h"
#include "supervisor/workload_env.h"
#include "workloads/catalog.h"

namespace isoscope::cli {
namespace {

constexpr const char* kDefaultWorkload = "hello";

Result<std::vector<std::string>> CommandLine(const RunOptions& options) {
  if (!options.command.empty()) return options.command;
  auto builtin = FindBuiltinWorkload(kDefaultWorkload);
  if (!builtin) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("the built-in workload '{}' was not found next to "
                            "isoscope; build the project (scripts/build.sh) "
                            "or set ISOSCOPE_WORKLOADS_DIR",
                            kDefaultWorkload));
  }
  return std::vector<std::string>{builtin->string()};
}

void WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EPIPE: the reader went away; keep supervising
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

Status WriteJson(const std::string& path, const RunResult& result) {
  return WriteFileReplacing(path, ToJson(result).dump(2) + '\n');
}

// Runs `workload` on `backend` under `policy`: recorded, shown, its exit
// status returned (as `isoscope run` documents it).
int Supervise(const Context& context, const RunOptions& options,
              std::unique_ptr<Backend> backend,
              std::shared_ptr<const Policy> policy, const Workload& workload,
              Store& store) {
  auto interrupts = InterruptSignals::Install();
  if (!interrupts) return ReportError(interrupts.error());

  SupervisorOptions supervisor_options;
  supervisor_options.interrupt_fd = interrupts->fd();
  supervisor_options.host_facts = ReadHostFacts();
  if (options.count_syscalls) {
    supervisor_options.host_facts->syscall_counter =
        HostSyscallCounter().feature;
  }
  if (const auto* entry = context.backends->Find(options.backend)) {
    supervisor_options.routing =
        entry->RoutingOn(*supervisor_options.host_facts);
  }
  supervisor_options.output_sink = [](OutputStream stream,
                                      std::string_view bytes) {
    WriteAll(stream == OutputStream::kStdout ? STDOUT_FILENO : STDERR_FILENO,
             bytes);
  };
  // Recorded from its start to its end, however it ends (recorded_run.h).
  RecordedRun recorded =
      RunRecorded(std::move(policy), std::move(supervisor_options), *backend,
                  workload, store);
  backend.reset();  // reaps and cleans up before the run is reported
  Result<RunResult>& result = recorded.run;
  if (!result) {
    if (!recorded.recorded) (void)ReportError(recorded.recorded.error());
    return ReportError(result.error());
  }
  if (!options.json_path.empty()) {
    // The run's events went to the store as they happened: the JSON is the
    // run as recorded there (as it is, without them, if the store failed).
    Result<RunResult> stored =
        recorded.recorded ? store.Get(result->id) : Result<RunResult>(*result);
    if (!stored) return ReportError(stored.error());
    if (auto written = WriteJson(options.json_path, *stored); !written) {
      return ReportError(written.error());
    }
  }
  if (!options.quiet) WriteAll(STDERR_FILENO, RenderRunSummary(*result));
  // With -q too: a failed workload says what isoscope refused it.
  WriteAll(STDERR_FILENO, RenderFailureLine(*result));
  if (!recorded.recorded) return ReportError(recorded.recorded.error());
  return result->termination.ExitStatus();
}

int RunBundle(const Context& context, const RunOptions& options,
              std::unique_ptr<Backend> backend, const Policy& loaded) {
  if (!options.workdir.empty()) {
    return ReportError(Error(ErrorCode::kInvalidArgument,
                             "--bundle and --image run in the bundle's "
                             "process.cwd: --workdir cannot go with them"));
  }
  auto bundle = LoadBundleOrImage(options.bundle, options.image);
  if (!bundle) return ReportError(bundle.error());
  auto workload = BundleWorkload(*bundle, options.env);
  if (!workload) return ReportError(workload.error());
  workload->count_syscalls = options.count_syscalls;
  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());
  return Supervise(
      context, options, std::move(backend),
      std::make_shared<const Policy>(PolicyForBundle(loaded, bundle->bundle)),
      *workload, *store);
}

}  // namespace

int RunCommand(const Context& context, const RunOptions& options) {
  // Everything that can be wrong with the request is checked before the
  // workload starts, so a bad request runs nothing and records nothing.
  if (Status source =
          CheckWorkloadSource("run", options.command, options.bundle,
                              options.image, /*command_required=*/false);
      !source) {
    return ReportError(source.error());
  }
  if (Status env = CheckEnvEntries(options.env); !env) {
    return ReportError(env.error());
  }
  auto backend = context.backends->Create(options.backend);
  if (!backend) return ReportError(backend.error());
  ProbeResult probe = (*backend)->Probe();
  if (!probe.available) {
    return ReportError(
        Error(ErrorCode::kUnavailable,
              fmt::format("backend {} cannot run on this host: {}",
                          options.backend, probe.reason)));
  }
  auto loaded = LoadPolicyForThisHost(options.policy);
  if (!loaded) return ReportError(loaded.error());
  if (!options.bundle.empty() || !options.image.empty()) {
    return RunBundle(context, options, std::move(*backend), *loaded);
  }
  auto command = CommandLine(options);
  if (!command) return ReportError(command.error());
  auto executable = ResolveExecutable(command->front());
  if (!executable) return ReportError(executable.error());

  std::optional<TempDir> scratch;
  std::string workdir;
  if (options.workdir.empty()) {
    auto dir = TempDir::Create("isoscope-run-");
    if (!dir) return ReportError(dir.error());
    scratch.emplace(std::move(*dir));
    workdir = scratch->path().string();
  } else {
    std::error_code ec;
    auto absolute = std::filesystem::absolute(options.workdir, ec);
    if (ec || !std::filesystem::is_directory(absolute, ec)) {
      return ReportError(
          Error(ErrorCode::kInvalidArgument,
                fmt::format("--workdir {}: not a directory", options.workdir)));
    }
    workdir = absolute.lexically_normal().string();
  }

  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());

  auto policy = std::make_shared<const Policy>(WithWorkdir(*loaded, workdir));
  Workload workload{*executable,
                    *command,
                    WorkloadEnvironment(workdir, options.env),
                    workdir,
                    scratch.has_value(),
                    options.count_syscalls};
  // A built-in workload runs from isoscope's own scratch workdir, as probes
  // do; a workdir the user gave is left as it is.
  if (scratch && IsBuiltinWorkloadProgram(*executable)) {
    auto copy = CopyProgramIntoWorkdir(*executable, workdir);
    if (!copy) return ReportError(copy.error());
    workload.executable = *copy;
    workload.argv.front() = *copy;
  }
  return Supervise(context, options, std::move(*backend), std::move(policy),
                   workload, *store);
}

}  // namespace isoscope::cli
