#include "supervisor/store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/process_identity.h"
#include "base/temp_dir.h"
#include "supervisor/comparison.h"
#include "supervisor/run_result_json.h"

namespace isoscope {

RunResult FullRunResultForTest();  // run_result_json_test.cc

namespace {

using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-store-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
  }
  std::filesystem::path DbPath() const { return dir_->path() / "runs.db"; }

  // Runs one SQL statement on the file directly, bypassing Store.
  void RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    const std::string error = message != nullptr ? message : "";
    sqlite3_free(message);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << error;
  }

  // The first column of the first row `sql` gives, as text ("" for none).
  std::string RawQuery(const std::string& sql) {
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open(DbPath().c_str(), &db) == SQLITE_OK) {
      sqlite3_stmt* statement = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) ==
              SQLITE_OK &&
          sqlite3_step(statement) == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(statement, 0);
        if (text != nullptr) out = reinterpret_cast<const char*>(text);
      }
      sqlite3_finalize(statement);
    }
    sqlite3_close(db);
    return out;
  }

  // Turns a fresh store into the v5 file isoscope 5 left: without what
  // migration 5 -> 6 adds.
  // Turns a fresh store into the v6 file isoscope 6 left: policy texts
  // inline in each run's JSON.
  void DropVersionSeven() {
    RawExec(
        "ALTER TABLE runs DROP COLUMN policy_text_id; "
        "DROP INDEX policy_texts_digest; DROP TABLE policy_texts; "
        "PRAGMA user_version = 6;");
  }

  void DropVersionSix() {
    DropVersionSeven();
    RawExec(
        "DROP INDEX run_events_run; DROP TABLE run_events; "
        "PRAGMA user_version = 5;");
  }

  // Turns a fresh store into the v3 file isoscope 3 left: without what
  // migration 3 -> 4 (and later ones) add.
  void DropVersionFour() {
    DropVersionSix();
    RawExec(
        "DROP INDEX runs_running; ALTER TABLE runs DROP COLUMN owner_pid; "
        "ALTER TABLE runs DROP COLUMN owner_start_time; "
        "ALTER TABLE runs DROP COLUMN owner_boot_id; "
        "ALTER TABLE runs DROP COLUMN owner_pid_namespace; "
        "PRAGMA user_version = 3;");
  }

  std::optional<TempDir> dir_;
};

// `run` as isoscope wrote it before runs carried their denial and signal
// tables (JSON schema 1).
std::string SchemaOneJson(const RunResult& run) {
  nlohmann::json json = ToJson(run);
  json["schema"] = 1;
  json.erase("denials");
  json.erase("signal_counts");
  json.erase("event_counts");
  return json.dump();
}

// `run` as isoscope 5 wrote it: JSON schema 2, the events inside it.
std::string SchemaTwoJson(const RunResult& run) {
  nlohmann::json json = ToJson(run);
  json["schema"] = 2;
  json.erase("event_counts");
  // Nor did it count syscalls.
  json["counters"].erase("syscalls_total");
  for (auto& event : json["events"]) {
    if (event.contains("usage")) event["usage"].erase("syscalls");
  }
  return json.dump();
}

RunResult SmallRun(int n) {
  RunResult r;
  r.backend = n % 2 == 0 ? "native" : "ptrace";
  r.argv = {"/bin/true", "run-" + std::to_string(n)};
  r.workdir = "/tmp";
  r.policy_name = "default";
  r.started_at_unix_ms = 1700000000000 + n;
  r.timings.wall_ns = int64_t{1000} * n;
  r.termination.exit_code = n % 256;
  return r;
}

TEST_F(StoreTest, OpenCreatesFileAndDirectories) {
  const auto path = dir_->path() / "a" / "b" / "runs.db";
  auto store = Store::Open(path, Store::Create::kFileAndDirectory);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(store->path(), path);
}

// Only the default location's directory is created: a mistyped --db must
// not grow a directory tree.
TEST_F(StoreTest, OpenOfAFileInAMissingDirectoryCreatesNothing) {
  const auto path = dir_->path() / "a" / "b" / "runs.db";
  auto store = Store::Open(path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), ErrorCode::kStore);
  EXPECT_THAT(
      store.error().message(),
      HasSubstr((dir_->path() / "a" / "b").string() + " does not exist"));
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "a"));
}

// A store cut short (a truncated copy, a full disk) is refused, never read
// as an empty history and silently started again.
TEST_F(StoreTest, TruncatedOrForeignFilesAreRefusedAndKept) {
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(store->Record(SmallRun(i)));
  }
  // Fold the WAL into the file so that the header counts every page.
  RawExec("PRAGMA wal_checkpoint(TRUNCATE)");
  const auto size = std::filesystem::file_size(DbPath());
  ASSERT_GT(size, 8192u);
  std::filesystem::resize_file(DbPath(), size - 4096);
  std::filesystem::remove(DbPath().string() + "-wal");
  std::filesystem::remove(DbPath().string() + "-shm");
  auto truncated = Store::Open(DbPath());
  ASSERT_FALSE(truncated.has_value());
  EXPECT_EQ(truncated.error().code(), ErrorCode::kStore);
  EXPECT_THAT(truncated.error().message(), HasSubstr("truncated"));
  EXPECT_EQ(std::filesystem::file_size(DbPath()), size - 4096);

  const auto garbage = dir_->path() / "garbage.db";
  std::ofstream(garbage) << "not a database, just some text\n";
  auto foreign = Store::Open(garbage);
  ASSERT_FALSE(foreign.has_value());
  EXPECT_THAT(foreign.error().message(), HasSubstr("not an SQLite database"));

  // An empty file is what a new store starts as.
  const auto empty = dir_->path() / "empty.db";
  ASSERT_TRUE(std::ofstream(empty).good());
  EXPECT_TRUE(Store::Open(empty).has_value());
}

TEST_F(StoreTest, SchemaVersionIsCurrent) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto version = store->SchemaVersion();
  ASSERT_TRUE(version.has_value()) << version.error().ToString();
  EXPECT_EQ(*version, Store::kSchemaVersion);
}

TEST_F(StoreTest, MigratesAnEmptyVersionZeroFile) {
  // A file SQLite created but isoscope never migrated (user_version 0).
  RawExec("CREATE TABLE unrelated (x INTEGER)");
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  auto id = store->Record(SmallRun(1));
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
}

TEST_F(StoreTest, ReopeningKeepsRunsAndVersion) {
  int64_t id = 0;
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    id = *store->Record(SmallRun(1));
  }
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  EXPECT_EQ(*store->LatestId(), id);
}

TEST_F(StoreTest, RefusesANewerSchema) {
  RawExec("PRAGMA user_version = 99");
  auto store = Store::Open(DbPath());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), ErrorCode::kStore);
  EXPECT_THAT(store.error().message(), HasSubstr("newer isoscope"));
  EXPECT_THAT(store.error().message(),
              HasSubstr("99 > " + std::to_string(Store::kSchemaVersion)));
  EXPECT_THAT(store.error().message(), HasSubstr(DbPath().string()));
}

TEST_F(StoreTest, UnwritableDirectoryIsAnErrorNamingThePath) {
  // A regular file where the directory should be.
  const auto blocker = dir_->path() / "file";
  { std::ofstream touch(blocker); }
  auto store = Store::Open(blocker / "runs.db");
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), ErrorCode::kStore);
  EXPECT_THAT(store.error().message(), HasSubstr(blocker.string()));
}

TEST_F(StoreTest, RecordAndGetRoundTrip) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  RunResult original = FullRunResultForTest();
  auto id = store->Record(original);
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  EXPECT_GT(*id, 0);
  auto back = store->Get(*id);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  original.id = *id;
  EXPECT_EQ(*back, original);
}

TEST_F(StoreTest, GetUnknownIdIsNotFound) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto back = store->Get(12345);
  ASSERT_FALSE(back.has_value());
  EXPECT_EQ(back.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(back.error().message(), HasSubstr("12345"));
}

TEST_F(StoreTest, CorruptResultJsonIsAStoreError) {
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_TRUE(store->Record(SmallRun(1)).has_value());
  }
  RawExec("UPDATE runs SET result_json = '{\"schema\": 1}'");
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto back = store->Get(1);
  ASSERT_FALSE(back.has_value());
  EXPECT_EQ(back.error().code(), ErrorCode::kStore);
  EXPECT_THAT(back.error().message(), HasSubstr("run 1"));
  EXPECT_THAT(back.error().message(), HasSubstr("missing"));
}

TEST_F(StoreTest, ListIsNewestFirstAndLimited) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  std::vector<int64_t> ids;
  for (int i = 1; i <= 5; ++i) {
    auto id = store->Record(SmallRun(i));
    ASSERT_TRUE(id.has_value()) << id.error().ToString();
    ids.push_back(*id);
  }
  auto runs = store->List(3);
  ASSERT_TRUE(runs.has_value()) << runs.error().ToString();
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].id, ids[4]);
  EXPECT_EQ((*runs)[1].id, ids[3]);
  EXPECT_EQ((*runs)[2].id, ids[2]);
  const RunSummary& newest = (*runs)[0];
  EXPECT_EQ(newest.command, "/bin/true run-5");
  EXPECT_EQ(newest.backend, "ptrace");
  EXPECT_EQ(newest.policy_name, "default");
  EXPECT_EQ(newest.outcome, Outcome::kExited);
  EXPECT_EQ(newest.exit_status, 5);
  EXPECT_EQ(newest.wall_ns, 5000);
  EXPECT_EQ(newest.started_at_unix_ms, 1700000000005);

  auto all = store->List(0);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 5u);
}

TEST_F(StoreTest, ListFiltersByBackendOutcomeAndStartTime) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  for (int i = 1; i <= 6; ++i) {
    RunResult run = SmallRun(i);  // even: native, odd: ptrace
    if (i == 3 || i == 4) run.termination.outcome = Outcome::kViolation;
    ASSERT_TRUE(store->Record(run).has_value());
  }
  const auto commands = [](const std::vector<RunSummary>& runs) {
    std::vector<std::string> out;
    for (const RunSummary& run : runs) out.push_back(run.command);
    return out;
  };
  auto native = store->List(0, {.backend = "native"});
  ASSERT_TRUE(native.has_value()) << native.error().ToString();
  EXPECT_EQ(commands(*native),
            (std::vector<std::string>{"/bin/true run-6", "/bin/true run-4",
                                      "/bin/true run-2"}));
  auto violations = store->List(0, {.outcome = Outcome::kViolation});
  ASSERT_TRUE(violations.has_value());
  EXPECT_EQ(commands(*violations),
            (std::vector<std::string>{"/bin/true run-4", "/bin/true run-3"}));
  // Filters combine, and the limit counts matching runs only.
  auto recent_ptrace =
      store->List(1, {.backend = "ptrace", .since_unix_ms = 1700000000003});
  ASSERT_TRUE(recent_ptrace.has_value());
  EXPECT_EQ(commands(*recent_ptrace),
            (std::vector<std::string>{"/bin/true run-5"}));
  auto none = store->List(0, {.backend = "kvm"});
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST_F(StoreTest, LatestIdOnEmptyStoreIsNotFound) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto latest = store->LatestId();
  ASSERT_FALSE(latest.has_value());
  EXPECT_EQ(latest.error().code(), ErrorCode::kNotFound);
  auto id = store->Record(SmallRun(1));
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*store->LatestId(), *id);
  auto runs = store->List(10);
  ASSERT_TRUE(runs.has_value());
  EXPECT_EQ(runs->size(), 1u);
}

TEST_F(StoreTest, MigratesAVersionOneFileKeepingItsRuns) {
  // The v1 schema exactly as isoscope 1 created it, with one run in it.
  RawExec(R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  started_at_ms INTEGER NOT NULL,
  backend TEXT NOT NULL,
  command TEXT NOT NULL,
  workdir TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  outcome TEXT NOT NULL,
  exit_status INTEGER NOT NULL,
  wall_ns INTEGER NOT NULL,
  result_json TEXT NOT NULL
);
CREATE INDEX runs_started_at ON runs (started_at_ms);
CREATE INDEX runs_backend ON runs (backend);
PRAGMA user_version = 1;
)sql");
  int64_t run_id = 0;
  {
    // Record the v1 run through a v1-shaped insert (the JSON is what any
    // isoscope writes; the store only reads it back).
    auto store = Store::Open(dir_->path() / "other.db");
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    run_id = *store->Record(SmallRun(7));
    RawExec("ATTACH '" + (dir_->path() / "other.db").string() +
            "' AS other; INSERT INTO runs SELECT id, started_at_ms, backend, "
            "command, workdir, policy_name, outcome, exit_status, wall_ns, "
            "result_json FROM other.runs;");
  }
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  auto run = store->Get(run_id);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->argv, SmallRun(7).argv);
  // The new tables work on the migrated file.
  ProbeSession session;
  session.policy_name = "default";
  session.backends = {"native"};
  session.findings.push_back(ProbeFinding{"secret-file", "native", "ESCAPED",
                                          "read 32 bytes", false, run_id,
                                          Outcome::kExited});
  auto id = store->RecordProbeSession(session);
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  EXPECT_EQ(store->GetProbeSession(*id)->findings.size(), 1u);
}

TEST_F(StoreTest, ProbeSessionsRoundTrip) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(store->LatestProbeSessionId().error().code(), ErrorCode::kNotFound);
  const int64_t run_id = *store->Record(SmallRun(2));
  ProbeSession session;
  session.started_at_unix_ms = 1700000000123;
  session.policy_name = "strict";
  session.backends = {"native", "ptrace"};
  session.interrupted = true;
  session.findings = {
      {"secret-file", "native", "ESCAPED", "canary secret file read", true,
       run_id, Outcome::kExited},
      {"secret-file", "ptrace", "NA", "backend unavailable: no ptrace", false,
       0, std::nullopt},
      {"fault-map.hlt", "native", "BLOCKED", "killed by rule r1", false, run_id,
       Outcome::kViolation},
  };
  auto id = store->RecordProbeSession(session);
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  EXPECT_EQ(*store->LatestProbeSessionId(), *id);
  auto loaded = store->GetProbeSession(*id);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  session.id = *id;
  EXPECT_EQ(*loaded, session);
  EXPECT_EQ(store->GetProbeSession(*id + 1).error().code(),
            ErrorCode::kNotFound);
}

// A comparison with every field set to something other than its default.
Comparison FullComparison(int64_t run_id, std::optional<int64_t> session_id) {
  Comparison c;
  c.started_at_unix_ms = 1700000000456;
  c.argv = {"/w/syscall-storm", "100000", std::string("\xff\xfe", 2)};
  c.policy_name = "strict";
  c.policy_text = "name: strict\n";
  c.repeat = 2;
  c.probe_session_id = session_id;
  c.interrupted = true;
  c.host.kernel_release = "6.1.0-test";
  c.host.cpus = 2;
  c.host.kvm = Feature{false, "no /dev/kvm"};
  c.host.cgroups.layout = CgroupLayout::kV2;
  c.host.cgroups.v2_controllers = {"cpu", "memory"};
  BackendComparison native;
  native.backend = "native";
  native.traits = {"host kernel", "host kernel", 350, {}};
  native.run_ids = {run_id, run_id};
  native.outcome = Outcome::kSignaled;
  native.exit_status = 137;
  native.consistent = false;
  native.startup_ns = {812.5, 800, 825, 806.25, 818.75, 2};
  native.wall_ns = {1.0 / 3, 0.1, 0.7, 0.2, 0.5, 2};
  native.user_cpu_us = {10, 9, 11, 9.5, 10.5, 2};
  native.system_cpu_us = {5, 4, 6, 4.5, 5.5, 2};
  native.max_rss_kib = {1024, 1000, 1048, 1012, 1036, 2};
  native.syscalls_trapped = 3;
  native.syscalls_in_kernel = 100003;
  native.faults = 1;
  native.violations = 2;
  native.output_matches_native = false;
  native.wall_ratio = 1.0;
  native.startup_ratio = 0.123456789012345;
  BackendComparison kvm;
  kvm.backend = "kvm";
  kvm.available = false;
  kvm.unavailable_reason = "/dev/kvm: no such file";
  kvm.traits = {"isoscope VMM", "guest stub", 40, {"ioctl", "read"}};
  BackendComparison broken;
  broken.backend = "container";
  broken.error = "clone3: EPERM";
  c.backends = {native, kvm, broken};
  return c;
}

TEST_F(StoreTest, ComparisonsRoundTrip) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(store->LatestComparisonId().error().code(), ErrorCode::kNotFound);
  const int64_t run_id = *store->Record(SmallRun(1));
  ProbeSession session;
  session.backends = {"native"};
  const int64_t session_id = *store->RecordProbeSession(session);

  Comparison with_probes = FullComparison(run_id, session_id);
  auto first = store->RecordComparison(with_probes);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  Comparison without_probes = FullComparison(run_id, std::nullopt);
  auto second = store->RecordComparison(without_probes);
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(*store->LatestComparisonId(), *second);

  auto loaded = store->GetComparison(*first);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  with_probes.id = *first;
  EXPECT_EQ(*loaded, with_probes);
  loaded = store->GetComparison(*second);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  without_probes.id = *second;
  EXPECT_EQ(*loaded, without_probes);
  EXPECT_EQ(store->GetComparison(*second + 1).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(StoreTest, ComparisonJsonErrorsNameTheField) {
  nlohmann::json json = ToJson(FullComparison(1, std::nullopt));
  json["backends"][1]["wall_ns"].erase("median");
  auto parsed = ComparisonFromJson(json);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code(), ErrorCode::kStore);
  EXPECT_THAT(parsed.error().ToString(),
              HasSubstr("backends[1].wall_ns.median: missing"));
}

TEST_F(StoreTest, ComparisonWithAnUnknownProbeSessionIsRefused) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto id = store->RecordComparison(FullComparison(1, 4242));
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code(), ErrorCode::kStore);
  EXPECT_EQ(store->LatestComparisonId().error().code(), ErrorCode::kNotFound);
}

TEST_F(StoreTest, MigratesAVersionTwoFileKeepingRunsAndProbeSessions) {
  // Make a v2 file the way isoscope 2 left it: a fresh store's runs and
  // probe tables, without the comparisons table and marked version 2.
  int64_t run_id = 0;
  int64_t session_id = 0;
  ProbeSession session;
  session.started_at_unix_ms = 1700000000999;
  session.policy_name = "default";
  session.backends = {"native"};
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    run_id = *store->Record(SmallRun(4));
    session.findings.push_back(ProbeFinding{"bpf", "native", "REACHABLE", "",
                                            false, run_id, Outcome::kExited});
    session_id = *store->RecordProbeSession(session);
  }
  DropVersionFour();
  RawExec(
      "DROP INDEX comparisons_started_at; DROP TABLE comparisons; "
      "PRAGMA user_version = 2;");

  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  auto run = store->Get(run_id);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->argv, SmallRun(4).argv);
  auto loaded = store->GetProbeSession(session_id);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  session.id = session_id;
  EXPECT_EQ(*loaded, session);
  // The new table works on the migrated file.
  auto id = store->RecordComparison(FullComparison(run_id, session_id));
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  EXPECT_EQ(store->GetComparison(*id)->probe_session_id, session_id);
}

// A v3 file with a finished run in it, inserted the way isoscope 3 did.
TEST_F(StoreTest, MigratesAVersionThreeFileKeepingItsRuns) {
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
  }
  DropVersionFour();
  const RunResult old = SmallRun(3);
  RawExec(
      "INSERT INTO runs (id, started_at_ms, backend, command, workdir, "
      "policy_name, outcome, exit_status, wall_ns, result_json) VALUES (5, " +
      std::to_string(old.started_at_unix_ms) +
      ", 'ptrace', '/bin/true run-3', '/tmp', 'default', 'exited', 3, 3000, "
      "'" +
      SchemaOneJson(old) + "')");

  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  auto run = store->Get(5);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->argv, old.argv);
  EXPECT_FALSE(run->denials.has_value());
  auto runs = store->List(0);
  ASSERT_TRUE(runs.has_value()) << runs.error().ToString();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].outcome, Outcome::kExited);
  // A finished run of an older isoscope is no abandoned one.
  EXPECT_EQ(*store->MarkAbandonedRuns(), 0);
  EXPECT_EQ(store->Get(5)->termination.outcome, Outcome::kExited);
  // New runs go through their lifecycle on the migrated file.
  RunResult next = SmallRun(4);
  ASSERT_TRUE(store->Begin(next).has_value());
  EXPECT_EQ(next.id, 6);
  next.termination.outcome = Outcome::kExited;
  ASSERT_TRUE(store->Complete(next).has_value());
  EXPECT_EQ(*store->Get(6), next);
}

// A v4 file: its runs did not count denials or signals. The migration
// marks their tables null (n/a), and leaves runs that have them alone.
TEST_F(StoreTest, MigratesAVersionFourFileMarkingItsTablesNotCounted) {
  RunResult counted = SmallRun(2);
  counted.denials = std::vector<DenialCount>{
      {Abi::kX86_64, 117, "syscalls.default", Action::kDeny, 38, 2}};
  int64_t counted_id = 0;
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    counted_id = *store->Record(counted);
  }
  const RunResult old = SmallRun(1);
  DropVersionSix();
  RawExec(
      "INSERT INTO runs (id, started_at_ms, backend, command, workdir, "
      "policy_name, outcome, exit_status, wall_ns, result_json) VALUES (9, " +
      std::to_string(old.started_at_unix_ms) +
      ", 'ptrace', '/bin/true run-1', '/tmp', 'default', 'exited', 1, 1000, "
      "'" +
      SchemaOneJson(old) + "'); PRAGMA user_version = 4;");

  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  auto run = store->Get(9);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->argv, old.argv);
  EXPECT_FALSE(run->denials.has_value());
  EXPECT_FALSE(run->signal_counts.has_value());
  EXPECT_EQ(RawQuery("SELECT json_extract(result_json, '$.schema') FROM runs "
                     "WHERE id = 9"),
            "2");
  auto kept = store->Get(counted_id);
  ASSERT_TRUE(kept.has_value()) << kept.error().ToString();
  counted.id = counted_id;
  EXPECT_EQ(*kept, counted);
}

// A v5 file: its runs keep their events inside their JSON document. The
// migration adds the table new runs stream their events to, rewrites
// nothing, and the old runs read, list and render as before.
TEST_F(StoreTest, MigratesAVersionFiveFileKeepingEventsInItsJson) {
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
  }
  DropVersionSix();
  RunResult old = FullRunResultForTest();
  old.event_counts = std::nullopt;             // isoscope 5 did not count kinds
  old.counters.syscalls_total = std::nullopt;  // nor syscalls
  std::get<ExitEvent>(old.events.back()).usage.syscalls = std::nullopt;
  const std::string old_json = SchemaTwoJson(old);
  std::string quoted;  // as an SQL string literal
  for (char c : old_json) {
    quoted += c == '\'' ? std::string("''") : std::string(1, c);
  }
  RawExec(
      "INSERT INTO runs (id, started_at_ms, backend, command, workdir, "
      "policy_name, outcome, exit_status, wall_ns, result_json) VALUES (3, " +
      std::to_string(old.started_at_unix_ms) +
      ", 'ptrace', '/usr/bin/cat', '/tmp', 'default', 'violation', 159, 9, "
      "'" +
      quoted + "')");

  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  auto run = store->Get(3);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  old.id = 3;
  EXPECT_EQ(*run, old);
  EXPECT_EQ(run->events.size(), 6u);
  EXPECT_FALSE(AllEventsKept(*run));  // its events_dropped say 7 were not
  EXPECT_EQ(RawQuery("SELECT result_json FROM runs WHERE id = 3"), old_json);
  auto runs = store->List(0);
  ASSERT_TRUE(runs.has_value()) << runs.error().ToString();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].outcome, Outcome::kViolation);

  // A new run on the migrated file: its events are rows, not JSON.
  RunResult next = FullRunResultForTest();
  auto id = store->Record(next);
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  next.id = *id;
  EXPECT_EQ(*store->Get(*id), next);
  EXPECT_EQ(RawQuery("SELECT json_array_length(result_json, '$.events') "
                     "FROM runs WHERE id = " +
                     std::to_string(*id)),
            "0");
  EXPECT_EQ(RawQuery("SELECT sum(count) FROM run_events WHERE run_id = " +
                     std::to_string(*id)),
            "6");
}

// A policy's text is kept once however many runs applied it (runs of
// the same preset differ in nothing else there), read back whole, bytes
// that are not UTF-8 included.
TEST_F(StoreTest, APolicyTextIsKeptOnceForAllItsRuns) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  RunResult run = FullRunResultForTest();
  run.policy_text = std::string(20000, 'p') + "\xff\xfe not UTF-8\n";
  RunResult other = run;
  other.policy_text = "version: 1\n";
  RunResult none = run;
  none.policy_text.clear();
  std::vector<int64_t> ids;
  for (RunResult* each : {&run, &run, &other, &run, &none}) {
    auto id = store->Record(*each);
    ASSERT_TRUE(id.has_value()) << id.error().ToString();
    ids.push_back(*id);
  }
  RunResult started = FullRunResultForTest();
  started.policy_text = other.policy_text;
  ASSERT_TRUE(store->Begin(started).has_value());
  started.termination.outcome = Outcome::kExited;
  ASSERT_TRUE(store->Complete(started).has_value());
  EXPECT_EQ(RawQuery("SELECT count(*) FROM policy_texts"), "2");
  EXPECT_EQ(RawQuery("SELECT count(DISTINCT policy_text_id) FROM runs"), "2");
  // Begin and Complete of a run keep the row Record kept for the same text.
  EXPECT_EQ(RawQuery("SELECT policy_text_id FROM runs WHERE id = " +
                     std::to_string(started.id)),
            RawQuery("SELECT policy_text_id FROM runs WHERE id = " +
                     std::to_string(ids[2])));
  EXPECT_EQ(RawQuery("SELECT count(*) FROM runs WHERE policy_text_id IS NULL"),
            "1");
  // No run's JSON holds the 20,000-byte text.
  EXPECT_LT(std::stoi(RawQuery("SELECT max(length(result_json)) FROM runs")),
            10000);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto back = store->Get(ids[i]);
    ASSERT_TRUE(back.has_value()) << back.error().ToString();
    EXPECT_EQ(back->policy_text, (i == 2   ? other
                                  : i == 4 ? none
                                           : run)
                                     .policy_text)
        << i;
  }
  auto back = store->Get(started.id);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->policy_text, other.policy_text);
}

// A v6 file: its runs hold their policy texts inline and read as before;
// new runs on it keep theirs in policy_texts.
TEST_F(StoreTest, MigratesAVersionSixFileKeepingPolicyTextsInline) {
  RunResult old = FullRunResultForTest();
  old.policy_text = "version: 1\nsyscalls: {default: allow}\n";
  int64_t old_id = 0;
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    auto id = store->Record(old);
    ASSERT_TRUE(id.has_value()) << id.error().ToString();
    old_id = *id;
  }
  // As isoscope 6 wrote it: the text inline, no policy_texts.
  RawExec(
      "UPDATE runs SET result_json = json_set(result_json, "
      "'$.policy_text', (SELECT CAST(text AS TEXT) FROM policy_texts))");
  DropVersionSeven();
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  EXPECT_EQ(RawQuery("SELECT count(*) FROM policy_texts"), "0");
  auto back = store->Get(old_id);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  old.id = old_id;
  EXPECT_EQ(*back, old);
  auto id = store->Record(old);
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  EXPECT_EQ(RawQuery("SELECT count(*) FROM policy_texts"), "1");
  EXPECT_EQ(store->Get(*id)->policy_text, old.policy_text);
}

// Events streamed while a run runs land after each other in batches and
// before those the run's end adds; a damaged batch is an error naming the
// run, never a crash or a silent loss.
TEST_F(StoreTest, StreamedEventsReadBackInOrder) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  RunResult run = SmallRun(1);
  ASSERT_TRUE(store->Begin(run).has_value());
  Store::EventWriter writer(*store);
  writer.Start(run.id);
  std::vector<RecordedEvent> streamed;
  // Long paths: several batches.
  for (int i = 0; i < 300; ++i) {
    SyscallEvent call;
    call.request.number = 257;
    call.request.paths = {{1, std::string(1000, 'a') + std::to_string(i)}};
    streamed.emplace_back(call);
    writer.Append(call);
  }
  ASSERT_TRUE(writer.Finish().has_value());
  EXPECT_GT(std::stoi(RawQuery("SELECT count(*) FROM run_events")), 2);
  run.termination.outcome = Outcome::kExited;
  run.events = {ExitEvent{}};
  ASSERT_TRUE(store->Complete(run).has_value());
  auto back = store->Get(run.id);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  streamed.emplace_back(ExitEvent{});
  EXPECT_EQ(back->events, streamed);

  RawExec("UPDATE run_events SET data = x'01ff' WHERE seq = 0");
  auto damaged = store->Get(run.id);
  ASSERT_FALSE(damaged.has_value());
  EXPECT_EQ(damaged.error().code(), ErrorCode::kStore);
  EXPECT_THAT(damaged.error().ToString(),
              HasSubstr("run " + std::to_string(run.id) + ": events from 0"));
}

// A writer that was never told its run keeps nothing and says why.
TEST_F(StoreTest, AnEventWriterWithoutARunFails) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  Store::EventWriter writer(*store);
  writer.Append(ExitEvent{});
  auto finished = writer.Finish();
  ASSERT_FALSE(finished.has_value());
  EXPECT_THAT(finished.error().ToString(),
              HasSubstr("not recorded as started"));
  EXPECT_EQ(RawQuery("SELECT count(*) FROM run_events"), "0");
}

TEST_F(StoreTest, ARunIsRecordedWhenItStartsAndCompletedWhenItEnds) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  RunResult run = SmallRun(8);
  run.termination.exit_code = 0;
  auto begun = store->Begin(run);
  ASSERT_TRUE(begun.has_value()) << begun.error().ToString();
  ASSERT_GT(run.id, 0);
  EXPECT_EQ(run.termination.outcome, Outcome::kRunning);
  auto listed = store->List(0);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].outcome, Outcome::kRunning);
  EXPECT_EQ((*listed)[0].command, "/bin/true run-8");
  EXPECT_EQ(store->Get(run.id)->termination.outcome, Outcome::kRunning);
  // Our own running row: its owner is alive.
  EXPECT_EQ(*store->MarkAbandonedRuns(), 0);

  run.termination.outcome = Outcome::kExited;
  run.termination.exit_code = 3;
  run.timings.wall_ns = 123456;
  auto completed = store->Complete(run);
  ASSERT_TRUE(completed.has_value()) << completed.error().ToString();
  listed = store->List(0);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].outcome, Outcome::kExited);
  EXPECT_EQ((*listed)[0].exit_status, 3);
  EXPECT_EQ((*listed)[0].wall_ns, 123456);
  EXPECT_EQ(*store->Get(run.id), run);

  // isoscope's own failure: outcome error, with the message.
  RunResult failed = SmallRun(9);
  ASSERT_TRUE(store->Begin(failed).has_value());
  failed.termination = Termination{};
  failed.termination.outcome = Outcome::kError;
  failed.termination.reason = "backend container: poll: Bad file descriptor";
  ASSERT_TRUE(store->Complete(failed).has_value());
  auto got = store->Get(failed.id);
  EXPECT_EQ(got->termination.outcome, Outcome::kError);
  EXPECT_EQ(got->termination.reason, failed.termination.reason);
  EXPECT_EQ(store->List(1)->at(0).outcome, Outcome::kError);

  // What cannot be completed.
  RunResult unknown = SmallRun(10);
  unknown.id = 4242;
  EXPECT_EQ(store->Complete(unknown).error().code(), ErrorCode::kNotFound);
  RunResult still_running = failed;
  still_running.termination.outcome = Outcome::kRunning;
  EXPECT_EQ(store->Complete(still_running).error().code(),
            ErrorCode::kInternal);
}

// Complete leaves the indexed columns (start time, backend) alone when they
// are unchanged, and still replaces them, indexes included, when they are
// not.
TEST_F(StoreTest, CompleteReplacesTheIndexedColumnsOnlyWhenTheyChanged) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  RunResult run = SmallRun(11);
  ASSERT_TRUE(store->Begin(run).has_value());
  run.termination.outcome = Outcome::kExited;
  run.backend = "container";
  run.started_at_unix_ms += 5000;
  auto completed = store->Complete(run);
  ASSERT_TRUE(completed.has_value()) << completed.error().ToString();
  EXPECT_EQ(*store->Get(run.id), run);
  // Found through both indexes with the new values, not the old ones.
  EXPECT_EQ(store->List(0, RunFilter{.backend = "container"})->size(), 1u);
  EXPECT_EQ(store->List(0, RunFilter{.backend = "native"})->size(), 0u);
  EXPECT_EQ(RawQuery("SELECT count(*) FROM runs INDEXED BY runs_started_at "
                     "WHERE started_at_ms = " +
                     std::to_string(run.started_at_unix_ms)),
            "1");

  RunResult same = SmallRun(12);
  ASSERT_TRUE(store->Begin(same).has_value());
  same.termination.outcome = Outcome::kExited;
  same.termination.exit_code = 4;
  ASSERT_TRUE(store->Complete(same).has_value());
  EXPECT_EQ(*store->Get(same.id), same);
  EXPECT_EQ(RawQuery("PRAGMA integrity_check"), "ok");
}

// Rows whose owner died (its pid gone, or reused by another process, or a
// reboot since) are marked interrupted, keeping what they recorded; rows of
// a live owner, or of one in another pid namespace, are not.
TEST_F(StoreTest, RunsOfDeadOwnersAreMarkedInterrupted) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto self = ProcessIdentity::Self();
  ASSERT_TRUE(self.has_value()) << self.error().ToString();

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  auto child_start = ProcessStartTime(child);
  ASSERT_TRUE(child_start.has_value());
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  ProcessIdentity dead = *self;
  dead.pid = child;
  dead.start_time = *child_start;
  ProcessIdentity reused = *self;  // our pid, but another process's start
  reused.start_time += 1;
  ProcessIdentity rebooted = *self;
  rebooted.boot_id = "00000000-0000-0000-0000-000000000000";
  ProcessIdentity elsewhere = *self;  // another pid namespace's pid
  elsewhere.pid_namespace += 1;

  std::map<std::string, int64_t> ids;
  for (const auto& [name, owner] :
       std::vector<std::pair<std::string, ProcessIdentity>>{
           {"live", *self},
           {"dead", dead},
           {"reused", reused},
           {"rebooted", rebooted},
           {"elsewhere", elsewhere}}) {
    RunResult run = SmallRun(static_cast<int>(ids.size()));
    run.argv = {"/bin/sleep", name};
    run.event_counts = std::nullopt;  // as the supervisor begins a run
    ASSERT_TRUE(store->Begin(run, owner).has_value());
    ids[name] = run.id;
  }
  // What the dead owner streamed before it died is kept.
  Store::EventWriter writer(*store);
  writer.Start(ids["dead"]);
  writer.Append(SignalEvent{.pid = 3, .signal = SIGCHLD});
  ASSERT_TRUE(writer.Finish().has_value());

  auto marked = store->MarkAbandonedRuns();
  ASSERT_TRUE(marked.has_value()) << marked.error().ToString();
  EXPECT_EQ(*marked, 3);
  for (const auto& [name, id] : ids) {
    SCOPED_TRACE(name);
    auto run = store->Get(id);
    ASSERT_TRUE(run.has_value()) << run.error().ToString();
    EXPECT_EQ(run->argv, (std::vector<std::string>{"/bin/sleep", name}));
    if (name == "live" || name == "elsewhere") {
      EXPECT_EQ(run->termination.outcome, Outcome::kRunning);
      continue;
    }
    EXPECT_EQ(run->termination.outcome, Outcome::kInterrupted);
    EXPECT_THAT(run->termination.reason, HasSubstr("ended before the run"));
    if (name == "dead") {
      EXPECT_EQ(run->events,
                (std::vector<RecordedEvent>{SignalEvent{3, SIGCHLD}}));
      // Its counts were never written: n/a, and the events read as all.
      EXPECT_FALSE(run->event_counts.has_value());
      EXPECT_EQ(EventsKept(*run), 1u);
    }
  }
  // Marked once: the next start finds nothing more.
  EXPECT_EQ(*store->MarkAbandonedRuns(), 0);
}

// The sweep runs at every start that opens the store: one query, on an
// index holding only the running rows.
TEST_F(StoreTest, FindingRunningRunsUsesThePartialIndex) {
  {
    auto store = Store::Open(DbPath());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* plan = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "EXPLAIN QUERY PLAN SELECT id, owner_pid, "
                               "owner_start_time, owner_boot_id, "
                               "owner_pid_namespace FROM runs WHERE outcome "
                               "= 'running'",
                               -1, &plan, nullptr),
            SQLITE_OK);
  std::string details;
  while (sqlite3_step(plan) == SQLITE_ROW) {
    details += reinterpret_cast<const char*>(sqlite3_column_text(plan, 3));
    details += "\n";
  }
  sqlite3_finalize(plan);
  sqlite3_close(db);
  EXPECT_THAT(details, HasSubstr("USING INDEX runs_running")) << details;
}

TEST_F(StoreTest, ProbeSessionWithAnUnknownRunIsRefusedWhole) {
  auto store = Store::Open(DbPath());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ProbeSession session;
  session.backends = {"native"};
  session.findings = {
      {"bpf", "native", "REACHABLE", "", false, 4242, Outcome::kExited}};
  auto id = store->RecordProbeSession(session);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code(), ErrorCode::kStore);
  // The transaction rolled back: no half-recorded session.
  EXPECT_EQ(store->LatestProbeSessionId().error().code(), ErrorCode::kNotFound);
}

TEST(DefaultStorePathTest, PrefersXdgDataHome) {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  const char* old_home = std::getenv("HOME");
  const std::string saved_xdg = old_xdg ? old_xdg : "";
  const std::string saved_home = old_home ? old_home : "";

  setenv("XDG_DATA_HOME", "/xdg/data", 1);
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(DefaultStorePath(), "/xdg/data/isoscope/runs.db");
  unsetenv("XDG_DATA_HOME");
  EXPECT_EQ(DefaultStorePath(), "/home/u/.local/share/isoscope/runs.db");
  unsetenv("HOME");
  EXPECT_EQ(DefaultStorePath(), "isoscope-runs.db");

  if (old_xdg) setenv("XDG_DATA_HOME", saved_xdg.c_str(), 1);
  if (old_home) setenv("HOME", saved_home.c_str(), 1);
}

// Four processes and four threads, each with its own connection, record at
// once into a file none of them has created yet.
TEST_F(StoreTest, ConcurrentWritersAllSucceed) {
  constexpr int kWriters = 4;
  constexpr int kRunsEach = 25;
  const auto path = DbPath();

  // A writer: opens the store and records kRunsEach runs tagged `tag`;
  // returns how many failed.
  const auto write_runs = [&path](const std::string& tag) {
    auto store = Store::Open(path);
    if (!store) {
      (void)std::fprintf(stderr, "%s: %s\n", tag.c_str(),
                         store.error().ToString().c_str());
      return kRunsEach;
    }
    int failures = 0;
    for (int i = 0; i < kRunsEach; ++i) {
      RunResult r = SmallRun(i);
      r.argv = {tag, std::to_string(i)};
      auto id = store->Record(r);
      if (!id) {
        (void)std::fprintf(stderr, "%s: %s\n", tag.c_str(),
                           id.error().ToString().c_str());
        ++failures;
      }
    }
    return failures;
  };

  std::vector<pid_t> children;
  for (int w = 0; w < kWriters; ++w) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const int failures = write_runs("process-" + std::to_string(w));
      _exit(failures == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  std::vector<int> thread_failures(kWriters, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      thread_failures[w] = write_runs("thread-" + std::to_string(w));
    });
  }
  for (auto& t : threads) t.join();
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child status " << status;
  }
  for (int f : thread_failures) EXPECT_EQ(f, 0);

  auto store = Store::Open(path);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto runs = store->List(0);
  ASSERT_TRUE(runs.has_value()) << runs.error().ToString();
  ASSERT_EQ(runs->size(), size_t{2} * kWriters * kRunsEach);
  std::set<int64_t> ids;
  std::set<std::string> commands;
  for (const auto& run : *runs) {
    ids.insert(run.id);
    commands.insert(run.command);
  }
  EXPECT_EQ(ids.size(), size_t{2} * kWriters * kRunsEach);
  EXPECT_EQ(commands.size(), size_t{2} * kWriters * kRunsEach);
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kRunsEach; ++i) {
      EXPECT_TRUE(commands.count("process-" + std::to_string(w) + " " +
                                 std::to_string(i)));
      EXPECT_TRUE(commands.count("thread-" + std::to_string(w) + " " +
                                 std::to_string(i)));
    }
  }
  // Every id reads back.
  for (int64_t id : ids) {
    auto run = store->Get(id);
    ASSERT_TRUE(run.has_value()) << run.error().ToString();
    EXPECT_EQ(run->id, id);
  }
}

}  // namespace
}  // namespace isoscope
