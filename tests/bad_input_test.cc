// Bad input on every backend (issue 13; each test is named by its row of
// docs/robustness.md): arguments and environment near and over ARG_MAX, a
// policy naming syscalls that do not exist, and workloads the kvm backend's
// own loader cannot run (cli_test covers them on the process backends,
// where the kernel's execve decides).
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr size_t kChunk = 100000;  // below MAX_ARG_STRLEN (128 KiB)

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-bad-input-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
    tmp_ = dir_->path() / "tmp";
    fs::create_directory(tmp_);
  }

  CommandResult Isoscope(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {IsoscopeBinary().string(), "--db", db_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {"TMPDIR=" + tmp_.string()});
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const fs::path path = dir_->path() / name;
    std::ofstream(path) << text;
    return path.string();
  }

  nlohmann::json LatestRun() {
    CommandResult shown = Isoscope({"runs", "show", "latest", "--json"});
    EXPECT_EQ(shown.exit_status, 0) << shown.err;
    return nlohmann::json::parse(shown.out, nullptr, false);
  }

  // `isoscope run` on `backend` of a workload given `chunks` arguments and as
  // many --env variables (BIG_i), each kChunk bytes. Process backends run a
  // shell that prints how many arguments and bytes it got and the sizes of
  // the first and last variable; kvm runs the built-in `hello`, which refuses
  // extra arguments with its usage (exit 2): it ran and got them.
  CommandResult RunWithHugeArguments(const std::string& backend, size_t chunks,
                                     std::vector<std::string>* workload) {
    const std::string chunk(kChunk, 'a');
    std::vector<std::string> args = {"run",   "-q",       "--backend",
                                     backend, "--policy", "permissive"};
    for (size_t i = 0; i < chunks; ++i) {
      args.insert(args.end(), {"--env", fmt::format("BIG_{}={}", i, chunk)});
    }
    args.push_back("--");
    if (backend == "kvm") {
      *workload = {BuiltWorkload("bench/hello").string()};
    } else {
      *workload = {"/bin/sh", "-c",
                   fmt::format("n=0; for a; do n=$((n + ${{#a}})); done; "
                               "echo $# $n ${{#BIG_0}} ${{#BIG_{}}}",
                               chunks - 1),
                   "sh"};
    }
    for (size_t i = 0; i < chunks; ++i) workload->push_back(chunk);
    args.insert(args.end(), workload->begin(), workload->end());
    return Isoscope(args);
  }

  std::optional<TempDir> dir_;
  std::string db_;
  fs::path tmp_;
};

// `--env` takes one value each time: given before `--`, it used to take
// the `--` too, so the workload's own options (`sh -c`) were parsed as
// isoscope's (exit 64, "The following argument was not expected: -c").
TEST_F(BadInputTest, EnvOptionsLeaveTheWorkloadsOptionsAlone) {
  CommandResult run = Isoscope({"run", "-q", "--env", "A=1", "-e", "B=2", "--",
                                "/bin/sh", "-c", "echo $A$B"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "12\n");
}

// Just under ARG_MAX in all (arguments and environment, half each: isoscope
// itself gets both on its own command line): passed through whole, and the
// arguments recorded whole, on every backend.
TEST_F(BadInputTest, ArgumentsAndEnvironmentNearArgMaxPassThroughWhole) {
  const long arg_max = ::sysconf(_SC_ARG_MAX);  // NOLINT(google-runtime-int)
  ASSERT_GT(arg_max, 0);
  // Room for isoscope's own options and the test's environment.
  const size_t chunks =
      (static_cast<size_t>(arg_max) - 64 * 1024) / (2 * (kChunk + 16));
  ASSERT_GE(chunks, 2u);
  int ran = 0;
  for (const std::string backend : {"native", "ptrace", "container", "kvm"}) {
    SCOPED_TRACE(backend);
    if (!BackendUnavailable(backend).empty()) continue;
    ++ran;
    std::vector<std::string> workload;
    CommandResult run = RunWithHugeArguments(backend, chunks, &workload);
    if (backend == "kvm") {
      EXPECT_EQ(run.exit_status, 2) << run.err;
      EXPECT_THAT(run.out + run.err, HasSubstr("usage: hello"));
    } else {
      EXPECT_EQ(run.exit_status, 0) << run.err;
      EXPECT_EQ(run.out, fmt::format("{} {} {} {}\n", chunks, chunks * kChunk,
                                     kChunk, kChunk));
    }
    nlohmann::json recorded = LatestRun();
    EXPECT_EQ(recorded["argv"].size(), workload.size());
    EXPECT_EQ(recorded["argv"].back(), workload.back());
    EXPECT_EQ(recorded["termination"]["outcome"], "exited");
  }
  if (ran == 0) GTEST_SKIP() << "no backend can run on this host";
}

// Over the default ARG_MAX (a quarter of the 8 MiB stack limit): the kernel
// refuses to start isoscope itself (E2BIG), as it would any program. With a
// larger stack limit (`ulimit -s`) it starts, and so does the workload on
// the process backends, which inherit the limit; the kvm backend's guest
// stack is fixed, so isoscope refuses the run before it starts (64, naming
// the argument that does not fit), leaving nothing behind.
TEST_F(BadInputTest, ArgumentsOverArgMaxWithALargerStackLimit) {
  constexpr rlim_t kStack = 32 << 20;
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_STACK, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < kStack) {
    GTEST_SKIP() << "the hard stack limit (" << saved.rlim_max
                 << " bytes) is below the 32 MiB this test needs";
  }
  rlimit raised = saved;
  raised.rlim_cur = kStack;
  ASSERT_EQ(::setrlimit(RLIMIT_STACK, &raised), 0);
  // 3 MB: over the default 2 MiB, within the raised limit's 6 MiB cap.
  const size_t chunks = 15;
  int ran = 0;
  for (const std::string backend : {"native", "ptrace", "container", "kvm"}) {
    SCOPED_TRACE(backend);
    if (!BackendUnavailable(backend).empty()) continue;
    ++ran;
    std::vector<std::string> workload;
    CommandResult run = RunWithHugeArguments(backend, chunks, &workload);
    if (backend == "kvm") {
      EXPECT_EQ(run.exit_status, 64) << run.err;
      EXPECT_THAT(run.err, HasSubstr("argument list too long"));
      EXPECT_THAT(run.err, HasSubstr("does not fit"));
    } else {
      EXPECT_EQ(run.exit_status, 0) << run.err;
      EXPECT_EQ(run.out, fmt::format("{} {} {} {}\n", chunks, chunks * kChunk,
                                     kChunk, kChunk));
      EXPECT_EQ(LatestRun()["argv"].back(), workload.back());
    }
    EXPECT_TRUE(fs::is_empty(tmp_)) << "a temporary directory was left";
  }
  ASSERT_EQ(::setrlimit(RLIMIT_STACK, &saved), 0);
  if (ran == 0) GTEST_SKIP() << "no backend can run on this host";
}

// A syscall name that is not an x86-64 syscall (a typo, or one the installed
// libseccomp does not know) is the policy's error: exit 2 naming the file,
// line, column and field, from `policy check` and before `run` runs or
// records anything.
TEST_F(BadInputTest, APolicyNamingUnknownSyscallsIs2AndRunsNothing) {
  const std::string policy =
      WriteFile("unknown.yaml",
                "version: 1\nsyscalls:\n  default: allow\n  rules:\n"
                "    - syscalls: [read, opne]\n      action: deny\n"
                "network: host\n");
  const std::string marker = (dir_->path() / "ran").string();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"policy", "check", policy},
        std::vector<std::string>{"run", "-q", "--backend", "ptrace", "--policy",
                                 policy, "--", "/bin/touch", marker}}) {
    CommandResult result = Isoscope(args);
    EXPECT_EQ(result.exit_status, 2) << result.err;
    EXPECT_THAT(result.err,
                HasSubstr(policy + ":5:24: syscalls.rules[0].syscalls[1]: "
                                   "unknown x86-64 syscall 'opne'"));
  }
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_THAT(Isoscope({"runs", "list"}).out, Not(HasSubstr("touch")));
}

// What the kvm backend's own loader refuses (it runs static ELF executables
// only): each a 126 with the reason, nothing left behind.
TEST_F(BadInputTest, KvmRefusesWhatItCannotLoad) {
  if (std::string why = BackendUnavailable("kvm"); !why.empty()) {
    GTEST_SKIP() << "kvm backend unavailable: " << why;
  }
  const std::string directory = (dir_->path() / "adir").string();
  fs::create_directory(directory);
  const std::string script = WriteFile("s.sh", "#!/nonexistent/interp\n");
  const std::string junk = WriteFile("junk", std::string(64, '\x7f'));
  const std::string truncated = WriteFile("truncated",
                                          "\x7f"
                                          "ELF");
  for (const std::string& file : {script, junk, truncated}) {
    ::chmod(file.c_str(), 0755);
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {directory, "is not an executable file"},
      {script,
       "is a script (#!); the kvm backend runs static ELF executables "
       "only"},
      {junk, "not an ELF executable"},
      {truncated, "shorter than an ELF header"}};
  for (const auto& [program, message] : cases) {
    SCOPED_TRACE(program);
    CommandResult run = Isoscope({"run", "-q", "--backend", "kvm", "--policy",
                                  "permissive", "--", program});
    EXPECT_EQ(run.exit_status, 126) << run.err;
    EXPECT_THAT(run.err, HasSubstr(message));
    EXPECT_TRUE(fs::is_empty(tmp_)) << "a temporary directory was left";
  }
}

// Every row of docs/robustness.md names at least one test, and each test it
// names exists in the sources (`Suite.Name`, or `Suite.*` for a suite;
// an instantiation prefix `Prefix/` is ignored).
TEST(RobustnessTableTest, EveryRowNamesATestThatExists) {
  std::set<std::string> suites;
  std::set<std::string> tests;
  const std::regex defined(
      R"(\bTEST(?:_F|_P)?\(\s*([A-Za-z0-9_]+)\s*,\s*([A-Za-z0-9_]+)\s*\))");
  for (const char* tree : {"backends", "base", "policies", "reports",
                           "supervisor", "tests", "workloads"}) {
    for (const auto& entry :
         fs::recursive_directory_iterator(SourceDir() / tree)) {
      if (entry.path().extension() != ".cc") continue;
      std::ifstream in(entry.path());
      const std::string text((std::istreambuf_iterator<char>(in)), {});
      for (std::sregex_iterator it(text.begin(), text.end(), defined), end;
           it != end; ++it) {
        suites.insert((*it)[1]);
        tests.insert((*it)[1].str() + "." + (*it)[2].str());
      }
    }
  }
  ASSERT_FALSE(tests.empty());
  std::ifstream table(SourceDir() / "docs/robustness.md");
  const std::regex named(
      R"(`(?:[A-Za-z0-9_]+/)?([A-Za-z0-9_]+)\.([A-Za-z0-9_*]+)`)");
  int rows = 0;
  bool in_table = false;
  for (std::string line; std::getline(table, line);) {
    if (line.rfind("| --- |", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table || line.rfind("| ", 0) != 0) continue;
    ++rows;
    const std::string last = line.substr(line.rfind(" | ") + 3);
    int found = 0;
    for (std::sregex_iterator it(last.begin(), last.end(), named), end;
         it != end; ++it) {
      ++found;
      const std::string suite = (*it)[1];
      const std::string test = (*it)[2];
      if (test == "*") {
        EXPECT_TRUE(suites.count(suite)) << "no test suite " << suite;
      } else {
        EXPECT_TRUE(tests.count(suite + "." + test))
            << "no test " << suite << "." << test;
      }
    }
    EXPECT_GT(found, 0) << "a row names no test: " << line;
  }
  EXPECT_GT(rows, 10);
}

}  // namespace
}  // namespace isoscope::testing
