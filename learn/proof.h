// How `isoscope learn` reads one run of its proof: the workload run again
// under the learned policy on one backend, against the run it learned from.
#ifndef ISOSCOPE_LEARN_PROOF_H_
#define ISOSCOPE_LEARN_PROOF_H_

#include <optional>
#include <string>

#include "learn/observation.h"
#include "supervisor/event_sink.h"
#include "supervisor/run_result.h"

namespace isoscope {

// The last fault of a run, as its events go by (an observer, which sees
// each event before the loop decides it: its verdict is not set; a recorded
// run streams its events to the store, not into its RunResult).
class LastFault : public EventSink {
 public:
  void Append(const Event& event) override;
  const std::optional<FaultEvent>& fault() const { return fault_; }

 private:
  std::optional<FaultEvent> fault_;
};

struct ProofOutcome {
  enum class Kind {
    kSame,     // the same stdout and exit as the learned run
    kDiffers,  // another stdout or exit: the policy's doing, or unknown
    // The backend could not run the program, whatever the policy: it
    // proves nothing either way (`reason` says why).
    kNotRun,
  };
  Kind kind = Kind::kSame;
  bool same_stdout = true;
  bool same_exit = true;
  std::string reason;  // kNotRun
};

// `proof` against `learned` (the first observed run), given what every
// observed run saw and the proof run's last fault. A run is kNotRun when it
// ended of SIGILL raised at a
// valid instruction other than ud0, ud1 or ud2 (its last fault) and no
// rule ended it (a fault the policy kills is a violation naming the rule),
// while no observed run had such a fault: the backend's CPU or hypervisor
// cannot execute that instruction (kvm on a host without hardware
// virtualization stops at the first SSE instruction), which no policy rule
// decides. Decided on the recorded termination and fault event, never on
// their text.
ProofOutcome ClassifyProof(const RunResult& learned,
                           const Observation& observation,
                           const RunResult& proof,
                           const std::optional<FaultEvent>& last_fault);

}  // namespace isoscope

#endif  // ISOSCOPE_LEARN_PROOF_H_
