// isoscope's command line as one definition: main parses with it, and the
// build generates the man pages and the bash completion from it
// (supervisor/cli/cli_docs.h), so they cannot drift from what is parsed.
#ifndef ISOSCOPE_SUPERVISOR_CLI_CLI_DEFINITION_H_
#define ISOSCOPE_SUPERVISOR_CLI_CLI_DEFINITION_H_

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "supervisor/backend_registry.h"
#include "supervisor/cli/commands.h"

namespace isoscope::cli {

// Everything the command line sets; the options are bound to these members.
struct CliValues {
  std::string db_path;  // --db; empty: DefaultStorePath()
  RunOptions run;
  ProbeOptionsCli probe;
  CompareOptionsCli compare;
  LearnOptions learn;
  std::string check_policy;
  ExplainOptions explain;
  std::string show_preset;
  std::string import_config;
  std::string import_output;
  std::string diff_a;
  std::string diff_b;
  bool doctor_json = false;
  RunsListOptions runs_list;
  std::string show_id;
  bool show_json = false;
  ReportOptions report;
};

// Defines every option and subcommand of `isoscope` on `app`, bound to
// `values` (which must outlive `app`'s parse). `--version` prints
// VersionText(registry). With `words` (the command line after the program's
// name), a subcommand gets its options only when one of the words is its
// name: what main parses with; the pages and the completion define all.
void DefineCli(CLI::App& app, const BackendRegistry& registry,
               CliValues& values,
               const std::vector<std::string>* words = nullptr);

// The subcommand that was parsed, as its path ("run", "policy check", "runs
// list"); empty when none was.
std::string ParsedCommand(const CLI::App& app);

}  // namespace isoscope::cli

#endif  // ISOSCOPE_SUPERVISOR_CLI_CLI_DEFINITION_H_
