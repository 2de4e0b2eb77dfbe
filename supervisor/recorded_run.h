// One run whose evidence the results store keeps however it ends: its row
// is written before the workload starts (outcome `running`, owned by this
// process) and completed when it ends, with outcome `error` and the message
// when isoscope itself failed. A row whose isoscope died mid-run stays
// `running` until the next isoscope to open the store marks it interrupted
// (Store::MarkAbandonedRuns).
#ifndef ISOSCOPE_SUPERVISOR_RECORDED_RUN_H_
#define ISOSCOPE_SUPERVISOR_RECORDED_RUN_H_

#include <memory>

#include "base/error.h"
#include "policies/policy.h"
#include "supervisor/backend.h"
#include "supervisor/run_result.h"
#include "supervisor/store.h"
#include "supervisor/supervisor.h"

namespace isoscope {

struct RecordedRun {
  // What Supervisor::Run returned, the run's id set. An error before the
  // run was recorded as started (the store refused the row) started
  // nothing. Its events were streamed to the store as they happened
  // (Store::EventWriter) and are not here: Store::Get reads them back.
  Result<RunResult> run;
  // Whether the store kept the run's end (or its error) and its events:
  // the run above is still whole (but for its events) when it did not.
  Status recorded;
};

// `options.on_started` is the store's; anything set there is replaced.
RecordedRun RunRecorded(std::shared_ptr<const Policy> policy,
                        SupervisorOptions options, Backend& backend,
                        const Workload& workload, Store& store);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_RECORDED_RUN_H_
