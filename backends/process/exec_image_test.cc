#include "backends/process/exec_image.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/exec_args.h"
#include "base/temp_dir.h"

namespace isoscope {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A child that execs `argv` under ptrace and is held at its exec stop (the
// exec done, the image not yet run), as a tracer sees it; killed and
// reaped on destruction.
class StoppedAtExec {
 public:
  explicit StoppedAtExec(std::vector<std::string> argv) {
    // Built before the fork: the child allocates nothing.
    const std::vector<char*> args = ExecArgs(argv);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      (void)::raise(SIGSTOP);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    int status = 0;
    if (pid_ < 0 || ::waitpid(pid_, &status, 0) != pid_ ||
        !WIFSTOPPED(status) ||
        ::ptrace(PTRACE_SETOPTIONS, pid_, nullptr, PTRACE_O_TRACEEXEC) != 0 ||
        ::ptrace(PTRACE_CONT, pid_, nullptr, nullptr) != 0 ||
        ::waitpid(pid_, &status, 0) != pid_) {
      return;
    }
    at_exec_ = WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_EXEC;
  }
  StoppedAtExec(const StoppedAtExec&) = delete;
  StoppedAtExec& operator=(const StoppedAtExec&) = delete;
  ~StoppedAtExec() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  bool at_exec() const { return at_exec_; }

 private:
  pid_t pid_ = -1;
  bool at_exec_ = false;
};

// A dynamically linked program: itself and the dynamic loader.
TEST(ExecImageTest, DynamicProgramHasItsLoader) {
  StoppedAtExec child({"/bin/true"});
  ASSERT_TRUE(child.at_exec());
  const ExecImage image = ReadExecImage(child.pid());
  EXPECT_EQ(image.program, "/usr/bin/true");
  ASSERT_THAT(image.interpreters, SizeIs(1));
  EXPECT_THAT(image.interpreters[0], EndsWith("/ld-linux-x86-64.so.2"));
  EXPECT_TRUE(std::filesystem::exists(image.interpreters[0]));
}

// A `#!` script: the kernel runs its interpreter, which is what the
// process's image is (the script itself is only an argument).
TEST(ExecImageTest, ScriptImageIsItsInterpreter) {
  auto dir = TempDir::Create("isoscope-exec-image-test-");
  ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
  const std::filesystem::path script = dir->path() / "script";
  std::ofstream(script) << "#!/usr/bin/tail -f\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  StoppedAtExec child({script.string()});
  ASSERT_TRUE(child.at_exec());
  const ExecImage image = ReadExecImage(child.pid());
  EXPECT_EQ(image.program, "/usr/bin/tail");
  ASSERT_THAT(image.interpreters, SizeIs(1));
  EXPECT_THAT(image.interpreters[0], EndsWith("/ld-linux-x86-64.so.2"));
}

// The loader itself run as a program: it is the image, with no
// interpreter of its own.
TEST(ExecImageTest, StaticImageHasNoInterpreter) {
  StoppedAtExec child({"/lib64/ld-linux-x86-64.so.2", "--version"});
  ASSERT_TRUE(child.at_exec());
  const ExecImage image = ReadExecImage(child.pid());
  EXPECT_THAT(image.program, EndsWith("/ld-linux-x86-64.so.2"));
  EXPECT_THAT(image.interpreters, IsEmpty());
}

// A process that is gone: the magic links' own names, which no policy
// lists, never an empty or made-up path.
TEST(ExecImageTest, GoneProcessIsNamedByItsLink) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const ExecImage image = ReadExecImage(child);
  EXPECT_EQ(image.program, "/proc/self/exe");
  EXPECT_THAT(image.interpreters, ElementsAre("/proc/self/map_files"));
}

}  // namespace
}  // namespace isoscope
