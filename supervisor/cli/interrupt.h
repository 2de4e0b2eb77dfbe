// Turns SIGINT, SIGTERM, SIGHUP and SIGQUIT into a readable fd for the
// supervisor's loop, so an interrupted isoscope still kills and records its
// workload instead of dying and leaving it behind.
#ifndef ISOSCOPE_SUPERVISOR_CLI_INTERRUPT_H_
#define ISOSCOPE_SUPERVISOR_CLI_INTERRUPT_H_

#include <signal.h>

#include "base/error.h"
#include "base/unique_fd.h"

namespace isoscope::cli {

class InterruptSignals {
 public:
  // Blocks the signals and opens a signalfd for them; restores on
  // destruction. Children must unblock them (ChildProcess does).
  static Result<InterruptSignals> Install();

  InterruptSignals(InterruptSignals&& other) noexcept;
  InterruptSignals& operator=(InterruptSignals&&) = delete;
  InterruptSignals(const InterruptSignals&) = delete;
  ~InterruptSignals();

  int fd() const { return fd_.get(); }

 private:
  InterruptSignals(UniqueFd fd, sigset_t previous)
      : fd_(std::move(fd)), previous_(previous) {}
  UniqueFd fd_;
  sigset_t previous_;
  bool active_ = true;
};

}  // namespace isoscope::cli

#endif  // ISOSCOPE_SUPERVISOR_CLI_INTERRUPT_H_
