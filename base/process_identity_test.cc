#include "base/process_identity.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "base/temp_dir.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;

uint64_t OwnStartTime() {
  // Parsed independently of ProcessStartTime: field 22, counted after the
  // last ')' (field 2, comm, ends there).
  std::ifstream in("/proc/self/stat");
  const std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) fields >> field;
  return std::stoull(field);
}

TEST(ProcessStartTimeTest, OwnProcess) {
  Result<uint64_t> start = ProcessStartTime(::getpid());
  ASSERT_TRUE(start.has_value()) << start.error().ToString();
  EXPECT_EQ(*start, OwnStartTime());
}

TEST(ProcessStartTimeTest, FakeProc) {
  auto dir = TempDir::Create("isoscope-proc-");
  ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
  const fs::path proc = dir->path();
  auto write = [&](const std::string& pid, const std::string& text) {
    fs::create_directories(proc / pid);
    std::ofstream(proc / pid / "stat") << text;
  };
  // A comm with spaces and parentheses must not shift the fields.
  write("10",
        "10 (a) b (c) S 1 10 10 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 "
        "4242 1 2 3\n");
  write("11", "11 (short) S 1 2 3\n");
  write("12", "12 (x) S 1 10 10 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 4x2 1\n");
  write("13", "garbage without parens");

  Result<uint64_t> start = ProcessStartTime(10, proc);
  ASSERT_TRUE(start.has_value()) << start.error().ToString();
  EXPECT_EQ(*start, 4242u);
  for (pid_t pid : {11, 12, 13}) {
    Result<uint64_t> junk = ProcessStartTime(pid, proc);
    ASSERT_FALSE(junk.has_value()) << pid;
    EXPECT_EQ(junk.error().code(), ErrorCode::kSystem) << pid;
  }
  Result<uint64_t> missing = ProcessStartTime(14, proc);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(ProcessStartTime(0, proc).has_value());
}

TEST(LivenessOfPidTest, FakeProc) {
  auto dir = TempDir::Create("isoscope-proc-");
  ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
  const fs::path proc = dir->path();
  // State (field 3), thread count (field 20) and start time (field 22).
  auto write = [&](int pid, char state, int threads, int start) {
    fs::create_directories(proc / std::to_string(pid));
    std::ofstream(proc / std::to_string(pid) / "stat")
        << pid << " (isoscope) " << state
        << " 1 10 10 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 " << threads << " 0 "
        << start << " 1 2 3\n";
  };
  write(10, 'S', 4, 500);  // running
  write(11, 'Z', 1, 500);  // ended, waiting to be reaped
  write(12, 'X', 1, 500);
  // A zombie leader with threads counted: running on after pthread_exit,
  // or threads ended and held by a tracer.
  write(13, 'Z', 3, 500);
  write(14, 'D', 1, 500);
  fs::create_directories(proc / "15");
  std::ofstream(proc / "15/stat") << "15 (isoscope) Z 1 2\n";
  std::ofstream(proc / "16") << "not a directory";

  EXPECT_EQ(LivenessOfPid(10, 500, proc), Liveness::kAlive);
  EXPECT_EQ(LivenessOfPid(10, 501, proc), Liveness::kGone);  // reused pid
  EXPECT_EQ(LivenessOfPid(11, 500, proc), Liveness::kGone);
  EXPECT_EQ(LivenessOfPid(12, 500, proc), Liveness::kGone);
  EXPECT_EQ(LivenessOfPid(13, 500, proc), Liveness::kUnknown);
  EXPECT_EQ(LivenessOfPid(14, 500, proc), Liveness::kAlive);
  EXPECT_EQ(LivenessOfPid(15, 500, proc), Liveness::kUnknown);  // truncated
  EXPECT_EQ(LivenessOfPid(16, 500, proc), Liveness::kUnknown);  // ENOTDIR
  EXPECT_EQ(LivenessOfPid(17, 500, proc), Liveness::kGone);     // no such pid
}

TEST(ProcessIdentityTest, SelfIsAliveAndOthersAreNot) {
  auto self = ProcessIdentity::Self();
  ASSERT_TRUE(self.has_value()) << self.error().ToString();
  EXPECT_EQ(self->pid, ::getpid());
  EXPECT_EQ(self->start_time, OwnStartTime());
  EXPECT_EQ(self->boot_id.size(), 36u) << self->boot_id;
  EXPECT_EQ(LivenessOf(*self), Liveness::kAlive);

  // The same pid started at another time: a reused pid.
  ProcessIdentity reused = *self;
  reused.start_time += 1;
  EXPECT_EQ(LivenessOf(reused), Liveness::kGone);
  // Another boot.
  ProcessIdentity rebooted = *self;
  rebooted.boot_id = "00000000-0000-0000-0000-000000000000";
  EXPECT_EQ(LivenessOf(rebooted), Liveness::kGone);
  // Another pid namespace: its pids mean nothing here.
  ProcessIdentity elsewhere = *self;
  elsewhere.pid_namespace += 1;
  EXPECT_EQ(LivenessOf(elsewhere), Liveness::kUnknown);

  // A child that runs, then ends: a zombie, then reaped (its pid free).
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char byte = 0;
    ::close(gate[1]);
    (void)!::read(gate[0], &byte, 1);  // until the parent closes its end
    _exit(0);
  }
  ::close(gate[0]);
  ProcessIdentity ended = *self;
  ended.pid = child;
  auto child_start = ProcessStartTime(child);
  ASSERT_TRUE(child_start.has_value());
  ended.start_time = *child_start;
  EXPECT_EQ(LivenessOf(ended), Liveness::kAlive);
  ::close(gate[1]);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);
  EXPECT_EQ(LivenessOf(ended), Liveness::kGone);  // a zombie runs nothing
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_EQ(LivenessOf(ended), Liveness::kGone);
}

}  // namespace
}  // namespace isoscope
