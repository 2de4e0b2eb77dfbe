#include "backends/process/post_mortem_write.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include <gtest/gtest.h>

#include "base/unique_fd.h"

namespace isoscope {
namespace {

struct Pipe {
  UniqueFd read;
  UniqueFd write;
  static Pipe Make() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

// What `fd` yields within `timeout_ms`: a byte, EOF (nullopt with *eof), or
// nothing yet (nullopt).
std::optional<char> ReadWithin(int fd, int timeout_ms, bool* eof) {
  *eof = false;
  pollfd readable{fd, POLLIN, 0};
  if (::poll(&readable, 1, timeout_ms) != 1) return std::nullopt;
  char byte = 0;
  const ssize_t n = ::read(fd, &byte, 1);
  if (n == 1) return byte;
  *eof = n == 0;
  return std::nullopt;
}

// A process that arms a write of 'k' to `out`, says its watcher's pid on
// `report` and waits to be killed.
pid_t StartArmingProcess(int out, int report) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setpgid(0, 0);  // a group of its own, as a shell gives a job
  // Gone with the test, should an assertion end it first (its watcher then
  // writes to a pipe nobody reads and exits).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto armed = PostMortemWrite::Arm(out, 'k');
  const pid_t watcher = armed ? armed->watcher_pid() : -1;
  if (::write(report, &watcher, sizeof watcher) != sizeof watcher) _exit(1);
  while (true) ::pause();
}

TEST(PostMortemWriteTest, TheWriteIsMadeOnceTheProcessIsSigkilled) {
  Pipe out = Pipe::Make();
  Pipe report = Pipe::Make();
  const pid_t process = StartArmingProcess(out.write.get(), report.write.get());
  ASSERT_GT(process, 0);
  ::setpgid(process, process);  // before the group is signalled
  pid_t watcher = -1;
  ASSERT_EQ(::read(report.read.get(), &watcher, sizeof watcher),
            static_cast<ssize_t>(sizeof watcher));
  ASSERT_GT(watcher, 0) << "arming failed";
  out.write.Reset();  // the process (and its watcher) hold the only copy

  // Nothing is written while the process lives.
  bool eof = false;
  EXPECT_EQ(ReadWithin(out.read.get(), 100, &eof), std::nullopt);
  EXPECT_FALSE(eof);
  // The watcher left the process's group: a SIGKILL to the group, as a
  // shell sends to a job, does not reach it.
  EXPECT_EQ(::getpgid(watcher), watcher);
  EXPECT_NE(::getpgid(process), watcher);

  ASSERT_EQ(::getpgid(process), process);
  ASSERT_EQ(::kill(-process, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(process, &status, 0), process);
  ASSERT_TRUE(WIFSIGNALED(status));

  EXPECT_EQ(ReadWithin(out.read.get(), 2000, &eof), 'k');
  // Then the watcher is gone: its copy of the write end closes with it.
  EXPECT_EQ(ReadWithin(out.read.get(), 2000, &eof), std::nullopt);
  EXPECT_TRUE(eof) << "the watcher outlived its write";
}

TEST(PostMortemWriteTest, ADisarmedWriteIsNeverMadeAndItsWatcherIsReaped) {
  Pipe out = Pipe::Make();
  pid_t watcher = -1;
  {
    auto armed = PostMortemWrite::Arm(out.write.get(), 'k');
    ASSERT_TRUE(armed.has_value()) << armed.error().ToString();
    watcher = armed->watcher_pid();
    ASSERT_GT(watcher, 0);
    // Moved, it still guards the same write.
    PostMortemWrite moved = std::move(*armed);
    EXPECT_EQ(moved.watcher_pid(), watcher);
    EXPECT_EQ(::kill(watcher, 0), 0);
  }
  // Killed and reaped: no zombie left behind.
  EXPECT_EQ(::kill(watcher, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  out.write.Reset();
  bool eof = false;
  EXPECT_EQ(ReadWithin(out.read.get(), 1000, &eof), std::nullopt);
  EXPECT_TRUE(eof) << "the disarmed write was made";
}

TEST(PostMortemWriteTest, WaitsForChildrenDoNotSeeTheWatcher) {
  // In a process of its own, which has no other child.
  const pid_t process = ::fork();
  ASSERT_GE(process, 0);
  if (process == 0) {
    Pipe out = Pipe::Make();
    auto armed = PostMortemWrite::Arm(out.write.get(), 'k');
    if (!armed) _exit(2);
    siginfo_t info{};
    const bool seen =
        ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
    const bool reaped = ::waitpid(-1, nullptr, WNOHANG) > 0;
    _exit(seen || reaped ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(process, &status, 0), process);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << (WEXITSTATUS(status) == 2 ? "arming failed"
                                   : "a wait for children saw the watcher");
}

}  // namespace
}  // namespace isoscope
