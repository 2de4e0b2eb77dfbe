#include "supervisor/cli/cli_definition.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "policies/loader.h"
#include "supervisor/cli/exit_status.h"
#include "supervisor/cli/version.h"
#include "supervisor/run_result.h"

namespace isoscope::cli {

void DefineCli(CLI::App& app, const BackendRegistry& registry,
               CliValues& values, const std::vector<std::string>* words) {
  // Whether to define `name`'s options: every subcommand's for the pages
  // and the completion (no words), else only those of a subcommand named on
  // the command line (a word equal to its name; any other cannot be the
  // one parsed). CLI11 builds an option in microseconds, and 56 of them
  // took about 0.2 ms of every isoscope start.
  const auto wanted = [words](std::string_view name) {
    return words == nullptr ||
           std::find(words->begin(), words->end(), name) != words->end();
  };
  app.name("isoscope");
  app.description(
      "isoscope: runs a Linux x86-64 workload natively, under ptrace/seccomp, "
      "in a container or in a KVM guest, with one YAML policy, and records "
      "what each isolation level costs and stops.");
  app.footer(kExitStatusHelp);
  app.require_subcommand(1);
  app.set_version_flag(
      "--version", [&registry] { return VersionText(registry); },
      "version, git revision, build type and the backends of this build");
  app.add_option("--db", values.db_path,
                 "results store (default $XDG_DATA_HOME/isoscope/runs.db)");

  const std::vector<std::string> backend_names = registry.Names();
  std::string backend_help = "backend:";
  for (const auto& entry : registry.entries()) {
    backend_help += fmt::format(" {} ({})", entry.name, entry.description);
  }
  const std::string policy_help =
      fmt::format("preset ({}) or YAML file", fmt::join(PresetNames(), ", "));

  const std::string bundle_help =
      "an OCI runtime bundle directory (config.json and its rootfs, as umoci "
      "unpack writes it): runs its process (args, env, cwd, user) with the "
      "rootfs as the workload's root; no command after -- then";
  const std::string image_help =
      "an OCI image layout's image, LAYOUT:TAG: unpacked with umoci into "
      "$XDG_CACHE_HOME/isoscope/images (once per image) and run as --bundle "
      "runs a bundle";

  RunOptions& run_options = values.run;
  auto* run = app.add_subcommand(
      "run",
      "run a workload under a backend and policy; without a command, runs the "
      "built-in 'hello' workload");
  if (wanted("run")) {
    run->add_option("--backend,-b", run_options.backend, backend_help)
        ->capture_default_str();
    run->add_option("--policy,-p", run_options.policy, policy_help)
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
    auto* run_bundle =
        run->add_option("--bundle", run_options.bundle, bundle_help);
    run->add_option("--image", run_options.image, image_help)
        ->excludes(run_bundle);
    run->add_flag("--quiet,-q", run_options.quiet,
                  "no summary on stderr after the run");
    run->add_flag("--count-syscalls", run_options.count_syscalls,
                  "count every syscall the workload makes, in the kernel "
                  "(process backends; kvm always counts); costs tens of ms on "
                  "some hosts, so a run leaves the total n/a unless asked");
    run->add_option("command", run_options.command,
                    "the workload and its arguments, after --");
    run->footer(
        "The workload's stdin is /dev/null; its stdout and stderr pass "
        "through and are captured up to the policy's output limit. With "
        "--bundle, the policy's paths are paths inside the bundle's rootfs "
        "and {workdir} is its process.cwd; --env adds to its process.env.");
  }

  ProbeOptionsCli& probe_options = values.probe;
  auto* probe = app.add_subcommand(
      "probe",
      "run every built-in escape and detection probe on each backend, with "
      "canaries planted outside, and print the probe x backend matrix");
  if (wanted("probe")) {
    probe
        ->add_option("--backends", probe_options.backends,
                     "comma-separated backends (an unavailable one gives a "
                     "column of NA with the reason)")
        ->capture_default_str();
    probe->add_option("--policy,-p", probe_options.policy, policy_help)
        ->capture_default_str();
    probe->add_flag("--noisy", probe_options.noisy,
                    "also run the bounded resource probes (fork bomb, memory "
                    "bomb, disk fill, CPU spin)");
    probe->add_option("--probes", probe_options.probes,
                      "only these probes, comma-separated, named as in "
                      "`isoscope workloads` without probes/ (e.g. "
                      "magic-links,secret-file); a resource probe runs when "
                      "named");
    probe->add_option("--json", probe_options.json_path,
                      "also write the session as JSON to this file");
    probe->footer(
        "Every probe run is recorded (isoscope runs list). On a terminal, a "
        "progress line is shown on stderr. Exit status 0 when the matrix is "
        "complete, whatever the verdicts; 130 when SIGINT or SIGTERM stopped "
        "it (the partial matrix is still shown and recorded).");
  }

  CompareOptionsCli& compare_options = values.compare;
  auto* compare = app.add_subcommand(
      "compare",
      "run a workload on each backend (one warm-up, then N measured runs), "
      "record everything and print what each isolation level costs");
  if (wanted("compare")) {
    compare
        ->add_option("--backends", compare_options.backends,
                     "comma-separated backends, or 'all' (one that cannot run "
                     "here is listed with the reason)")
        ->capture_default_str();
    compare->add_option("--policy,-p", compare_options.policy, policy_help)
        ->capture_default_str();
    compare
        ->add_option("--repeat,-n", compare_options.repeat,
                     "measured runs per backend, after one warm-up")
        ->capture_default_str();
    compare->add_option("--report", compare_options.report_path,
                        "also write a report (.html, .md or .json)");
    compare->add_flag(
        "--probes", compare_options.probes,
        "also run the probe suite on the same backends and policy");
    auto* compare_bundle =
        compare->add_option("--bundle", compare_options.bundle, bundle_help);
    compare->add_option("--image", compare_options.image, image_help)
        ->excludes(compare_bundle);
    compare->add_option("command", compare_options.command,
                        "the workload and its arguments, after -- (or "
                        "--bundle, --image)");
    compare->footer(
        "Every run is recorded (isoscope runs list), the comparison too "
        "(isoscope report ID re-renders it). On a terminal, a progress line is "
        "shown on stderr. Exit status 0 when the comparison is complete, "
        "whatever the workload's statuses; 130 when SIGINT or SIGTERM stopped "
        "it (what was measured is still shown and recorded).");
  }

  LearnOptions& learn_options = values.learn;
  auto* learn = app.add_subcommand(
      "learn",
      "observe a workload with everything allowed, write the policy that "
      "allows what it did and nothing else, then run it under that policy "
      "on every backend to prove it");
  if (wanted("learn")) {
    learn
        ->add_option("--backend,-b", learn_options.backend,
                     "where the workload is observed: ptrace or container")
        ->capture_default_str();
    learn
        ->add_option("--base", learn_options.base,
                     "preset or YAML file giving what is not observed: the "
                     "default answer, refusals of calls never made, identity, "
                     "capabilities, the container's view, the limits while "
                     "observing")
        ->capture_default_str();
    learn
        ->add_option("--runs,-n", learn_options.runs,
                     "observe this many runs and allow what any of them did")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    learn->add_option("--output,-o", learn_options.output,
                      "write the policy here (default: stdout)");
    learn->add_option("--merge", learn_options.merge,
                      "a policy learned before: keep what it allows and widen "
                      "it by these runs");
    learn->add_flag("--no-verify", learn_options.no_verify,
                    "do not run the workload under the learned policy");
    learn
        ->add_option("--env,-e", learn_options.env,
                     "KEY=VALUE added to the workload's environment")
        ->allow_extra_args(false);
    auto* learn_bundle =
        learn->add_option("--bundle", learn_options.bundle, bundle_help);
    learn->add_option("--image", learn_options.image, image_help)
        ->excludes(learn_bundle);
    learn->add_option("command", learn_options.command,
                      "the workload and its arguments, after -- (or --bundle, "
                      "--image)");
    learn->footer(
        "Every run is recorded. On a terminal, a progress line is shown on "
        "stderr. The proof runs the workload once under the "
        "learned policy on each backend that applies a policy and can run "
        "here, and compares its stdout and exit status with the first "
        "observed run's. Exit status 0 when the policy is written and every "
        "backend that ran agrees; 1 when one differs (the rule that refused "
        "it is named); 64 for a bad request; 130 when interrupted. With "
        "--bundle, the learned paths are paths inside the bundle's rootfs "
        "and {workdir} is its process.cwd.");
  }

  auto* policy = app.add_subcommand("policy", "validate and explain policies");
  policy->require_subcommand(1);
  auto* check = policy->add_subcommand(
      "check",
      "validate a policy and show which syscalls are decided "
      "statically and which need inspection");
  if (wanted("check")) {
    check->add_option("policy", values.check_policy, "preset name or YAML file")
        ->required();
  }
  ExplainOptions& explain_options = values.explain;
  auto* explain = policy->add_subcommand(
      "explain",
      "which rule decides a syscall with these arguments, or a fault of a "
      "kind (privileged_instruction, cpuid, rdtsc, page_fault, "
      "invalid_instruction, breakpoint, arithmetic), and why; or, with the "
      "policy alone, which backend enforces which of its sections");
  if (wanted("explain")) {
    explain
        ->add_option("policy", explain_options.policy,
                     "preset name or YAML file")
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
  }
  auto* show = policy->add_subcommand("show", "print a preset's YAML");
  if (wanted("show")) {
    show->add_option("preset", values.show_preset,
                     fmt::format("{}", fmt::join(PresetNames(), ", ")))
        ->required();
  }

  auto* import = policy->add_subcommand(
      "import",
      "an OCI runtime config.json (or a bundle directory) as an isoscope "
      "policy: what the runtime config promises, to compare with a preset");
  if (wanted("import")) {
    import
        ->add_option("config", values.import_config,
                     "config.json or a bundle dir")
        ->required();
    import->add_option("-o,--output", values.import_output,
                       "write the policy here instead of stdout");
  }
  auto* diff = policy->add_subcommand(
      "diff",
      "what each of two policies allows that the other does not, by "
      "section (exit 1 when they differ)");
  if (wanted("diff")) {
    diff->add_option("a", values.diff_a, "preset name or YAML file")
        ->required();
    diff->add_option("b", values.diff_b, "preset name or YAML file")
        ->required();
  }

  auto* doctor = app.add_subcommand(
      "doctor",
      "what this host offers each backend, and how to fix what is "
      "missing");
  if (wanted("doctor")) {
    doctor->add_flag("--json", values.doctor_json, "machine-readable output");
  }

  auto* runs = app.add_subcommand("runs", "recorded runs");
  runs->require_subcommand(1);
  RunsListOptions& list_options = values.runs_list;
  auto* list = runs->add_subcommand(
      "list", "the newest runs, newest first, with their whole commands");
  if (wanted("list")) {
    list->add_option("--limit,-n", list_options.limit,
                     "how many (0: all that match)")
        ->capture_default_str();
    list->add_option("--backend,-b", list_options.backend,
                     "only runs on this backend")
        ->check(CLI::IsMember(backend_names));
    std::vector<std::string> outcome_names;
    for (const Outcome outcome : AllOutcomes()) {
      outcome_names.emplace_back(OutcomeName(outcome));
    }
    list->add_option("--outcome", list_options.outcome,
                     fmt::format("only runs that ended so: {}",
                                 fmt::join(outcome_names, ", ")))
        ->check(CLI::IsMember(outcome_names));
    list->add_option("--since", list_options.since,
                     "only runs started since then: a duration ago (90s, 30m, "
                     "2h, 7d, 2w) or a UTC time (2026-01-31, "
                     "2026-01-31T14:30, 2026-01-31T14:30:05)");
    list->add_flag("--wide,-w", list_options.wide,
                   "whole commands, however wide the terminal");
    list->add_flag("--json", list_options.json,
                   "a JSON array of the runs, whole commands, no table");
    list->footer(
        "The table fits the terminal ($COLUMNS, else the terminal's width): a "
        "command too long for it keeps its start and end around '...'. Output "
        "that is not a terminal gets whole commands, unless $COLUMNS is set.");
  }
  auto* show_run = runs->add_subcommand("show", "one run in full");
  if (wanted("show")) {
    show_run->add_option("id", values.show_id, "run id or 'latest'")
        ->required();
    show_run->add_flag("--json", values.show_json, "the stored JSON");
  }

  app.add_subcommand("workloads", "list the built-in workloads");

  ReportOptions& report_options = values.report;
  auto* report = app.add_subcommand(
      "report",
      "render a stored comparison (isoscope compare) as a self-contained "
      "HTML page, Markdown or JSON (reports/schema.json)");
  if (wanted("report")) {
    report->add_option("id", report_options.id, "comparison id or 'latest'")
        ->required();
    report
        ->add_option("--format,-f", report_options.format,
                     "html, md or json (default: from -o's extension, else "
                     "html)")
        ->check(CLI::IsMember({"html", "md", "markdown", "json"}));
    report->add_option("--output,-o", report_options.output,
                       "write to this file instead of stdout");
  }
}

std::string ParsedCommand(const CLI::App& app) {
  std::string path;
  const CLI::App* current = &app;
  while (true) {
    const auto parsed = current->get_subcommands();
    if (parsed.empty()) return path;
    current = parsed.front();
    if (!path.empty()) path += ' ';
    path += current->get_name();
  }
}

}  // namespace isoscope::cli
