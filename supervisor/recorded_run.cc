#include "supervisor/recorded_run.h"

#include <utility>

namespace isoscope {

RecordedRun RunRecorded(std::shared_ptr<const Policy> policy,
                        SupervisorOptions options, Backend& backend,
                        const Workload& workload, Store& store) {
  Store::EventWriter events(store);
  options.on_started = [&store, &events](RunResult& run) -> Status {
    if (auto begun = store.Begin(run); !begun) return begun;
    events.Start(run.id);
    return {};
  };
  options.event_sink = &events;
  Supervisor supervisor(std::move(policy), std::move(options));
  RunResult failed;
  RecordedRun recorded{supervisor.Run(backend, workload, &failed), Status{}};
  const RunResult* ended = recorded.run ? &*recorded.run : nullptr;
  if (!recorded.run && failed.id != 0) ended = &failed;
  if (ended == nullptr) return recorded;
  // The last batch of events first: the row says the run ended only once
  // everything it kept is in the store.
  Status streamed = events.Finish();
  recorded.recorded = store.Complete(*ended);
  if (!streamed) recorded.recorded = std::move(streamed);
  return recorded;
}

}  // namespace isoscope
