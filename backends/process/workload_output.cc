#include "backends/process/workload_output.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace isoscope {
namespace {

constexpr size_t kReadChunk = size_t{64} * 1024;

}  // namespace

Result<std::optional<Event>> ReadOutputEvent(UniqueFd& fd,
                                             OutputStream stream) {
  std::string bytes(kReadChunk, '\0');
  ssize_t n;
  do {
    n = ::read(fd.get(), bytes.data(), bytes.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return FailErrno("reading the workload's output", errno);
  if (n == 0) {
    fd.Reset();
    return std::optional<Event>();
  }
  bytes.resize(static_cast<size_t>(n));
  return std::optional<Event>(OutputEvent{stream, std::move(bytes)});
}

int PollTimeoutMs(std::chrono::steady_clock::time_point deadline, int cap_ms) {
  using Clock = std::chrono::steady_clock;
  if (deadline == Clock::time_point::max()) return cap_ms;
  auto ms =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now())
          .count();
  ms = std::max<decltype(ms)>(ms, 0);
  if (cap_ms >= 0) ms = std::min<decltype(ms)>(ms, cap_ms);
  return static_cast<int>(ms);
}

}  // namespace isoscope
