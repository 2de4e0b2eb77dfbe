#include "tests/fake_backend.h"

#include <poll.h>

#include <algorithm>
#include <chrono>

#include "policies/syscalls.h"

namespace isoscope::testing {

Status FakeBackend::Start(const Workload& workload, const CompiledPlan& plan) {
  if (start_error) return tl::unexpected(*start_error);
  started_workload = workload;
  if (auto getpid = SyscallNumber("getpid")) {
    plan_for_getpid.push_back(plan.For(*getpid).disposition);
  }
  return {};
}

Result<std::optional<Event>> FakeBackend::NextEvent(const WaitLimit& wait) {
  if (kill_calls > 0 && !exit_sent_ && !ignore_kill) {
    exit_sent_ = true;
    return Event{exit_after_kill};
  }
  if (next_ >= script_.size()) {
    return Fail(ErrorCode::kInternal, "fake backend script exhausted");
  }
  Step& step = script_[next_++];
  if (auto* failure = std::get_if<FailNextEvent>(&step)) {
    return tl::unexpected(failure->error);
  }
  if (std::holds_alternative<BlockUntilWoken>(step)) {
    using Clock = std::chrono::steady_clock;
    auto remaining =
        wait.deadline == Clock::time_point::max()
            ? std::chrono::milliseconds(-1)
            : std::max(std::chrono::milliseconds(0),
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           wait.deadline - Clock::now()) +
                           std::chrono::milliseconds(1));
    pollfd pfd{.fd = wait.interrupt_fd, .events = POLLIN, .revents = 0};
    ::poll(&pfd, 1, static_cast<int>(remaining.count()));
    return std::optional<Event>();
  }
  Event event = std::get<Event>(step);
  if (std::holds_alternative<ExitEvent>(event)) exit_sent_ = true;
  return std::optional<Event>(std::move(event));
}

Status FakeBackend::Resolve(const Event& event, const Verdict& verdict) {
  if (resolve_error) return tl::unexpected(*resolve_error);
  resolved.emplace_back(event, verdict);
  return {};
}

void FakeBackend::Kill() { ++kill_calls; }

Result<std::optional<Event>> SyscallFloodBackend::NextEvent(const WaitLimit&) {
  if (killed_ || sent_ >= calls_ || numbers_.empty()) {
    return std::optional<Event>(
        Event{ExitEvent{.signaled = killed_, .signal = killed_ ? 9 : 0}});
  }
  SyscallEvent call;
  call.pid = 2;
  call.request.number = numbers_[sent_ % numbers_.size()];
  call.request.args[0] = sent_;
  ++sent_;
  return std::optional<Event>(Event{std::move(call)});
}

}  // namespace isoscope::testing
