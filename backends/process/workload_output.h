// The workload's stdout and stderr as pipes the backend reads, shared by the
// backends that run the workload as a host process.
#ifndef ISOSCOPE_BACKENDS_PROCESS_WORKLOAD_OUTPUT_H_
#define ISOSCOPE_BACKENDS_PROCESS_WORKLOAD_OUTPUT_H_

#include <chrono>
#include <optional>

#include "base/error.h"
#include "base/unique_fd.h"
#include "supervisor/event.h"

namespace isoscope {

// Reads what is there (one chunk) as an OutputEvent; nullopt and `fd`
// closed at EOF.
Result<std::optional<Event>> ReadOutputEvent(UniqueFd& fd, OutputStream stream);

// Milliseconds until `deadline` for poll, never negative, capped by `cap_ms`
// (-1: no cap; a deadline of time_point::max() gives the cap).
int PollTimeoutMs(std::chrono::steady_clock::time_point deadline,
                  int cap_ms = -1);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_WORKLOAD_OUTPUT_H_
