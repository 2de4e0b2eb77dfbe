// The command line conventions of issue 19: --version, `runs list` with
// whole commands, filters and JSON, and progress on stderr only when it is
// a terminal.
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/exec_args.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "tests/test_env.h"

extern char** environ;

namespace isoscope::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class CliConventionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-conventions-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
  }

  std::vector<std::string> Argv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {IsoscopeBinary().string(), "--db", db_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  CommandResult Isoscope(const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {}) {
    return RunCommand(Argv(args), env);
  }

  // Records a native run of `command` (quietly).
  void Record(const std::vector<std::string>& command) {
    std::vector<std::string> args = {"run", "-q", "--"};
    args.insert(args.end(), command.begin(), command.end());
    const CommandResult run = Isoscope(args);
    ASSERT_NE(run.exit_status, 125) << run.err;
  }

  std::optional<TempDir> dir_;
  std::string db_;
};

TEST_F(CliConventionsTest, VersionSaysWhatThisBuildIs) {
  for (const auto& argv :
       {std::vector<std::string>{IsoscopeBinary().string(), "--version"},
        Argv({"--version"})}) {
    const CommandResult version = RunCommand(argv);
    EXPECT_EQ(version.exit_status, 0) << version.err;
    EXPECT_EQ(version.err, "");
    EXPECT_THAT(version.out, MatchesRegex("isoscope [0-9]+\\.[0-9]+\\.[0-9]+\n"
                                          "revision [0-9a-f+a-z]+\n"
                                          "build [A-Za-z]+\n"
                                          "backends native ptrace container "
                                          "kvm\n"));
  }
  // Help names it.
  EXPECT_THAT(Isoscope({"--help"}).out, HasSubstr("--version"));
}

TEST_F(CliConventionsTest, RunsListShowsWholeCommandsOrKeepsBothEnds) {
  const std::string long_arg(150, 'x');
  Record({"/bin/sh", "-c", "exit 0", "case-a", long_arg, "tail-a"});
  Record({"/bin/sh", "-c", "exit 0", "case-b", long_arg, "tail-b"});

  // Not a terminal and no $COLUMNS: whole commands.
  const CommandResult whole = Isoscope({"runs", "list"});
  ASSERT_EQ(whole.exit_status, 0) << whole.err;
  EXPECT_THAT(whole.out,
              HasSubstr("/bin/sh -c exit 0 case-b " + long_arg + " tail-b\n"));
  EXPECT_THAT(whole.out, HasSubstr("case-a " + long_arg + " tail-a\n"));

  // A narrow "terminal": the start and the end of each, told apart.
  const CommandResult narrow = Isoscope({"runs", "list"}, {"COLUMNS=120"});
  ASSERT_EQ(narrow.exit_status, 0) << narrow.err;
  std::istringstream lines(narrow.out);
  int rows = 0;
  for (std::string line; std::getline(lines, line); ++rows) {
    const auto columns = std::count_if(line.begin(), line.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    });
    EXPECT_LE(columns, 120) << line;
  }
  EXPECT_EQ(rows, 3);
  EXPECT_THAT(
      narrow.out,
      ContainsRegex("  /bin/sh -c exit 0 case-b x+\\.\\.\\.x+ tail-b\n"));
  EXPECT_THAT(
      narrow.out,
      ContainsRegex("  /bin/sh -c exit 0 case-a x+\\.\\.\\.x+ tail-a\n"));

  // --wide beats the width.
  const CommandResult wide =
      Isoscope({"runs", "list", "--wide"}, {"COLUMNS=120"});
  EXPECT_THAT(wide.out, HasSubstr("case-b " + long_arg + " tail-b\n"));
}

TEST_F(CliConventionsTest, RunsListFiltersAndJson) {
  Record({"/bin/true", "first"});  // not listed below: -n 1 picks the newer
  Record({"/bin/sh", "-c", "exit 3"});
  // A workload that dies of a signal.
  Record({"/bin/sh", "-c", "kill -TERM $$"});

  const auto list_json = [this](const std::vector<std::string>& filters) {
    std::vector<std::string> args = {"runs", "list", "--json"};
    args.insert(args.end(), filters.begin(), filters.end());
    const CommandResult listed = Isoscope(args);
    EXPECT_EQ(listed.exit_status, 0) << listed.err;
    return nlohmann::json::parse(listed.out, nullptr, false);
  };
  const nlohmann::json all = list_json({});
  ASSERT_TRUE(all.is_array()) << all;
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]["command"], "/bin/sh -c kill -TERM $$");
  EXPECT_EQ(all[0]["outcome"], "signaled");
  EXPECT_EQ(all[1]["command"], "/bin/sh -c exit 3");
  EXPECT_EQ(all[1]["exit_status"], 3);
  EXPECT_EQ(all[1]["outcome"], "exited");
  EXPECT_EQ(all[1]["backend"], "native");
  EXPECT_EQ(all[1]["policy"], "default");
  EXPECT_TRUE(all[1]["id"].is_number_integer());
  EXPECT_TRUE(all[1]["started_at_unix_ms"].is_number_integer());
  EXPECT_TRUE(all[1]["wall_ns"].is_number_integer());

  EXPECT_EQ(list_json({"--outcome", "exited"}).size(), 2u);
  EXPECT_EQ(list_json({"--outcome", "signaled"}).size(), 1u);
  EXPECT_EQ(list_json({"--outcome", "violation"}).size(), 0u);
  EXPECT_EQ(list_json({"--backend", "native"}).size(), 3u);
  EXPECT_EQ(list_json({"--backend", "ptrace"}).size(), 0u);
  EXPECT_EQ(list_json({"--since", "1h"}).size(), 3u);
  EXPECT_EQ(list_json({"--since", "2999-01-01"}).size(), 0u);
  EXPECT_EQ(list_json({"--since", "2000-01-01T00:00"}).size(), 3u);
  EXPECT_EQ(list_json({"--outcome", "exited", "-n", "1"})[0]["command"],
            "/bin/sh -c exit 3");

  // Bad values are usage errors that say what is accepted.
  const CommandResult bad_since = Isoscope({"runs", "list", "--since", "soon"});
  EXPECT_EQ(bad_since.exit_status, 64);
  EXPECT_THAT(bad_since.err, HasSubstr("2h"));
  EXPECT_EQ(Isoscope({"runs", "list", "--outcome", "fine"}).exit_status, 64);
  EXPECT_EQ(Isoscope({"runs", "list", "--backend", "vmware"}).exit_status, 64);
}

// Runs argv with stderr on a new pseudo-terminal (stdout to /dev/null) and
// returns what was written to it, or nullopt if no pty can be opened.
std::optional<std::string> StderrOnATerminal(
    const std::vector<std::string>& argv, int* exit_status) {
  int master = -1;
  int slave = -1;
  struct winsize size = {};
  size.ws_col = 100;
  size.ws_row = 30;
  if (::openpty(&master, &slave, nullptr, nullptr, &size) != 0) {
    return std::nullopt;
  }
  UniqueFd master_fd(master);
  UniqueFd slave_fd(slave);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv = ExecArgs(args);
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(slave, 2);
    ::execve(cargv[0], cargv.data(), environ);
    ::_exit(127);
  }
  slave_fd.Reset();
  std::string out;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(master_fd.get(), buffer, sizeof(buffer));
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EIO once the last writer closed the terminal
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return out;
}

// Everything `fd` yields until EOF (or an error other than EINTR).
std::string ReadToEnd(int fd) {
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

// `isoscope workloads | head -1`: a reader that left is not an error to
// report; isoscope ends as SIGPIPE would have ended it, saying nothing.
TEST_F(CliConventionsTest, ClosedStdoutEndsQuietly) {
  int out_pipe[2];
  int err_pipe[2];
  ASSERT_EQ(::pipe2(out_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  out_read.Reset();  // nobody will read stdout
  std::vector<std::string> args = Argv({"workloads"});
  std::vector<char*> cargv = ExecArgs(args);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out_write.get(), 1);
    ::dup2(err_write.get(), 2);
    ::execve(cargv[0], cargv.data(), environ);
    ::_exit(127);
  }
  out_write.Reset();
  err_write.Reset();
  const std::string err = ReadToEnd(err_read.get());
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGPIPE);
  EXPECT_EQ(err, "");
}

// A launcher may leave SIGCHLD ignored across its exec; the kernel would
// then reap isoscope's children on exit, before isoscope waits for them
// (wait4: ECHILD) or reads their /proc entries (the idmapped workdir's
// user namespace, from a helper that exits at once). isoscope resets it.
TEST_F(CliConventionsTest, RunsWhenStartedWithSigchldIgnored) {
  std::string skipped;
  for (const std::string backend : {"native", "container"}) {
    if (std::string why = BackendUnavailable(backend); !why.empty()) {
      skipped = fmt::format("not checked on {}: {}", backend, why);
      continue;
    }
    int err_pipe[2];
    ASSERT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
    UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
    // The default preset and a fresh workdir: the container's workdir is
    // idmapped to the workload.
    std::vector<std::string> args =
        Argv({"run", "-q", "--backend", backend, "--", "/bin/true"});
    std::vector<char*> cargv = ExecArgs(args);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (::signal(SIGCHLD, SIG_IGN) == SIG_ERR) ::_exit(126);
      ::dup2(err_write.get(), 2);
      ::execve(cargv[0], cargv.data(), environ);
      ::_exit(127);
    }
    err_write.Reset();
    const std::string err = ReadToEnd(err_read.get());
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << backend;
    EXPECT_EQ(WEXITSTATUS(status), 0) << backend << ": " << err;
    EXPECT_EQ(err, "") << backend;
  }
  if (!skipped.empty()) GTEST_SKIP() << skipped;
}

TEST_F(CliConventionsTest, CompareShowsProgressOnlyOnATerminal) {
  const std::vector<std::string> compare = {
      "compare", "--backends", "native", "-n", "2", "--", "/bin/true"};
  int status = -1;
  const auto on_tty = StderrOnATerminal(Argv(compare), &status);
  if (!on_tty) GTEST_SKIP() << "no pseudo-terminal (openpty failed)";
  EXPECT_EQ(status, 0) << *on_tty;
  EXPECT_THAT(*on_tty, HasSubstr("\rcompare: native warm-up"));
  EXPECT_THAT(*on_tty, HasSubstr("\rcompare: native 2/2"));
  EXPECT_THAT(*on_tty, Not(HasSubstr("\x1b")));  // no escape sequence
  EXPECT_THAT(*on_tty, Not(HasSubstr("\n")));    // one line, redrawn
  // Cleared at the end: blanks over it, and the cursor back at its start.
  EXPECT_THAT(*on_tty, EndsWith("\r"));

  const CommandResult piped = Isoscope(compare);
  EXPECT_EQ(piped.exit_status, 0) << piped.err;
  EXPECT_THAT(piped.err, Not(HasSubstr("compare:")));
  EXPECT_THAT(piped.err, Not(HasSubstr("\r")));
}

TEST_F(CliConventionsTest, ProbeShowsProgressOnlyOnATerminal) {
  const std::vector<std::string> probe = {"probe", "--backends", "native"};
  int status = -1;
  const auto on_tty = StderrOnATerminal(Argv(probe), &status);
  if (!on_tty) GTEST_SKIP() << "no pseudo-terminal (openpty failed)";
  EXPECT_EQ(status, 0) << *on_tty;
  EXPECT_THAT(*on_tty, HasSubstr("\rprobe: 1/"));
  EXPECT_THAT(*on_tty, HasSubstr(" native "));
  EXPECT_THAT(*on_tty, Not(HasSubstr("\x1b")));

  const CommandResult piped = Isoscope(probe);
  EXPECT_EQ(piped.exit_status, 0) << piped.err;
  EXPECT_THAT(piped.err, Not(HasSubstr("probe: ")));
  EXPECT_THAT(piped.err, Not(HasSubstr("\r")));
}

TEST_F(CliConventionsTest, LearnShowsProgressOnlyOnATerminal) {
  if (std::string why = BackendUnavailable("ptrace"); !why.empty()) {
    GTEST_SKIP() << "learn observes on ptrace, unavailable here: " << why;
  }
  const std::vector<std::string> learn = {
      "learn", "-o", (dir_->path() / "learned.yaml").string(), "--",
      "/bin/true"};
  int status = -1;
  const auto on_tty = StderrOnATerminal(Argv(learn), &status);
  if (!on_tty) GTEST_SKIP() << "no pseudo-terminal (openpty failed)";
  EXPECT_EQ(status, 0) << *on_tty;
  EXPECT_THAT(*on_tty, HasSubstr("\rlearn: observing on ptrace 1/1"));
  EXPECT_THAT(*on_tty, HasSubstr("\rlearn: proving on ptrace"));
  EXPECT_THAT(*on_tty, Not(HasSubstr("\x1b")));

  const CommandResult piped = Isoscope(learn);
  EXPECT_EQ(piped.exit_status, 0) << piped.err;
  EXPECT_THAT(piped.err, Not(HasSubstr("learn: observing")));
  EXPECT_THAT(piped.err, Not(HasSubstr("\r")));
}

}  // namespace
}  // namespace isoscope::testing
