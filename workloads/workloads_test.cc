// Runs each built-in bench workload natively and checks its exit status and
// its exact RESULT line; checks the catalog finds the built programs.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "workloads/catalog.h"

namespace isoscope {
namespace {

struct Outcome {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;
};

// The build's workloads directory: $ISOSCOPE_BUILD_DIR/workloads, else the
// directory of this test binary (built into that same directory).
std::filesystem::path WorkloadsDir() {
  if (const char* build = std::getenv("ISOSCOPE_BUILD_DIR");
      build != nullptr && build[0] != '\0') {
    return std::filesystem::path(build) / "workloads";
  }
  return std::filesystem::read_symlink("/proc/self/exe").parent_path();
}

// Runs `program args...` in `cwd` with stdout captured and stderr discarded.
Outcome RunWorkload(
    const std::filesystem::path& program, const std::vector<std::string>& args,
    const std::filesystem::path& cwd = std::filesystem::temp_directory_path()) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  std::vector<std::string> argv_storage = {program.string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string cwd_str = cwd.string();

  pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls until execv
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (dup2(fds[1], 1) < 0 || dup2(devnull, 2) < 0 ||
        chdir(cwd_str.c_str()) != 0) {
      _exit(126);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  Outcome outcome;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) outcome.out.append(buf, n);
  close(fds[0]);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  }
  return outcome;
}

std::filesystem::path Bench(const char* name) {
  return WorkloadsDir() / "bench" / name;
}

class TempDir {
 public:
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "isoscope-wl-XXXXXX")
            .string();
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(BenchWorkloads, StartupExitsZeroSilently) {
  Outcome o = RunWorkload(Bench("startup"), {});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "");
}

TEST(BenchWorkloads, HelloPrintsAndExitsWithCode) {
  Outcome o = RunWorkload(Bench("hello"), {});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "hello from isoscope\nRESULT hello code=0\n");
  o = RunWorkload(Bench("hello"), {"7"});
  EXPECT_EQ(o.exit_code, 7);
  EXPECT_EQ(o.out, "hello from isoscope\nRESULT hello code=7\n");
}

TEST(BenchWorkloads, SyscallStorm) {
  Outcome o = RunWorkload(Bench("syscall-storm"), {"10000"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT syscall-storm n=10000 ok=1\n");
}

TEST(BenchWorkloads, FileIoLeavesNothingBehind) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  Outcome o = RunWorkload(Bench("file-io"), {"16"}, dir.path());
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT file-io n=16 bytes=65536 ok=1\n");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(BenchWorkloads, MmapTouch) {
  Outcome o = RunWorkload(Bench("mmap-touch"), {"256"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT mmap-touch n=256 ok=1\n");
}

TEST(BenchWorkloads, ComputeIsDeterministic) {
  Outcome o = RunWorkload(Bench("compute"), {"1000"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT compute n=1000 hash=0x4b566900bb53c3e8\n");
  o = RunWorkload(Bench("compute"), {"0"});
  EXPECT_EQ(o.out, "RESULT compute n=0 hash=0xcbf29ce484222325\n");
}

TEST(BenchWorkloads, ForkExec) {
  Outcome o = RunWorkload(Bench("fork-exec"), {"5"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT fork-exec n=5 ok=1\n");
}

TEST(BenchWorkloads, BadArgumentsExitTwo) {
  const std::vector<std::pair<const char*, std::vector<std::string>>> cases = {
      {"hello", {"256"}},        {"hello", {"x"}},
      {"syscall-storm", {"-1"}}, {"file-io", {"1", "2"}},
      {"mmap-touch", {"12abc"}}, {"compute", {""}},
      {"fork-exec", {"0x"}},
  };
  for (const auto& [name, args] : cases) {
    Outcome o = RunWorkload(Bench(name), args);
    EXPECT_EQ(o.exit_code, 2) << name << " " << args[0];
    EXPECT_EQ(o.out, "") << name;
  }
}

// Every probe prints exactly one well-formed PROBE line (fault-map one per
// case) and exits 0. Run in a temporary directory: mknod works in the cwd.
TEST(Probes, EachPrintsOneWellFormedLine) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::filesystem::path probes = WorkloadsDir() / "probes";
  const std::regex line(
      "PROBE ([a-z0-9.-]+) (BLOCKED|REACHABLE|ESCAPED|NA) "
      "[^\\n]+\\n");
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(probes)) {
    const std::string id = entry.path().filename().string();
    if (id == "fault-map") continue;
    Outcome o = RunWorkload(entry.path(), {}, dir.path());
    EXPECT_EQ(o.exit_code, 0) << id;
    std::smatch match;
    EXPECT_TRUE(std::regex_match(o.out, match, line)) << id << ": " << o.out;
    if (match.size() > 1) {
      EXPECT_EQ(match[1].str(), id);
    }
    ++count;
  }
  EXPECT_GE(count, 20);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Probes, FaultMapNativeRouting) {
  Outcome o = RunWorkload(WorkloadsDir() / "probes" / "fault-map",
                          {"syscall", "hlt", "int3", "ud2", "div0"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out,
            "PROBE fault-map.syscall REACHABLE completed getpid=positive\n"
            "PROBE fault-map.hlt BLOCKED signal=11 (SIGSEGV) code=128\n"
            "PROBE fault-map.int3 BLOCKED signal=5 (SIGTRAP) code=128\n"
            "PROBE fault-map.ud2 BLOCKED signal=4 (SIGILL) code=2\n"
            "PROBE fault-map.div0 BLOCKED signal=8 (SIGFPE) code=1\n");
  EXPECT_EQ(RunWorkload(WorkloadsDir() / "probes" / "fault-map", {}).exit_code,
            2);
  EXPECT_EQ(
      RunWorkload(WorkloadsDir() / "probes" / "fault-map", {"bogus"}).exit_code,
      2);
}

TEST(Catalog, FindsBuildWorkloadsThroughEnvironment) {
  ASSERT_EQ(setenv("ISOSCOPE_WORKLOADS_DIR", WorkloadsDir().c_str(), 1), 0);
  std::optional<std::filesystem::path> hello = FindBuiltinWorkload("hello");
  ASSERT_TRUE(hello.has_value());
  EXPECT_TRUE(std::filesystem::equivalent(*hello, Bench("hello")));
  EXPECT_TRUE(FindBuiltinWorkload("syscall-storm").has_value());
  EXPECT_FALSE(FindBuiltinWorkload("no-such-workload").has_value());
  EXPECT_FALSE(FindBuiltinWorkload("../bench/hello").has_value());
  std::optional<std::filesystem::path> probe =
      FindBuiltinWorkload("probes/pid1");
  ASSERT_TRUE(probe.has_value());
  EXPECT_TRUE(
      std::filesystem::equivalent(*probe, WorkloadsDir() / "probes" / "pid1"));

  std::vector<BuiltinWorkload> all = ListBuiltinWorkloads();
  std::vector<std::string> names;
  for (const BuiltinWorkload& w : all) {
    names.push_back(w.name);
    EXPECT_FALSE(w.description.empty()) << w.name;
    EXPECT_TRUE(std::filesystem::exists(w.path)) << w.name;
  }
  for (const char* bench : {"startup", "hello", "syscall-storm", "file-io",
                            "mmap-touch", "compute", "fork-exec"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), bench), names.end())
        << bench;
  }
  unsetenv("ISOSCOPE_WORKLOADS_DIR");
}

}  // namespace
}  // namespace isoscope
