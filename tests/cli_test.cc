// The isoscope binary end to end: exit statuses, the store, policies, and
// that nothing is left behind.
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
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

// A failing workload's denials are named on stderr in one line, -q
// included, with the run to show; the run's JSON holds their table.
TEST_F(CliTest, QuietRunOfAFailingWorkloadNamesItsDenials) {
  std::string policy = WritePolicy("deny.yaml", R"(version: 1
syscalls:
  default: {action: deny, errno: ENOSYS}
  rules:
    - {id: run, syscalls: [execve, write, exit_group], action: allow}
)");
  CommandResult run =
      Isoscope({"run", "-q", "--backend", "ptrace", "--policy", policy, "--",
                BuiltWorkload("bench/syscall-storm").string(), "20"});
  EXPECT_EQ(run.exit_status, 1) << run.err;
  EXPECT_EQ(run.out, "RESULT syscall-storm n=20 ok=0\n");
  EXPECT_EQ(run.err,
            "isoscope: denied: getppid x21 [syscalls.default] (isoscope runs "
            "show 1)\n");
  nlohmann::json latest = LatestRun();
  ASSERT_EQ(latest["denials"].size(), 1u) << latest["denials"].dump();
  EXPECT_EQ(latest["denials"][0]["name"], "getppid");
  EXPECT_EQ(latest["denials"][0]["errno"], "ENOSYS");
  EXPECT_EQ(latest["denials"][0]["count"], 21);
  CommandResult shown = Isoscope({"runs", "show", "1"});
  EXPECT_THAT(shown.out, HasSubstr("Denied and killed syscalls (1 kind, 21 "
                                   "calls)\n  getppid  x21      deny ENOSYS "
                                   "[syscalls.default]\n"));
  // A workload that succeeds despite denials gets no line.
  CommandResult fine =
      Isoscope({"run", "-q", "--backend", "ptrace", "--policy", policy, "--",
                BuiltWorkload("bench/hello").string()});
  EXPECT_EQ(fine.exit_status, 0) << fine.err;
  EXPECT_EQ(fine.err, "");
}

// 200,000 inspected getppid calls under a `log` rule: the run keeps the
// first of the kind, counts them all exactly, and says which, in the
// summary, `runs show` and the JSON.
TEST_F(CliTest, ARunWithManyLoggedCallsKeepsTheFirstAndCountsAll) {
  if (std::string why = BackendUnavailable("ptrace"); !why.empty()) {
    GTEST_SKIP() << "ptrace backend unavailable: " << why;
  }
  std::string policy = WritePolicy("log.yaml", R"(version: 1
syscalls:
  default: allow
  rules:
    - {id: log-getppid, syscalls: [getppid], action: log}
accepted_holes:
  - syscalls: [ptrace, setns, process_vm_writev, io_uring_setup, pidfd_getfd]
    reason: a recording test; nothing to contain
)");
  const std::string json_path = (dir_->path() / "run.json").string();
  CommandResult run = Isoscope(
      {"run", "--backend", "ptrace", "--policy", policy, "--json", json_path,
       "--", BuiltWorkload("bench/syscall-storm").string(), "200000"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "RESULT syscall-storm n=200000 ok=1\n");
  // The storm's first call, then its 200,000.
  EXPECT_THAT(run.err, HasSubstr("events    10001 recorded of 200002: the "
                                 "first of each kind"));
  nlohmann::json latest = LatestRun();
  EXPECT_EQ(latest["all_events_kept"], false);
  nlohmann::json getppid;
  for (const auto& kind : latest["event_counts"]) {
    if (kind["kind"] == "syscall getppid") getppid = kind;
  }
  ASSERT_FALSE(getppid.is_null()) << latest["event_counts"].dump();
  EXPECT_EQ(getppid["count"], 200001);
  EXPECT_EQ(getppid["kept"], 10000);
  EXPECT_EQ(getppid["rule_id"], "log-getppid");
  EXPECT_EQ(latest["events"].size(), 10001u);
  EXPECT_EQ(latest["counters"]["events_dropped"], 190001);
  // --json wrote the run as the store has it.
  std::ifstream in(json_path);
  nlohmann::json written = nlohmann::json::parse(in, nullptr, false);
  EXPECT_EQ(written, latest);
  CommandResult shown = Isoscope({"runs", "show", "latest"});
  EXPECT_THAT(shown.out, HasSubstr("  syscall getppid  x200001  kept 10000   "
                                   "log [log-getppid]\n"));
  EXPECT_THAT(shown.out, HasSubstr("Events (10001 recorded, 190001 more not "
                                   "kept)"));
}

// When isoscope kills the workload, -q still says which rule did.
TEST_F(CliTest, QuietRunKilledByARuleSaysWhichRule) {
  std::string policy = WritePolicy("kill.yaml", R"(version: 1
syscalls:
  default: allow
  rules:
    - {id: no-getppid, syscalls: [getppid], action: kill}
network: host
)");
  CommandResult run =
      Isoscope({"run", "-q", "--backend", "ptrace", "--policy", policy, "--",
                BuiltWorkload("bench/syscall-storm").string(), "20"});
  EXPECT_EQ(run.exit_status, 128 + SIGKILL);  // documented: 137
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "isoscope: syscall getppid (110) killed by rule 'no-getppid' "
            "(isoscope runs show 1)\n");
}

TEST_F(CliTest, WithoutACommandRunsTheBuiltinHello) {
  CommandResult run = Isoscope({"run"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("hello from isoscope"));
  // Under the presets too: a built-in workload runs from its workdir, where
  // they let it be exec'd.
  for (const char* policy : {"default", "strict"}) {
    CommandResult traced =
        Isoscope({"run", "-q", "--backend", "ptrace", "--policy", policy});
    EXPECT_EQ(traced.exit_status, 0) << policy << ": " << traced.err;
    EXPECT_THAT(traced.out, HasSubstr("hello from isoscope")) << policy;
  }
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

// What cannot be executed says why, the same on every process backend.
TEST_F(CliTest, WorkloadsThatCannotStartSayWhy) {
  const std::string directory = (dir_->path() / "adir").string();
  std::filesystem::create_directory(directory);
  const std::string script = WritePolicy("s.sh", "#!/nonexistent/interp\n");
  const std::string junk = WritePolicy("junk", std::string(64, '\x7f'));
  ::chmod(script.c_str(), 0755);
  ::chmod(junk.c_str(), 0755);
  for (const char* backend : {"native", "ptrace", "container"}) {
    SCOPED_TRACE(backend);
    auto run = [&](const std::string& program) {
      return Isoscope({"run", "-q", "--backend", backend, "--policy",
                       "permissive", "--", program});
    };
    CommandResult dir = run(directory);
    EXPECT_EQ(dir.exit_status, 126);
    EXPECT_THAT(dir.err, HasSubstr("is not an executable file"));
    CommandResult no_interpreter = run(script);
    EXPECT_EQ(no_interpreter.exit_status, 127);
    EXPECT_THAT(no_interpreter.err,
                HasSubstr("no such file (or its interpreter is missing)"));
    CommandResult not_elf = run(junk);
    EXPECT_EQ(not_elf.exit_status, 126);
    EXPECT_THAT(not_elf.err, HasSubstr("Exec format error"));
  }
}

// Large arguments pass through whole and are recorded whole.
TEST_F(CliTest, LargeArgumentsPassThroughAndAreRecorded) {
  const std::string big(100000, 'a');
  CommandResult run = Isoscope({"run", "-q", "--", "/bin/sh", "-c",
                                "printf %s \"$1\" | wc -c", "sh", big});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "100000\n");
  EXPECT_EQ(LatestRun()["argv"].back(), big);
}

// A store another process holds locked: isoscope waits its busy timeout,
// then says so (74) and runs nothing.
TEST_F(CliTest, ALockedStoreIs74AndRunsNothing) {
  ASSERT_EQ(Isoscope({"runs", "list"}).exit_status, 0);
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr),
            SQLITE_OK);
  const std::string marker = (dir_->path() / "ran").string();
  CommandResult run = Isoscope({"run", "-q", "--", "/bin/touch", marker});
  sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  EXPECT_EQ(run.exit_status, 74);
  EXPECT_THAT(run.err, HasSubstr("database is locked"));
  EXPECT_FALSE(std::filesystem::exists(marker));
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

// A --db in a directory that does not exist is an error (74) that creates
// nothing and runs nothing; only the default location's directory is made.
TEST_F(CliTest, DbInAMissingDirectoryIs74AndCreatesNothing) {
  const std::string missing = (dir_->path() / "no" / "such").string();
  CommandResult run =
      RunCommand({IsoscopeBinary().string(), "--db", missing + "/x.db", "run",
                  "-q", "--", "/bin/sh", "-c", "echo ran"});
  EXPECT_EQ(run.exit_status, 74);
  EXPECT_THAT(run.err, HasSubstr(missing + " does not exist"));
  EXPECT_EQ(run.out, "");
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "no"));
}

// A limit the kernel would refuse is the policy's error, named, before
// anything runs: 4294967295 open files is above any fs.nr_open.
TEST_F(CliTest, APolicyTheHostCannotApplyIs2NamingTheField) {
  const std::string policy =
      WritePolicy("nofile.yaml",
                  "version: 1\nsyscalls: {default: allow}\nnetwork: host\n"
                  "resources: {open_files: 4294967295}\n");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"policy", "check", policy},
        std::vector<std::string>{"run", "-q", "--backend", "ptrace", "--policy",
                                 policy, "--", "/bin/true"}}) {
    CommandResult result = Isoscope(args);
    EXPECT_EQ(result.exit_status, 2) << result.err;
    EXPECT_THAT(result.err,
                HasSubstr(policy + ": resources.open_files: 4294967295 is "
                                   "more than this host lets isoscope set"));
  }
  CommandResult list = Isoscope({"runs", "list"});
  EXPECT_THAT(list.out, Not(HasSubstr("/bin/true")));
}

TEST_F(CliTest, RunsShowUnknownIdFails) {
  CommandResult shown = Isoscope({"runs", "show", "999"});
  EXPECT_EQ(shown.exit_status, 127) << shown.err;  // not found
  EXPECT_THAT(shown.err, HasSubstr("no run with id 999"));
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
  std::set<std::string> made;  // in `tmp`, while the killed isoscope ran
  CommandResult run = RunAndSignalWhen(
      {IsoscopeBinary().string(), "--db", db_, "run", "--", "sleep", seconds},
      {"TMPDIR=" + tmp.string()},
      [&] {
        if (!ProcessWithArgsExists("sleep " + seconds)) return false;
        made = DirectoryEntries(tmp);
        return true;
      },
      SIGKILL, &signalled);
  ASSERT_TRUE(signalled) << "the workload never started: " << run.err;
  EXPECT_EQ(run.exit_status, 128 + SIGKILL);
  // PR_SET_PDEATHSIG delivers asynchronously; give it a moment.
  for (int i = 0; i < 100 && ProcessWithArgsExists("sleep " + seconds); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(ProcessWithArgsExists("sleep " + seconds));
  // The next isoscope removes what the killed one could not (or one that
  // started meanwhile did: test_env.h's DirectoryEntries).
  EXPECT_FALSE(made.empty()) << "the run made no scratch workdir";
  if (DirectoryEntries(tmp) != made) {
    GTEST_LOG_(INFO) << "swept by a concurrent isoscope start already";
  }
  CommandResult next =
      Isoscope({"run", "-q", "--", "/bin/true"}, {"TMPDIR=" + tmp.string()});
  EXPECT_EQ(next.exit_status, 0) << next.err;
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
}

// The outcome column of run `id`, read from the store file directly (no
// isoscope start in between, which would sweep it).
std::string StoredOutcome(const std::string& db_path, int64_t id) {
  sqlite3* db = nullptr;
  std::string outcome = "<unreadable>";
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
      SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT outcome FROM runs WHERE id = ?", -1, &s,
                           nullptr) == SQLITE_OK) {
      sqlite3_bind_int64(s, 1, id);
      outcome = sqlite3_step(s) == SQLITE_ROW
                    ? reinterpret_cast<const char*>(sqlite3_column_text(s, 0))
                    : "<no row>";
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return outcome;
}

// isoscope SIGKILLed mid-run on each backend: the workload is gone within a
// second, the run's row stays `running` (nobody could complete it), and the
// next isoscope to open the store marks it `interrupted`, keeping what was
// recorded when it started.
TEST_F(CliTest, SigkilledSupervisorsRunIsMarkedInterruptedAtTheNextStart) {
  int ran = 0;
  for (const std::string backend : {"native", "ptrace", "container"}) {
    SCOPED_TRACE(backend);
    CommandResult probe =
        Isoscope({"run", "-q", "--backend", backend, "--", "/bin/true"});
    if (probe.exit_status == 69) continue;  // this host cannot run it
    ASSERT_EQ(probe.exit_status, 0) << probe.err;
    ++ran;
    const std::string seconds = UniqueSleepSeconds() + std::to_string(ran);
    const std::string sleep = "sleep " + seconds;
    bool signalled = false;
    CommandResult run = RunAndSignalWhen(
        {IsoscopeBinary().string(), "--db", db_, "run", "--backend", backend,
         "--", "sleep", seconds},
        {}, [&] { return ProcessSleeping(sleep); }, SIGKILL, &signalled);
    ASSERT_TRUE(signalled) << "the workload never started: " << run.err;
    EXPECT_EQ(run.exit_status, 128 + SIGKILL);
    const auto killed = std::chrono::steady_clock::now();
    while (ProcessWithArgsExists(sleep) &&
           std::chrono::steady_clock::now() - killed <
               std::chrono::seconds(1)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_FALSE(ProcessWithArgsExists(sleep))
        << "the workload outlived its killed supervisor by a second";

    const int64_t id = LatestRun()["id"];  // this start sweeps it
    CommandResult list = Isoscope({"runs", "list", "-n", "1"});
    EXPECT_THAT(list.out, HasSubstr("interrupted")) << list.out;
    EXPECT_THAT(list.out, HasSubstr(sleep)) << list.out;
    nlohmann::json shown = LatestRun();
    EXPECT_EQ(shown["id"], id);
    EXPECT_EQ(shown["backend"], backend);
    EXPECT_EQ(shown["termination"]["outcome"], "interrupted");
    EXPECT_THAT(shown["termination"]["reason"].get<std::string>(),
                HasSubstr("ended before the run did"));
    EXPECT_EQ(shown["argv"].back(), seconds);
  }
  if (ran == 0) GTEST_SKIP() << "no backend can run on this host";
}

// Between the SIGKILL and the next start, the row says `running`.
// The kvm backend's workload is a VM inside isoscope's own process: it ends
// with it, and the run is marked interrupted like any other.
TEST_F(CliTest, SigkilledKvmSupervisorsRunIsMarkedInterrupted) {
  CommandResult probe =
      Isoscope({"run", "-q", "--backend", "kvm", "--policy", "permissive", "--",
                BuiltWorkload("bench/startup").string()});
  if (probe.exit_status == 69) {
    GTEST_SKIP() << "kvm backend unavailable: " << probe.err;
  }
  ASSERT_EQ(probe.exit_status, 0) << probe.err;
  // Long enough to be killed mid-run; the policy's wall limit bounds it if
  // it never is.
  const std::string rounds = "999999999999";
  const std::string bounded =
      WritePolicy("bounded.yaml",
                  "version: 1\nsyscalls: {default: allow}\nnetwork: host\n"
                  "resources: {wall_time: 20s}\n");
  bool signalled = false;
  CommandResult run = RunAndSignalWhen(
      {IsoscopeBinary().string(), "--db", db_, "run", "--backend", "kvm",
       "--policy", bounded, "--", BuiltWorkload("bench/compute").string(),
       rounds},
      {},
      [&] {
        CommandResult list = Isoscope({"runs", "list", "-n", "1"});
        return list.out.find(" kvm ") != std::string::npos &&
               list.out.find("running") != std::string::npos;
      },
      SIGKILL, &signalled);
  ASSERT_TRUE(signalled) << "the run never started: " << run.err;
  EXPECT_EQ(run.exit_status, 128 + SIGKILL);
  nlohmann::json shown = LatestRun();  // this start sweeps it
  EXPECT_EQ(shown["backend"], "kvm");
  EXPECT_EQ(shown["argv"].back(), rounds);
  EXPECT_EQ(shown["termination"]["outcome"], "interrupted");
}

TEST_F(CliTest, ARunningRowStaysUntilTheNextStart) {
  const std::string seconds = UniqueSleepSeconds() + "9";
  bool signalled = false;
  CommandResult run = RunAndSignalWhen(
      {IsoscopeBinary().string(), "--db", db_, "run", "--", "sleep", seconds},
      {}, [&] { return ProcessSleeping("sleep " + seconds); }, SIGKILL,
      &signalled);
  ASSERT_TRUE(signalled) << run.err;
  EXPECT_EQ(StoredOutcome(db_, 1), "running");
  EXPECT_EQ(Isoscope({"runs", "list"}).exit_status, 0);
  EXPECT_EQ(StoredOutcome(db_, 1), "interrupted");
}

// isoscope's own failure mid-run is still recorded: outcome `error` with the
// message. Provoked for real: isoscope runs out of descriptors. The limit
// that lets it record the run but not start the workload depends on the
// build, so the test looks for it: the highest limit that still fails is
// the one that fails latest, starting the workload. (Below it isoscope
// fails before any run exists, to open the store or make the workdir.)
TEST_F(CliTest, IsoscopesOwnFailureIsRecordedAsAnError) {
  // Its own temporary directory parent: whatever a failure at any of these
  // limits leaves must be gone after the next isoscope with enough
  // descriptors started (a failed start once dropped the leftover marks).
  const std::filesystem::path tmp = dir_->path() / "tmp";
  std::filesystem::create_directory(tmp);
  const std::vector<std::string> env = {"TMPDIR=" + tmp.string()};
  std::optional<CommandResult> failed;
  for (int limit = 4; limit <= 64; ++limit) {
    CommandResult run =
        RunCommand({"/bin/sh", "-c",
                    fmt::format("ulimit -Sn {} && exec \"$0\" \"$@\"", limit),
                    IsoscopeBinary().string(), "--db", db_, "run", "-q",
                    "--backend", "native", "--", "/bin/true"},
                   env);
    if (run.exit_status == 0) break;  // enough descriptors from here on
    if (run.exit_status == 125) failed = run;
  }
  ASSERT_TRUE(failed.has_value())
      << "no descriptor limit made isoscope fail while it could record";
  EXPECT_THAT(failed->err, HasSubstr("Too many open files"));
  // The run that failed is the one before the first that succeeded.
  const int64_t succeeded = LatestRun()["id"];
  CommandResult shown =
      Isoscope({"runs", "show", std::to_string(succeeded - 1), "--json"});
  ASSERT_EQ(shown.exit_status, 0) << shown.err;
  nlohmann::json run = nlohmann::json::parse(shown.out, nullptr, false);
  EXPECT_EQ(run["termination"]["outcome"], "error");
  EXPECT_THAT(run["termination"]["reason"].get<std::string>(),
              HasSubstr("Too many open files"));
  EXPECT_EQ(run["argv"], nlohmann::json({"/bin/true"}));
  CommandResult list = Isoscope({"runs", "list"}, env);
  EXPECT_THAT(list.out, HasSubstr("error")) << list.out;
  EXPECT_THAT(list.out, Not(HasSubstr("running"))) << list.out;
  EXPECT_TRUE(std::filesystem::is_empty(tmp))
      << "a failed isoscope's temporary files are left";
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

// `policy import` turns a runtime config (or a bundle directory) into a
// policy `policy check` accepts, says what did not carry over, and refuses
// a missing or malformed config as a policy error (exit 2).
TEST_F(CliTest, PolicyImportWritesAPolicyThatChecks) {
  const std::string config = R"({"process": {"user": {"uid": 1000, "gid": 1000},
    "args": ["sh"], "cwd": "/", "capabilities": {"bounding": ["CAP_KILL"]}},
    "root": {"path": "rootfs", "readonly": true}, "hostname": "box",
    "mounts": [{"destination": "/dev/mqueue", "type": "mqueue"}],
    "linux": {"namespaces": [{"type": "network"}, {"type": "uts"}],
      "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}}})";
  const std::string bundle = WritePolicy("config.json", config);
  const std::string dir = std::filesystem::path(bundle).parent_path();
  const std::string out = (std::filesystem::path(dir) / "imported.yaml");
  CommandResult imported = Isoscope({"policy", "import", dir, "-o", out});
  ASSERT_EQ(imported.exit_status, 0) << imported.err;
  EXPECT_THAT(imported.err, HasSubstr("isoscope: not carried over: mounts[0]: "
                                      "a mqueue mount at /dev/mqueue"));
  CommandResult check = Isoscope({"policy", "check", out});
  EXPECT_EQ(check.exit_status, 0) << check.err;
  EXPECT_THAT(check.out, HasSubstr("default action: deny EPERM"));
  CommandResult printed = Isoscope({"policy", "import", bundle});
  EXPECT_EQ(printed.exit_status, 0) << printed.err;
  EXPECT_THAT(printed.out, HasSubstr("network: loopback"));
  EXPECT_THAT(printed.out, HasSubstr("hostname: \"box\""));

  CommandResult missing =
      Isoscope({"policy", "import", dir + "/no-such-config.json"});
  EXPECT_EQ(missing.exit_status, 2) << missing.err;
  EXPECT_THAT(missing.err, HasSubstr("cannot read runtime config"));
  const std::string bad = WritePolicy("bad.json", "{\"process\": [}");
  CommandResult malformed = Isoscope({"policy", "import", bad});
  EXPECT_EQ(malformed.exit_status, 2) << malformed.err;
  EXPECT_THAT(malformed.err, HasSubstr("not valid JSON"));
}

// `policy diff`: the differences by section, exit 1; none, exit 0; a bad
// policy, exit 2.
TEST_F(CliTest, PolicyDiffListsDifferencesBySection) {
  CommandResult same = Isoscope({"policy", "diff", "default", "default"});
  EXPECT_EQ(same.exit_status, 0) << same.err;
  EXPECT_THAT(same.out, HasSubstr("allow the same"));
  CommandResult differ = Isoscope({"policy", "diff", "strict", "permissive"});
  EXPECT_EQ(differ.exit_status, 1) << differ.err;
  EXPECT_THAT(differ.out, HasSubstr("syscalls:\n  "));
  EXPECT_THAT(differ.out, HasSubstr("network:\n  mode: none in strict, host "
                                    "in permissive\n"));
  CommandResult bad = Isoscope({"policy", "diff", "default", "/no/such.yaml"});
  EXPECT_EQ(bad.exit_status, 2) << bad.err;
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
  EXPECT_THAT(preset.out, HasSubstr("accepted holes (9):\n"));
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
  EXPECT_THAT(path.out, HasSubstr("  decision: deny EACCES\n"));
  EXPECT_THAT(path.out, HasSubstr("  rule:     files.else\n"));
  // The same call on a file strict lets the workload read is allowed.
  CommandResult allowed =
      Isoscope({"policy", "explain", "strict", "openat", "AT_FDCWD",
                "/proc/self/status", "O_RDONLY"});
  EXPECT_EQ(allowed.exit_status, 0) << allowed.err;
  EXPECT_THAT(allowed.out, HasSubstr("  decision: allow\n"));
  EXPECT_THAT(allowed.out, HasSubstr("  rule:     files\n"));
  EXPECT_EQ(Isoscope({"policy", "explain", "default", "opn"}).exit_status, 64);
}

// One policy, one containment: `policy explain POLICY` says, per section
// and backend, what is enforced and how; a run on a backend that cannot
// enforce a section the policy uses carries that as a warning.
TEST_F(CliTest, PolicyExplainPrintsTheEnforcementMatrix) {
  CommandResult matrix = Isoscope({"policy", "explain", "default"});
  ASSERT_EQ(matrix.exit_status, 0) << matrix.err;
  EXPECT_THAT(matrix.out,
              HasSubstr("section       used    native     ptrace     "
                        "container"));
  // ptrace has no mount view; the container does not intercept faults.
  EXPECT_THAT(matrix.out,
              ::testing::ContainsRegex("filesystem +yes +NOT +NOT +enforced"));
  EXPECT_THAT(matrix.out,
              ::testing::ContainsRegex("faults +yes +NOT +enforced +NOT"));
  EXPECT_THAT(matrix.out,
              HasSubstr("filesystem:   not enforced: no mount view"));
  EXPECT_EQ(Isoscope({"policy", "explain", "default", "", "1"}).exit_status,
            64);

  CommandResult run = Isoscope(
      {"run", "--backend", "ptrace", "--policy", "default", "--", "/bin/true"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("warning   filesystem: not enforced by this "
                                 "backend"));
  CommandResult native = Isoscope(
      {"run", "--backend", "native", "--policy", "default", "--", "/bin/true"});
  EXPECT_THAT(native.err, Not(HasSubstr("not enforced")));
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

// What doctor says is this host's, checked against what the test reads
// itself: uname, the CPU count, the uid, whether /dev/kvm opens.
TEST_F(CliTest, DoctorDescribesTheHost) {
  utsname host{};
  ASSERT_EQ(::uname(&host), 0);
  CommandResult doctor = Isoscope({"doctor"});
  EXPECT_EQ(doctor.exit_status, 0) << doctor.err;
  EXPECT_THAT(doctor.out,
              HasSubstr(fmt::format("kernel                 {} ({})",
                                    host.release, host.machine)));
  EXPECT_THAT(doctor.out,
              HasSubstr(fmt::format("running as root        {}",
                                    ::geteuid() == 0 ? "yes" : "no")));

  CommandResult json = Isoscope({"doctor", "--json"});
  EXPECT_EQ(json.exit_status, 0) << json.err;
  auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.out;
  EXPECT_EQ(parsed["kernel_release"], host.release);
  EXPECT_EQ(parsed["machine"], host.machine);
  EXPECT_EQ(parsed["cpus"], ::sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_EQ(parsed["is_root"], ::geteuid() == 0);
  const int kvm_fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  const bool kvm_opens = kvm_fd >= 0;
  if (kvm_fd >= 0) ::close(kvm_fd);
  EXPECT_EQ(parsed["features"]["kvm"]["available"], kvm_opens);
  std::vector<std::string> names;
  for (const auto& backend : parsed["backends"]) {
    names.push_back(backend["name"]);
    if (backend["name"] == "native") {
      EXPECT_EQ(backend["available"], true);
    }
    if (backend["name"] == "kvm") {
      EXPECT_EQ(backend["available"], kvm_opens);
    }
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"native", "ptrace", "container", "kvm"}));
}

TEST_F(CliTest, WorkloadsAreListed) {
  CommandResult list = Isoscope({"workloads"});
  EXPECT_EQ(list.exit_status, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("syscall-storm"));
}

}  // namespace
}  // namespace isoscope::testing
