// The man pages and bash completion are generated from the command line
// definition at build time: the build's files are what the definition gives
// now, every option and argument is in its page, the pages render without
// warnings, and the completion offers subcommands, options, backends,
// presets and run ids.
#include "supervisor/cli/cli_docs.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/builtin_backends.h"
#include "base/temp_dir.h"
#include "policies/loader.h"
#include "supervisor/cli/cli_definition.h"
#include "supervisor/store.h"
#include "tests/test_env.h"

namespace isoscope::cli {
namespace {

using ::isoscope::testing::BuildDir;
using ::isoscope::testing::CommandResult;
using ::isoscope::testing::IsoscopeBinary;
using ::isoscope::testing::RunCommand;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The man-page spelling of an option or argument name.
std::string RoffName(const std::string& name) {
  std::string out;
  for (const char c : name) {
    out += c == '-' ? std::string("\\-") : std::string(1, c);
  }
  return out;
}

class CliDocsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterBuiltinBackends(registry_);
    DefineCli(app_, registry_, values_);
  }

  BackendRegistry registry_;
  CLI::App app_;
  CliValues values_;
};

TEST_F(CliDocsTest, BuildsPagesAreTheDefinitionsPages) {
  const auto pages = ManPages(app_, ThisBuild());
  std::vector<std::string> names;
  for (const auto& page : pages) names.push_back(page.name);
  EXPECT_THAT(names,
              ElementsAre("isoscope", "isoscope-run", "isoscope-probe",
                          "isoscope-compare", "isoscope-learn",
                          "isoscope-policy", "isoscope-doctor", "isoscope-runs",
                          "isoscope-workloads", "isoscope-report"));
  for (const auto& page : pages) {
    const auto built = BuildDir() / "docs" / "man1" / (page.name + ".1");
    EXPECT_EQ(ReadFile(built), page.roff) << built << " is stale";
    EXPECT_TRUE(std::filesystem::exists(built.string() + ".gz")) << built;
  }
  EXPECT_EQ(ReadFile(BuildDir() / "docs" / "isoscope.bash"),
            BashCompletion(app_, registry_.Names(), PresetNames()));
}

// Every option and positional of every command, nested ones too, is in the
// page of its top-level command, with its description.
TEST_F(CliDocsTest, EveryOptionIsInItsPage) {
  const auto pages = ManPages(app_, ThisBuild());
  const auto page_of = [&pages](const std::string& name) {
    for (const auto& page : pages) {
      if (page.name == name) return page.roff;
    }
    return std::string();
  };
  size_t checked = 0;
  const auto check = [&](const CLI::App& command, const std::string& roff) {
    for (const CLI::Option* option : command.get_options()) {
      std::vector<std::string> names;
      for (const auto& n : option->get_lnames()) names.push_back("--" + n);
      for (const auto& n : option->get_snames()) names.push_back("-" + n);
      if (names.empty()) names.push_back(option->get_name(true));
      for (const std::string& name : names) {
        EXPECT_THAT(roff, HasSubstr(RoffName(name)))
            << command.get_name() << " " << name;
        ++checked;
      }
    }
  };
  check(app_, page_of("isoscope"));
  for (const CLI::App* command :
       app_.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string roff = page_of("isoscope-" + command->get_name());
    ASSERT_FALSE(roff.empty()) << command->get_name();
    EXPECT_THAT(roff, HasSubstr("\n.SH \"EXIT STATUS\"\n"));
    check(*command, roff);
    for (const CLI::App* sub :
         command->get_subcommands([](const CLI::App*) { return true; })) {
      EXPECT_THAT(roff, HasSubstr("isoscope " + command->get_name() + " " +
                                  sub->get_name()));
      check(*sub, roff);
    }
  }
  EXPECT_GT(checked, 50u);
  EXPECT_THAT(page_of("isoscope-runs"), HasSubstr("\\-\\-outcome"));
  EXPECT_THAT(page_of("isoscope-runs"), HasSubstr("violation"));
  EXPECT_THAT(page_of("isoscope"), HasSubstr("\\-\\-version"));
}

// The names of the options `command` defines, --help included.
std::vector<std::string> OptionNames(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    names.push_back(option->get_name());
  }
  return names;
}

// main defines only the options of the subcommand its command line names
// (cli_definition.h): that subcommand gets every option the full
// definition gives it, and another gets none but its --help.
TEST_F(CliDocsTest, ACommandLineGetsAllTheOptionsOfTheSubcommandItNames) {
  const auto all = [](const CLI::App* command) {
    return command->get_subcommands([](const CLI::App*) { return true; });
  };
  int leaves = 0;
  for (const CLI::App* group : all(&app_)) {
    const auto subcommands = all(group);
    std::vector<const CLI::App*> commands;
    if (subcommands.empty()) commands.push_back(group);
    for (const CLI::App* sub : subcommands) commands.push_back(sub);
    for (const CLI::App* command : commands) {
      ++leaves;
      std::vector<std::string> words = {group->get_name()};
      if (command != group) words.push_back(command->get_name());
      words.insert(words.end(), {"--", "workload"});
      CLI::App lazy;
      CliValues values;
      DefineCli(lazy, registry_, values, &words);
      const CLI::App* group_lazy = lazy.get_subcommand(group->get_name());
      const CLI::App* lazily =
          command == group ? group_lazy
                           : group_lazy->get_subcommand(command->get_name());
      EXPECT_EQ(OptionNames(*lazily), OptionNames(*command))
          << fmt::format("{}", fmt::join(words, " "));
      // Not named: only --help (a leaf named like this one elsewhere, as
      // `show` is under policy and runs, gets its options too).
      const CLI::App* other = lazy.get_subcommand(
          group->get_name() == "doctor" ? "workloads" : "doctor");
      if (other->get_name() != command->get_name()) {
        EXPECT_THAT(OptionNames(*other), ElementsAre("--help"))
            << other->get_name() << " with "
            << fmt::format("{}", fmt::join(words, " "));
      }
    }
  }
  EXPECT_EQ(leaves, 14);
}

TEST_F(CliDocsTest, PagesRenderWithoutWarnings) {
  if (!std::filesystem::exists("/usr/bin/man")) {
    GTEST_SKIP() << "no /usr/bin/man (Debian package man-db)";
  }
  for (const auto& page : ManPages(app_, ThisBuild())) {
    const auto path = BuildDir() / "docs" / "man1" / (page.name + ".1");
    const CommandResult shown = RunCommand(
        {"/usr/bin/man", "--warnings", "-E", "UTF-8", "-l", path.string()},
        {"MANWIDTH=80", "MAN_KEEP_FORMATTING=0", "MANPAGER=cat", "PAGER=cat"});
    EXPECT_EQ(shown.exit_status, 0) << page.name << ": " << shown.err;
    EXPECT_EQ(shown.err, "") << page.name;
    // Bold and underline come as overstrikes ("E\bE"): read the text.
    std::string text;
    for (const char c : shown.out) {
      if (c == '\b') {
        if (!text.empty()) text.pop_back();
      } else {
        text += c;
      }
    }
    EXPECT_THAT(text, HasSubstr("EXIT STATUS")) << page.name;
    EXPECT_THAT(text, HasSubstr("SEE ALSO")) << page.name;
  }
}

// Completes `words` (the last one being completed) in bash with the build's
// completion script, COMP_WORDS[0] being this build's isoscope.
std::vector<std::string> Complete(const std::vector<std::string>& words) {
  std::string line = "COMP_WORDS=(" + IsoscopeBinary().string();
  for (const std::string& word : words) line += " '" + word + "'";
  line += "); COMP_CWORD=" + std::to_string(words.size()) +
          "; _isoscope; printf '%s\\n' \"${COMPREPLY[@]}\"";
  const CommandResult result = RunCommand(
      {"/bin/bash", "--norc", "--noprofile", "-c", "source \"$0\" && " + line,
       (BuildDir() / "docs" / "isoscope.bash").string()});
  EXPECT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(result.err, "");
  std::vector<std::string> lines;
  std::istringstream in(result.out);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

TEST(BashCompletionTest, SubcommandsOptionsAndValues) {
  EXPECT_THAT(Complete({""}),
              IsSupersetOf({"run", "probe", "compare", "policy", "doctor",
                            "runs", "workloads", "report"}));
  EXPECT_THAT(Complete({"ru"}), ElementsAre("run", "runs"));
  EXPECT_THAT(Complete({"policy", ""}),
              ElementsAre("check", "explain", "show", "import", "diff"));
  EXPECT_THAT(Complete({"policy", "diff", "default", "str"}),
              Contains("strict"));
  EXPECT_THAT(Complete({"--db", "/tmp/x.db", "runs", ""}),
              ElementsAre("list", "show"));
  EXPECT_THAT(Complete({"--v"}), ElementsAre("--version"));
  EXPECT_THAT(Complete({"run", "--b"}), ElementsAre("--backend", "--bundle"));
  EXPECT_THAT(Complete({"runs", "list", "--"}),
              IsSupersetOf({"--backend", "--outcome", "--since", "--wide",
                            "--json", "--limit"}));
  EXPECT_THAT(Complete({"run", "--backend", ""}),
              ElementsAre("native", "ptrace", "container", "kvm"));
  EXPECT_THAT(Complete({"run", "-b", "k"}), ElementsAre("kvm"));
  EXPECT_THAT(Complete({"compare", "--backends", "native,p"}),
              ElementsAre("native,ptrace"));
  EXPECT_THAT(Complete({"compare", "--backends", "a"}), ElementsAre("all"));
  EXPECT_THAT(Complete({"run", "--policy", "st"}), Contains("strict"));
  EXPECT_THAT(Complete({"policy", "show", ""}),
              ElementsAre("permissive", "default", "strict"));
  EXPECT_THAT(Complete({"runs", "list", "--outcome", "vi"}),
              ElementsAre("violation"));
  EXPECT_THAT(Complete({"report", "--format", ""}),
              ElementsAre("html", "md", "json"));
  // The workload after --: a program, then files; never isoscope's options.
  EXPECT_THAT(Complete({"run", "--", "/bin/tru"}), Contains("/bin/true"));
  EXPECT_THAT(Complete({"compare", "-n", "3", "--", "/bin/true", "/etc/hostn"}),
              ElementsAre("/etc/hostname"));
  EXPECT_THAT(Complete({"run", "--", "/bin/sh", "--"}),
              Not(Contains("--backend")));
}

TEST(BashCompletionTest, RunIdsComeFromTheStoreOnTheCommandLine) {
  auto dir = TempDir::Create("isoscope-completion-test-");
  ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
  const std::string db = (dir->path() / "runs.db").string();
  {
    auto store = Store::Open(db);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    for (int i = 0; i < 3; ++i) {
      RunResult run;
      run.backend = "native";
      run.argv = {"/bin/true", std::to_string(i)};
      run.policy_name = "default";
      ASSERT_TRUE(store->Record(run).has_value());
    }
  }
  EXPECT_THAT(Complete({"--db", db, "runs", "show", ""}),
              ElementsAre("latest", "3", "2", "1"));
  EXPECT_THAT(Complete({"--db", db, "runs", "show", "2"}), ElementsAre("2"));
  // Without a store to read, still "latest".
  EXPECT_THAT(Complete({"--db", (dir->path() / "none" / "x.db").string(),
                        "runs", "show", ""}),
              ElementsAre("latest"));
}

}  // namespace
}  // namespace isoscope::cli
