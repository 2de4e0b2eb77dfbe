// Test helper: a forked child whose memory, fds and cwd the tracee_memory
// and syscall_paths tests look at. fork copies the address space, so an
// address the test takes before Start (a static buffer, a mapping) names the
// same bytes in the child; MAP_SHARED mappings stay shared, which lets a test
// change what the child "holds" after it started.
#ifndef ISOSCOPE_BACKENDS_PROCESS_TRACEE_TEST_CHILD_H_
#define ISOSCOPE_BACKENDS_PROCESS_TRACEE_TEST_CHILD_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <functional>
#include <utility>

#include "base/unique_fd.h"

namespace isoscope::testing {

class TraceeTestChild {
 public:
  // What the child's setup reports back (fd numbers, thread ids).
  using Report = std::array<int64_t, 8>;

  // Forks; the child runs `setup`, sends its report, waits for Go(), then
  // exits with what `finish` returns (0 without one). The child is killed
  // if the test process dies.
  static TraceeTestChild Start(const std::function<Report()>& setup = {},
                               const std::function<int()>& finish = {}) {
    TraceeTestChild child;
    int ready[2];
    int go[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) return child;
    if (::pipe2(go, O_CLOEXEC) != 0) {
      ::close(ready[0]);
      ::close(ready[1]);
      return child;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::close(ready[0]);
      ::close(go[1]);
      Report report{};
      if (setup) report = setup();
      if (::write(ready[1], &report, sizeof(report)) !=
          static_cast<ssize_t>(sizeof(report))) {
        ::_exit(120);
      }
      char byte;
      if (::read(go[0], &byte, 1) != 1) ::_exit(121);
      ::_exit(finish ? finish() : 0);
    }
    ::close(ready[1]);
    ::close(go[0]);
    child.pid_ = pid;
    child.ready_.Reset(ready[0]);
    child.go_.Reset(go[1]);
    if (pid < 0) return child;
    // The whole report arrives in one write (far below PIPE_BUF), or none
    // when the child died first.
    child.ok_ =
        ::read(child.ready_.get(), &child.report_, sizeof(child.report_)) ==
        static_cast<ssize_t>(sizeof(child.report_));
    return child;
  }

  TraceeTestChild(TraceeTestChild&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        ready_(std::move(other.ready_)),
        go_(std::move(other.go_)),
        ok_(other.ok_),
        report_(other.report_) {}
  TraceeTestChild& operator=(TraceeTestChild&&) = delete;
  TraceeTestChild(const TraceeTestChild&) = delete;
  TraceeTestChild& operator=(const TraceeTestChild&) = delete;

  ~TraceeTestChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Whether the child started and finished its setup.
  bool ok() const { return ok_; }
  pid_t pid() const { return pid_; }
  const Report& report() const { return report_; }

  // Lets the child go on to `finish`.
  void Go() {
    char byte = 'g';
    if (::write(go_.get(), &byte, 1) != 1) ok_ = false;
  }

  // After Go(): blocks until the child execs or exits (the report pipe's
  // write end is close-on-exec, so EOF means either).
  void WaitForExecOrExit() {
    char byte;
    while (::read(ready_.get(), &byte, 1) > 0) {
    }
  }

  // Go(), then reaps the child: its exit code, or 128 + the signal.
  int Finish() {
    Go();
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }

 private:
  TraceeTestChild() = default;
  pid_t pid_ = -1;
  UniqueFd ready_;
  UniqueFd go_;
  bool ok_ = false;
  Report report_{};
};

}  // namespace isoscope::testing

#endif  // ISOSCOPE_BACKENDS_PROCESS_TRACEE_TEST_CHILD_H_
