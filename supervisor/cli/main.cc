// isoscope: run a workload at several points of the isolation spectrum and
// measure what each costs and what each stops.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "backends/builtin_backends.h"
#include "base/temp_dir.h"
#include "policies/loader.h"
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
  // Scratch directories (workdirs, canaries) of an isoscope that was killed
  // outright could not be removed by it; their locks are free now.
  TempDir::RemoveAbandoned("isoscope-");
  RemoveAbandonedBackendState();
  BackendRegistry registry;
  RegisterBuiltinBackends(registry);
  Context context{&registry, ""};

  CLI::App app{
      "isoscope: runs a Linux x86-64 workload natively, under ptrace/seccomp, "
      "in a container or in a KVM guest, with one YAML policy, and records "
      "what each isolation level costs and stops."};
  app.footer(kExitStatusHelp);
  app.require_subcommand(1);
  app.add_option("--db", context.db_path,
                 "results store (default $XDG_DATA_HOME/isoscope/runs.db)");

  RunOptions run_options;
  std::string backend_help = "backend:";
  for (const auto& entry : registry.entries()) {
    backend_help += fmt::format(" {} ({})", entry.name, entry.description);
  }
  auto* run = app.add_subcommand(
      "run",
      "run a workload under a backend and policy; without a command, runs the "
      "built-in 'hello' workload");
  run->add_option("--backend,-b", run_options.backend, backend_help)
      ->capture_default_str();
  run->add_option("--policy,-p", run_options.policy,
                  "preset (permissive, default, strict) or YAML file")
      ->capture_default_str();
  run->add_option("--json", run_options.json_path,
                  "also write the full result as JSON to this file");
  run->add_option("--workdir", run_options.workdir,
                  "the workload's working directory ({workdir} in policies); "
                  "default: a fresh temporary directory, removed afterwards");
  // One value per --env: a vector option would otherwise take every
  // argument up to `--` as its values and swallow that `--`, so the
  // workload's own options (`sh -c`) became isoscope's.
  run->add_option("--env,-e", run_options.env,
                  "KEY=VALUE added to the workload's environment (which is "
                  "otherwise only PATH, HOME=workdir and LANG=C)")
      ->allow_extra_args(false);
  run->add_flag("--quiet,-q", run_options.quiet,
                "no summary on stderr after the run");
  run->add_option("command", run_options.command,
                  "the workload and its arguments, after --");
  run->footer(
      "The workload's stdin is /dev/null; its stdout and stderr pass "
      "through and are captured up to the policy's output limit.");

  ProbeOptionsCli probe_options;
  auto* probe = app.add_subcommand(
      "probe",
      "run every built-in escape and detection probe on each backend, with "
      "canaries planted outside, and print the probe x backend matrix");
  probe
      ->add_option("--backends", probe_options.backends,
                   "comma-separated backends (an unavailable one gives a "
                   "column of NA with the reason)")
      ->capture_default_str();
  probe
      ->add_option("--policy,-p", probe_options.policy,
                   "preset (permissive, default, strict) or YAML file")
      ->capture_default_str();
  probe->add_flag("--noisy", probe_options.noisy,
                  "also run the bounded resource probes (fork bomb, memory "
                  "bomb, disk fill, CPU spin)");
  probe->add_option("--json", probe_options.json_path,
                    "also write the session as JSON to this file");
  probe->footer(
      "Every probe run is recorded (isoscope runs list). Exit status 0 when "
      "the matrix is complete, whatever the verdicts; 130 when SIGINT or "
      "SIGTERM stopped it (the partial matrix is still shown and recorded).");

  CompareOptionsCli compare_options;
  auto* compare = app.add_subcommand(
      "compare",
      "run a workload on each backend (one warm-up, then N measured runs), "
      "record everything and print what each isolation level costs");
  compare
      ->add_option("--backends", compare_options.backends,
                   "comma-separated backends, or 'all' (one that cannot run "
                   "here is listed with the reason)")
      ->capture_default_str();
  compare
      ->add_option("--policy,-p", compare_options.policy,
                   "preset (permissive, default, strict) or YAML file")
      ->capture_default_str();
  compare
      ->add_option("--repeat,-n", compare_options.repeat,
                   "measured runs per backend, after one warm-up")
      ->capture_default_str();
  compare->add_option("--report", compare_options.report_path,
                      "also write a report (.html, .md or .json)");
  compare->add_flag("--probes", compare_options.probes,
                    "also run the probe suite on the same backends and policy");
  compare
      ->add_option("command", compare_options.command,
                   "the workload and its arguments, after --")
      ->required();
  compare->footer(
      "Every run is recorded (isoscope runs list), the comparison too "
      "(isoscope report ID re-renders it). Exit status 0 when the comparison "
      "is complete, whatever the workload's statuses; 130 when SIGINT or "
      "SIGTERM stopped it (what was measured is still shown and recorded).");

  auto* policy = app.add_subcommand("policy", "validate and explain policies");
  policy->require_subcommand(1);
  std::string check_policy;
  auto* check = policy->add_subcommand(
      "check",
      "validate a policy and show which syscalls are decided "
      "statically and which need inspection");
  check->add_option("policy", check_policy, "preset name or YAML file")
      ->required();
  ExplainOptions explain_options;
  auto* explain = policy->add_subcommand(
      "explain",
      "which rule decides a syscall with these arguments, or a fault of a "
      "kind (privileged_instruction, cpuid, rdtsc, page_fault, "
      "invalid_instruction, breakpoint, arithmetic), and why; or, with the "
      "policy alone, which backend enforces which of its sections");
  explain
      ->add_option("policy", explain_options.policy, "preset name or YAML file")
      ->required();
  explain->add_option("syscall", explain_options.syscall,
                      "syscall name or number, or a fault kind; without "
                      "it, what each backend enforces of the policy");
  explain->add_option("args", explain_options.args,
                      "arguments: numbers, constants like O_WRONLY|O_CREAT, "
                      "or paths at path positions");
  explain
      ->add_option("--workdir", explain_options.workdir, "value of {workdir}")
      ->capture_default_str();
  std::string show_preset;
  auto* show = policy->add_subcommand("show", "print a preset's YAML");
  show->add_option("preset", show_preset, "permissive, default or strict")
      ->required();
  std::string import_config;
  std::string import_output;
  auto* import = policy->add_subcommand(
      "import",
      "an OCI runtime config.json (or a bundle directory) as an isoscope "
      "policy: what the runtime config promises, to compare with a preset");
  import->add_option("config", import_config, "config.json or a bundle dir")
      ->required();
  import->add_option("-o,--output", import_output,
                     "write the policy here instead of stdout");
  std::string diff_a;
  std::string diff_b;
  auto* diff = policy->add_subcommand(
      "diff",
      "what each of two policies allows that the other does not, by "
      "section (exit 1 when they differ)");
  diff->add_option("a", diff_a, "preset name or YAML file")->required();
  diff->add_option("b", diff_b, "preset name or YAML file")->required();

  bool doctor_json = false;
  auto* doctor = app.add_subcommand(
      "doctor",
      "what this host offers each backend, and how to fix what is "
      "missing");
  doctor->add_flag("--json", doctor_json, "machine-readable output");

  auto* runs = app.add_subcommand("runs", "recorded runs");
  runs->require_subcommand(1);
  int list_limit = 20;
  auto* list = runs->add_subcommand("list", "the newest runs");
  list->add_option("--limit,-n", list_limit, "how many")->capture_default_str();
  std::string show_id;
  bool show_json = false;
  auto* show_run = runs->add_subcommand("show", "one run in full");
  show_run->add_option("id", show_id, "run id or 'latest'")->required();
  show_run->add_flag("--json", show_json, "the stored JSON");

  auto* workloads =
      app.add_subcommand("workloads", "list the built-in workloads");

  ReportOptions report_options;
  auto* report = app.add_subcommand(
      "report",
      "render a stored comparison (isoscope compare) as a self-contained "
      "HTML page, Markdown or JSON (reports/schema.json)");
  report->add_option("id", report_options.id, "comparison id or 'latest'")
      ->required();
  report
      ->add_option("--format,-f", report_options.format,
                   "html, md or json (default: from -o's extension, else "
                   "html)")
      ->check(CLI::IsMember({"html", "md", "markdown", "json"}));
  report->add_option("--output,-o", report_options.output,
                     "write to this file instead of stdout");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (run->parsed()) return RunCommand(context, run_options);
  if (probe->parsed()) return ProbeCommand(context, probe_options);
  if (compare->parsed()) return CompareCommand(context, compare_options);
  if (check->parsed()) return PolicyCheckCommand(check_policy);
  if (explain->parsed()) return PolicyExplainCommand(context, explain_options);
  if (show->parsed()) return PolicyShowCommand(show_preset);
  if (import->parsed()) {
    return PolicyImportCommand(import_config, import_output);
  }
  if (diff->parsed()) return PolicyDiffCommand(diff_a, diff_b);
  if (doctor->parsed()) return DoctorCommand(context, doctor_json);
  if (list->parsed()) return RunsListCommand(context, list_limit);
  if (show_run->parsed()) return RunsShowCommand(context, show_id, show_json);
  if (workloads->parsed()) return WorkloadsCommand();
  if (report->parsed()) return ReportCommand(context, report_options);
  return kExitUsage;
}

}  // namespace
}  // namespace isoscope::cli

int main(int argc, char** argv) {
  // A closed stdout or stderr must not kill the supervisor mid-run (and
  // leave a run unrecorded); writes report EPIPE instead. Workloads get
  // default dispositions back before exec.
  if (std::signal(SIGPIPE, SIG_IGN) == SIG_ERR) return 125;
  try {
    return isoscope::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    // Errors are values inside isoscope; this is for what libraries throw
    // (allocation failure, formatting), so it still ends with a message.
    (void)std::fprintf(stderr, "isoscope: internal error: %s\n", e.what());
    return isoscope::cli::kExitFailure;
  }
}
