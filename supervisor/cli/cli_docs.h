// The man pages and the bash completion of `isoscope`, generated from its
// command line definition (cli_definition.h) when isoscope is built
// (isoscope_docgen), so every option that parses is documented and
// completed.
#ifndef ISOSCOPE_SUPERVISOR_CLI_CLI_DOCS_H_
#define ISOSCOPE_SUPERVISOR_CLI_CLI_DOCS_H_

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "supervisor/cli/version.h"

namespace isoscope::cli {

// One man page (section 1) per top-level command: "isoscope" for the program
// itself, "isoscope-run", "isoscope-policy" (with its check, explain and
// show), and so on.
struct ManPage {
  std::string name;  // "isoscope-compare"
  std::string roff;
};
std::vector<ManPage> ManPages(const CLI::App& app, const BuildInfo& build);

// What a value of an option or positional argument completes to.
struct CompletionKind {
  enum class Type {
    kNone,      // free text or a number: nothing to offer
    kWords,     // one of `words`
    kWordList,  // a comma-separated list of `words`
    kFile,
    kDirectory,
    kPolicy,   // a preset or a YAML file
    kRunId,    // "latest" or a run id from the results store
    kCommand,  // a program, then its arguments (files)
  };
  Type type = Type::kNone;
  std::vector<std::string> words;
};

// The completion of `option` (an option or positional of the command
// `command_path`, "" for isoscope itself, "runs show"); `backends` and
// `presets` are the registry's and the preset loader's names.
CompletionKind CompletionFor(const std::string& command_path,
                             const CLI::Option& option,
                             const std::vector<std::string>& backends,
                             const std::vector<std::string>& presets);

// A bash completion script defining `_isoscope` and registering it for
// `isoscope`: subcommands, options, backends, presets, files, and run ids
// (asked of the `isoscope` on the command line, with its --db).
std::string BashCompletion(const CLI::App& app,
                           const std::vector<std::string>& backends,
                           const std::vector<std::string>& presets);

}  // namespace isoscope::cli

#endif  // ISOSCOPE_SUPERVISOR_CLI_CLI_DOCS_H_
