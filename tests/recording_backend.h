// Forwards to a real backend and keeps every syscall verdict the loop hands
// it, allowed ones included (the run result keeps only the others): what a
// conformance test compares with Decide.
#ifndef ISOSCOPE_TESTS_RECORDING_BACKEND_H_
#define ISOSCOPE_TESTS_RECORDING_BACKEND_H_

#include <utility>
#include <variant>
#include <vector>

#include "supervisor/backend.h"

namespace isoscope::testing {

class RecordingBackend : public Backend {
 public:
  explicit RecordingBackend(Backend& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  bool AppliesPolicy() const override { return inner_.AppliesPolicy(); }
  ProbeResult Probe() const override { return inner_.Probe(); }
  Status Start(const Workload& workload, const CompiledPlan& plan) override {
    return inner_.Start(workload, plan);
  }
  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) override {
    return inner_.NextEvent(wait);
  }
  Status Resolve(const Event& event, const Verdict& verdict) override {
    if (const auto* call = std::get_if<SyscallEvent>(&event)) {
      resolved.emplace_back(call->request, verdict);
      resolved_pids.push_back(call->pid);
    }
    return inner_.Resolve(event, verdict);
  }
  void Kill() override { inner_.Kill(); }

  std::vector<std::pair<SyscallRequest, Verdict>> resolved;
  std::vector<int> resolved_pids;  // the thread that made resolved[i]

 private:
  Backend& inner_;
};

}  // namespace isoscope::testing

#endif  // ISOSCOPE_TESTS_RECORDING_BACKEND_H_
