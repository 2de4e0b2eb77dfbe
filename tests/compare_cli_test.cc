// `isoscope compare` end to end on the real binary and the native backend:
// the table, usage errors, and an interrupted comparison that is still
// recorded and leaves nothing behind.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
#include "supervisor/store.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CompareCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-compare-cli-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
  }

  std::vector<std::string> Argv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {IsoscopeBinary().string(), "--db", db_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Writes `yaml` to a policy file in the test's directory.
  std::string PolicyFile(const std::string& name, const std::string& yaml) {
    std::string path = (dir_->path() / name).string();
    std::ofstream(path) << yaml;
    return path;
  }

  std::optional<TempDir> dir_;
  std::string db_;
};

// The line of `text` that starts with `prefix` ("" if none).
std::string LineStarting(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) return line;
  }
  return "";
}

// Allows everything but what `rules` say; its view holds the system
// directories (for the container).
std::string PolicyWithRules(const std::string& rules) {
  return "version: 1\n"
         "syscalls:\n"
         "  default: allow\n"
         "  abi:\n"
         "    i386: {action: deny, errno: ENOSYS}\n"
         "    x32: {action: deny, errno: ENOSYS}\n"
         "  rules:\n" +
         rules +
         "network: host\n"
         "filesystem:\n"
         "  readonly: [/usr, /lib, /lib64, /bin]\n";
}

// The row of a backend that cannot run on this host (it says why), or
// nullopt when it ran.
std::optional<std::string> Unavailable(const std::string& out,
                                       const std::string& backend) {
  const std::string row = LineStarting(out, backend + " ");
  if (row.find("unavailable") == std::string::npos) return std::nullopt;
  return row;
}

TEST_F(CompareCliTest, ComparesOnNativeAndRecordsEverything) {
  const std::string storm = BuiltWorkload("bench/syscall-storm").string();
  CommandResult compare =
      RunCommand(Argv({"compare", "--backends", "native", "--repeat", "2", "--",
                       storm, "100000"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  EXPECT_THAT(compare.out, HasSubstr("syscall-storm 100000"));
  std::string native_row;
  for (size_t start = 0; start < compare.out.size();) {
    size_t end = compare.out.find('\n', start);
    if (end == std::string::npos) end = compare.out.size();
    const std::string line = compare.out.substr(start, end - start);
    if (line.rfind("native ", 0) == 0) native_row = line;
    start = end + 1;
  }
  EXPECT_THAT(native_row, HasSubstr("exited"));
  EXPECT_THAT(native_row, HasSubstr("1.00×"));
  EXPECT_THAT(native_row, HasSubstr("yes"));
  EXPECT_THAT(compare.out, HasSubstr("re-renders it"));
  // Not a terminal: no progress display.
  EXPECT_THAT(compare.err, Not(HasSubstr("compare: native")));

  auto store = Store::Open(db_);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto id = store->LatestComparisonId();
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  auto comparison = store->GetComparison(*id);
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  EXPECT_FALSE(comparison->interrupted);
  ASSERT_EQ(comparison->backends.size(), 1u);
  EXPECT_EQ(comparison->backends[0].run_ids.size(), 2u);
  EXPECT_EQ(comparison->backends[0].output_matches_native, true);
  EXPECT_EQ(comparison->backends[0].wall_ns.count, 2u);
  EXPECT_EQ(store->List(0)->size(), 3u);  // the warm-up is recorded too
}

// The --report file is the comparison as the store keeps it, with its
// measured runs (which only the store holds), and byte for byte what
// `isoscope report` renders from the store later.
TEST_F(CompareCliTest, ReportIsWrittenFromTheStore) {
  const std::string report = (dir_->path() / "report.html").string();
  CommandResult compare =
      RunCommand(Argv({"compare", "--backends", "native", "--repeat", "2",
                       "--report", report, "--", "/bin/true"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  EXPECT_THAT(compare.err, HasSubstr("report written to " + report));
  std::ifstream in(report);
  std::stringstream written;
  written << in.rdbuf();

  auto store = Store::Open(db_);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto comparison = store->GetComparison(*store->LatestComparisonId());
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  ASSERT_EQ(comparison->backends.size(), 1u);
  ASSERT_EQ(comparison->backends[0].run_ids.size(), 2u);
  EXPECT_THAT(written.str(),
              HasSubstr(fmt::format("<h1>isoscope comparison #{}</h1>",
                                    comparison->id)));
  for (int64_t run_id : comparison->backends[0].run_ids) {
    EXPECT_THAT(written.str(),
                HasSubstr(fmt::format("<tr data-backend=\"native\"><td "
                                      "class=\"num\">{}</td><td>native</td>",
                                      run_id)));
  }
  const auto rendered = RunCommand(
      Argv({"report", std::to_string(comparison->id), "--format", "html"}));
  ASSERT_EQ(rendered.exit_status, 0) << rendered.err;
  EXPECT_EQ(rendered.out, written.str());
}

// "all" is the default: a row for every registered backend, in the
// registry's order, each measured or saying why not.
TEST_F(CompareCliTest, AllIsTheDefaultAndListsEveryBackend) {
  CommandResult compare =
      RunCommand(Argv({"compare", "--repeat", "1", "--", "/bin/true"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  const std::vector<std::string> all = {"native", "ptrace", "container", "kvm"};
  size_t last = 0;
  for (const std::string& backend : all) {
    const size_t at = compare.out.find("\n" + backend + " ");
    ASSERT_NE(at, std::string::npos) << backend << " has no row";
    EXPECT_GT(at, last) << backend << " out of order";
    last = at;
    const std::string row = LineStarting(compare.out, backend + " ");
    const bool measured = row.find("exited") != std::string::npos;
    const bool unavailable = row.find("unavailable: ") != std::string::npos;
    const bool failed = row.find("failed to run (below)") != std::string::npos;
    EXPECT_TRUE(measured || unavailable || failed) << row;
    if (failed) {
      EXPECT_THAT(compare.out, HasSubstr("\n" + backend + ": failed to run: "));
    }
    // Each says what its figures stand for.
    EXPECT_THAT(compare.out, HasSubstr("\n" + backend + ": "));
  }
  EXPECT_THAT(LineStarting(compare.out, "native "), HasSubstr("1.00×"));

  auto store = Store::Open(db_);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto comparison = store->GetComparison(*store->LatestComparisonId());
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  std::vector<std::string> names;
  for (const BackendComparison& b : comparison->backends) {
    names.push_back(b.backend);
  }
  EXPECT_EQ(names, all);
}

// scripts/demo.sh's job: a built-in workload under the default policy is
// measured on every backend this host has. It runs from each run's workdir,
// where the presets let it be exec'd (from the build tree they would not).
TEST_F(CompareCliTest, TheMainJobMeasuresEveryAvailableBackend) {
  CommandResult compare =
      RunCommand(Argv({"compare", "--repeat", "1", "--",
                       BuiltWorkload("bench/syscall-storm").string(), "1000"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  for (const std::string backend : {"native", "ptrace", "container", "kvm"}) {
    const std::string row = LineStarting(compare.out, backend + " ");
    if (row.find("unavailable: ") != std::string::npos) continue;
    EXPECT_THAT(row, HasSubstr(" exited ")) << compare.out;
    EXPECT_THAT(row, HasSubstr(" yes")) << compare.out;  // same as native
  }
  EXPECT_THAT(compare.out, Not(HasSubstr("failed to run")));
}

// A backend that traps every call of the workload is priced above native,
// not at 1.00x: the ratio is its own wall time over native's.
TEST_F(CompareCliTest, ATrappingBackendCostsMoreThanNative) {
  const std::string storm = BuiltWorkload("bench/syscall-storm").string();
  const std::string policy = PolicyFile(
      "log-getppid.yaml", PolicyWithRules("    - id: watch-getppid\n"
                                          "      syscalls: [getppid]\n"
                                          "      action: log\n"));
  CommandResult compare =
      RunCommand(Argv({"compare", "--backends", "native,ptrace", "--repeat",
                       "3", "--policy", policy, "--", storm, "20000"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  if (auto why = Unavailable(compare.out, "ptrace")) GTEST_SKIP() << *why;
  auto store = Store::Open(db_);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto comparison = store->GetComparison(*store->LatestComparisonId());
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  const BackendComparison& native = comparison->backends[0];
  const BackendComparison& ptrace = comparison->backends[1];
  ASSERT_FALSE(ptrace.failure.has_value()) << ptrace.failure->what;
  ASSERT_TRUE(ptrace.wall_ratio.has_value());
  EXPECT_EQ(native.wall_ratio, 1.0);
  // 20000 round trips to the tracer: well above native's wall time (tens of
  // times here), and the same quotient the table prints.
  EXPECT_GT(ptrace.syscalls_trapped, 20000u);
  EXPECT_GT(*ptrace.wall_ratio, 2.0);
  EXPECT_DOUBLE_EQ(*ptrace.wall_ratio,
                   ptrace.wall_ns.median / native.wall_ns.median);
  EXPECT_THAT(LineStarting(compare.out, "ptrace "),
              HasSubstr(fmt::format("{:.2f}×", *ptrace.wall_ratio)));
}

// Under a policy that kills uname, ptrace and the container kill /bin/uname
// while native runs it: every rendering says why, and no cost is computed
// from their runs.
TEST_F(CompareCliTest, RunsKilledByThePolicySayWhyInEveryFormat) {
  const std::string policy =
      PolicyFile("kill-uname.yaml", PolicyWithRules("    - id: no-uname\n"
                                                    "      syscalls: [uname]\n"
                                                    "      action: kill\n"));
  CommandResult compare = RunCommand(
      Argv({"compare", "--backends", "native,ptrace,container", "--repeat", "1",
            "--policy", policy, "--", "/bin/uname"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  if (auto why = Unavailable(compare.out, "ptrace")) GTEST_SKIP() << *why;
  std::vector<std::string> killed = {"ptrace"};
  if (!Unavailable(compare.out, "container")) killed.emplace_back("container");
  EXPECT_THAT(LineStarting(compare.out, "native "), HasSubstr("1.00×"));
  for (const std::string& backend : killed) {
    const std::string row = LineStarting(compare.out, backend + " ");
    EXPECT_THAT(row, HasSubstr("violation"));
    EXPECT_THAT(row, HasSubstr("n/a"));
    EXPECT_THAT(row, Not(HasSubstr("×")));
    EXPECT_THAT(compare.out,
                HasSubstr("\n" + backend +
                          ": killed by the policy (1 of 1 measured run): "
                          "syscall uname (63) killed by rule 'no-uname'"));
  }
  // What the policy asks that each backend does not enforce is said too.
  EXPECT_THAT(compare.out, HasSubstr("\nsyscalls      yes   NOT"));
  EXPECT_THAT(compare.out,
              HasSubstr("ptrace: does not enforce filesystem (no mount view"));

  const auto md = RunCommand(Argv({"report", "latest", "--format", "md"}));
  ASSERT_EQ(md.exit_status, 0) << md.err;
  const auto html = RunCommand(Argv({"report", "latest", "--format", "html"}));
  ASSERT_EQ(html.exit_status, 0) << html.err;
  const auto json = RunCommand(Argv({"report", "latest", "--format", "json"}));
  ASSERT_EQ(json.exit_status, 0) << json.err;
  const auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded());
  EXPECT_THAT(md.out, Not(HasSubstr("The price of")));
  EXPECT_THAT(html.out, Not(HasSubstr("The price of")));
  EXPECT_THAT(md.out, HasSubstr("- **ptrace**: a host process under a "
                                "seccomp filter and a ptrace tracer"));
  for (size_t i = 0; i < killed.size(); ++i) {
    const std::string& backend = killed[i];
    EXPECT_THAT(md.out, HasSubstr("- " + backend +
                                  "'s runs failed, so no cost is computed "
                                  "from them: killed by the policy"));
    EXPECT_THAT(md.out,
                HasSubstr("| " + backend + " | violation 137 (**failed**) |"));
    EXPECT_THAT(md.out, HasSubstr("- **" + backend +
                                  "** killed by the policy (1 of 1 measured "
                                  "run): syscall uname (63) killed by rule "
                                  "'no-uname'"));
    EXPECT_THAT(html.out, HasSubstr(fmt::format(
                              "<li data-backend=\"{0}\"><strong>{0}</strong> "
                              "killed by the policy",
                              backend)));
    const nlohmann::json& column = parsed["comparison"]["backends"][i + 1];
    EXPECT_EQ(column["backend"], backend);
    EXPECT_EQ(column["failed"], true);
    EXPECT_EQ(column["failure"]["rule_id"], "no-uname");
    EXPECT_TRUE(column["wall_ratio"].is_null());
  }
  EXPECT_TRUE(parsed["comparison"]["backends"][0]["failure"].is_null());
  for (const nlohmann::json& pair : parsed["verdict"]["pairs"]) {
    EXPECT_TRUE(pair["wall_ratio"].is_null()) << pair.dump();
  }
  EXPECT_THAT(md.out, HasSubstr("## What each backend enforces of policy"));
  EXPECT_THAT(html.out, HasSubstr("<section id=\"enforcement\">"));
}

// A denial the workload survives, exiting 1 where native exits 0, is a
// failure too, named by the denied call the run recorded (the filter's own
// errno decision, routed to isoscope to be counted).
TEST_F(CompareCliTest, AnExitStatusOtherThanNativesIsAFailure) {
  const std::string policy =
      PolicyFile("deny-uname.yaml", PolicyWithRules("    - id: uname-fails\n"
                                                    "      syscalls: [uname]\n"
                                                    "      action: deny\n"
                                                    "      errno: EPERM\n"));
  CommandResult compare =
      RunCommand(Argv({"compare", "--backends", "native,ptrace", "--repeat",
                       "1", "--policy", policy, "--", "/bin/uname"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  if (auto why = Unavailable(compare.out, "ptrace")) GTEST_SKIP() << *why;
  EXPECT_THAT(LineStarting(compare.out, "ptrace "), HasSubstr("n/a"));
  EXPECT_THAT(compare.out,
              HasSubstr("\nptrace: exited with status 1 where native exited "
                        "with status 0 (1 of 1 measured run): "));
  EXPECT_THAT(compare.out, HasSubstr("): denied: uname x1 [uname-fails]\n"));
}

TEST_F(CompareCliTest, WorkloadStatusIsNotIsoscopes) {
  CommandResult compare = RunCommand(
      Argv({"compare", "--repeat", "1", "--", "/bin/sh", "-c", "exit 3"}));
  EXPECT_EQ(compare.exit_status, 0) << compare.err;
}

TEST_F(CompareCliTest, UsageErrors) {
  EXPECT_EQ(
      RunCommand(Argv({"compare", "--backends", "bogus", "--", "/bin/true"}))
          .exit_status,
      64);
  EXPECT_EQ(RunCommand(Argv({"compare", "--repeat", "0", "--", "/bin/true"}))
                .exit_status,
            64);
  EXPECT_EQ(RunCommand(Argv({"compare"})).exit_status, 64);
  EXPECT_EQ(RunCommand(Argv({"compare", "--", "/no/such/program"})).exit_status,
            127);
  // Nothing ran, nothing was recorded.
  auto store = Store::Open(db_);
  ASSERT_TRUE(store.has_value());
  EXPECT_EQ(store->LatestId().error().code(), ErrorCode::kNotFound);
}

TEST_F(CompareCliTest, SigtermStopsRecordsAndLeavesNothingBehind) {
  // A sleep duration no other test process uses, to find our workload by.
  const std::string seconds = "32." + std::to_string(::getpid());
  bool signalled = false;
  CommandResult compare = RunAndSignalWhen(
      Argv({"compare", "--backends", "native", "--repeat", "2", "--", "sleep",
            seconds}),
      {}, [&] { return ProcessWithArgsExists("sleep " + seconds); }, SIGTERM,
      &signalled);
  ASSERT_TRUE(signalled) << "the workload never started: " << compare.err;
  EXPECT_EQ(compare.exit_status, 130) << compare.err;
  EXPECT_THAT(compare.out, HasSubstr("Interrupted"));
  for (int i = 0; i < 100 && ProcessWithArgsExists("sleep " + seconds); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(ProcessWithArgsExists("sleep " + seconds));

  auto store = Store::Open(db_);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto id = store->LatestComparisonId();
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  auto comparison = store->GetComparison(*id);
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  EXPECT_TRUE(comparison->interrupted);
  // The interrupted warm-up is recorded as a run, but measured nothing.
  EXPECT_TRUE(comparison->backends[0].run_ids.empty());
  EXPECT_EQ(store->List(0)->size(), 1u);
}

}  // namespace
}  // namespace isoscope::testing
