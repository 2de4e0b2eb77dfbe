#include "backends/process/syscall_paths.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/process/tracee_test_child.h"
#include "base/temp_dir.h"
#include "policies/syscalls.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;
using testing::TraceeTestChild;
using Args = std::array<uint64_t, 6>;

int Nr(std::string_view name) {
  auto number = SyscallNumber(name);
  return number ? *number : -1;
}

// A register holding a (negative) int as the workload's C code would pass
// it: sign-extended.
uint64_t Reg(int64_t value) { return static_cast<uint64_t>(value); }
const uint64_t kCwd = Reg(AT_FDCWD);

std::vector<PathArgument> Paths(
    std::initializer_list<std::pair<int, std::string>> list) {
  std::vector<PathArgument> out;
  for (const auto& [index, path] : list) out.push_back({index, path});
  return out;
}

// One child for every test: its cwd is <tmp>/cwd, and it holds a directory
// fd, a pipe, a regular file, a removed directory and a memfd. Strings go
// into a MAP_SHARED arena mapped before the fork, so a test writes them
// after the child started and the child sees them at the same address.
class SyscallPathsTest : public ::testing::Test {
 protected:
  enum Held { kDir, kPipe, kFile, kGone, kMemfd, kRealDeleted };
  static constexpr size_t kArenaSize = 1 << 16;

  void SetUp() override {
    auto tmp = TempDir::Create("isoscope-paths-test-");
    ASSERT_TRUE(tmp.has_value()) << tmp.error().ToString();
    tmp_.emplace(*std::move(tmp));
    // readlink shows canonical paths; /tmp itself may be a symlink.
    base_ = fs::canonical(tmp_->path()).string();
    for (const char* dir :
         {"cwd", "dir", "dir/sub", "gone", "real (deleted)"}) {
      fs::create_directories(fs::path(base_) / dir);
    }
    std::ofstream(fs::path(base_) / "file") << "x";

    void* arena = ::mmap(nullptr, kArenaSize, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(arena, MAP_FAILED);
    arena_ = static_cast<char*>(arena);

    const std::string base = base_;
    child_.emplace(TraceeTestChild::Start([base] {
      TraceeTestChild::Report report{};
      auto open_dir = [&](const std::string& relative) {
        return ::open((base + "/" + relative).c_str(),
                      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      };
      if (::chdir((base + "/cwd").c_str()) != 0) ::_exit(10);
      report[kDir] = open_dir("dir");
      int pipe_fds[2];
      if (::pipe(pipe_fds) != 0) ::_exit(11);
      report[kPipe] = pipe_fds[0];
      report[kFile] = ::open((base + "/file").c_str(), O_RDONLY);
      report[kGone] = open_dir("gone");
      if (::rmdir((base + "/gone").c_str()) != 0) ::_exit(12);
      report[kMemfd] = ::memfd_create("isoscope", 0);
      report[kRealDeleted] = open_dir("real (deleted)");
      for (int64_t fd : report) {
        if (fd < 0) ::_exit(13);
      }
      return report;
    }));
    ASSERT_TRUE(child_->ok());
  }

  void TearDown() override {
    child_.reset();  // before the directory it has as its cwd goes
    if (arena_ != nullptr) ::munmap(arena_, kArenaSize);
  }

  // Copies `bytes` into the arena (which is zero-filled, so a string put
  // with Put ends in a NUL) and returns the address.
  uint64_t PutBytes(const void* bytes, size_t size) {
    char* at = arena_ + used_;
    std::memcpy(at, bytes, size);
    used_ += size + 16;  // keeps a NUL and some zeros after every entry
    return reinterpret_cast<uint64_t>(at);
  }
  uint64_t Put(std::string_view text) {
    return PutBytes(text.data(), text.size());
  }

  uint64_t Fd(Held which) const {
    return static_cast<uint64_t>(child_->report()[which]);
  }
  std::string Under(std::string_view relative) const {
    return base_ + "/" + std::string(relative);
  }
  pid_t pid() const { return child_->pid(); }

  Result<DecodedPaths> Decode(std::string_view syscall, const Args& args) {
    const int number = Nr(syscall);
    EXPECT_GE(number, 0) << syscall;
    return DecodeSyscallPaths(pid(), number, args);
  }

  // Expects the decode to fail as the kernel would, with `sys_errno`.
  void ExpectWorkloadError(std::string_view syscall, const Args& args,
                           int sys_errno) {
    auto decoded = Decode(syscall, args);
    ASSERT_FALSE(decoded.has_value())
        << syscall << ": decoded " << decoded->paths.size() << " paths";
    EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument)
        << decoded.error().ToString();
    EXPECT_EQ(decoded.error().sys_errno(), sys_errno)
        << syscall << ": " << decoded.error().ToString();
  }

  std::optional<TempDir> tmp_;
  std::string base_;
  char* arena_ = nullptr;
  size_t used_ = 0;
  std::optional<TraceeTestChild> child_;
};

TEST_F(SyscallPathsTest, OpenatRelativeToTheCwd) {
  auto decoded = Decode("openat", {kCwd, Put("file.txt"), O_RDONLY});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("cwd/file.txt")}}));
  EXPECT_THAT(decoded->kernel_copies,
              ::testing::ElementsAre(Under("cwd/file.txt")));
  EXPECT_FALSE(decoded->open_flags.has_value());
  EXPECT_TRUE(decoded->open_how.empty());

  // The kernel reads the dirfd as an int: garbage in the upper half of the
  // register still means AT_FDCWD.
  decoded = Decode("openat", {0x12345678'FFFFFF9Cull, Put("a/../b"), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("cwd/b")}}));

  // Calls without a dirfd resolve against the cwd too.
  decoded = Decode("open", {Put("./x"), 0, 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{0, Under("cwd/x")}}));
}

TEST_F(SyscallPathsTest, OpenatRelativeToADirfd) {
  auto decoded =
      Decode("openat", {Fd(kDir), Put("sub/../x/./y"), O_WRONLY | O_CREAT});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir/x/y")}}));
  EXPECT_THAT(decoded->kernel_copies, ::testing::ElementsAre(Under("dir/x/y")));

  // ".." stops at the root, as in the kernel.
  decoded = Decode("openat", {Fd(kDir), Put("../../../../../../../etc"), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, "/etc"}}));

  // A directory really named "... (deleted)" is not a removed one.
  decoded = Decode("openat", {Fd(kRealDeleted), Put("f"), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("real (deleted)/f")}}));
}

TEST_F(SyscallPathsTest, AbsolutePathsAreNormalisedAndIgnoreTheDirfd) {
  // Even a dirfd that is not open: the kernel never looks at it.
  auto decoded = Decode("openat", {999, Put("/tmp/../etc/./passwd"), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, "/etc/passwd"}}));
  EXPECT_THAT(decoded->kernel_copies, ::testing::ElementsAre("/etc/passwd"));

  decoded = Decode("execve", {Put("//usr///bin/../bin/true"), 0, 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{0, "/usr/bin/true"}}));
}

TEST_F(SyscallPathsTest, TrailingSlashAndDotsKeepRequiringADirectory) {
  auto decoded = Decode("openat", {Fd(kDir), Put("sub/"), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir/sub")}}));
  EXPECT_THAT(decoded->kernel_copies,
              ::testing::ElementsAre(Under("dir/sub/")));

  decoded = Decode("mkdir", {Put("."), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{0, Under("cwd")}}));
  EXPECT_THAT(decoded->kernel_copies, ::testing::ElementsAre(Under("cwd/")));

  decoded = Decode("rmdir", {Put("sub/..")});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{0, Under("cwd")}}));
  EXPECT_THAT(decoded->kernel_copies, ::testing::ElementsAre(Under("cwd/")));

  decoded = Decode("openat", {kCwd, Put("/.."), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, "/"}}));
  EXPECT_THAT(decoded->kernel_copies, ::testing::ElementsAre("/"));
}

TEST_F(SyscallPathsTest, EmptyPathWithAtEmptyPathNamesTheFdItself) {
  auto decoded = Decode("newfstatat", {Fd(kDir), Put(""), 0, AT_EMPTY_PATH});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir")}}));
  // The empty string is copied too: the workload must not turn it into a
  // name after the check.
  EXPECT_THAT(decoded->kernel_copies, ::testing::ElementsAre(""));

  decoded = Decode("statx", {Fd(kFile), Put(""), AT_EMPTY_PATH, 0, 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("file")}}));

  decoded = Decode("execveat", {kCwd, Put(""), 0, 0, AT_EMPTY_PATH});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("cwd")}}));

  // fstat of a pipe, a memfd: the kernel acts on the open file, so these
  // are reported as /proc shows them, not refused.
  struct stat pipe_stat {};
  const std::string pipe_link = fmt::format("/proc/{}/fd/{}", pid(), Fd(kPipe));
  ASSERT_EQ(::stat(pipe_link.c_str(), &pipe_stat), 0);
  decoded = Decode("newfstatat", {Fd(kPipe), Put(""), 0, AT_EMPTY_PATH});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths,
            Paths({{1, fmt::format("pipe:[{}]", pipe_stat.st_ino)}}));
  decoded = Decode("execveat", {Fd(kMemfd), Put(""), 0, 0, AT_EMPTY_PATH});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, "/memfd:isoscope (deleted)"}}));

  // move_mount and fspick have flags of their own.
  decoded = Decode("fspick", {Fd(kDir), Put(""), 0x8 /* FSPICK_EMPTY_PATH */});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir")}}));
  decoded = Decode("move_mount", {Fd(kDir), Put("sub"), Fd(kFile), Put(""),
                                  0x40 /* MOVE_MOUNT_T_EMPTY_PATH */});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir/sub")}, {3, Under("file")}}));

  // readlinkat takes "" as the fd itself without a flag.
  decoded = Decode("readlinkat", {Fd(kDir), Put(""), 0, 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir")}}));
}

TEST_F(SyscallPathsTest, EmptyPathWithoutTheFlagIsEnoent) {
  ExpectWorkloadError("openat", {Fd(kDir), Put(""), 0}, ENOENT);
  ExpectWorkloadError("newfstatat", {Fd(kDir), Put(""), 0, 0}, ENOENT);
  // A flag in the wrong argument does not count.
  ExpectWorkloadError("newfstatat", {Fd(kDir), Put(""), AT_EMPTY_PATH, 0},
                      ENOENT);
  ExpectWorkloadError("unlinkat", {Fd(kDir), Put(""), AT_EMPTY_PATH}, ENOENT);
  ExpectWorkloadError("open", {Put(""), 0, 0}, ENOENT);
  // fchmodat (unlike fchmodat2) has no flags argument at all.
  ExpectWorkloadError("fchmodat", {Fd(kDir), Put(""), 0755, AT_EMPTY_PATH},
                      ENOENT);
}

TEST_F(SyscallPathsTest, NullPointers) {
  // futimens(fd) is utimensat(fd, NULL): the fd itself; nothing to copy.
  auto decoded = Decode("utimensat", {Fd(kFile), 0, 0, 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("file")}}));
  EXPECT_THAT(decoded->kernel_copies, ::testing::ElementsAre(std::nullopt));
  ExpectWorkloadError("utimensat", {kCwd, 0, 0, 0}, EFAULT);

  decoded = Decode("fanotify_mark", {3, 0, 0, Fd(kDir), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{4, Under("dir")}}));
  ExpectWorkloadError("fanotify_mark", {3, 0, 0, kCwd, 0}, EBADF);

  // statx(fd, NULL, AT_EMPTY_PATH) (Linux 6.11).
  decoded = Decode("statx", {Fd(kDir), 0, AT_EMPTY_PATH, 0, 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir")}}));
  EXPECT_THAT(decoded->kernel_copies, ::testing::ElementsAre(std::nullopt));

  // Everywhere else NULL is just an unreadable address.
  ExpectWorkloadError("statx", {Fd(kDir), 0, 0, 0, 0}, EFAULT);
  ExpectWorkloadError("openat", {Fd(kDir), 0, 0}, EFAULT);
  ExpectWorkloadError("execveat", {Fd(kDir), 0, 0, 0, AT_EMPTY_PATH}, EFAULT);
}

TEST_F(SyscallPathsTest, BadDirfdsFailAsTheKernelWould) {
  ExpectWorkloadError("openat", {999, Put("x"), 0}, EBADF);
  ExpectWorkloadError("openat", {Reg(-5), Put("x"), 0}, EBADF);
  ExpectWorkloadError("newfstatat", {999, Put(""), 0, AT_EMPTY_PATH}, EBADF);
  ExpectWorkloadError("openat", {Fd(kPipe), Put("x"), 0}, ENOTDIR);
  ExpectWorkloadError("openat", {Fd(kMemfd), Put("x"), 0}, ENOTDIR);
  ExpectWorkloadError("openat", {Fd(kFile), Put("x"), 0}, ENOTDIR);
  ExpectWorkloadError("mkdirat", {Fd(kGone), Put("x"), 0755}, ENOENT);
}

TEST_F(SyscallPathsTest, UnreadableAndOverlongPaths) {
  ExpectWorkloadError("openat", {kCwd, 8, 0}, EFAULT);
  ExpectWorkloadError("openat", {kCwd, Put(std::string(4096, 'a')), 0},
                      ENAMETOOLONG);
  // 4095 characters and the NUL is the longest path the kernel takes.
  const std::string longest = "/" + std::string(4094, 'a');
  auto decoded = Decode("openat", {kCwd, Put(longest), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, longest}}));
  // Relative, the kernel would take it; made absolute it no longer fits.
  ExpectWorkloadError("openat", {kCwd, Put(std::string(4090, 'a')), 0},
                      ENAMETOOLONG);
}

TEST_F(SyscallPathsTest, Openat2DecodesStructOpenHow) {
  struct OpenHow {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
  };
  const OpenHow how{O_WRONLY | O_CREAT | O_CLOEXEC, 0640, 0};
  const uint64_t how_address = PutBytes(&how, sizeof(how));
  auto decoded =
      Decode("openat2", {Fd(kDir), Put("new"), how_address, sizeof(how)});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir/new")}}));
  EXPECT_EQ(decoded->open_flags,
            std::optional<uint64_t>(O_WRONLY | O_CREAT | O_CLOEXEC));
  std::vector<uint8_t> expected(sizeof(how));
  std::memcpy(expected.data(), &how, sizeof(how));
  EXPECT_EQ(decoded->open_how, expected);

  // A bigger struct from a newer libc is fine when the unknown part is 0.
  std::vector<uint8_t> bigger(40, 0);
  std::memcpy(bigger.data(), &how, sizeof(how));
  decoded = Decode("openat2", {Fd(kDir), Put("new"),
                               PutBytes(bigger.data(), bigger.size()), 40});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->open_how, bigger);
  bigger[33] = 1;
  ExpectWorkloadError(
      "openat2",
      {Fd(kDir), Put("new"), PutBytes(bigger.data(), bigger.size()), 40},
      E2BIG);

  ExpectWorkloadError("openat2", {Fd(kDir), Put("new"), how_address, 16},
                      EINVAL);
  ExpectWorkloadError("openat2", {Fd(kDir), Put("new"), how_address, 4097},
                      E2BIG);
  ExpectWorkloadError("openat2", {Fd(kDir), Put("new"), 0, sizeof(how)},
                      EFAULT);
  // The struct is read before the path.
  ExpectWorkloadError("openat2", {Fd(kDir), 0, how_address, 8}, EINVAL);
  ExpectWorkloadError("openat2", {Fd(kDir), 0, how_address, sizeof(how)},
                      EFAULT);
}

TEST_F(SyscallPathsTest, TwoPathArguments) {
  auto decoded = Decode("rename", {Put("a"), Put("/x/../b/")});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{0, Under("cwd/a")}, {1, "/b"}}));
  EXPECT_THAT(decoded->kernel_copies,
              ::testing::ElementsAre(Under("cwd/a"), "/b/"));

  decoded = Decode("renameat2", {Fd(kDir), Put("a"), kCwd, Put("b"), 0});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths, Paths({{1, Under("dir/a")}, {3, Under("cwd/b")}}));

  // linkat(fd, "", dirfd, "name", AT_EMPTY_PATH) names a file by its fd.
  decoded = Decode("linkat",
                   {Fd(kFile), Put(""), Fd(kDir), Put("name"), AT_EMPTY_PATH});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->paths,
            Paths({{1, Under("file")}, {3, Under("dir/name")}}));
  EXPECT_THAT(decoded->kernel_copies,
              ::testing::ElementsAre("", Under("dir/name")));
  // ... but the new name can never be empty.
  ExpectWorkloadError(
      "linkat", {Fd(kFile), Put(""), Fd(kDir), Put(""), AT_EMPTY_PATH}, ENOENT);

  // Each path is read and resolved before the next is looked at: the first
  // failing one decides.
  ExpectWorkloadError("linkat",
                      {Fd(kFile), Put("x"), Fd(kDir), Put(""), AT_EMPTY_PATH},
                      ENOTDIR);
  ExpectWorkloadError("renameat", {999, Put("a"), kCwd, 0}, EBADF);
  ExpectWorkloadError("renameat", {Fd(kDir), Put("a"), kCwd, 0}, EFAULT);
  ExpectWorkloadError("renameat", {999, Put("a"), Fd(kPipe), Put("b")}, EBADF);
  ExpectWorkloadError("renameat", {Fd(kDir), Put("a"), Fd(kPipe), Put("b")},
                      ENOTDIR);
}

TEST_F(SyscallPathsTest, CallsWithoutPathsDecodeToNothing) {
  auto decoded = Decode("getpid", {});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_TRUE(decoded->paths.empty());
  EXPECT_TRUE(decoded->kernel_copies.empty());
  // An fd-based call is not looked at at all, whatever its registers hold.
  decoded = Decode("read", {0, 0, 100});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_TRUE(decoded->paths.empty());
}

TEST_F(SyscallPathsTest, AGoneThreadIsIsoscopesError) {
  pid_t gone;
  {
    auto other = TraceeTestChild::Start();
    ASSERT_TRUE(other.ok());
    gone = other.pid();
    ASSERT_EQ(other.Finish(), 0);
  }
  auto decoded = DecodeSyscallPaths(gone, Nr("openat"), {kCwd, Put("x"), 0});
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code(), ErrorCode::kSystem);
}

// A thread that left the process's shared fs_struct (unshare(CLONE_FS)) has
// a cwd of its own; relative paths are resolved against the calling
// thread's.
TEST(SyscallPathsThreadTest, EachThreadHasItsOwnCwd) {
  auto tmp = TempDir::Create("isoscope-paths-test-");
  ASSERT_TRUE(tmp.has_value()) << tmp.error().ToString();
  const std::string base = fs::canonical(tmp->path()).string();
  fs::create_directories(base + "/main");
  fs::create_directories(base + "/thread");
  auto child = TraceeTestChild::Start([base] {
    if (::chdir((base + "/main").c_str()) != 0) ::_exit(10);
    struct Shared {
      std::string dir;
      std::atomic<pid_t> tid{0};
    };
    static Shared shared;
    shared.dir = base + "/thread";
    pthread_t thread;
    auto body = [](void*) -> void* {
      if (::unshare(CLONE_FS) != 0 || ::chdir(shared.dir.c_str()) != 0) {
        shared.tid = -1;
      } else {
        shared.tid = ::gettid();
      }
      for (;;) ::pause();
    };
    if (::pthread_create(&thread, nullptr, body, nullptr) != 0) ::_exit(11);
    while (shared.tid == 0) ::usleep(1000);
    return TraceeTestChild::Report{shared.tid.load()};
  });
  ASSERT_TRUE(child.ok());
  const pid_t tid = static_cast<pid_t>(child.report()[0]);
  ASSERT_GT(tid, 0);
  ASSERT_NE(tid, child.pid());

  static const char kName[] = "f";
  const uint64_t name = reinterpret_cast<uint64_t>(kName);
  auto main_thread =
      DecodeSyscallPaths(child.pid(), Nr("openat"), {kCwd, name, 0});
  ASSERT_TRUE(main_thread.has_value()) << main_thread.error().ToString();
  EXPECT_EQ(main_thread->paths, Paths({{1, base + "/main/f"}}));
  auto other_thread = DecodeSyscallPaths(tid, Nr("openat"), {kCwd, name, 0});
  ASSERT_TRUE(other_thread.has_value()) << other_thread.error().ToString();
  EXPECT_EQ(other_thread->paths, Paths({{1, base + "/thread/f"}}));
}

}  // namespace
}  // namespace isoscope
