// What a spawned child does before its exec that only the child can do:
// entering its cgroup v1 hierarchies itself (SpawnOptions::
// join_cgroup_tasks), and a failure there reaching the caller by name.
#include "backends/process/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/unique_fd.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;

struct Pipe {
  UniqueFd read;
  UniqueFd write;
  static Pipe Make() {
    int fds[2] = {-1, -1};
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

class ChildProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    null_.Reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(null_.valid());
    options_.stdio = {null_.get(), null_.get(), null_.get()};
  }
  static Workload True() { return {"/bin/true", {"/bin/true"}, {}, "/"}; }

  UniqueFd null_;
  SpawnOptions options_;
};

std::string ReadAll(int fd) {
  std::string text;
  char buffer[64];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

// A v1 `tasks` file takes "0" for "the writing thread": each given file
// gets exactly that, once, before the exec.
TEST_F(ChildProcessTest, WritesZeroToEachTasksFileBeforeItsExec) {
  Pipe first = Pipe::Make();
  Pipe second = Pipe::Make();
  options_.join_cgroup_tasks = {first.write.get(), second.write.get()};
  auto child = ChildProcess::Spawn(True(), options_);
  ASSERT_TRUE(child.has_value()) << child.error().ToString();
  first.write.Reset();
  second.write.Reset();
  // Spawn returned after the exec, so the writes were made; the child's
  // copies closed at it.
  EXPECT_EQ(ReadAll(first.read.get()), "0");
  EXPECT_EQ(ReadAll(second.read.get()), "0");
}

// A join that fails ends the child before anything else, and the error
// names the step, also when the child is gone before its release.
TEST_F(ChildProcessTest, AFailedJoinIsReportedByName) {
  UniqueFd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(full.valid());
  options_.join_cgroup_tasks = {full.get()};
  auto spawned = ChildProcess::Spawn(True(), options_);
  ASSERT_FALSE(spawned.has_value());
  EXPECT_THAT(spawned.error().ToString(),
              HasSubstr("joining the run's cgroup v1 hierarchies"));
  EXPECT_EQ(spawned.error().sys_errno(), ENOSPC);

  options_.wait_for_release = true;
  auto waiting = ChildProcess::Spawn(True(), options_);
  ASSERT_TRUE(waiting.has_value()) << waiting.error().ToString();
  // The child has failed and exited before it is released.
  pollfd exited{waiting->pidfd(), POLLIN, 0};
  ASSERT_EQ(::poll(&exited, 1, 10000), 1);
  Status released = waiting->Release();
  ASSERT_FALSE(released.has_value());
  EXPECT_THAT(released.error().ToString(),
              HasSubstr("joining the run's cgroup v1 hierarchies"));
  EXPECT_EQ(released.error().sys_errno(), ENOSPC);
}

}  // namespace
}  // namespace isoscope
