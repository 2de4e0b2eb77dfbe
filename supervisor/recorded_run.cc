#include "supervisor/recorded_run.h"

#include <utility>

namespace isoscope {

RecordedRun RunRecorded(std::shared_ptr<const Policy> policy,
                        SupervisorOptions options, Backend& backend,
                        const Workload& workload, Store& store) {
  options.on_started = [&store](RunResult& run) { return store.Begin(run); };
  Supervisor supervisor(std::move(policy), std::move(options));
  RunResult failed;
  RecordedRun recorded{supervisor.Run(backend, workload, &failed), Status{}};
  if (recorded.run) {
    recorded.recorded = store.Complete(*recorded.run);
  } else if (failed.id != 0) {
    recorded.recorded = store.Complete(failed);
  }
  return recorded;
}

}  // namespace isoscope
