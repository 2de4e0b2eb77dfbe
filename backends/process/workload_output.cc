#include "backends/process/workload_output.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace isoscope {

Result<WorkloadPipes> WorkloadPipes::Create() {
  WorkloadPipes pipes;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return FailErrno("pipe2", errno);
  pipes.stdout_read.Reset(out[0]);
  pipes.stdout_write.Reset(out[1]);
  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0) return FailErrno("pipe2", errno);
  pipes.stderr_read.Reset(err[0]);
  pipes.stderr_write.Reset(err[1]);
  pipes.stdin_null.Reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!pipes.stdin_null) return FailErrno("open /dev/null", errno);
  return pipes;
}
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

Result<std::optional<Event>> ReadReadyOutput(int16_t out_revents,
                                             int16_t err_revents, UniqueFd& out,
                                             UniqueFd& err) {
  if (out_revents != 0) {
    auto event = ReadOutputEvent(out, OutputStream::kStdout);
    if (!event || event->has_value()) return event;
  }
  if (err_revents != 0) return ReadOutputEvent(err, OutputStream::kStderr);
  return std::nullopt;
}

Result<std::optional<Event>> DrainOutput(
    UniqueFd& out, UniqueFd& err,
    std::chrono::steady_clock::time_point deadline, int interrupt_fd,
    int idle_ms, const std::function<void()>& on_idle, const ExitEvent& exit,
    bool* done) {
  while (out || err) {
    if (std::chrono::steady_clock::now() >= deadline) {
      out.Reset();
      err.Reset();
      break;
    }
    pollfd fds[3] = {
        {out.get(), POLLIN, 0},
        {err.get(), POLLIN, 0},
        {interrupt_fd, POLLIN, 0},
    };
    int ready = ::poll(fds, 3, PollTimeoutMs(deadline, idle_ms));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return FailErrno("poll", errno);
    }
    if (ready == 0) {
      if (on_idle) on_idle();
      continue;
    }
    auto event = ReadReadyOutput(fds[0].revents, fds[1].revents, out, err);
    if (!event || event->has_value()) return event;
    if (fds[2].revents != 0) return std::nullopt;  // interrupted
  }
  *done = true;
  return Event(exit);
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
