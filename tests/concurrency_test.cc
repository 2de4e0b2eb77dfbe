// Many isoscope processes at once on one store (issue 13): 16 concurrent
// `isoscope run` per backend and 16 mixed across backends, each recorded
// once and correctly (its own argv, output, outcome and status), and the
// store consistent afterwards (SQLite's integrity check, one row per run).
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

constexpr int kConcurrent = 16;

class ConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-concurrency-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
  }

  // The workload of run `i` on `backend`: exits with a status only it has
  // (and prints a token only it prints). kvm runs static executables only:
  // the built-in `hello`, whose argument is its exit status.
  static std::vector<std::string> Workload(const std::string& backend, int i) {
    if (backend == "kvm") {
      return {BuiltWorkload("bench/hello").string(), std::to_string(i)};
    }
    return {"/bin/sh", "-c", fmt::format("echo token-{0}; exit {0}", i)};
  }

  // Whether a recorded argv is the workload's: a built-in workload runs
  // from a copy in its workdir, so argv[0] is compared by file name.
  static bool SameCommand(const std::vector<std::string>& recorded,
                          const std::vector<std::string>& workload) {
    return recorded.size() == workload.size() && !recorded.empty() &&
           std::filesystem::path(recorded[0]).filename() ==
               std::filesystem::path(workload[0]).filename() &&
           std::equal(recorded.begin() + 1, recorded.end(),
                      workload.begin() + 1);
  }

  // `default` for the shell; the built-in `hello` runs from the build tree,
  // where only `permissive` lets it be executed.
  static std::string PolicyFor(const std::string& backend) {
    return backend == "kvm" ? "permissive" : "default";
  }

  // Starts every run at once and waits for all of them.
  std::vector<CommandResult> RunAll(const std::vector<std::string>& backends) {
    std::vector<CommandResult> results(backends.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < backends.size(); ++i) {
      threads.emplace_back([&, i] {
        std::vector<std::string> argv = {IsoscopeBinary().string(),
                                         "--db",
                                         db_,
                                         "run",
                                         "-q",
                                         "--backend",
                                         backends[i],
                                         "--policy",
                                         PolicyFor(backends[i]),
                                         "--"};
        for (const std::string& arg :
             Workload(backends[i], static_cast<int>(i))) {
          argv.push_back(arg);
        }
        results[i] = RunCommand(argv);
      });
    }
    for (std::thread& thread : threads) thread.join();
    return results;
  }

  // Every run is in the store once, as it ran; the store is intact.
  void CheckStore(const std::vector<std::string>& backends,
                  const std::vector<CommandResult>& results) {
    for (size_t i = 0; i < backends.size(); ++i) {
      SCOPED_TRACE(fmt::format("run {} on {}", i, backends[i]));
      EXPECT_EQ(results[i].exit_status, static_cast<int>(i)) << results[i].err;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    std::vector<int64_t> ids;
    sqlite3_stmt* select = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "SELECT id FROM runs", -1, &select, nullptr),
        SQLITE_OK);
    while (sqlite3_step(select) == SQLITE_ROW) {
      ids.push_back(sqlite3_column_int64(select, 0));
    }
    sqlite3_finalize(select);
    ASSERT_EQ(ids.size(), backends.size());
    std::set<size_t> found;
    for (const int64_t id : ids) {
      CommandResult shown =
          RunCommand({IsoscopeBinary().string(), "--db", db_, "runs", "show",
                      std::to_string(id), "--json"});
      ASSERT_EQ(shown.exit_status, 0) << shown.err;
      const nlohmann::json run =
          nlohmann::json::parse(shown.out, nullptr, false);
      ASSERT_FALSE(run.is_discarded()) << shown.out;
      // Which of ours it is, from its argv; then everything else must match.
      const std::vector<std::string> argv = run["argv"];
      const std::string backend = run["backend"];
      std::optional<size_t> which;
      for (size_t i = 0; i < backends.size(); ++i) {
        if (backends[i] == backend &&
            SameCommand(argv, Workload(backend, static_cast<int>(i)))) {
          which = i;
        }
      }
      ASSERT_TRUE(which.has_value()) << "a row no run made: " << shown.out;
      EXPECT_TRUE(found.insert(*which).second)
          << "run " << *which << " recorded twice";
      const std::string what = fmt::format("run {} on {}", *which, backend);
      EXPECT_EQ(run["termination"]["outcome"], "exited") << what;
      EXPECT_EQ(run["termination"]["exit_status"], results[*which].exit_status)
          << what;
      EXPECT_EQ(run["output"]["stdout"], results[*which].out) << what;
    }
    sqlite3_stmt* check = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check, nullptr),
        SQLITE_OK);
    ASSERT_EQ(sqlite3_step(check), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(check, 0)),
                 "ok");
    sqlite3_finalize(check);
    sqlite3_close(db);
  }

  std::optional<TempDir> dir_;
  std::string db_;
};

class PerBackend : public ConcurrencyTest,
                   public ::testing::WithParamInterface<std::string> {};

TEST_P(PerBackend, SixteenAtOnceAreEachRecordedOnce) {
  if (const std::string why = BackendUnavailable(GetParam()); !why.empty()) {
    GTEST_SKIP() << GetParam() << " backend unavailable: " << why;
  }
  const std::vector<std::string> backends(kConcurrent, GetParam());
  CheckStore(backends, RunAll(backends));
}

INSTANTIATE_TEST_SUITE_P(Backends, PerBackend,
                         ::testing::Values("native", "ptrace", "container",
                                           "kvm"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_F(ConcurrencyTest, SixteenMixedAcrossBackendsAreEachRecordedOnce) {
  std::vector<std::string> available;
  for (const char* backend : {"native", "ptrace", "container", "kvm"}) {
    if (BackendUnavailable(backend).empty()) available.emplace_back(backend);
  }
  ASSERT_FALSE(available.empty());
  std::vector<std::string> backends;
  for (int i = 0; i < kConcurrent; ++i) {
    backends.push_back(available[static_cast<size_t>(i) % available.size()]);
  }
  CheckStore(backends, RunAll(backends));
}

}  // namespace
}  // namespace isoscope::testing
