// `isoscope compare` end to end on the real binary and the native backend:
// the table, usage errors, and an interrupted comparison that is still
// recorded and leaves nothing behind.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

  std::optional<TempDir> dir_;
  std::string db_;
};

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

TEST_F(CompareCliTest, ReportIsWrittenFromTheStore) {
  const std::string report = (dir_->path() / "report.json").string();
  CommandResult compare =
      RunCommand(Argv({"compare", "--backends", "native", "--repeat", "1",
                       "--report", report, "--", "/bin/true"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  EXPECT_THAT(compare.err, HasSubstr("report written to " + report));
  EXPECT_GT(std::filesystem::file_size(report), 0u);
}

TEST_F(CompareCliTest, AllIsTheDefaultAndListsEveryBackend) {
  CommandResult compare =
      RunCommand(Argv({"compare", "--repeat", "1", "--", "/bin/true"}));
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  EXPECT_THAT(compare.out, HasSubstr("\nnative "));
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
