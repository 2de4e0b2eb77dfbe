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

  // A process that has ended (reaped: its pid is free).
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ProcessIdentity ended = *self;
  ended.pid = child;
  auto child_start = ProcessStartTime(child);
  ASSERT_TRUE(child_start.has_value());
  ended.start_time = *child_start;
  EXPECT_EQ(LivenessOf(ended), Liveness::kAlive);  // a zombie still runs
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_EQ(LivenessOf(ended), Liveness::kGone);
}

}  // namespace
}  // namespace isoscope
