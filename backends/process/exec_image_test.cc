#include "backends/process/exec_image.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/io.h"
#include "base/temp_dir.h"

namespace isoscope {
namespace {

using ::testing::EndsWith;
using ::testing::Optional;

// This test program is dynamically linked: its image is itself and the
// dynamic loader.
TEST(ExecImageTest, DynamicProgramHasItsLoader) {
  const ExecImage image = ReadExecImage(::getpid());
  auto self = ReadLinkText("/proc/self/exe");
  ASSERT_TRUE(self.has_value()) << self.error().ToString();
  EXPECT_EQ(image.program, *self);
  ASSERT_TRUE(image.interpreter.has_value());
  EXPECT_THAT(*image.interpreter, EndsWith("/ld-linux-x86-64.so.2"));
  EXPECT_TRUE(std::filesystem::exists(*image.interpreter));
}

// A `#!` script: the kernel runs its interpreter, which is what the
// process's image is (the script itself is only an argument).
TEST(ExecImageTest, ScriptImageIsItsInterpreter) {
  auto dir = TempDir::Create("isoscope-exec-image-test-");
  ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
  const std::filesystem::path script = dir->path() / "script";
  std::ofstream(script) << "#!/usr/bin/tail -f\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execl(script.c_str(), script.c_str(), nullptr);
    ::_exit(127);
  }
  ExecImage image;
  for (int i = 0; i < 200; ++i) {  // until the exec is done
    image = ReadExecImage(child);
    if (image.program == "/usr/bin/tail") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(image.program, "/usr/bin/tail");
  ASSERT_TRUE(image.interpreter.has_value());
  EXPECT_THAT(*image.interpreter, EndsWith("/ld-linux-x86-64.so.2"));
}

// A process that is gone: the magic link's own name, which no policy
// lists, never an empty or made-up path.
TEST(ExecImageTest, GoneProcessIsNamedByItsLink) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const ExecImage image = ReadExecImage(child);
  EXPECT_EQ(image.program, "/proc/self/exe");
  EXPECT_THAT(image.interpreter, Optional(std::string("/proc/self/map_files")));
}

}  // namespace
}  // namespace isoscope
