#include "supervisor/cli/interrupt.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace isoscope::cli {

Result<InterruptSignals> InterruptSignals::Install() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  sigset_t previous;
  if (::sigprocmask(SIG_BLOCK, &set, &previous) != 0) {
    return FailErrno("blocking interrupt signals", errno);
  }
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    return FailErrno("signalfd", err);
  }
  return InterruptSignals(UniqueFd(fd), previous);
}

InterruptSignals::InterruptSignals(InterruptSignals&& other) noexcept
    : fd_(std::move(other.fd_)),
      previous_(other.previous_),
      active_(std::exchange(other.active_, false)) {}

InterruptSignals::~InterruptSignals() {
  if (!active_) return;
  // Consume what arrived, so unblocking does not deliver it now that the
  // run it was meant for has been stopped and recorded.
  signalfd_siginfo info;
  while (::read(fd_.get(), &info, sizeof info) == sizeof info) {
  }
  ::sigprocmask(SIG_SETMASK, &previous_, nullptr);
}

}  // namespace isoscope::cli
