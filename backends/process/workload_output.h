// The workload's stdout and stderr as pipes the backend reads, shared by the
// backends that run the workload as a host process.
#ifndef ISOSCOPE_BACKENDS_PROCESS_WORKLOAD_OUTPUT_H_
#define ISOSCOPE_BACKENDS_PROCESS_WORKLOAD_OUTPUT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "backends/process/child_process.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "supervisor/event.h"

namespace isoscope {

// The workload's stdio: /dev/null as stdin and a pipe each for stdout and
// stderr (all close-on-exec here; the child dups them to 0, 1 and 2). The
// backend keeps the read ends and drops the rest once the child has them.
struct WorkloadPipes {
  UniqueFd stdin_null;
  UniqueFd stdout_read;
  UniqueFd stdout_write;
  UniqueFd stderr_read;
  UniqueFd stderr_write;

  static Result<WorkloadPipes> Create();
  ChildStdio stdio() const {
    return {stdin_null.get(), stdout_write.get(), stderr_write.get()};
  }
};

// Reads what is there (one chunk) as an OutputEvent; nullopt and `fd`
// closed at EOF.
Result<std::optional<Event>> ReadOutputEvent(UniqueFd& fd, OutputStream stream);

// The output ready on the pipes after a poll that watched `out` and `err`
// (their revents): one chunk as an OutputEvent, or nullopt when there was
// none (a pipe at EOF is closed).
Result<std::optional<Event>> ReadReadyOutput(int16_t out_revents,
                                             int16_t err_revents, UniqueFd& out,
                                             UniqueFd& err);

// One step of reading the pipes to EOF after the workload ended: a chunk of
// output; nullopt when the interrupt fd became readable; or, once both pipes
// are closed (EOF, or `deadline` passed and they were closed whatever held
// them), `exit`, with `*done` set: the run's last event. `on_idle` (may be
// empty) runs each time `idle_ms` pass without output: something outside
// the run still holds a pipe.
Result<std::optional<Event>> DrainOutput(
    UniqueFd& out, UniqueFd& err,
    std::chrono::steady_clock::time_point deadline, int interrupt_fd,
    int idle_ms, const std::function<void()>& on_idle, const ExitEvent& exit,
    bool* done);

// Milliseconds until `deadline` for poll, never negative, capped by `cap_ms`
// (-1: no cap; a deadline of time_point::max() gives the cap).
int PollTimeoutMs(std::chrono::steady_clock::time_point deadline,
                  int cap_ms = -1);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_WORKLOAD_OUTPUT_H_
