// isoscope: run a workload at several points of the isolation spectrum and
// measure what each costs and what each stops.
#include <signal.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "backends/builtin_backends.h"
#include "base/leftover_mark.h"
#include "base/temp_dir.h"
#include "policies/loader.h"
#include "supervisor/cli/cli_definition.h"
#include "supervisor/cli/commands.h"
#include "supervisor/cli/exit_status.h"
#include "supervisor/host_limits.h"

namespace isoscope::cli {

int ReportError(const Error& error) {
  if (error.code() == ErrorCode::kPolicy) {
    // Policy errors begin with file:line:column, like a compiler's.
    fmt::print(stderr, "{}\n", error.ToString());
  } else {
    fmt::print(stderr, "isoscope: {}\n", error.ToString());
  }
  return ExitStatusFor(error);
}

Result<Store> OpenStore(const Context& context) {
  // Only the default location's directory is created: a mistyped --db
  // must not grow a directory tree (as root, anywhere).
  auto store =
      context.db_path.empty()
          ? Store::Open(DefaultStorePath(), Store::Create::kFileAndDirectory)
          : Store::Open(context.db_path, Store::Create::kFile);
  if (!store) return store;
  // Runs whose isoscope died mid-run (SIGKILL, a crash) are marked
  // interrupted by the next isoscope to open the store. A store that cannot
  // be written still serves reads: say so and go on.
  if (auto marked = store->MarkAbandonedRuns(); !marked) {
    fmt::print(stderr, "isoscope: warning: {}\n", marked.error().ToString());
  }
  return store;
}

Result<Policy> LoadPolicyForThisHost(const std::string& name_or_path) {
  auto policy = LoadPolicyArgument(name_or_path);
  if (!policy) return policy;
  if (auto fits = CheckPolicyFitsHost(*policy, ReadHostLimits()); !fits) {
    return tl::unexpected(fits.error());
  }
  return policy;
}

namespace {

int Main(int argc, char** argv) {
  // Scratch directories (workdirs, canaries) and run cgroups of an isoscope
  // that was killed outright could not be removed by it; their locks are
  // free now. Looked for only when such an isoscope left its leftover mark.
  SweepIfAnOwnerDied([](const std::vector<std::filesystem::path>& parents) {
    SweepResult swept = TempDir::RemoveAbandoned("isoscope-");
    for (const std::filesystem::path& parent : parents) {
      swept += TempDir::RemoveAbandoned("isoscope-", parent);
    }
    swept += RemoveAbandonedBackendState(parents);
    return swept;
  });
  BackendRegistry registry;
  RegisterBuiltinBackends(registry);

  CLI::App app;
  CliValues values;
  // Only the options of the subcommand named get defined (cli_definition.h).
  const std::vector<std::string> words(argv + std::min(argc, 1), argv + argc);
  DefineCli(app, registry, values, &words);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end the parse with a "success" that prints.
    const int status = app.exit(e);
    return e.get_exit_code() == 0 ? status : kExitUsage;
  }
  Context context{&registry, values.db_path};

  const std::string command = ParsedCommand(app);
  if (command == "run") return RunCommand(context, values.run);
  if (command == "probe") return ProbeCommand(context, values.probe);
  if (command == "compare") return CompareCommand(context, values.compare);
  if (command == "learn") return LearnCommand(context, values.learn);
  if (command == "policy check") return PolicyCheckCommand(values.check_policy);
  if (command == "policy explain") {
    return PolicyExplainCommand(context, values.explain);
  }
  if (command == "policy show") return PolicyShowCommand(values.show_preset);
  if (command == "policy import") {
    return PolicyImportCommand(values.import_config, values.import_output);
  }
  if (command == "policy diff") {
    return PolicyDiffCommand(values.diff_a, values.diff_b);
  }
  if (command == "doctor") return DoctorCommand(context, values.doctor_json);
  if (command == "runs list") return RunsListCommand(context, values.runs_list);
  if (command == "runs show") {
    return RunsShowCommand(context, values.show_id, values.show_json);
  }
  if (command == "workloads") return WorkloadsCommand();
  if (command == "report") return ReportCommand(context, values.report);
  return kExitUsage;
}

}  // namespace
}  // namespace isoscope::cli

int main(int argc, char** argv) {
  // A closed stdout or stderr must not kill the supervisor mid-run (and
  // leave a run unrecorded); writes report EPIPE instead. Workloads get
  // default dispositions back before exec.
  if (std::signal(SIGPIPE, SIG_IGN) == SIG_ERR) return 125;
  // Children are waited for: a SIGCHLD ignored (or SA_NOCLDWAIT) by
  // whoever started isoscope would have the kernel reap them on exit, and
  // with them the helpers whose /proc entries isoscope reads after they
  // exit (the idmapped workdir's user namespace).
  struct sigaction child_default {};
  child_default.sa_handler = SIG_DFL;
  if (::sigaction(SIGCHLD, &child_default, nullptr) != 0) return 125;
  try {
    return isoscope::cli::Main(argc, argv);
  } catch (const std::system_error& e) {
    // Output into a pipe whose reader left (isoscope runs list | head): end
    // quietly with the status SIGPIPE would have given, as other tools do.
    if (e.code() == std::errc::broken_pipe) return 128 + SIGPIPE;
    (void)std::fprintf(stderr, "isoscope: internal error: %s\n", e.what());
    return isoscope::cli::kExitFailure;
  } catch (const std::exception& e) {
    // Errors are values inside isoscope; this is for what libraries throw
    // (allocation failure, formatting), so it still ends with a message.
    (void)std::fprintf(stderr, "isoscope: internal error: %s\n", e.what());
    return isoscope::cli::kExitFailure;
  }
}
