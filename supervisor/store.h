// The results store: one SQLite file, versioned schema with migrations, WAL
// so concurrent runs record safely. Reports read only from here.
#ifndef ISOSCOPE_SUPERVISOR_STORE_H_
#define ISOSCOPE_SUPERVISOR_STORE_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/process_identity.h"
#include "supervisor/comparison.h"
#include "supervisor/event_codec.h"
#include "supervisor/event_sink.h"
#include "supervisor/probe_session.h"
#include "supervisor/run_result.h"

struct sqlite3;

namespace isoscope {

// $XDG_DATA_HOME/isoscope/runs.db, else $HOME/.local/share/isoscope/runs.db.
std::filesystem::path DefaultStorePath();

// One line of `isoscope runs list`.
struct RunSummary {
  int64_t id = 0;
  int64_t started_at_unix_ms = 0;
  std::string backend;
  std::string command;  // argv joined with spaces
  std::string policy_name;
  Outcome outcome = Outcome::kExited;
  int exit_status = 0;
  int64_t wall_ns = 0;
};

// Which runs List returns; an empty field lets every run through.
struct RunFilter {
  std::string backend;
  std::optional<Outcome> outcome;
  std::optional<int64_t> since_unix_ms;  // started at or after
};

class Store {
 public:
  // The schema version this build writes; Open migrates older files up to it
  // and refuses newer ones.
  static constexpr int kSchemaVersion = 7;

  // Where Open may create what is missing.
  enum class Create {
    kFile,              // the file, in a directory that must exist
    kFileAndDirectory,  // also its directory (the default location)
  };

  // Opens (creating the file, and its directory when asked) and migrates.
  // A file that is not a store, or a store cut short (smaller than its own
  // header says), is an error: it is never silently replaced.
  static Result<Store> Open(const std::filesystem::path& path,
                            Create create = Create::kFile);

  Store(Store&&) noexcept = default;
  Store& operator=(Store&&) noexcept = default;

  // Records a finished run, its events with it, and returns its id.
  Result<int64_t> Record(const RunResult& result);

  // Streams one run's events into the store while it runs (the sink of
  // SupervisorOptions): events are encoded into a batch (event_codec.h) and
  // each batch of about kBatchBytes is written as one row of run_events, in
  // a transaction of its own, as is a batch that has waited kBatchSeconds.
  // So the supervisor holds one batch at most, whatever the number of
  // events. Finish writes the last batch; an error a batch met is kept (the
  // events after it are dropped, the run goes on) and Finish returns it.
  class EventWriter final : public EventSink {
   public:
    static constexpr size_t kBatchBytes = size_t{64} * 1024;
    static constexpr int kBatchSeconds = 1;

    explicit EventWriter(Store& store) : store_(store) {}
    // The run the events belong to, once Begin has recorded it; before,
    // Append keeps nothing and Finish says so.
    void Start(int64_t run_id) { run_id_ = run_id; }
    void Append(const Event& event) override;
    Status Finish();

   private:
    void Flush();

    Store& store_;
    int64_t run_id_ = 0;
    int64_t next_seq_ = 0;  // the run's index of the batch's first event
    EventBatchEncoder batch_;
    int64_t flushed_at_ns_ = 0;  // CLOCK_MONOTONIC_COARSE
    Status status_;
  };

  // A run's row from its start to its end, so that nothing is lost when
  // isoscope fails or dies mid-run. Begin records `run` as it starts
  // (outcome kRunning, owned by `owner`: this process unless given) and sets
  // its id; Complete replaces the row with the run as it ended (any outcome
  // but kRunning: kError with isoscope's message when it failed) and adds
  // the run's events after those an EventWriter streamed. kNotFound when
  // the row is gone.
  Status Begin(RunResult& run);
  Status Begin(RunResult& run, const ProcessIdentity& owner);
  Status Complete(const RunResult& run);

  // Marks `interrupted` every running row whose owner has died (killed,
  // crashed, or the machine rebooted), keeping what was recorded of it;
  // rows of live owners, and of owners in another pid namespace (whose pids
  // say nothing here), stay. Returns how many were marked. Costs one query
  // on an index that holds only running rows.
  Result<int> MarkAbandonedRuns();
  // Newest first.
  // The newest `limit` runs (limit <= 0: all) that pass `filter`, newest
  // first.
  Result<std::vector<RunSummary>> List(int limit,
                                       const RunFilter& filter = {}) const;
  Result<RunResult> Get(int64_t id) const;
  // The id of the newest run; kNotFound if the store is empty.
  Result<int64_t> LatestId() const;
  Result<int> SchemaVersion() const;

  // Records a comparison (its runs and probe session are recorded before it
  // and referenced by id) and returns its id.
  Result<int64_t> RecordComparison(const Comparison& comparison);
  Result<Comparison> GetComparison(int64_t id) const;
  // The id of the newest comparison; kNotFound if there is none.
  Result<int64_t> LatestComparisonId() const;

  // Records a probe session and all its findings in one transaction (a
  // finding's run_id, when not 0, must name a recorded run). Returns its id.
  Result<int64_t> RecordProbeSession(const ProbeSession& session);
  // kNotFound if there is no such session.
  Result<ProbeSession> GetProbeSession(int64_t id) const;
  // The id of the newest session; kNotFound if there is none.
  Result<int64_t> LatestProbeSessionId() const;

  const std::filesystem::path& path() const { return path_; }

 private:
  struct CloseDb {
    void operator()(sqlite3* db) const;
  };
  Store(std::filesystem::path path, sqlite3* db);
  std::filesystem::path path_;
  std::unique_ptr<sqlite3, CloseDb> db_;
  // The policy text last kept (committed; rows of policy_texts are never
  // deleted) and its row's id: a run's Begin and Complete keep the same
  // text, as a comparison's runs mostly do, and look it up once.
  std::optional<std::pair<std::string, int64_t>> kept_policy_text_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_STORE_H_
