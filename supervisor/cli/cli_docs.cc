#include "supervisor/cli/cli_docs.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <fmt/format.h>

namespace isoscope::cli {
namespace {

// ---------------------------------------------------------------------------
// The definition, read back

bool IsFlag(const CLI::Option& option) {
  return option.get_expected_max() == 0;
}

// An option or positional taking any number of values (--env, command).
bool IsRepeated(const CLI::Option& option) {
  return option.get_items_expected_max() > 1;
}

// Options before positionals, in definition order; --help first.
std::vector<const CLI::Option*> OptionsOf(const CLI::App& command) {
  std::vector<const CLI::Option*> options;
  for (const CLI::Option* option : command.get_options()) {
    if (option->get_group().empty()) continue;  // hidden
    if (option->nonpositional()) options.push_back(option);
  }
  return options;
}

std::vector<const CLI::Option*> PositionalsOf(const CLI::App& command) {
  std::vector<const CLI::Option*> positionals;
  for (const CLI::Option* option : command.get_options()) {
    if (!option->nonpositional() && option->get_positional()) {
      positionals.push_back(option);
    }
  }
  return positionals;
}

std::vector<const CLI::App*> SubcommandsOf(const CLI::App& command) {
  return command.get_subcommands([](const CLI::App*) { return true; });
}

// Every name of an option: long ones first ("--backend", "-b").
std::vector<std::string> NamesOf(const CLI::Option& option) {
  std::vector<std::string> names;
  for (const std::string& name : option.get_lnames()) {
    names.push_back("--" + name);
  }
  for (const std::string& name : option.get_snames()) {
    names.push_back("-" + name);
  }
  return names;
}

// "TEXT", "INT": the value's type without its validators' descriptions.
std::string ValueName(const CLI::Option& option) {
  std::string type = option.get_type_name();
  type = type.substr(0, type.find(':'));
  return type.empty() ? "VALUE" : type;
}

// The words of an IsMember check ("TEXT:{html,md,json}"); empty without.
std::vector<std::string> MemberWords(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  const size_t open = type.find(":{");
  const size_t close = type.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  std::vector<std::string> words;
  const std::string_view type_view = type;
  const std::string_view list = type_view.substr(open + 2, close - open - 2);
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) words.emplace_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return words;
}

std::string JoinPath(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + " " + name;
}

// ---------------------------------------------------------------------------
// roff

// Text for roff: backslashes and hyphens escaped (so an option copied from
// the page is typed right), and a line that would start with a control
// character protected.
std::string Roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (const char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

std::string Bold(std::string_view text) { return "\\fB" + Roff(text) + "\\fR"; }

std::string Italic(std::string_view text) {
  return "\\fI" + Roff(text) + "\\fR";
}

// A sentence for the page: first letter capitalised, a full stop at the end.
std::string Sentence(std::string text) {
  if (!text.empty()) {
    text[0] =
        static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  }
  if (!text.empty() && text.back() != '.') text += '.';
  return text;
}

// "isoscope runs show ID", "[--db FILE]" kept for the page of the program.
std::string Synopsis(const std::string& path, const CLI::App& command) {
  std::string line = Bold("isoscope") + " [" + Bold("--db") + " " +
                     Italic("FILE") + "] " + Bold(path);
  bool has_options = false;
  for (const CLI::Option* option : OptionsOf(command)) {
    if (option != command.get_help_ptr()) has_options = true;
  }
  if (has_options) line += " [" + Italic("options") + "]";
  for (const CLI::Option* positional : PositionalsOf(command)) {
    std::string name = Italic(positional->get_name(true));
    if (IsRepeated(*positional)) name += "...";
    if (positional->get_name(true) == "command") {
      name = fmt::format("[{}] {}", Bold("--"), name);
    }
    line += ' ';
    line += positional->get_required() ? name : "[" + name + "]";
  }
  return line + "\n";
}

std::string OptionItems(const CLI::App& command) {
  std::string out;
  for (const CLI::Option* option : OptionsOf(command)) {
    std::vector<std::string> names;
    for (const std::string& name : NamesOf(*option)) {
      names.push_back(Bold(name));
    }
    std::string head = fmt::format("{}", fmt::join(names, ", "));
    if (!IsFlag(*option)) head += " " + Italic(ValueName(*option));
    std::string text = Sentence(option->get_description());
    if (IsRepeated(*option)) text += " May be given more than once.";
    if (!option->get_default_str().empty()) {
      text += fmt::format(" Default: {}.", option->get_default_str());
    }
    out += ".TP\n" + head + "\n" + Roff(text) + "\n";
  }
  for (const CLI::Option* positional : PositionalsOf(command)) {
    out += ".TP\n" + Italic(positional->get_name(true)) + "\n" +
           Roff(Sentence(positional->get_description())) + "\n";
  }
  return out;
}

std::string Header(const std::string& name, const BuildInfo& build) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  // No date: the page is the same for the same definition.
  return fmt::format(
      ".\\\" Generated from isoscope's command line definition "
      "(supervisor/cli/cli_docs.cc): do not edit.\n"
      ".TH \"{}\" \"1\" \"\" \"isoscope {}\" \"isoscope manual\"\n"
      ".nh\n",
      Roff(upper), Roff(build.version));
}

// A command's own footer as a paragraph; nothing for the program's exit
// status table, which CLI11 copies into every subcommand without one.
std::string Footer(const CLI::App& app, const CLI::App& command) {
  const std::string footer = command.get_footer();
  if (footer.empty() || footer == app.get_footer()) return "";
  return ".PP\n" + Roff(footer) + "\n";
}

std::string ExitStatusSection(const CLI::App& app) {
  // The program's footer is the exit status table ("Exit status:\n...").
  std::string table = app.get_footer();
  if (const size_t colon = table.find(":\n"); colon != std::string::npos) {
    table = table.substr(colon + 2);
  }
  return ".SH \"EXIT STATUS\"\n.nf\n" + Roff(table) + ".fi\n";
}

std::string SeeAlso(const CLI::App& app, const std::string& self) {
  std::vector<std::string> pages;
  if (self != "isoscope") pages.push_back(Bold("isoscope") + "(1)");
  for (const CLI::App* command : SubcommandsOf(app)) {
    const std::string page = "isoscope-" + command->get_name();
    if (page != self) pages.push_back(Bold(page) + "(1)");
  }
  return ".SH \"SEE ALSO\"\n" + fmt::format("{}", fmt::join(pages, ",\n")) +
         "\n";
}

std::string ProgramPage(const CLI::App& app, const BuildInfo& build) {
  std::string description = app.get_description();
  if (description.rfind("isoscope: ", 0) == 0) {
    description = description.substr(std::string("isoscope: ").size());
  }
  std::string page = Header("isoscope", build);
  page += ".SH NAME\nisoscope \\- " + Roff(description) + "\n";
  page += ".SH SYNOPSIS\n" + Bold("isoscope") + " [" + Bold("--db") + " " +
          Italic("FILE") + "] " + Italic("command") + " [" +
          Italic("arguments") + "]\n.br\n" + Bold("isoscope --version") +
          "\n.br\n" + Bold("isoscope --help") + "\n";
  page += ".SH DESCRIPTION\n" + Roff(Sentence(description)) + "\n";
  page += ".SH OPTIONS\n" + OptionItems(app);
  page += ".SH COMMANDS\n";
  for (const CLI::App* command : SubcommandsOf(app)) {
    page += ".TP\n" + Bold(command->get_name()) + "\n" +
            Roff(Sentence(command->get_description())) + " See " +
            Bold("isoscope-" + command->get_name()) + "(1).\n";
  }
  page +=
      ".SH ENVIRONMENT\n"
      ".TP\n\\fBXDG_DATA_HOME\\fR\n"
      "The results store is $XDG_DATA_HOME/isoscope/runs.db "
      "(~/.local/share/isoscope/runs.db without it), unless " +
      Bold("--db") +
      " names one.\n"
      ".TP\n\\fBISOSCOPE_WORKLOADS_DIR\\fR\n"
      "Where the built\\-in workloads are looked for first; then beside "
      "the binary (workloads/) and in ../libexec/isoscope/workloads "
      "from it.\n"
      ".TP\n\\fBCOLUMNS\\fR\n"
      "The width " +
      Bold("isoscope runs list") +
      " fits its table to; without it, the terminal's.\n"
      ".TP\n\\fBNO_COLOR\\fR\n"
      "isoscope writes no colour or other escape sequence in any case; "
      "a progress line is shown on stderr only when it is a terminal.\n";
  page += ExitStatusSection(app);
  page += SeeAlso(app, "isoscope");
  return page;
}

std::string CommandPage(const CLI::App& app, const CLI::App& command,
                        const BuildInfo& build) {
  const std::string name = "isoscope-" + command.get_name();
  std::string page = Header(name, build);
  page += ".SH NAME\n" + Roff(name) + " \\- " +
          Roff(command.get_description()) + "\n";
  const auto subcommands = SubcommandsOf(command);
  page += ".SH SYNOPSIS\n";
  if (subcommands.empty()) {
    page += Synopsis(command.get_name(), command);
  } else {
    for (size_t i = 0; i < subcommands.size(); ++i) {
      if (i > 0) page += ".br\n";
      page += Synopsis(command.get_name() + " " + subcommands[i]->get_name(),
                       *subcommands[i]);
    }
  }
  page +=
      ".SH DESCRIPTION\n" + Roff(Sentence(command.get_description())) + "\n";
  page += Footer(app, command);
  if (subcommands.empty()) {
    page += ".SH OPTIONS\n" + OptionItems(command);
  } else {
    page += ".SH COMMANDS\n";
    for (const CLI::App* sub : subcommands) {
      page += ".SS \"" +
              Roff("isoscope " + command.get_name() + " " + sub->get_name()) +
              "\"\n" + Roff(Sentence(sub->get_description())) + "\n";
      page += Footer(app, *sub);
      page += OptionItems(*sub);
    }
  }
  page += ".SH \"GLOBAL OPTIONS\"\n.TP\n" + Bold("--db") + " " +
          Italic("FILE") + "\nThe results store; see " + Bold("isoscope") +
          "(1).\n";
  page += ExitStatusSection(app);
  page += SeeAlso(app, name);
  return page;
}

// ---------------------------------------------------------------------------
// bash

// A word for a single-quoted bash string.
std::string Quoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string KindText(const CompletionKind& kind) {
  using Type = CompletionKind::Type;
  switch (kind.type) {
    case Type::kNone:
      return "none";
    case Type::kWords:
      return fmt::format("words {}", fmt::join(kind.words, " "));
    case Type::kWordList:
      return fmt::format("list {}", fmt::join(kind.words, " "));
    case Type::kFile:
      return "file";
    case Type::kDirectory:
      return "dir";
    case Type::kPolicy:
      return "policy";
    case Type::kRunId:
      return "runid";
    case Type::kCommand:
      return "command";
  }
  return "none";
}

struct CompletionTables {
  std::string commands;          // case arms of _isoscope_commands
  std::string options;           // of _isoscope_options
  std::string option_kinds;      // of _isoscope_option_kind
  std::string positional_kinds;  // of _isoscope_positional_kind
};

void AddCompletions(const std::string& path, const CLI::App& command,
                    const std::vector<std::string>& backends,
                    const std::vector<std::string>& presets,
                    CompletionTables& tables) {
  std::vector<std::string> sub_names;
  for (const CLI::App* sub : SubcommandsOf(command)) {
    sub_names.push_back(sub->get_name());
  }
  if (!sub_names.empty()) {
    tables.commands +=
        fmt::format("    {}) echo {} ;;\n", Quoted(path),
                    Quoted(fmt::format("{}", fmt::join(sub_names, " "))));
  }
  std::vector<std::string> option_names;
  for (const CLI::Option* option : OptionsOf(command)) {
    const std::vector<std::string> names = NamesOf(*option);
    option_names.insert(option_names.end(), names.begin(), names.end());
    if (IsFlag(*option)) continue;
    std::vector<std::string> patterns;
    for (const std::string& name : names) {
      patterns.push_back(Quoted(fmt::format("{} {}", path, name)));
    }
    tables.option_kinds += fmt::format(
        "    {}) echo {} ;;\n", fmt::join(patterns, "|"),
        Quoted(KindText(CompletionFor(path, *option, backends, presets))));
  }
  tables.options +=
      fmt::format("    {}) echo {} ;;\n", Quoted(path),
                  Quoted(fmt::format("{}", fmt::join(option_names, " "))));
  const auto positionals = PositionalsOf(command);
  for (size_t i = 0; i < positionals.size(); ++i) {
    const CompletionKind kind =
        CompletionFor(path, *positionals[i], backends, presets);
    tables.positional_kinds += fmt::format(
        "    {}) echo {} ;;\n", Quoted(fmt::format("{} {}", path, i)),
        Quoted(KindText(kind)));
    if (IsRepeated(*positionals[i])) {
      // Every later word is one of its values; a command's are files.
      const CompletionKind rest =
          kind.type == CompletionKind::Type::kCommand
              ? CompletionKind{CompletionKind::Type::kFile, {}}
              : kind;
      tables.positional_kinds += fmt::format(
          "    {}*) echo {} ;;\n", Quoted(path + " "), Quoted(KindText(rest)));
      break;
    }
  }
  for (const CLI::App* sub : SubcommandsOf(command)) {
    AddCompletions(JoinPath(path, sub->get_name()), *sub, backends, presets,
                   tables);
  }
}

constexpr std::string_view kCompletionBody = R"bash(
# The run ids of the results store the command line names (its --db), asked
# of the isoscope being completed.
_isoscope_run_ids() {
  local -a db=()
  local i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --db) db=(--db "${COMP_WORDS[i + 1]/#\~/$HOME}") ;;
      --db=*) db=(--db "${COMP_WORDS[i]#--db=}") ;;
    esac
  done
  "${COMP_WORDS[0]}" "${db[@]}" runs list --limit 50 --wide 2>/dev/null |
    awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }'
}

# Fills COMPREPLY with the completions of $1 for a value of kind $2 (with
# its words after it).
_isoscope_complete_kind() {
  local cur=$1 kind=$2
  shift 2
  case $kind in
    words)
      mapfile -t COMPREPLY < <(compgen -W "$*" -- "$cur") ;;
    list)
      local done_part='' last=$cur
      if [[ $cur == *,* ]]; then
        done_part=${cur%,*},
        last=${cur##*,}
      fi
      mapfile -t COMPREPLY < <(compgen -P "$done_part" -W "$*" -- "$last") ;;
    file)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    dir)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    policy)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -W "$_isoscope_presets" -- "$cur"
                               compgen -f -- "$cur") ;;
    runid)
      mapfile -t COMPREPLY < <(compgen -W "latest $(_isoscope_run_ids)" -- "$cur") ;;
    command)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -c -- "$cur"; compgen -f -- "$cur") ;;
  esac
}

_isoscope() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local path='' word kind i=1 positional=0 after_dashes=0
  COMPREPLY=()
  while ((i < COMP_CWORD)); do
    word=${COMP_WORDS[i]}
    if ((after_dashes)); then
      ((positional++))
    elif [[ $word == -- ]]; then
      after_dashes=1
    elif [[ $word == -* ]]; then
      kind=$(_isoscope_option_kind "$path" "$word")
      if [[ $word != *=* && -n $kind ]]; then
        if ((i + 1 == COMP_CWORD)); then
          # shellcheck disable=SC2086 # the kind's words are split on purpose
          _isoscope_complete_kind "$cur" $kind
          return 0
        fi
        ((i++))
      fi
    elif ((positional == 0)) &&
         [[ " $(_isoscope_commands "$path") " == *" $word "* ]]; then
      path=${path:+$path }$word
    else
      ((positional++))
    fi
    ((i++))
  done
  if ((!after_dashes)) && [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_isoscope_options "$path")" -- "$cur")
    return 0
  fi
  local commands
  commands=$(_isoscope_commands "$path")
  if ((!after_dashes && positional == 0)) && [[ -n $commands ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
    return 0
  fi
  kind=$(_isoscope_positional_kind "$path" "$positional")
  # shellcheck disable=SC2086 # the kind's words are split on purpose
  [[ -n $kind ]] && _isoscope_complete_kind "$cur" $kind
  return 0
}

complete -F _isoscope isoscope
)bash";

}  // namespace

std::vector<ManPage> ManPages(const CLI::App& app, const BuildInfo& build) {
  std::vector<ManPage> pages;
  pages.push_back({"isoscope", ProgramPage(app, build)});
  for (const CLI::App* command : SubcommandsOf(app)) {
    pages.push_back(
        {"isoscope-" + command->get_name(), CommandPage(app, *command, build)});
  }
  return pages;
}

CompletionKind CompletionFor(const std::string& command_path,
                             const CLI::Option& option,
                             const std::vector<std::string>& backends,
                             const std::vector<std::string>& presets) {
  using Type = CompletionKind::Type;
  if (auto words = MemberWords(option); !words.empty()) {
    if (option.get_lnames() == std::vector<std::string>{"format"}) {
      // "markdown" is accepted as a synonym of "md"; offer the short one.
      std::erase(words, "markdown");
    }
    return {Type::kWords, std::move(words)};
  }
  const std::string name = option.get_lnames().empty()
                               ? option.get_name(true)
                               : option.get_lnames().front();
  if (name == "backend") return {Type::kWords, backends};
  if (name == "backends") {
    // BackendRegistry::Select's "all" first.
    std::vector<std::string> words = backends;
    words.insert(words.begin(), "all");
    return {Type::kWordList, std::move(words)};
  }
  if (name == "policy" ||
      (command_path == "policy diff" && (name == "a" || name == "b"))) {
    return {Type::kPolicy, {}};
  }
  if (name == "config") return {Type::kFile, {}};
  if (name == "preset") return {Type::kWords, presets};
  if (name == "db" || name == "json" || name == "report" || name == "output") {
    return {Type::kFile, {}};
  }
  if (name == "workdir" && command_path == "run") return {Type::kDirectory, {}};
  if (name == "id" && command_path == "runs show") return {Type::kRunId, {}};
  if (name == "id") return {Type::kWords, {"latest"}};
  if (name == "command") return {Type::kCommand, {}};
  return {Type::kNone, {}};
}

std::string BashCompletion(const CLI::App& app,
                           const std::vector<std::string>& backends,
                           const std::vector<std::string>& presets) {
  CompletionTables tables;
  AddCompletions("", app, backends, presets, tables);
  std::string out =
      "# bash completion for isoscope. Generated from isoscope's command "
      "line\n# definition (supervisor/cli/cli_docs.cc): do not edit.\n\n";
  out += fmt::format("_isoscope_presets={}\n\n",
                     Quoted(fmt::format("{}", fmt::join(presets, " "))));
  out +=
      "# The subcommands of the command path $1 (\"\", \"policy\").\n"
      "_isoscope_commands() {\n  case $1 in\n" +
      tables.commands + "  esac\n}\n\n";
  out +=
      "# The options of the command path $1.\n"
      "_isoscope_options() {\n  case $1 in\n" +
      tables.options + "  esac\n}\n\n";
  out +=
      "# The kind of value option $2 of command path $1 takes; nothing for "
      "a flag.\n_isoscope_option_kind() {\n  case \"$1 $2\" in\n" +
      tables.option_kinds + "  esac\n}\n\n";
  out +=
      "# The kind of the positional argument number $2 (from 0) of "
      "command path $1.\n_isoscope_positional_kind() {\n  case \"$1 $2\" "
      "in\n" +
      tables.positional_kinds + "  esac\n}\n";
  out += kCompletionBody;
  return out;
}

}  // namespace isoscope::cli
