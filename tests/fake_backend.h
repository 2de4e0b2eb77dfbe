// A scripted backend: replays a list of steps and records what the
// supervisor asked of it, so the whole loop, policy and result path can be
// tested without privileges or processes.
#ifndef ISOSCOPE_TESTS_FAKE_BACKEND_H_
#define ISOSCOPE_TESTS_FAKE_BACKEND_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "supervisor/backend.h"

namespace isoscope::testing {

// Step: block until the loop's deadline or interrupt, then wake with nothing.
struct BlockUntilWoken {};
// Step: NextEvent fails with this error.
struct FailNextEvent {
  Error error;
};

class FakeBackend : public Backend {
 public:
  using Step = std::variant<Event, BlockUntilWoken, FailNextEvent>;

  explicit FakeBackend(std::vector<Step> script) : script_(std::move(script)) {}

  std::string_view name() const override { return "fake"; }
  ProbeResult Probe() const override { return probe; }
  // A scripted backend execs nothing: by default the supervisor's decision
  // of the first exec is left to the tests that ask for it.
  bool AppliesPolicy() const override { return applies_policy; }
  Status Start(const Workload& workload, const CompiledPlan& plan) override;
  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) override;
  Status Resolve(const Event& event, const Verdict& verdict) override;
  void Kill() override;

  // Set before the run.
  ProbeResult probe{true, ""};
  bool applies_policy = false;
  std::optional<Error> start_error;
  std::optional<Error> resolve_error;
  // After Kill, the backend reports this exit (killed by SIGKILL).
  ExitEvent exit_after_kill{.signaled = true, .signal = 9};
  // A broken backend that never reports the exit of a killed workload.
  bool ignore_kill = false;

  // Inspected after the run.
  std::optional<Workload> started_workload;
  std::vector<Disposition> plan_for_getpid;  // plan seen at Start
  std::vector<std::pair<Event, Verdict>> resolved;
  int kill_calls = 0;

 private:
  std::vector<Step> script_;
  size_t next_ = 0;
  bool exit_sent_ = false;
};

// A workload that makes `calls` syscalls, each as the supervisor's loop
// would get it from a backend that traps it (undecided), the numbers taken
// in turn from `numbers`, then exits with status 0. Nothing is kept per call,
// so a test or benchmark can send millions through the loop in little
// memory.
class SyscallFloodBackend : public Backend {
 public:
  SyscallFloodBackend(uint64_t calls, std::vector<int> numbers)
      : calls_(calls), numbers_(std::move(numbers)) {}

  std::string_view name() const override { return "flood"; }
  ProbeResult Probe() const override { return {true, ""}; }
  bool AppliesPolicy() const override { return false; }
  Status Start(const Workload&, const CompiledPlan&) override { return {}; }
  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) override;
  Status Resolve(const Event&, const Verdict&) override { return {}; }
  void Kill() override { killed_ = true; }

 private:
  uint64_t calls_;
  std::vector<int> numbers_;
  uint64_t sent_ = 0;
  bool killed_ = false;
};

}  // namespace isoscope::testing

#endif  // ISOSCOPE_TESTS_FAKE_BACKEND_H_
