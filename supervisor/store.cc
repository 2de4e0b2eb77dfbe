// The results store over SQLite's C API. Each run is one row: a few columns
// to list and filter by, and the whole RunResult as JSON (run_result_json.h)
// but its events and its policy's text, so any past run can be re-rendered
// by a later isoscope. A policy's text is a row of policy_texts, kept once
// for every run that applied it.
// The events are rows of run_events, each a batch in the compact form of
// event_codec.h, written while the run runs (Store::EventWriter); runs
// recorded before schema 6 keep theirs inside their JSON.
//
// Several isoscope processes may record into the same file at once: the
// file is in WAL mode, every connection waits up to kBusyTimeoutMs for a
// lock, and every write is one BEGIN IMMEDIATE transaction (which takes the
// write lock up front, so two writers never deadlock upgrading a read lock).
#include "supervisor/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/unique_fd.h"
#include "supervisor/run_result_json.h"

namespace isoscope {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// Schema migrations, in order: migration i takes a file from user_version i
// to i + 1. Never edit a shipped migration; append a new one and bump
// Store::kSchemaVersion.
constexpr std::string_view kMigrations[] = {
    // 0 -> 1: the runs table.
    R"sql(
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
)sql",
    // 1 -> 2: `isoscope probe` sessions, one finding per probe and backend.
    // A finding points at the run that produced it (NULL when the backend
    // was unavailable and nothing ran).
    R"sql(
CREATE TABLE probe_sessions (
  id INTEGER PRIMARY KEY,
  started_at_ms INTEGER NOT NULL,
  policy_name TEXT NOT NULL,
  backends TEXT NOT NULL,
  interrupted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE probe_findings (
  session_id INTEGER NOT NULL REFERENCES probe_sessions(id),
  probe_id TEXT NOT NULL,
  backend TEXT NOT NULL,
  verdict TEXT NOT NULL,
  detail TEXT NOT NULL,
  overridden INTEGER NOT NULL,
  run_id INTEGER REFERENCES runs(id),
  outcome TEXT
);
CREATE INDEX probe_findings_session ON probe_findings (session_id);
)sql",
    // 2 -> 3: `isoscope compare` results. The whole Comparison is JSON
    // (comparison.h); its runs are referenced by id inside it, its probe
    // session (with --probes) also by a column so it cannot dangle.
    R"sql(
CREATE TABLE comparisons (
  id INTEGER PRIMARY KEY,
  started_at_ms INTEGER NOT NULL,
  command TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  probe_session_id INTEGER REFERENCES probe_sessions(id),
  comparison_json TEXT NOT NULL
);
CREATE INDEX comparisons_started_at ON comparisons (started_at_ms);
)sql",
    // 3 -> 4: a run's row is written when it starts (outcome 'running') and
    // completed when it ends. While it runs, the row names the isoscope
    // process that owns it (pid, start time in clock ticks after boot, boot
    // id, pid namespace inode), so the next isoscope to open the store can
    // mark it 'interrupted' once that process has died. Rows of earlier
    // versions are finished runs: their owner columns stay NULL. The
    // partial index holds only running rows, so finding them is cheap
    // however many runs the store keeps.
    R"sql(
ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
ALTER TABLE runs ADD COLUMN owner_start_time INTEGER;
ALTER TABLE runs ADD COLUMN owner_boot_id TEXT;
ALTER TABLE runs ADD COLUMN owner_pid_namespace INTEGER;
CREATE INDEX runs_running ON runs (id) WHERE outcome = 'running';
)sql",
    // 4 -> 5: a run's JSON (schema 2) carries its table of denied and
    // killed syscalls and of signals. Runs recorded before did not count
    // them: their tables become null, shown as n/a, never as "none".
    R"sql(
UPDATE runs SET result_json = json_set(result_json, '$.schema', 2,
                                       '$.denials', json('null'),
                                       '$.signal_counts', json('null'))
WHERE json_extract(result_json, '$.schema') = 1;
)sql",
    // 5 -> 6: a run's events are streamed while it runs, in batches: one
    // row per batch (`seq` is the run's index of its first event, `data`
    // the batch, event_codec.h). Runs recorded before keep their events in
    // their JSON, where they are read as before: nothing is rewritten.
    R"sql(
CREATE TABLE run_events (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  seq INTEGER NOT NULL,
  count INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE UNIQUE INDEX run_events_run ON run_events (run_id, seq);
)sql",
    // 6 -> 7: a policy's text is kept once, however many runs applied it
    // (a preset's is 15 KB: written inline twice per run, it was most of
    // the write-ahead log every later isoscope reads when it opens the
    // store). `digest` finds it (FNV-1a of the text; equal texts are
    // compared whole). A run with `policy_text_id` has an empty
    // policy_text in its JSON; runs recorded before keep theirs inline.
    R"sql(
CREATE TABLE policy_texts (
  id INTEGER PRIMARY KEY,
  digest INTEGER NOT NULL,
  text BLOB NOT NULL
);
CREATE INDEX policy_texts_digest ON policy_texts (digest);
ALTER TABLE runs ADD COLUMN policy_text_id INTEGER REFERENCES policy_texts(id);
)sql",
};
static_assert(std::size(kMigrations) == Store::kSchemaVersion,
              "one migration per schema version");

struct FinalizeStatement {
  void operator()(sqlite3_stmt* statement) const {
    sqlite3_finalize(statement);
  }
};
using Statement = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

bool IsBusy(int rc) {
  const int primary = rc & 0xFF;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

// "results store /x/runs.db: <what>: <sqlite message> (<code>)".
tl::unexpected<Error> StoreError(const std::filesystem::path& path, sqlite3* db,
                                 std::string_view what, int rc) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Fail(ErrorCode::kStore,
              fmt::format("results store {}: {}: {} ({})", path.string(), what,
                          message, sqlite3_errstr(rc)));
}

// Runs `attempt` (which returns an SQLite result code) until it is not
// SQLITE_BUSY/LOCKED or the busy timeout has passed. The connection's busy
// handler already waits inside most calls; this covers the cases where
// SQLite reports BUSY without calling it (WAL recovery, a concurrent
// journal-mode change on a fresh file).
template <typename F>
int RetryWhileBusy(F&& attempt) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(kBusyTimeoutMs);
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    const int rc = attempt();
    if (!IsBusy(rc) || std::chrono::steady_clock::now() >= deadline) return rc;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

// One connection's view used by the helpers below.
struct Db {
  sqlite3* db;
  const std::filesystem::path& path;

  Result<Statement> Prepare(std::string_view sql) const {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(
        db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
    Statement statement(raw);
    if (rc != SQLITE_OK) {
      return StoreError(path, db, fmt::format("preparing \"{}\"", sql), rc);
    }
    return statement;
  }

  // Executes SQL without results (may hold several statements).
  int Exec(std::string_view sql) const {
    const std::string text(sql);
    return sqlite3_exec(db, text.c_str(), nullptr, nullptr, nullptr);
  }

  Status ExecOrFail(std::string_view sql, std::string_view what) const {
    const int rc = RetryWhileBusy([&] { return Exec(sql); });
    if (rc != SQLITE_OK) return StoreError(path, db, what, rc);
    return {};
  }

  Result<int> UserVersion() const {
    auto statement = Prepare("PRAGMA user_version");
    if (!statement) return tl::unexpected(statement.error());
    const int rc = RetryWhileBusy([&] {
      sqlite3_reset(statement->get());
      return sqlite3_step(statement->get());
    });
    if (rc != SQLITE_ROW) {
      return StoreError(path, db, "reading the schema version", rc);
    }
    return sqlite3_column_int(statement->get(), 0);
  }
};

// Rolls back an open transaction unless Commit() succeeded, so an error
// path never leaves the connection inside a transaction.
class Transaction {
 public:
  static Result<Transaction> Begin(const Db& db) {
    // BEGIN IMMEDIATE takes the write lock now (waiting in the busy
    // handler), so the reads inside the transaction see the latest state
    // and nothing else can write until we commit.
    const int rc = RetryWhileBusy([&] { return db.Exec("BEGIN IMMEDIATE"); });
    if (rc != SQLITE_OK) {
      return StoreError(db.path, db.db, "starting a write transaction", rc);
    }
    return Transaction(db);
  }
  Transaction(Transaction&& other) noexcept
      : db_(other.db_), open_(std::exchange(other.open_, false)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() {
    if (open_) db_.Exec("ROLLBACK");
  }

  Status Commit() {
    const int rc = RetryWhileBusy([&] { return db_.Exec("COMMIT"); });
    if (rc != SQLITE_OK) {
      return StoreError(db_.path, db_.db, "committing", rc);
    }
    open_ = false;
    return {};
  }

 private:
  explicit Transaction(const Db& db) : db_(db), open_(true) {}
  Db db_;
  bool open_;
};

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    out += arg;
  }
  return out;
}

std::string ColumnText(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  if (text == nullptr) return {};
  return std::string(
      reinterpret_cast<const char*>(text),
      static_cast<size_t>(sqlite3_column_bytes(statement, column)));
}

int BindText(sqlite3_stmt* statement, int index, std::string_view text) {
  return sqlite3_bind_text64(statement, index, text.data(), text.size(),
                             SQLITE_TRANSIENT, SQLITE_UTF8);
}

Status Migrate(const Db& db) {
  auto version = db.UserVersion();
  if (!version) return tl::unexpected(version.error());
  if (*version > Store::kSchemaVersion) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: created by a newer isoscope, "
                            "schema {} > {}; use a newer isoscope or another "
                            "store file",
                            db.path.string(), *version, Store::kSchemaVersion));
  }
  for (int target = *version + 1; target <= Store::kSchemaVersion; ++target) {
    auto transaction = Transaction::Begin(db);
    if (!transaction) return tl::unexpected(transaction.error());
    // Another process may have migrated while we waited for the lock.
    auto current = db.UserVersion();
    if (!current) return tl::unexpected(current.error());
    if (*current >= target) continue;  // rolls back the empty transaction
    if (*current != target - 1) {
      return Fail(ErrorCode::kStore,
                  fmt::format("results store {}: schema version changed "
                              "from {} to {} while migrating",
                              db.path.string(), target - 1, *current));
    }
    const int rc = db.Exec(kMigrations[target - 1]);
    if (rc != SQLITE_OK) {
      return StoreError(db.path, db.db,
                        fmt::format("migrating schema to version {}", target),
                        rc);
    }
    // PRAGMA takes no bound parameters; `target` is our own integer.
    const int pragma_rc =
        db.Exec(fmt::format("PRAGMA user_version = {}", target));
    if (pragma_rc != SQLITE_OK) {
      return StoreError(db.path, db.db, "setting the schema version",
                        pragma_rc);
    }
    if (auto committed = transaction->Commit(); !committed) return committed;
  }
  return {};
}

}  // namespace

std::filesystem::path DefaultStorePath() {
  // XDG: a relative $XDG_DATA_HOME is invalid and must be ignored.
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg != nullptr && xdg[0] == '/') {
    return std::filesystem::path(xdg) / "isoscope" / "runs.db";
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') {
    return std::filesystem::path(home) / ".local" / "share" / "isoscope" /
           "runs.db";
  }
  // Neither is set (a bare service environment): keep the store beside the
  // caller rather than guessing a home directory from the password database.
  return std::filesystem::path("isoscope-runs.db");
}

void Store::CloseDb::operator()(sqlite3* db) const {
  // Statements are finalized by their owners before this runs; close_v2
  // still frees the handle if one were left.
  sqlite3_close_v2(db);
}

Store::Store(std::filesystem::path path, sqlite3* db)
    : path_(std::move(path)), db_(db) {}

namespace {

constexpr int kStoreChunkBytes = 64 * 1024;

// The first connection to a WAL store after all others closed rebuilds the
// WAL's index by reading and checksumming every frame since the last
// checkpoint: about 1.5 us a page here, so SQLite's default of checkpointing
// at 1000 pages made each isoscope read 2 MB on average (0.75 ms). A
// checkpoint costs two fdatasyncs (4 ms each on the development VM), paid by
// the run that crosses the threshold. A run writes about 9 pages. Mean wall
// time of `isoscope run --backend native` (quiet 2-vCPU VM, two sets of 300
// interleaved runs per size): 5.77 ms at 1000 pages, 4.91 at 256, 4.78 at
// 128, 4.76 at 64; then 4.26 at 64, 4.34 at 32, 4.48 at 16 (the
// checkpoints begin to show).
constexpr int kWalCheckpointPages = 64;

// SQLite's file header (https://www.sqlite.org/fileformat.html): the page
// size at offset 16 (big-endian, 1 meaning 65536) and the database's size in
// pages at offset 28. In WAL mode the file is only ever extended by a
// checkpoint, which writes the header too, so a file shorter than its header
// says has lost data (a truncated copy, a full disk): SQLite would read the
// missing pages as zeros and isoscope would start a new, empty history.
//
// Also says whether the file is in WAL mode already (its read and write
// versions, offsets 18 and 19, are 2), which then need not be asked for.
Result<bool> CheckNotTruncated(const std::filesystem::path& path) {
  // O_NONBLOCK: a FIFO given as --db must not block isoscope here.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return false;  // absent: SQLite creates it; unreadable: it says so
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_size == 0) return false;
  unsigned char header[100];
  const ssize_t n = ::pread(fd.get(), header, sizeof header, 0);
  constexpr std::string_view kMagic("SQLite format 3\0", 16);
  if (n != static_cast<ssize_t>(sizeof header) ||
      std::string_view(reinterpret_cast<const char*>(header), kMagic.size()) !=
          kMagic) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: not an SQLite database ({} "
                            "bytes); move it away or pass another --db",
                            path.string(), st.st_size));
  }
  uint64_t page_size = (uint64_t{header[16]} << 8) | header[17];
  if (page_size == 1) page_size = 65536;
  const uint64_t pages = (uint64_t{header[28]} << 24) |
                         (uint64_t{header[29]} << 16) |
                         (uint64_t{header[30]} << 8) | header[31];
  if (page_size >= 512 &&
      static_cast<uint64_t>(st.st_size) < pages * page_size) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: truncated ({} bytes, its "
                            "header says {} pages of {} bytes); move it away "
                            "or pass another --db",
                            path.string(), st.st_size, pages, page_size));
  }
  return header[18] == 2 && header[19] == 2;
}

}  // namespace

Result<Store> Store::Open(const std::filesystem::path& path, Create create) {
  const Result<bool> intact = CheckNotTruncated(path);
  if (!intact) return tl::unexpected(intact.error());
  const bool already_wal = *intact;
  if (create == Create::kFile && path.has_parent_path() &&
      !std::filesystem::is_directory(path.parent_path())) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: directory {} does not exist "
                            "(only the default store's directory is created)",
                            path.string(), path.parent_path().string()),
                ENOENT);
  }
  if (create == Create::kFileAndDirectory && path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return Fail(
          ErrorCode::kStore,
          fmt::format("results store {}: creating directory {}: {}",
                      path.string(), path.parent_path().string(), ec.message()),
          ec.value());
    }
  }
  sqlite3* raw = nullptr;
  const int open_rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
      nullptr);
  // sqlite3_open_v2 may return a handle even on failure; it must be closed.
  Store store(path, raw);
  if (open_rc != SQLITE_OK) {
    return StoreError(path, raw, "opening", open_rc);
  }
  const Db db{raw, store.path_};
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);

  // journal_mode returns the resulting mode as a row; a filesystem without
  // shared memory support leaves the file in its old mode, which still
  // works (with less concurrency), so only a failure is an error. The mode
  // is kept in the file: once it is WAL, asking again changes nothing.
  if (!already_wal) {
    auto statement = db.Prepare("PRAGMA journal_mode=WAL");
    if (!statement) return tl::unexpected(statement.error());
    const int rc = RetryWhileBusy([&] {
      sqlite3_reset(statement->get());
      return sqlite3_step(statement->get());
    });
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return StoreError(path, raw, "switching to WAL mode", rc);
    }
  }
  if (auto s = db.ExecOrFail("PRAGMA foreign_keys=ON", "enabling foreign keys");
      !s) {
    return tl::unexpected(s.error());
  }
  // In WAL mode NORMAL keeps every commit safe from a crash of isoscope (only
  // a power loss can drop the newest) and saves an fsync per run recorded.
  if (auto s = db.ExecOrFail("PRAGMA synchronous=NORMAL",
                             "setting synchronous=NORMAL");
      !s) {
    return tl::unexpected(s.error());
  }
  // Every isoscope process opens the store, records a run and closes it.
  // By default the last connection to close checkpoints the WAL into the
  // database and deletes it, so the next run creates a new WAL: four
  // fdatasyncs per run (the WAL's header and directory, then the
  // checkpoint's WAL and database), several milliseconds of what a user
  // waits for. Without the checkpoint on close the WAL stays and the next
  // run appends to it; SQLite checkpoints it when it reaches
  // kWalCheckpointPages, so the WAL stays bounded.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_wal_autocheckpoint(raw, kWalCheckpointPages);
  // With a chunk size SQLite extends the file before a checkpoint copies
  // pages into it (its size hint does nothing without one), so the header's
  // page count never runs ahead of the file's size, even while another
  // isoscope checkpoints: what CheckNotTruncated relies on.
  int chunk = kStoreChunkBytes;
  sqlite3_file_control(raw, "main", SQLITE_FCNTL_CHUNK_SIZE, &chunk);
  if (auto migrated = Migrate(db); !migrated) {
    return tl::unexpected(migrated.error());
  }
  return store;
}

namespace {

// A run as the store keeps it: its JSON without its events (rows of
// run_events) and without its policy's text (a row of policy_texts,
// `policy_text_id`; none for a run without a policy text).
struct StoredRun {
  std::string json;
  std::optional<int64_t> policy_text_id;
};

// Binds the run's columns, in this order, from `first`: started_at_ms,
// backend, command, workdir, policy_name, outcome, exit_status, wall_ns,
// result_json, policy_text_id.
int BindRunColumns(sqlite3_stmt* s, int first, const RunResult& result,
                   const StoredRun& stored) {
  int rc = SQLITE_OK;
  const auto bind = [&](int bind_rc) {
    if (rc == SQLITE_OK) rc = bind_rc;
  };
  bind(sqlite3_bind_int64(s, first, result.started_at_unix_ms));
  bind(BindText(s, first + 1, result.backend));
  bind(BindText(s, first + 2, JoinArgv(result.argv)));
  bind(BindText(s, first + 3, result.workdir));
  bind(BindText(s, first + 4, result.policy_name));
  bind(BindText(s, first + 5, OutcomeName(result.termination.outcome)));
  bind(sqlite3_bind_int(s, first + 6, result.termination.ExitStatus()));
  bind(sqlite3_bind_int64(s, first + 7, result.timings.wall_ns));
  bind(BindText(s, first + 8, stored.json));
  bind(stored.policy_text_id
           ? sqlite3_bind_int64(s, first + 9, *stored.policy_text_id)
           : sqlite3_bind_null(s, first + 9));
  return rc;
}

// Writes one batch of a run's events as a row of run_events, inside the
// caller's transaction.
Status InsertEventBatch(const Db& db, int64_t run_id, int64_t seq, size_t count,
                        std::string_view batch) {
  auto statement = db.Prepare(
      "INSERT INTO run_events (run_id, seq, count, data) VALUES (?, ?, ?, ?)");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  int rc = sqlite3_bind_int64(s, 1, run_id);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 2, seq);
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_int64(s, 3, static_cast<int64_t>(count));
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_blob64(s, 4, batch.data(), batch.size(), SQLITE_STATIC);
  }
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) {
    return StoreError(db.path, db.db,
                      fmt::format("recording events of run {}", run_id), rc);
  }
  return {};
}

// Writes `events` after the run's rows of run_events, in batches, inside
// the caller's transaction.
Status AppendEvents(const Db& db, int64_t run_id,
                    const std::vector<RecordedEvent>& events) {
  if (events.empty()) return {};
  auto next = db.Prepare(
      "SELECT coalesce(max(seq + count), 0) FROM run_events WHERE run_id = ?");
  if (!next) return tl::unexpected(next.error());
  sqlite3_bind_int64(next->get(), 1, run_id);
  if (const int rc = sqlite3_step(next->get()); rc != SQLITE_ROW) {
    return StoreError(db.path, db.db,
                      fmt::format("reading events of run {}", run_id), rc);
  }
  int64_t seq = sqlite3_column_int64(next->get(), 0);
  EventBatchEncoder batch;
  for (size_t i = 0; i < events.size(); ++i) {
    batch.Append(events[i]);
    if (batch.bytes().size() < Store::EventWriter::kBatchBytes &&
        i + 1 < events.size()) {
      continue;
    }
    if (auto inserted =
            InsertEventBatch(db, run_id, seq, batch.count(), batch.bytes());
        !inserted) {
      return inserted;
    }
    seq += static_cast<int64_t>(batch.count());
    batch.Clear();
  }
  return {};
}

// Steps a bound write statement in its own transaction, retried as a whole
// on BUSY: the busy handler covers most waits, but a lock can still be
// refused outright under contention. `also`, when given, runs in the same
// transaction after the step. Returns the rows the statement changed.
Result<int> StepWrite(const Db& db, sqlite3_stmt* s, std::string_view what,
                      const std::function<Status()>& also = {}) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(kBusyTimeoutMs);
  while (true) {
    auto transaction = Transaction::Begin(db);
    if (!transaction) return tl::unexpected(transaction.error());
    sqlite3_reset(s);
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      const int changed = sqlite3_changes(db.db);
      if (also) {
        if (auto done = also(); !done) return tl::unexpected(done.error());
      }
      if (auto committed = transaction->Commit(); !committed) {
        return tl::unexpected(committed.error());
      }
      return changed;
    }
    if (!IsBusy(rc) || std::chrono::steady_clock::now() >= deadline) {
      return StoreError(db.path, db.db, what, rc);
    }
    // `transaction` rolls back here; try again after a short pause.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// FNV-1a (64 bits) of `text`, as SQLite's signed integer: the key that
// finds a policy text already kept.
int64_t TextDigest(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return static_cast<int64_t>(hash);
}

// Rows of policy_texts are never deleted (Store::kept_policy_text_ keeps the
// id of the last one kept for as long as the store is open).
// The row of policy_texts holding `text`, added when there is none. The
// lookup only reads; a text not kept yet is added in a transaction of its
// own (two isoscopes adding the same text at once keep it twice, which
// costs a row and changes nothing read).
Result<int64_t> KeepPolicyText(const Db& db, std::string_view text) {
  const int64_t digest = TextDigest(text);
  auto found =
      db.Prepare("SELECT id FROM policy_texts WHERE digest = ? AND text = ?");
  if (!found) return tl::unexpected(found.error());
  sqlite3_stmt* f = found->get();
  int rc = sqlite3_bind_int64(f, 1, digest);
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_blob64(f, 2, text.data(), text.size(), SQLITE_STATIC);
  }
  if (rc != SQLITE_OK) {
    return StoreError(db.path, db.db, "binding a policy text", rc);
  }
  rc = RetryWhileBusy([&] { return sqlite3_step(f); });
  if (rc == SQLITE_ROW) return sqlite3_column_int64(f, 0);
  if (rc != SQLITE_DONE) {
    return StoreError(db.path, db.db, "finding a policy text", rc);
  }
  found->reset();
  auto insert =
      db.Prepare("INSERT INTO policy_texts (digest, text) VALUES (?, ?)");
  if (!insert) return tl::unexpected(insert.error());
  sqlite3_stmt* i = insert->get();
  rc = sqlite3_bind_int64(i, 1, digest);
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_blob64(i, 2, text.data(), text.size(), SQLITE_STATIC);
  }
  if (rc != SQLITE_OK) {
    return StoreError(db.path, db.db, "binding a policy text", rc);
  }
  int64_t id = 0;
  auto inserted = StepWrite(db, i, "keeping a policy text", [&]() -> Status {
    id = sqlite3_last_insert_rowid(db.db);
    return {};
  });
  if (!inserted) return tl::unexpected(inserted.error());
  return id;
}

// `kept` is the store's last kept text and id, used and updated here.
Result<StoredRun> ToStoredRun(
    const Db& db, const RunResult& result,
    std::optional<std::pair<std::string, int64_t>>& kept) {
  StoredRun stored;
  if (!result.policy_text.empty()) {
    if (kept && kept->first == result.policy_text) {
      stored.policy_text_id = kept->second;
    } else {
      auto id = KeepPolicyText(db, result.policy_text);
      if (!id) return tl::unexpected(id.error());
      stored.policy_text_id = *id;
      // Only a committed row is remembered: inside a caller's transaction
      // the row may still be rolled back.
      if (sqlite3_get_autocommit(db.db) != 0) {
        kept.emplace(result.policy_text, *id);
      }
    }
  }
  try {
    nlohmann::json json = ToJson(result, JsonEvents::kLeftOut);
    if (stored.policy_text_id) json["policy_text"] = "";
    stored.json = json.dump();
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: serialising the run: {}",
                            db.path.string(), e.what()));
  }
  return stored;
}

}  // namespace

Result<int64_t> Store::Record(const RunResult& result) {
  const Db db{db_.get(), path_};
  auto stored = ToStoredRun(db, result, kept_policy_text_);
  if (!stored) return tl::unexpected(stored.error());
  auto statement = db.Prepare(
      "INSERT INTO runs (started_at_ms, backend, command, workdir, "
      "policy_name, outcome, exit_status, wall_ns, result_json, "
      "policy_text_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  if (const int rc = BindRunColumns(s, 1, result, *stored); rc != SQLITE_OK) {
    return StoreError(path_, db.db, "binding a run", rc);
  }
  int64_t id = 0;
  auto inserted = StepWrite(db, s, "recording a run", [&]() -> Status {
    id = sqlite3_last_insert_rowid(db.db);
    return AppendEvents(db, id, result.events);
  });
  if (!inserted) return tl::unexpected(inserted.error());
  return id;
}

namespace {

int64_t CoarseNowNs() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

}  // namespace

void Store::EventWriter::Append(const Event& event) {
  if (!status_) return;
  if (run_id_ == 0) {
    status_ = Fail(ErrorCode::kInternal,
                   fmt::format("results store {}: an event of a run not "
                               "recorded as started",
                               store_.path_.string()));
    return;
  }
  batch_.Append(event);
  if (batch_.count() == 1) flushed_at_ns_ = CoarseNowNs();
  // The clock is read every 64 events: a batch that waits long (few events
  // in a long run) is still written within about kBatchSeconds.
  if (batch_.bytes().size() >= kBatchBytes ||
      (batch_.count() % 64 == 0 &&
       CoarseNowNs() - flushed_at_ns_ >= int64_t{kBatchSeconds} * 1000000000)) {
    Flush();
  }
}

void Store::EventWriter::Flush() {
  if (!status_ || batch_.count() == 0) return;
  const Db db{store_.db_.get(), store_.path_};
  auto transaction = Transaction::Begin(db);
  if (!transaction) {
    status_ = tl::unexpected(transaction.error());
    return;
  }
  if (auto inserted = InsertEventBatch(db, run_id_, next_seq_, batch_.count(),
                                       batch_.bytes());
      !inserted) {
    status_ = std::move(inserted);
    return;
  }
  if (auto committed = transaction->Commit(); !committed) {
    status_ = std::move(committed);
    return;
  }
  next_seq_ += static_cast<int64_t>(batch_.count());
  batch_.Clear();
}

Status Store::EventWriter::Finish() {
  Flush();
  return status_;
}

Status Store::Begin(RunResult& run) {
  auto self = ProcessIdentity::Self();
  if (!self) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: naming the run's owner: {}",
                            path_.string(), self.error().ToString()),
                self.error().sys_errno());
  }
  return Begin(run, *self);
}

Status Store::Begin(RunResult& run, const ProcessIdentity& owner) {
  run.termination.outcome = Outcome::kRunning;
  const Db db{db_.get(), path_};
  auto stored = ToStoredRun(db, run, kept_policy_text_);
  if (!stored) return tl::unexpected(stored.error());
  auto statement = db.Prepare(
      "INSERT INTO runs (started_at_ms, backend, command, workdir, "
      "policy_name, outcome, exit_status, wall_ns, result_json, "
      "policy_text_id, owner_pid, owner_start_time, owner_boot_id, "
      "owner_pid_namespace) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  int rc = BindRunColumns(s, 1, run, *stored);
  const auto bind = [&](int bind_rc) {
    if (rc == SQLITE_OK) rc = bind_rc;
  };
  bind(sqlite3_bind_int64(s, 11, owner.pid));
  bind(sqlite3_bind_int64(s, 12, static_cast<int64_t>(owner.start_time)));
  bind(BindText(s, 13, owner.boot_id));
  bind(sqlite3_bind_int64(s, 14, static_cast<int64_t>(owner.pid_namespace)));
  if (rc != SQLITE_OK) return StoreError(path_, db.db, "binding a run", rc);
  auto inserted = StepWrite(db, s, "recording a run as started");
  if (!inserted) return tl::unexpected(inserted.error());
  run.id = sqlite3_last_insert_rowid(db.db);
  return {};
}

Status Store::Complete(const RunResult& run) {
  if (run.termination.outcome == Outcome::kRunning) {
    return Fail(ErrorCode::kInternal,
                fmt::format("results store {}: run {} completed as running",
                            path_.string(), run.id));
  }
  const Db db{db_.get(), path_};
  auto stored = ToStoredRun(db, run, kept_policy_text_);
  if (!stored) return tl::unexpected(stored.error());
  // SQLite rewrites the entries of every index on a column an UPDATE sets,
  // changed or not: a page of the log each. The start time and backend,
  // the indexed columns, are those the run began with, so the update sets
  // them (as a second statement) only when they differ.
  auto statement = db.Prepare(
      "UPDATE runs SET command = ?3, workdir = ?4, policy_name = ?5, "
      "outcome = ?6, exit_status = ?7, wall_ns = ?8, result_json = ?9, "
      "policy_text_id = ?10 WHERE id = ?11");
  auto indexed = db.Prepare(
      "UPDATE runs SET started_at_ms = ?1, backend = ?2 WHERE id = ?3 AND "
      "(started_at_ms IS NOT ?1 OR backend IS NOT ?2)");
  if (!statement) return tl::unexpected(statement.error());
  if (!indexed) return tl::unexpected(indexed.error());
  sqlite3_stmt* s = statement->get();
  sqlite3_stmt* i = indexed->get();
  int rc = BindRunColumns(s, 1, run, *stored);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 11, run.id);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(i, 1, run.started_at_unix_ms);
  if (rc == SQLITE_OK) rc = BindText(i, 2, run.backend);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(i, 3, run.id);
  if (rc != SQLITE_OK) return StoreError(path_, db.db, "binding a run", rc);
  auto changed = StepWrite(
      db, s, fmt::format("completing run {}", run.id), [&]() -> Status {
        sqlite3_reset(i);
        if (const int step = sqlite3_step(i); step != SQLITE_DONE) {
          return StoreError(path_, db.db,
                            fmt::format("completing run {}", run.id), step);
        }
        return AppendEvents(db, run.id, run.events);
      });
  if (!changed) return tl::unexpected(changed.error());
  if (*changed == 0) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("results store {}: no run with id {} to complete",
                            path_.string(), run.id));
  }
  return {};
}

Result<int> Store::MarkAbandonedRuns() {
  const Db db{db_.get(), path_};
  auto running = db.Prepare(
      "SELECT id, owner_pid, owner_start_time, owner_boot_id, "
      "owner_pid_namespace FROM runs WHERE outcome = 'running'");
  if (!running) return tl::unexpected(running.error());
  std::vector<std::pair<int64_t, ProcessIdentity>> abandoned;
  sqlite3_stmt* s = running->get();
  while (true) {
    const int rc = RetryWhileBusy([&] { return sqlite3_step(s); });
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return StoreError(path_, db.db, "finding running runs", rc);
    }
    ProcessIdentity owner;
    owner.pid = static_cast<pid_t>(sqlite3_column_int64(s, 1));
    owner.start_time = static_cast<uint64_t>(sqlite3_column_int64(s, 2));
    owner.boot_id = ColumnText(s, 3);
    owner.pid_namespace = static_cast<uint64_t>(sqlite3_column_int64(s, 4));
    if (LivenessOf(owner) == Liveness::kGone) {
      abandoned.emplace_back(sqlite3_column_int64(s, 0), std::move(owner));
    }
  }
  running->reset();  // the read ends before the writes below
  int marked = 0;
  for (const auto& [id, owner] : abandoned) {
    auto run = Get(id);
    if (!run) return tl::unexpected(run.error());
    run->termination = Termination{};
    run->termination.outcome = Outcome::kInterrupted;
    run->termination.reason = fmt::format(
        "isoscope (pid {}) ended before the run did (killed or crashed); "
        "kept as recorded when it started",
        owner.pid);
    auto stored = ToStoredRun(db, *run, kept_policy_text_);
    if (!stored) return tl::unexpected(stored.error());
    // Only while still running: a concurrent isoscope may have marked it.
    auto update = db.Prepare(
        "UPDATE runs SET outcome = ?, exit_status = ?, result_json = ?, "
        "policy_text_id = ? WHERE id = ? AND outcome = 'running'");
    if (!update) return tl::unexpected(update.error());
    sqlite3_stmt* u = update->get();
    int rc = BindText(u, 1, OutcomeName(Outcome::kInterrupted));
    if (rc == SQLITE_OK) {
      rc = sqlite3_bind_int(u, 2, run->termination.ExitStatus());
    }
    if (rc == SQLITE_OK) rc = BindText(u, 3, stored->json);
    if (rc == SQLITE_OK) {
      rc = stored->policy_text_id
               ? sqlite3_bind_int64(u, 4, *stored->policy_text_id)
               : sqlite3_bind_null(u, 4);
    }
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(u, 5, id);
    if (rc != SQLITE_OK) {
      return StoreError(path_, db.db, "binding an interrupted run", rc);
    }
    auto changed =
        StepWrite(db, u, fmt::format("marking run {} interrupted", id));
    if (!changed) return tl::unexpected(changed.error());
    marked += *changed;
  }
  return marked;
}

Result<std::vector<RunSummary>> Store::List(int limit,
                                            const RunFilter& filter) const {
  const Db db{db_.get(), path_};
  // An unbound parameter is NULL: that filter lets every run through.
  auto statement = db.Prepare(
      "SELECT id, started_at_ms, backend, command, policy_name, outcome, "
      "exit_status, wall_ns FROM runs "
      "WHERE (?2 IS NULL OR backend = ?2) AND (?3 IS NULL OR outcome = ?3) "
      "AND (?4 IS NULL OR started_at_ms >= ?4) "
      "ORDER BY id DESC LIMIT ?1");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  // SQLite reads a negative LIMIT as "no limit": limit <= 0 lists all.
  int rc = sqlite3_bind_int(s, 1, limit > 0 ? limit : -1);
  if (rc == SQLITE_OK && !filter.backend.empty()) {
    rc = BindText(s, 2, filter.backend);
  }
  if (rc == SQLITE_OK && filter.outcome.has_value()) {
    rc = BindText(s, 3, OutcomeName(*filter.outcome));
  }
  if (rc == SQLITE_OK && filter.since_unix_ms.has_value()) {
    rc = sqlite3_bind_int64(s, 4, *filter.since_unix_ms);
  }
  if (rc != SQLITE_OK) return StoreError(path_, db.db, "listing runs", rc);
  std::vector<RunSummary> runs;
  while (true) {
    const int rc = RetryWhileBusy([&] { return sqlite3_step(s); });
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return StoreError(path_, db.db, "listing runs", rc);
    RunSummary run;
    run.id = sqlite3_column_int64(s, 0);
    run.started_at_unix_ms = sqlite3_column_int64(s, 1);
    run.backend = ColumnText(s, 2);
    run.command = ColumnText(s, 3);
    run.policy_name = ColumnText(s, 4);
    const std::string outcome = ColumnText(s, 5);
    const auto parsed = OutcomeFromName(outcome);
    if (!parsed.has_value()) {
      return Fail(ErrorCode::kStore,
                  fmt::format("results store {}: run {}: unknown outcome "
                              "\"{}\"",
                              path_.string(), run.id, outcome));
    }
    run.outcome = *parsed;
    run.exit_status = sqlite3_column_int(s, 6);
    run.wall_ns = sqlite3_column_int64(s, 7);
    runs.push_back(std::move(run));
  }
  return runs;
}

Result<RunResult> Store::Get(int64_t id) const {
  const Db db{db_.get(), path_};
  auto statement = db.Prepare(
      "SELECT result_json, policy_texts.text, policy_text_id IS NOT NULL "
      "FROM runs LEFT JOIN policy_texts ON policy_texts.id = policy_text_id "
      "WHERE runs.id = ?");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  sqlite3_bind_int64(s, 1, id);
  const int rc = RetryWhileBusy([&] { return sqlite3_step(s); });
  if (rc == SQLITE_DONE) {
    return Fail(
        ErrorCode::kNotFound,
        fmt::format("results store {}: no run with id {}", path_.string(), id));
  }
  if (rc != SQLITE_ROW) {
    return StoreError(path_, db.db, fmt::format("reading run {}", id), rc);
  }
  const std::string text = ColumnText(s, 0);
  // The non-throwing parse: a discarded value means the text is not JSON.
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: run {}: result_json is not "
                            "valid JSON",
                            path_.string(), id));
  }
  auto result = RunResultFromJson(json);
  if (!result) {
    return tl::unexpected(result.error().WithContext(
        fmt::format("results store {}: run {}", path_.string(), id)));
  }
  result->id = id;
  if (sqlite3_column_int(s, 2) != 0) {
    if (sqlite3_column_type(s, 1) == SQLITE_NULL) {
      return Fail(ErrorCode::kStore,
                  fmt::format("results store {}: run {}: its policy text is "
                              "missing",
                              path_.string(), id));
    }
    const auto* bytes = static_cast<const char*>(sqlite3_column_blob(s, 1));
    result->policy_text.assign(bytes != nullptr ? bytes : "",
                               static_cast<size_t>(sqlite3_column_bytes(s, 1)));
  }
  // Then the events of run_events, after those of the JSON (a run recorded
  // before schema 6 has them there, and no rows).
  auto events = db.Prepare(
      "SELECT seq, count, data FROM run_events WHERE run_id = ? ORDER BY seq");
  if (!events) return tl::unexpected(events.error());
  sqlite3_stmt* e = events->get();
  sqlite3_bind_int64(e, 1, id);
  while (true) {
    const int step = RetryWhileBusy([&] { return sqlite3_step(e); });
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW) {
      return StoreError(path_, db.db,
                        fmt::format("reading run {}'s events", id), step);
    }
    const int64_t seq = sqlite3_column_int64(e, 0);
    const int64_t count = sqlite3_column_int64(e, 1);
    const auto* data = static_cast<const char*>(sqlite3_column_blob(e, 2));
    const std::string_view batch(
        data, static_cast<size_t>(sqlite3_column_bytes(e, 2)));
    const size_t before = result->events.size();
    Status decoded = DecodeEventBatch(batch, result->events);
    if (decoded &&
        result->events.size() - before != static_cast<size_t>(count)) {
      decoded = Fail(ErrorCode::kStore,
                     fmt::format("{} events where the row says {}",
                                 result->events.size() - before, count));
    }
    if (!decoded) {
      return tl::unexpected(decoded.error().WithContext(
          fmt::format("results store {}: run {}: events from {}",
                      path_.string(), id, seq)));
    }
  }
  return result;
}

Result<int64_t> Store::LatestId() const {
  const Db db{db_.get(), path_};
  auto statement = db.Prepare("SELECT max(id) FROM runs");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  const int rc = RetryWhileBusy([&] { return sqlite3_step(s); });
  if (rc != SQLITE_ROW) {
    return StoreError(path_, db.db, "finding the latest run", rc);
  }
  if (sqlite3_column_type(s, 0) == SQLITE_NULL) {
    return Fail(
        ErrorCode::kNotFound,
        fmt::format("results store {}: no runs recorded yet", path_.string()));
  }
  return sqlite3_column_int64(s, 0);
}

Result<int> Store::SchemaVersion() const {
  return Db{db_.get(), path_}.UserVersion();
}

namespace {

std::string JoinComma(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

std::vector<std::string> SplitComma(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

Result<int64_t> Store::RecordProbeSession(const ProbeSession& session) {
  const Db db{db_.get(), path_};
  auto insert_session = db.Prepare(
      "INSERT INTO probe_sessions (started_at_ms, policy_name, backends, "
      "interrupted) VALUES (?, ?, ?, ?)");
  if (!insert_session) return tl::unexpected(insert_session.error());
  auto insert_finding = db.Prepare(
      "INSERT INTO probe_findings (session_id, probe_id, backend, verdict, "
      "detail, overridden, run_id, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert_finding) return tl::unexpected(insert_finding.error());

  // One transaction: a session is recorded with all its findings or not at
  // all. Busy waits happen in Begin (BEGIN IMMEDIATE holds the write lock
  // for everything after it).
  auto transaction = Transaction::Begin(db);
  if (!transaction) return tl::unexpected(transaction.error());
  sqlite3_stmt* s = insert_session->get();
  int rc = SQLITE_OK;
  const auto bind = [&](int bind_rc) {
    if (rc == SQLITE_OK) rc = bind_rc;
  };
  const std::string backends = JoinComma(session.backends);
  bind(sqlite3_bind_int64(s, 1, session.started_at_unix_ms));
  bind(BindText(s, 2, session.policy_name));
  bind(BindText(s, 3, backends));
  bind(sqlite3_bind_int(s, 4, session.interrupted ? 1 : 0));
  if (rc != SQLITE_OK) {
    return StoreError(path_, db.db, "binding a probe session", rc);
  }
  rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) {
    return StoreError(path_, db.db, "recording a probe session", rc);
  }
  const int64_t session_id = sqlite3_last_insert_rowid(db.db);

  sqlite3_stmt* f = insert_finding->get();
  for (const ProbeFinding& finding : session.findings) {
    sqlite3_reset(f);
    sqlite3_clear_bindings(f);
    rc = SQLITE_OK;
    bind(sqlite3_bind_int64(f, 1, session_id));
    bind(BindText(f, 2, finding.probe_id));
    bind(BindText(f, 3, finding.backend));
    bind(BindText(f, 4, finding.verdict));
    bind(BindText(f, 5, finding.detail));
    bind(sqlite3_bind_int(f, 6, finding.overridden ? 1 : 0));
    bind(finding.run_id != 0 ? sqlite3_bind_int64(f, 7, finding.run_id)
                             : sqlite3_bind_null(f, 7));
    bind(finding.outcome.has_value()
             ? BindText(f, 8, OutcomeName(*finding.outcome))
             : sqlite3_bind_null(f, 8));
    if (rc != SQLITE_OK) {
      return StoreError(path_, db.db, "binding a probe finding", rc);
    }
    rc = sqlite3_step(f);
    if (rc != SQLITE_DONE) {
      return StoreError(path_, db.db,
                        fmt::format("recording probe finding {} on {}",
                                    finding.probe_id, finding.backend),
                        rc);
    }
  }
  if (auto committed = transaction->Commit(); !committed) {
    return tl::unexpected(committed.error());
  }
  return session_id;
}

Result<ProbeSession> Store::GetProbeSession(int64_t id) const {
  const Db db{db_.get(), path_};
  auto statement = db.Prepare(
      "SELECT started_at_ms, policy_name, backends, interrupted "
      "FROM probe_sessions WHERE id = ?");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  sqlite3_bind_int64(s, 1, id);
  int rc = RetryWhileBusy([&] { return sqlite3_step(s); });
  if (rc == SQLITE_DONE) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("results store {}: no probe session with id {}",
                            path_.string(), id));
  }
  if (rc != SQLITE_ROW) {
    return StoreError(path_, db.db, fmt::format("reading probe session {}", id),
                      rc);
  }
  ProbeSession session;
  session.id = id;
  session.started_at_unix_ms = sqlite3_column_int64(s, 0);
  session.policy_name = ColumnText(s, 1);
  session.backends = SplitComma(ColumnText(s, 2));
  session.interrupted = sqlite3_column_int(s, 3) != 0;

  auto findings = db.Prepare(
      "SELECT probe_id, backend, verdict, detail, overridden, run_id, outcome "
      "FROM probe_findings WHERE session_id = ? ORDER BY rowid");
  if (!findings) return tl::unexpected(findings.error());
  sqlite3_stmt* f = findings->get();
  sqlite3_bind_int64(f, 1, id);
  while (true) {
    rc = RetryWhileBusy([&] { return sqlite3_step(f); });
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return StoreError(path_, db.db,
                        fmt::format("reading findings of probe session {}", id),
                        rc);
    }
    ProbeFinding finding;
    finding.probe_id = ColumnText(f, 0);
    finding.backend = ColumnText(f, 1);
    finding.verdict = ColumnText(f, 2);
    finding.detail = ColumnText(f, 3);
    finding.overridden = sqlite3_column_int(f, 4) != 0;
    finding.run_id = sqlite3_column_type(f, 5) == SQLITE_NULL
                         ? 0
                         : sqlite3_column_int64(f, 5);
    if (sqlite3_column_type(f, 6) != SQLITE_NULL) {
      const std::string outcome = ColumnText(f, 6);
      finding.outcome = OutcomeFromName(outcome);
      if (!finding.outcome.has_value()) {
        return Fail(ErrorCode::kStore,
                    fmt::format("results store {}: probe session {}: unknown "
                                "outcome \"{}\"",
                                path_.string(), id, outcome));
      }
    }
    session.findings.push_back(std::move(finding));
  }
  return session;
}

Result<int64_t> Store::LatestProbeSessionId() const {
  const Db db{db_.get(), path_};
  auto statement = db.Prepare("SELECT max(id) FROM probe_sessions");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  const int rc = RetryWhileBusy([&] { return sqlite3_step(s); });
  if (rc != SQLITE_ROW) {
    return StoreError(path_, db.db, "finding the latest probe session", rc);
  }
  if (sqlite3_column_type(s, 0) == SQLITE_NULL) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("results store {}: no probe sessions recorded yet",
                            path_.string()));
  }
  return sqlite3_column_int64(s, 0);
}

Result<int64_t> Store::RecordComparison(const Comparison& comparison) {
  std::string comparison_json;
  try {
    comparison_json = ToJson(comparison).dump();
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: serialising the comparison: {}",
                            path_.string(), e.what()));
  }
  const Db db{db_.get(), path_};
  auto statement = db.Prepare(
      "INSERT INTO comparisons (started_at_ms, command, policy_name, "
      "probe_session_id, comparison_json) VALUES (?, ?, ?, ?, ?)");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  const std::string command = JoinArgv(comparison.argv);
  int rc = SQLITE_OK;
  const auto bind = [&](int bind_rc) {
    if (rc == SQLITE_OK) rc = bind_rc;
  };
  bind(sqlite3_bind_int64(s, 1, comparison.started_at_unix_ms));
  bind(BindText(s, 2, command));
  bind(BindText(s, 3, comparison.policy_name));
  bind(comparison.probe_session_id.has_value()
           ? sqlite3_bind_int64(s, 4, *comparison.probe_session_id)
           : sqlite3_bind_null(s, 4));
  bind(BindText(s, 5, comparison_json));
  if (rc != SQLITE_OK) {
    return StoreError(path_, db.db, "binding a comparison", rc);
  }
  // BEGIN IMMEDIATE waits for the write lock, so the insert itself does not
  // meet BUSY.
  auto transaction = Transaction::Begin(db);
  if (!transaction) return tl::unexpected(transaction.error());
  rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) {
    return StoreError(path_, db.db, "recording a comparison", rc);
  }
  const int64_t id = sqlite3_last_insert_rowid(db.db);
  if (auto committed = transaction->Commit(); !committed) {
    return tl::unexpected(committed.error());
  }
  return id;
}

Result<Comparison> Store::GetComparison(int64_t id) const {
  const Db db{db_.get(), path_};
  auto statement =
      db.Prepare("SELECT comparison_json FROM comparisons WHERE id = ?");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  sqlite3_bind_int64(s, 1, id);
  const int rc = RetryWhileBusy([&] { return sqlite3_step(s); });
  if (rc == SQLITE_DONE) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("results store {}: no comparison with id {}",
                            path_.string(), id));
  }
  if (rc != SQLITE_ROW) {
    return StoreError(path_, db.db, fmt::format("reading comparison {}", id),
                      rc);
  }
  const nlohmann::json json =
      nlohmann::json::parse(ColumnText(s, 0), nullptr, false);
  if (json.is_discarded()) {
    return Fail(ErrorCode::kStore,
                fmt::format("results store {}: comparison {}: "
                            "comparison_json is not valid JSON",
                            path_.string(), id));
  }
  auto comparison = ComparisonFromJson(json);
  if (!comparison) {
    return tl::unexpected(comparison.error().WithContext(
        fmt::format("results store {}: comparison {}", path_.string(), id)));
  }
  comparison->id = id;
  return comparison;
}

Result<int64_t> Store::LatestComparisonId() const {
  const Db db{db_.get(), path_};
  auto statement = db.Prepare("SELECT max(id) FROM comparisons");
  if (!statement) return tl::unexpected(statement.error());
  sqlite3_stmt* s = statement->get();
  const int rc = RetryWhileBusy([&] { return sqlite3_step(s); });
  if (rc != SQLITE_ROW) {
    return StoreError(path_, db.db, "finding the latest comparison", rc);
  }
  if (sqlite3_column_type(s, 0) == SQLITE_NULL) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("results store {}: no comparisons recorded yet",
                            path_.string()));
  }
  return sqlite3_column_int64(s, 0);
}

}  // namespace isoscope
