// The native backend with real processes, driven by the real supervisor.
#include "backends/native/native_backend.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "supervisor/supervisor.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;

class NativeBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-native-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    workdir_.emplace(std::move(*dir));
  }

  Workload Shell(const std::string& script) const {
    return Workload{"/bin/sh",
                    {"sh", "-c", script},
                    {"PATH=/usr/bin:/bin"},
                    workdir_->path().string()};
  }

  Result<RunResult> Run(const Workload& workload, Resources resources = {}) {
    auto policy = std::make_shared<Policy>();
    policy->name = "test";
    policy->syscalls.default_action = {Action::kAllow};
    policy->resources = resources;
    SupervisorOptions options;
    options.host_facts = HostFacts{};
    Supervisor supervisor(policy, options);
    NativeBackend backend;
    return supervisor.Run(backend, workload);
  }

  // A child of this process whose command name is `name`, or 0.
  static pid_t ChildNamed(const std::string& name) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::ifstream stat(entry.path() / "stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      size_t open = line.find('(');
      size_t close = line.rfind(')');
      if (open == std::string::npos || close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      char state = 0;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid == ::getpid() &&
          line.substr(open + 1, close - open - 1) == name) {
        return std::stoi(line.substr(0, open));
      }
    }
    return 0;
  }

  static bool ProcessExists(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno != ESRCH;
  }

  std::optional<TempDir> workdir_;
};

TEST_F(NativeBackendTest, ExitStatusPassesThrough) {
  auto result = Run(Shell("exit 3"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kExited);
  EXPECT_EQ(result->termination.ExitStatus(), 3);
  EXPECT_EQ(result->backend, "native");
  EXPECT_GT(result->timings.wall_ns, 0);
  EXPECT_GT(result->timings.startup_ns, 0);
}

TEST_F(NativeBackendTest, DeathBySignalIs128PlusSignal) {
  auto result = Run(Shell("kill -9 $$"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kSignaled);
  EXPECT_EQ(result->termination.signal, SIGKILL);
  EXPECT_EQ(result->termination.ExitStatus(), 137);
}

TEST_F(NativeBackendTest, OutputIsCapturedPerStreamAndComplete) {
  // More than one pipe buffer, on both streams, then exit at once.
  auto result =
      Run(Shell("head -c 300000 /dev/zero | tr '\\0' a; echo err >&2"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->output.stdout_bytes, std::string(300000, 'a'));
  EXPECT_EQ(result->output.stderr_bytes, "err\n");
  EXPECT_FALSE(result->output.truncated);
}

TEST_F(NativeBackendTest, WorkdirIsTheCwdAndStdinIsEmpty) {
  auto result = Run(Shell("pwd; cat; echo done"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->output.stdout_bytes,
            workdir_->path().string() + "\ndone\n");
}

TEST_F(NativeBackendTest, RusageIsReported) {
  auto result = Run(Shell("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_GT(result->timings.user_cpu_us + result->timings.system_cpu_us, 0);
}

TEST_F(NativeBackendTest, WallTimeLimitStopsSleepWithinTwoSeconds) {
  auto start = std::chrono::steady_clock::now();
  auto result = Run(
      Workload{"/bin/sleep", {"sleep", "30"}, {}, workdir_->path().string()},
      Resources{.wall_time_ms = 1000});
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit);
  EXPECT_EQ(result->termination.limit, LimitKind::kWallTime);
  EXPECT_EQ(result->termination.ExitStatus(), 137);
  EXPECT_GE(elapsed, std::chrono::milliseconds(1000));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST_F(NativeBackendTest, OutputCapKillsAChattyWorkload) {
  auto result = Run(Shell("yes"), Resources{.output_bytes = 4096});
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit);
  EXPECT_EQ(result->termination.limit, LimitKind::kOutput);
  EXPECT_EQ(result->output.stdout_bytes.size(), 4096u);
  EXPECT_TRUE(result->output.truncated);
}

TEST_F(NativeBackendTest, BackgroundAndDaemonisedChildrenDoNotSurvive) {
  // One child stays in the group; one escapes it with setsid and so is only
  // found as an orphan re-parented to the supervisor.
  auto result = Run(Shell(
      "sleep 100 & echo $!; setsid sleep 100 </dev/null >/dev/null 2>&1 & "
      "echo $!"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  std::istringstream pids(result->output.stdout_bytes);
  pid_t in_group = 0, escaped = 0;
  pids >> in_group >> escaped;
  ASSERT_GT(in_group, 0);
  ASSERT_GT(escaped, 0);
  EXPECT_FALSE(ProcessExists(in_group));
  EXPECT_FALSE(ProcessExists(escaped));
}

TEST_F(NativeBackendTest, SupervisorsOwnChildrenSurviveTheOrphanSweep) {
  // A child the supervisor had before the run (like the probe runner's
  // canary) is not the workload's, even though the sweep kills re-parented
  // orphans of the workload.
  pid_t own = ::fork();
  ASSERT_GE(own, 0);
  if (own == 0) {
    ::pause();
    ::_exit(0);
  }
  auto result =
      Run(Shell("setsid sleep 100 </dev/null >/dev/null 2>&1 & "
                "echo $!"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  pid_t orphan = std::stoi(result->output.stdout_bytes);
  EXPECT_FALSE(ProcessExists(orphan));
  EXPECT_TRUE(ProcessExists(own));
  int status = 0;
  EXPECT_EQ(::waitpid(own, &status, WNOHANG), 0) << "reaped by the backend";
  ::kill(own, SIGKILL);
  ::waitpid(own, &status, 0);
}

TEST_F(NativeBackendTest, MissingExecutableIsNotFound) {
  NativeBackend backend;
  auto policy = std::make_shared<Policy>();
  auto started = backend.Start(
      Workload{"/nonexistent/tool", {"tool"}, {}, workdir_->path().string()},
      CompiledPlan::Compile(policy));
  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(started.error().ToString(), HasSubstr("/nonexistent/tool"));
}

TEST_F(NativeBackendTest, NonExecutableFileIsNotExecutable) {
  std::string path = workdir_->path() / "data.txt";
  std::ofstream(path) << "not a program";
  ::chmod(path.c_str(), 0644);
  NativeBackend backend;
  auto policy = std::make_shared<Policy>();
  auto started =
      backend.Start(Workload{path, {"data.txt"}, {}, workdir_->path().string()},
                    CompiledPlan::Compile(policy));
  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().code(), ErrorCode::kNotExecutable);
}

TEST_F(NativeBackendTest, MissingWorkdirNamesTheStep) {
  NativeBackend backend;
  auto policy = std::make_shared<Policy>();
  auto started =
      backend.Start(Workload{"/bin/true", {"true"}, {}, "/nonexistent/workdir"},
                    CompiledPlan::Compile(policy));
  ASSERT_FALSE(started.has_value());
  EXPECT_THAT(started.error().ToString(), HasSubstr("chdir"));
}

TEST_F(NativeBackendTest, DestroyingTheBackendKillsTheWorkload) {
  pid_t pid = 0;
  {
    NativeBackend backend;
    auto policy = std::make_shared<Policy>();
    ASSERT_TRUE(backend
                    .Start(Workload{"/bin/sleep",
                                    {"sleep", "30"},
                                    {},
                                    workdir_->path().string()},
                           CompiledPlan::Compile(policy))
                    .has_value());
    // The backend does not expose its pid; find our `sleep` child in /proc.
    pid = ChildNamed("sleep");
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(ProcessExists(pid));
  }
  EXPECT_FALSE(ProcessExists(pid));
}

}  // namespace
}  // namespace isoscope
