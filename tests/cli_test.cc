// The isoscope binary end to end: exit statuses, the store, policies, and
// that nothing is left behind.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-cli-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
  }

  // isoscope with --db pointing into this test's directory.
  CommandResult Isoscope(const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {IsoscopeBinary().string(), "--db", db_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, env);
  }

  std::string WritePolicy(const std::string& name, const std::string& yaml) {
    std::string path = (dir_->path() / name).string();
    std::ofstream(path) << yaml;
    return path;
  }

  nlohmann::json LatestRun() {
    CommandResult shown = Isoscope({"runs", "show", "latest", "--json"});
    EXPECT_EQ(shown.exit_status, 0) << shown.err;
    return nlohmann::json::parse(shown.out, nullptr, false);
  }

  // A sleep duration no other test process uses, to find our workload by.
  static std::string UniqueSleepSeconds() {
    return "31." + std::to_string(::getpid());
  }

  std::optional<TempDir> dir_;
  std::string db_;
};

TEST_F(CliTest, ExitStatusPassesThroughAndTheRunIsListed) {
  CommandResult run =
      Isoscope({"run", "--backend", "native", "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(run.exit_status, 3) << run.err;
  EXPECT_THAT(run.err, HasSubstr("native"));  // the summary on stderr
  CommandResult list = Isoscope({"runs", "list"});
  EXPECT_EQ(list.exit_status, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("/bin/sh -c exit 3"));
  nlohmann::json latest = LatestRun();
  EXPECT_EQ(latest["termination"]["exit_code"], 3);
}

TEST_F(CliTest, WorkloadKilledBySigkillGives137) {
  CommandResult run = Isoscope({"run", "--", "/bin/sh", "-c", "kill -9 $$"});
  EXPECT_EQ(run.exit_status, 137) << run.err;
}

TEST_F(CliTest, WallTimeLimitOfOneSecondStopsSleepWithinTwo) {
  std::string policy = WritePolicy("wall.yaml",
                                   "version: 1\n"
                                   "syscalls: {default: allow}\n"
                                   "network: host\n"
                                   "resources: {wall_time: 1s}\n");
  CommandResult run =
      Isoscope({"run", "--policy", policy, "--", "sleep", "30"});
  EXPECT_EQ(run.exit_status, 137) << run.err;
  EXPECT_LT(run.seconds, 2.0);
  EXPECT_THAT(run.err, HasSubstr("wall"));
  EXPECT_EQ(LatestRun()["termination"]["outcome"], "limit");
}

TEST_F(CliTest, OutputPassesThroughOnItsStreams) {
  CommandResult run =
      Isoscope({"run", "-q", "--", "/bin/sh", "-c", "echo out; echo err >&2"});
  EXPECT_EQ(run.exit_status, 0);
  EXPECT_EQ(run.out, "out\n");
  EXPECT_EQ(run.err, "err\n");  // -q: no summary
}

TEST_F(CliTest, WithoutACommandRunsTheBuiltinHello) {
  CommandResult run = Isoscope({"run"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("hello from isoscope"));
}

TEST_F(CliTest, JsonFileHoldsTheResult) {
  std::string json_path = (dir_->path() / "run.json").string();
  CommandResult run =
      Isoscope({"run", "--json", json_path, "--", "/bin/echo", "hi"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  std::ifstream in(json_path);
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(json.is_discarded());
  EXPECT_EQ(json["backend"], "native");
  EXPECT_EQ(json["output"]["stdout"], "hi\n");
  // The YAML that was applied is recorded with the run.
  EXPECT_THAT(json["policy_text"].get<std::string>(),
              HasSubstr("preset \"default\""));
  EXPECT_GT(json["id"].get<int64_t>(), 0);
}

TEST_F(CliTest, UnknownBackendIsAUsageError) {
  CommandResult run = Isoscope({"run", "--backend", "qemu", "--", "true"});
  EXPECT_EQ(run.exit_status, 64);
  EXPECT_EQ(
      run.err,
      "isoscope: unknown backend 'qemu' (known: native, ptrace, container, "
      "kvm)\n");
}

TEST_F(CliTest, MissingExecutableIs127) {
  CommandResult run = Isoscope({"run", "--", "/nonexistent/prog"});
  EXPECT_EQ(run.exit_status, 127);
  EXPECT_EQ(run.err, "isoscope: workload '/nonexistent/prog' not found\n");
  CommandResult on_path = Isoscope({"run", "--", "no-such-program-xyz"});
  EXPECT_EQ(on_path.exit_status, 127);
  EXPECT_THAT(on_path.err, HasSubstr("not found on PATH"));
}

TEST_F(CliTest, NonExecutableFileIs126) {
  std::string path = WritePolicy("data.txt", "text");
  ::chmod(path.c_str(), 0644);
  CommandResult run = Isoscope({"run", "--", path});
  EXPECT_EQ(run.exit_status, 126);
  EXPECT_THAT(run.err, HasSubstr("not an executable"));
}

TEST_F(CliTest, UnreadablePolicyIs2AndRunsNothing) {
  CommandResult run =
      Isoscope({"run", "--policy", "/nonexistent/p.yaml", "--", "/bin/true"});
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_THAT(run.err, HasSubstr("/nonexistent/p.yaml"));
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1);
  CommandResult list = Isoscope({"runs", "list"});
  EXPECT_THAT(list.out, Not(HasSubstr("/bin/true")));
}

TEST_F(CliTest, BadFlagIsAUsageError) {
  EXPECT_EQ(Isoscope({"run", "--no-such-flag"}).exit_status, 64);
  EXPECT_EQ(Isoscope({"frobnicate"}).exit_status, 64);
  EXPECT_EQ(Isoscope({"run", "--env", "NOEQUALS", "--", "true"}).exit_status,
            64);
}

TEST_F(CliTest, HelpDocumentsTheExitStatuses) {
  CommandResult help = Isoscope({"--help"});
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_THAT(help.out, HasSubstr("127"));
  EXPECT_THAT(help.out, HasSubstr("policy is unreadable or invalid"));
}

TEST_F(CliTest, EnvironmentIsCleanPlusWhatIsAsked) {
  CommandResult run =
      Isoscope({"run", "-q", "--env", "FOO=bar", "--", "/usr/bin/env"},
               {"SECRET_TOKEN=leak"});
  EXPECT_EQ(run.exit_status, 0);
  EXPECT_THAT(run.out, HasSubstr("FOO=bar\n"));
  EXPECT_THAT(run.out, HasSubstr("PATH="));
  EXPECT_THAT(run.out, Not(HasSubstr("SECRET_TOKEN")));
}

TEST_F(CliTest, GivenWorkdirIsUsedAndScratchWorkdirIsRemoved) {
  std::string work = (dir_->path() / "work").string();
  std::filesystem::create_directory(work);
  CommandResult given = Isoscope({"run", "-q", "--workdir", work, "--", "pwd"});
  EXPECT_EQ(given.out, work + "\n");
  CommandResult scratch = Isoscope({"run", "-q", "--", "pwd"});
  std::string path = scratch.out.substr(0, scratch.out.size() - 1);
  EXPECT_THAT(path, HasSubstr("isoscope-run-"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(
      Isoscope({"run", "--workdir", "/nonexistent/w", "--", "pwd"}).exit_status,
      64);
}

TEST_F(CliTest, DefaultStoreFollowsXdgDataHome) {
  std::string data_home = (dir_->path() / "xdg").string();
  CommandResult run =
      RunCommand({IsoscopeBinary().string(), "run", "-q", "--", "/bin/true"},
                 {"XDG_DATA_HOME=" + data_home});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_TRUE(std::filesystem::exists(data_home + "/isoscope/runs.db"));
}

TEST_F(CliTest, RunsShowUnknownIdFails) {
  CommandResult shown = Isoscope({"runs", "show", "999"});
  EXPECT_NE(shown.exit_status, 0);
  EXPECT_EQ(Isoscope({"runs", "show", "abc"}).exit_status, 64);
}

TEST_F(CliTest, InterruptedSupervisorKillsAndRecordsTheWorkload) {
  // SIGTERM to isoscope once its workload runs: the workload dies, the run
  // is recorded as interrupted, isoscope exits with the workload's 137.
  const std::string seconds = UniqueSleepSeconds();
  bool signalled = false;
  CommandResult run = RunAndSignalWhen(
      {IsoscopeBinary().string(), "--db", db_, "run", "--", "sleep", seconds},
      {}, [&] { return ProcessWithArgsExists("sleep " + seconds); }, SIGTERM,
      &signalled);
  ASSERT_TRUE(signalled) << "the workload never started: " << run.err;
  EXPECT_EQ(run.exit_status, 137) << run.err;
  EXPECT_FALSE(ProcessWithArgsExists("sleep " + seconds));
  EXPECT_EQ(LatestRun()["termination"]["outcome"], "interrupted");
}

TEST_F(CliTest, KilledSupervisorLeavesNoWorkloadBehind) {
  // A private TMPDIR, to see the scratch workdir the killed isoscope leaves.
  const std::filesystem::path tmp = dir_->path() / "tmp";
  std::filesystem::create_directory(tmp);
  const std::string seconds = UniqueSleepSeconds();
  bool signalled = false;
  CommandResult run = RunAndSignalWhen(
      {IsoscopeBinary().string(), "--db", db_, "run", "--", "sleep", seconds},
      {"TMPDIR=" + tmp.string()},
      [&] { return ProcessWithArgsExists("sleep " + seconds); }, SIGKILL,
      &signalled);
  ASSERT_TRUE(signalled) << "the workload never started: " << run.err;
  EXPECT_EQ(run.exit_status, 128 + SIGKILL);
  // PR_SET_PDEATHSIG delivers asynchronously; give it a moment.
  for (int i = 0; i < 100 && ProcessWithArgsExists("sleep " + seconds); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(ProcessWithArgsExists("sleep " + seconds));
  // The next isoscope removes what the killed one could not.
  EXPECT_FALSE(std::filesystem::is_empty(tmp));
  CommandResult next =
      Isoscope({"run", "-q", "--", "/bin/true"}, {"TMPDIR=" + tmp.string()});
  EXPECT_EQ(next.exit_status, 0) << next.err;
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
}

TEST_F(CliTest, PresetsPassPolicyCheck) {
  for (const char* preset : {"permissive", "default", "strict"}) {
    CommandResult check = Isoscope({"policy", "check", preset});
    EXPECT_EQ(check.exit_status, 0) << preset << ": " << check.err;
    EXPECT_THAT(check.out, HasSubstr("decided statically"));
    EXPECT_THAT(check.out, HasSubstr("need inspection"));
  }
  CommandResult strict = Isoscope({"policy", "check", "strict"});
  EXPECT_THAT(strict.out,
              HasSubstr("faults: privileged_instruction kill, cpuid emulate, "
                        "rdtsc emulate, page_fault deliver, "
                        "invalid_instruction deliver, breakpoint deliver, "
                        "arithmetic deliver (hide_hypervisor: true)\n"));
}

// Path rules next to io_uring_setup: refused by `policy check` and by `run`
// (exit 2, the rule and the hole named) until the policy accepts the hole;
// then `policy check` lists it with its reason.
TEST_F(CliTest, PolicyCheckRefusesHolesUntilAccepted) {
  const std::string open = R"(version: 1
network: host
syscalls:
  default: {action: deny, errno: ENOSYS}
  rules:
    - id: files
      syscalls: [openat]
      paths: {read: ["/usr/**"]}
      action: allow
      else: {action: deny, errno: EACCES}
    - {id: uring, syscalls: [io_uring_setup], action: allow}
)";
  std::string holed = WritePolicy("holed.yaml", open);
  CommandResult check = Isoscope({"policy", "check", holed});
  EXPECT_EQ(check.exit_status, 2) << check.err;
  EXPECT_THAT(check.err,
              StartsWith(holed + ":11:7: syscalls.rules[1] (rule 'uring'): "
                                 "lets io_uring_setup run, a hole"));
  EXPECT_THAT(check.err, HasSubstr("IORING_OP_OPENAT"));
  EXPECT_THAT(check.err, HasSubstr("accepted_holes"));
  EXPECT_TRUE(check.out.empty()) << check.out;
  CommandResult run =
      Isoscope({"run", "-q", "--policy", holed, "--", "/bin/true"});
  EXPECT_EQ(run.exit_status, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("rule 'uring'"));

  std::string accepted =
      WritePolicy("accepted.yaml", open +
                                       "accepted_holes:\n"
                                       "  - syscalls: [io_uring_setup]\n"
                                       "    reason: an io_uring benchmark\n");
  CommandResult ok = Isoscope({"policy", "check", accepted});
  EXPECT_EQ(ok.exit_status, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("accepted holes (1):\n"
                                "  io_uring_setup (no path, by uring)\n"
                                "    reason: an io_uring benchmark\n"));

  CommandResult preset = Isoscope({"policy", "check", "default"});
  EXPECT_EQ(preset.exit_status, 0) << preset.err;
  EXPECT_THAT(preset.out,
              HasSubstr("clone with namespace flags (CLONE_NEW*): errno EPERM "
                        "by admin\n"));
  EXPECT_THAT(preset.out, HasSubstr("accepted holes (7):\n"));
  EXPECT_THAT(preset.out,
              HasSubstr("  connect sendto sendmsg bind sendmmsg (unix "
                        "address, by socket-io)\n    reason: AF_UNIX"));
}

TEST_F(CliTest, BrokenPoliciesAreRejectedWithTheirPosition) {
  std::filesystem::path broken = SourceDir() / "tests" / "policies" / "broken";
  ASSERT_TRUE(std::filesystem::is_directory(broken)) << broken;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(broken)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    CommandResult check = Isoscope({"policy", "check", entry.path().string()});
    EXPECT_EQ(check.exit_status, 2) << entry.path();
    EXPECT_THAT(check.err, StartsWith(entry.path().string() + ":"))
        << entry.path();
    EXPECT_EQ(std::count(check.err.begin(), check.err.end(), '\n'), 1)
        << check.err;
    EXPECT_TRUE(check.out.empty()) << "no partial policy: " << check.out;
  }
  EXPECT_GE(files, 10);
}

TEST_F(CliTest, PolicyExplainNamesTheDecidingRule) {
  CommandResult denied =
      Isoscope({"policy", "explain", "default", "ptrace", "0"});
  EXPECT_EQ(denied.exit_status, 0) << denied.err;
  EXPECT_THAT(denied.out, HasSubstr("deny EPERM"));
  CommandResult path = Isoscope({"policy", "explain", "strict", "openat",
                                 "AT_FDCWD", "/etc/shadow", "O_RDONLY"});
  EXPECT_EQ(path.exit_status, 0) << path.err;
  EXPECT_THAT(path.out, HasSubstr("/etc/shadow"));
  EXPECT_EQ(Isoscope({"policy", "explain", "default", "opn"}).exit_status, 64);
}

TEST_F(CliTest, PolicyExplainsFaultKinds) {
  CommandResult fault = Isoscope({"policy", "explain", "strict", "arithmetic"});
  EXPECT_EQ(fault.exit_status, 0) << fault.err;
  EXPECT_EQ(fault.out,
            "fault arithmetic\n"
            "  decision: deliver\n"
            "  rule:     faults.arithmetic\n"
            "  why:      arithmetic fault: faults.arithmetic is deliver\n");
  CommandResult prefixed =
      Isoscope({"policy", "explain", "strict", "faults.cpuid"});
  EXPECT_EQ(prefixed.exit_status, 0) << prefixed.err;
  EXPECT_THAT(prefixed.out, HasSubstr("  decision: emulate\n"));
  EXPECT_EQ(
      Isoscope({"policy", "explain", "strict", "breakpoint", "0"}).exit_status,
      64);
}

TEST_F(CliTest, DoctorDescribesTheHost) {
  CommandResult doctor = Isoscope({"doctor"});
  EXPECT_EQ(doctor.exit_status, 0) << doctor.err;
  for (const char* needle : {"kernel", "cgroups", "seccomp", "/dev/kvm",
                             "virtualization", "native"}) {
    EXPECT_THAT(doctor.out, HasSubstr(needle));
  }
  CommandResult json = Isoscope({"doctor", "--json"});
  auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded());
}

TEST_F(CliTest, WorkloadsAreListed) {
  CommandResult list = Isoscope({"workloads"});
  EXPECT_EQ(list.exit_status, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("syscall-storm"));
}

}  // namespace
}  // namespace isoscope::testing
