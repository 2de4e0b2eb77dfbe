#include "backends/seccomp/seccomp_notifier.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/seccomp/seccomp_program.h"
#include "backends/seccomp/seccomp_test_support.h"

namespace isoscope {
namespace {

using seccomp_testing::ChildOptions;
using seccomp_testing::ChildRun;
using seccomp_testing::FinishChild;
using seccomp_testing::MustBuild;
using seccomp_testing::PlanOf;
using seccomp_testing::Raw;
using seccomp_testing::Record;
using seccomp_testing::RunInChild;
using seccomp_testing::StartChild;
using seccomp_testing::StartedChild;
using ::testing::ElementsAre;

// getppid is inspected (log): it goes to the listener.
SeccompProgram WatchedGetppid() {
  return MustBuild(
      PlanOf("allow", "    - {id: watched, syscalls: [getppid], action: log}"),
      SeccompRouting{});
}

void ThreeGetppids() {
  for (int i = 0; i < 3; ++i) {
    Record(Raw(::syscall(SYS_getppid, 1, 2, 3, 4, 5, 6)));
  }
}

// Answers the i-th notification with an error, a value, then Continue.
ChildOptions ErrorValueContinue(std::vector<bool>* valid_before,
                                std::vector<bool>* valid_after) {
  ChildOptions options;
  options.on_notification = [=, count = 0](
                                SeccompNotifier& notifier,
                                const SeccompNotification& n) mutable {
    valid_before->push_back(notifier.IdValid(n.id));
    Status answered;
    switch (count++) {
      case 0:
        answered = notifier.ReturnError(n.id, EPERM);
        break;
      case 1:
        answered = notifier.ReturnValue(n.id, 42);
        break;
      default:
        answered = notifier.Continue(n.id);
        break;
    }
    EXPECT_TRUE(answered.has_value()) << answered.error().ToDebugString();
    valid_after->push_back(notifier.IdValid(n.id));
  };
  return options;
}

void ExpectErrorValueContinue(const ChildRun& run,
                              const std::vector<bool>& valid_before,
                              const std::vector<bool>& valid_after) {
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  // Continue ran the real getppid: the test process is the parent.
  EXPECT_THAT(run.values, ElementsAre(-EPERM, 42, ::getpid()))
      << run.Describe();
  ASSERT_EQ(run.notifications.size(), 3u) << run.Describe();
  for (const SeccompNotification& n : run.notifications) {
    EXPECT_EQ(n.nr, SYS_getppid);
    EXPECT_EQ(n.arch, AUDIT_ARCH_X86_64);
    EXPECT_EQ(n.pid, run.pid);
    EXPECT_NE(n.instruction_pointer, 0u);
    EXPECT_THAT(n.args, ElementsAre(1, 2, 3, 4, 5, 6));
  }
  EXPECT_NE(run.notifications[0].id, run.notifications[1].id);
  EXPECT_THAT(valid_before, ElementsAre(true, true, true));
  EXPECT_THAT(valid_after, ElementsAre(false, false, false));
}

TEST(SeccompNotifierTest, AnswersWithErrorValueAndContinue) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  std::vector<bool> valid_before, valid_after;
  ChildRun run = RunInChild(WatchedGetppid(), ThreeGetppids,
                            ErrorValueContinue(&valid_before, &valid_after));
  ExpectErrorValueContinue(run, valid_before, valid_after);
}

// Whether the running kernel is at least major.minor.
bool KernelAtLeast(int major, int minor) {
  utsname name{};
  if (::uname(&name) != 0) return false;
  int got_major = 0, got_minor = 0;
  if (std::sscanf(name.release, "%d.%d", &got_major, &got_minor) != 2) {
    return false;
  }
  return got_major > major || (got_major == major && got_minor >= minor);
}

TEST(SeccompNotifierTest, AnswersTheSameWithSyncWakeUp) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  std::vector<bool> valid_before, valid_after;
  ChildOptions options = ErrorValueContinue(&valid_before, &valid_after);
  options.sync_wake_up = true;
  ChildRun run = RunInChild(WatchedGetppid(), ThreeGetppids, options);
  // Linux 6.6 added the flag; before it EnableSyncWakeUp reports false and
  // the notifier works as before.
  EXPECT_EQ(run.sync_wake_up, KernelAtLeast(6, 6));
  ExpectErrorValueContinue(run, valid_before, valid_after);
}

UniqueFd MemfdWith(const char* text) {
  UniqueFd fd(::memfd_create("isoscope-addfd", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::write(fd.get(), text, std::strlen(text)),
            static_cast<ssize_t>(std::strlen(text)));
  return fd;
}

// In the child: the syscall's result is an fd; record it, whether it reads
// "isoscope" and whether it is close-on-exec.
void GetppidAndReadTheFd() {
  int64_t fd = Raw(::syscall(SYS_getppid));
  Record(fd);
  char buffer[8] = {};
  Record(::pread(static_cast<int>(fd), buffer, sizeof buffer, 0) == 8 &&
         std::memcmp(buffer, "isoscope", 8) == 0);
  Record((::fcntl(static_cast<int>(fd), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST(SeccompNotifierTest, AddFdSentAsTheResponse) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  UniqueFd memfd = MemfdWith("isoscope");
  std::vector<int> remote;
  ChildOptions options;
  options.on_notification = [&](SeccompNotifier& notifier,
                                const SeccompNotification& n) {
    auto added = notifier.AddFd(n.id, memfd.get(), O_CLOEXEC,
                                /*send_as_response=*/true);
    ASSERT_TRUE(added.has_value()) << added.error().ToDebugString();
    remote.push_back(*added);
    EXPECT_FALSE(notifier.IdValid(n.id));  // answered by the ADDFD
  };
  ChildRun run = RunInChild(WatchedGetppid(), GetppidAndReadTheFd, options);
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  ASSERT_EQ(remote.size(), 1u);
  EXPECT_GE(remote[0], 0);
  EXPECT_THAT(run.values, ElementsAre(remote[0], 1, 1)) << run.Describe();
}

TEST(SeccompNotifierTest, AddFdThenReturnValue) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  UniqueFd memfd = MemfdWith("isoscope");
  ChildOptions options;
  options.on_notification = [&](SeccompNotifier& notifier,
                                const SeccompNotification& n) {
    auto added = notifier.AddFd(n.id, memfd.get(), 0,
                                /*send_as_response=*/false);
    ASSERT_TRUE(added.has_value()) << added.error().ToDebugString();
    EXPECT_TRUE(notifier.IdValid(n.id));  // still waiting for an answer
    Status answered = notifier.ReturnValue(n.id, *added);
    EXPECT_TRUE(answered.has_value()) << answered.error().ToDebugString();
  };
  ChildRun run = RunInChild(WatchedGetppid(), GetppidAndReadTheFd, options);
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  ASSERT_EQ(run.values.size(), 3u) << run.Describe();
  EXPECT_GE(run.values[0], 0);
  EXPECT_EQ(run.values[1], 1);
  EXPECT_EQ(run.values[2], 0);  // no O_CLOEXEC asked for
}

// Waits (up to 10 s) until `pid` has exited, without reaping it.
bool WaitUntilDead(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0;
}

TEST(SeccompNotifierTest, AnswersToAVanishedThreadAreNotErrors) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  std::vector<Status> answers;
  Result<int> added = 0;
  ChildOptions options;
  options.on_notification = [&](SeccompNotifier& notifier,
                                const SeccompNotification& n) {
    ::kill(n.pid, SIGKILL);
    ASSERT_TRUE(WaitUntilDead(n.pid));
    EXPECT_FALSE(notifier.IdValid(n.id));
    answers.push_back(notifier.ReturnError(n.id, EPERM));
    answers.push_back(notifier.ReturnValue(n.id, 1));
    answers.push_back(notifier.Continue(n.id));
    added = notifier.AddFd(n.id, 0, 0, /*send_as_response=*/true);
  };
  ChildRun run = RunInChild(WatchedGetppid(), ThreeGetppids, options);
  EXPECT_THAT(run.term_signal, ::testing::Optional(SIGKILL)) << run.Describe();
  ASSERT_EQ(answers.size(), 3u);
  for (const Status& answer : answers) {
    EXPECT_TRUE(answer.has_value()) << answer.error().ToDebugString();
  }
  // AddFd has a result to give, so it reports that nobody took the fd.
  ASSERT_FALSE(added.has_value());
  EXPECT_EQ(added.error().sys_errno(), ENOENT);
}

TEST(SeccompNotifierTest, ReceiveOfAVanishedNotificationIsNullopt) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  StartedChild child = StartChild(WatchedGetppid(), ThreeGetppids);
  ASSERT_TRUE(child.notifier.has_value());
  // The child now waits in its first getppid: pending, not yet received.
  pollfd pending{child.notifier->fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&pending, 1, 10000), 1);
  ::kill(child.pid, SIGKILL);
  ASSERT_TRUE(WaitUntilDead(child.pid));
  auto received = child.notifier->Receive();
  ASSERT_TRUE(received.has_value()) << received.error().ToDebugString();
  EXPECT_FALSE(received->has_value());
  ChildRun run = FinishChild(child);
  EXPECT_THAT(run.term_signal, ::testing::Optional(SIGKILL)) << run.Describe();
}

// A notification waiting to be received is seen without waiting; a streak
// takes at most kMaxInARow of them between two full polls of a loop.
TEST(SeccompNotifierTest, ReadyNowSeesAWaitingNotificationWithoutWaiting) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  StartedChild child = StartChild(WatchedGetppid(), ThreeGetppids);
  ASSERT_TRUE(child.notifier.has_value());
  SeccompNotifier& notifier = *child.notifier;
  pollfd pending{notifier.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&pending, 1, 10000), 1);
  EXPECT_TRUE(notifier.ReadyNow());
  NotificationStreak streak;
  EXPECT_FALSE(streak.Next(notifier)) << "no notification handled yet";
  streak.Arm();
  for (int i = 0; i < NotificationStreak::kMaxInARow; ++i) {
    EXPECT_TRUE(streak.Next(notifier)) << i;
  }
  EXPECT_FALSE(streak.Next(notifier)) << "more than kMaxInARow in a row";
  streak.End();
  EXPECT_FALSE(streak.Next(notifier)) << "not armed after a full poll";
  streak.Arm();
  EXPECT_TRUE(streak.Next(notifier));
  auto received = notifier.Receive();
  ASSERT_TRUE(received.has_value()) << received.error().ToDebugString();
  ASSERT_TRUE(received->has_value());
  // Received and not answered: nothing else waits.
  EXPECT_FALSE(notifier.ReadyNow());
  EXPECT_FALSE(streak.Next(notifier));
  ::kill(child.pid, SIGKILL);
  ASSERT_TRUE(WaitUntilDead(child.pid));
  EXPECT_FALSE(notifier.ReadyNow());
  ChildRun run = FinishChild(child);
  EXPECT_THAT(run.term_signal, ::testing::Optional(SIGKILL)) << run.Describe();
}

// The range check refuses before anything reaches the kernel: the error
// is the check's own, where a value in range gets the (closed) listener's.
TEST(SeccompNotifierTest, RejectsNonErrnoValues) {
  SeccompNotifier notifier{UniqueFd()};
  for (const int value : {0, -1, 4096}) {
    Status refused = notifier.ReturnError(1, value);
    ASSERT_FALSE(refused.has_value()) << value;
    EXPECT_EQ(refused.error().code(), ErrorCode::kInternal) << value;
    EXPECT_EQ(refused.error().message(),
              std::to_string(value) + " is not an errno value");
  }
  Status in_range = notifier.ReturnError(1, EPERM);
  ASSERT_FALSE(in_range.has_value());
  EXPECT_EQ(in_range.error().sys_errno(), EBADF) << in_range.error().ToString();
}

}  // namespace
}  // namespace isoscope
