#include "backends/process/checked_calls.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backends/process/syscall_paths.h"
#include "backends/process/tracee_memory.h"
#include "backends/process/tracee_test_child.h"
#include "base/temp_dir.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;
using testing::TraceeTestChild;
using Args = std::array<uint64_t, 6>;
using Kind = CheckedCallOutcome::Kind;

constexpr uid_t kNobody = 65534;
constexpr mode_t kWorkloadUmask = 027;

uint64_t Reg(int64_t value) { return static_cast<uint64_t>(value); }
const uint64_t kCwd = Reg(AT_FDCWD);

std::string ReadAll(int fd) {
  std::string out;
  char buffer[256];
  ssize_t n;
  while ((n = ::pread(fd, buffer, sizeof(buffer),
                      static_cast<off_t>(out.size()))) > 0) {
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// A line of this thread's /proc status ("CapEff:", "Umask:", "Groups:").
std::string ThreadStatus(const std::string& key) {
  std::ifstream in("/proc/thread-self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return line;
  }
  return "";
}

uid_t Fsuid() {
  return static_cast<uid_t>(::syscall(SYS_setfsuid, static_cast<uid_t>(-1)));
}
gid_t Fsgid() {
  return static_cast<gid_t>(::syscall(SYS_setfsgid, static_cast<gid_t>(-1)));
}

void WriteFile(const fs::path& path, const std::string& text, mode_t mode,
               uid_t owner) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  ASSERT_EQ(::chown(path.c_str(), owner, owner), 0);
}

// The workload is a forked child: its address space holds the strings and
// the output buffers (a MAP_SHARED arena mapped before the fork, so the test
// writes paths at addresses the child has too, and reads results back from
// the child with process_vm_readv); a read-only page gives a bad buffer.
class CheckedCallsTest : public ::testing::Test {
 protected:
  static constexpr size_t kArenaSize = 1 << 16;
  static constexpr size_t kOut = 1 << 15;  // output buffer offset
  static constexpr size_t kSlot = 4096;    // one string slot's size

  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root: setfsuid, setgroups and chown to 65534";
    }
    arena_ =
        static_cast<char*>(::mmap(nullptr, kArenaSize, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(arena_, MAP_FAILED);
    read_only_ =
        ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(read_only_, MAP_FAILED);

    auto dir = TempDir::Create("checked-calls-test-");
    ASSERT_TRUE(dir) << dir.error().ToString();
    dir_.emplace(*std::move(dir));
    root_ = dir_->path();
    ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
    fs::create_directory(root_ / "etc");
    WriteFile(root_ / "etc/passwd", "fake passwd\n", 0644, 0);
    WriteFile(root_ / "secret", "root secret\n", 0600, 0);
    WriteFile(root_ / "nobody", "nobody's\n", 0600, kNobody);
    fs::create_symlink("/etc/passwd", root_ / "passwd_link");
    fs::create_symlink("../../../../../../etc/passwd", root_ / "escape_link");
    fs::create_symlink("/etc/shadow", root_ / "shadow_link");
    fs::create_directory(root_ / "sub");
    ASSERT_EQ(::chmod((root_ / "sub").c_str(), 0777), 0);
    WriteFile(root_ / "sub/file", "0123456789", 0644, kNobody);
    ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0666), 0);
    ASSERT_EQ(::chmod((root_ / "fifo").c_str(), 0666), 0);
    fs::create_directory(root_ / "sub/dir");

    root_fd_.Reset(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_.valid());
    context_ = {.root_fd = root_fd_.get(), .uid = kNobody, .gid = kNobody};

    cap_eff_ = ThreadStatus("CapEff:");
    umask_ = ThreadStatus("Umask:");
    groups_ = ThreadStatus("Groups:");
    ASSERT_FALSE(cap_eff_.empty());

    const std::string file = (root_ / "etc/passwd").string();
    child_.emplace(TraceeTestChild::Start([file] {
      ::umask(kWorkloadUmask);
      TraceeTestChild::Report report{};
      report[0] = ::open(file.c_str(), O_RDONLY);  // for "the fd itself"
      report[1] = ::inotify_init1(IN_NONBLOCK);    // for inotify_add_watch
      return report;
    }));
    ASSERT_TRUE(child_->ok());
  }

  void TearDown() override {
    child_.reset();
    if (arena_ != nullptr && arena_ != MAP_FAILED) ::munmap(arena_, kArenaSize);
    if (read_only_ != nullptr && read_only_ != MAP_FAILED) {
      ::munmap(read_only_, 4096);
    }
    root_fd_.Reset();
    dir_.reset();
  }

  // isoscope's own credentials are back after every call.
  void ExpectCredentialsRestored() {
    EXPECT_EQ(Fsuid(), 0u);
    EXPECT_EQ(Fsgid(), 0u);
    EXPECT_EQ(ThreadStatus("CapEff:"), cap_eff_);
    EXPECT_EQ(ThreadStatus("Umask:"), umask_);
    EXPECT_EQ(ThreadStatus("Groups:"), groups_);
  }

  // Puts `text` in string slot `slot` of the workload's memory.
  uint64_t Str(int slot, const std::string& text) {
    char* at = arena_ + slot * kSlot;
    std::memcpy(at, text.c_str(), text.size() + 1);
    return reinterpret_cast<uint64_t>(at);
  }
  uint64_t Out() const { return reinterpret_cast<uint64_t>(arena_ + kOut); }
  uint64_t ReadOnly() const { return reinterpret_cast<uint64_t>(read_only_); }

  // Decodes and resolves as the backends do, then performs.
  CheckedCallOutcome Perform(int number, const Args& args) {
    auto paths = Decode(number, args);
    if (!paths) {
      EXPECT_EQ(paths.error().code(), ErrorCode::kInvalidArgument)
          << paths.error().ToString();
      return CheckedCallOutcome::Errno(paths.error().sys_errno());
    }
    return PerformDecoded(number, args, *paths);
  }
  Result<DecodedPaths> Decode(int number, const Args& args) {
    auto paths = DecodeSyscallPaths(child_->pid(), number, args);
    if (!paths) return paths;
    if (Status resolved =
            ResolveCheckedPaths(context_, child_->pid(), number, args, *paths);
        !resolved) {
      return tl::unexpected(std::move(resolved).error());
    }
    return paths;
  }
  CheckedCallOutcome PerformDecoded(int number, const Args& args,
                                    const DecodedPaths& paths) {
    auto outcome =
        PerformCheckedCall(context_, child_->pid(), number, args, paths);
    ExpectCredentialsRestored();
    if (!outcome) {
      ADD_FAILURE() << outcome.error().ToDebugString();
      return CheckedCallOutcome::Errno(0);
    }
    return *std::move(outcome);
  }

  // Reads the child's output buffer back (process_vm_readv).
  template <typename T>
  T ReadOut() {
    T value{};
    auto bytes = ReadTraceeBytes(child_->pid(), Out(), sizeof(T));
    EXPECT_TRUE(bytes);
    if (bytes) std::memcpy(&value, bytes->data(), sizeof(T));
    return value;
  }

  std::string OpenAndRead(const std::string& path) {
    CheckedCallOutcome out =
        Perform(SYS_openat, {kCwd, Str(0, path), O_RDONLY, 0});
    if (out.kind == Kind::kError) return "errno " + std::to_string(out.error);
    if (out.kind != Kind::kInstallFd) return "unexpected outcome";
    return ReadAll(out.fd.get());
  }

  std::optional<TempDir> dir_;
  fs::path root_;
  UniqueFd root_fd_;
  CheckedCallContext context_;
  std::optional<TraceeTestChild> child_;
  char* arena_ = nullptr;
  void* read_only_ = nullptr;
  std::string cap_eff_;
  std::string umask_;
  std::string groups_;
};

TEST_F(CheckedCallsTest, OpenGivesAnFdOnTheFileInsideTheRoot) {
  CheckedCallOutcome out =
      Perform(SYS_open, {Str(0, "/etc/passwd"), O_RDONLY | O_CLOEXEC, 0});
  ASSERT_EQ(out.kind, Kind::kInstallFd);
  EXPECT_EQ(out.newfd_flags, static_cast<unsigned>(O_CLOEXEC));
  EXPECT_EQ(ReadAll(out.fd.get()), "fake passwd\n");
  // O_NONBLOCK was only for the supervisor's open.
  EXPECT_EQ(::fcntl(out.fd.get(), F_GETFL) & O_NONBLOCK, 0);

  out = Perform(SYS_open, {Str(0, "/etc/passwd"), O_RDONLY, 0});
  ASSERT_EQ(out.kind, Kind::kInstallFd);
  EXPECT_EQ(out.newfd_flags, 0u);
  EXPECT_EQ(Perform(SYS_open, {Str(0, "/missing"), O_RDONLY, 0}).error, ENOENT);
}

TEST_F(CheckedCallsTest, SymlinksResolveInsideTheRoot) {
  EXPECT_EQ(OpenAndRead("/passwd_link"), "fake passwd\n");
  EXPECT_EQ(OpenAndRead("/escape_link"), "fake passwd\n");
  EXPECT_EQ(OpenAndRead("/../../../etc/passwd"), "fake passwd\n");
  // The host has /etc/shadow; the root does not.
  EXPECT_EQ(OpenAndRead("/shadow_link"), "errno " + std::to_string(ENOENT));
}

TEST_F(CheckedCallsTest, CallsRunWithTheWorkloadsIdentity) {
  EXPECT_EQ(OpenAndRead("/secret"), "errno " + std::to_string(EACCES));
  EXPECT_EQ(OpenAndRead("/nobody"), "nobody's\n");
  // uid 0 without CAP_DAC_OVERRIDE is refused a file it does not own...
  context_.uid = 0;
  context_.gid = 0;
  EXPECT_EQ(OpenAndRead("/nobody"), "errno " + std::to_string(EACCES));
  EXPECT_EQ(OpenAndRead("/secret"), "root secret\n");
  // ... and is let in when the workload holds the capability.
  context_.effective_caps = uint64_t{1} << CAP_DAC_OVERRIDE;
  EXPECT_EQ(OpenAndRead("/nobody"), "nobody's\n");
}

TEST_F(CheckedCallsTest, CreatedFilesBelongToTheWorkloadWithItsUmask) {
  CheckedCallOutcome out =
      Perform(SYS_openat,
              {kCwd, Str(0, "/sub/new"), O_CREAT | O_WRONLY | O_EXCL, 0666});
  ASSERT_EQ(out.kind, Kind::kInstallFd) << out.error;
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "sub/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kNobody);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  out = Perform(SYS_creat, {Str(0, "/sub/c"), 0777});
  ASSERT_EQ(out.kind, Kind::kInstallFd) << out.error;
  ASSERT_EQ(::stat((root_ / "sub/c").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  // 65534 may not create in the root-owned 0755 root directory.
  EXPECT_EQ(Perform(SYS_creat, {Str(0, "/new"), 0644}).error, EACCES);
}

TEST_F(CheckedCallsTest, Openat2KeepsTheWorkloadsResolveFlags) {
  auto how_at = [&](uint64_t flags, uint64_t resolve) {
    open_how how{.flags = flags, .mode = 0, .resolve = resolve};
    std::memcpy(arena_ + 8 * kSlot, &how, sizeof(how));
    return reinterpret_cast<uint64_t>(arena_ + 8 * kSlot);
  };
  CheckedCallOutcome out = Perform(
      SYS_openat2, {kCwd, Str(0, "/passwd_link"),
                    how_at(O_RDONLY, RESOLVE_NO_SYMLINKS), sizeof(open_how)});
  EXPECT_EQ(out.error, ELOOP);
  out = Perform(SYS_openat2, {kCwd, Str(0, "/etc/passwd"), how_at(O_RDONLY, 0),
                              sizeof(open_how)});
  ASSERT_EQ(out.kind, Kind::kInstallFd);
  EXPECT_EQ(ReadAll(out.fd.get()), "fake passwd\n");
  out = Perform(SYS_openat2,
                {kCwd, Str(0, "/etc/passwd"), how_at(O_RDONLY, RESOLVE_BENEATH),
                 sizeof(open_how)});
  EXPECT_EQ(out.error, ENOSYS);
  // openat2 refuses a mode without O_CREAT; the workload hears so.
  open_how bad{.flags = O_RDONLY, .mode = 0644, .resolve = 0};
  std::memcpy(arena_ + 8 * kSlot, &bad, sizeof(bad));
  out = Perform(SYS_openat2, {kCwd, Str(0, "/etc/passwd"),
                              reinterpret_cast<uint64_t>(arena_ + 8 * kSlot),
                              sizeof(open_how)});
  EXPECT_EQ(out.error, EINVAL);
}

TEST_F(CheckedCallsTest, FifoOpenNeverBlocksTheSupervisor) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Perform(SYS_open, {Str(0, "/fifo"), O_WRONLY, 0}).error, ENXIO);
  CheckedCallOutcome out = Perform(SYS_open, {Str(0, "/fifo"), O_RDONLY, 0});
  EXPECT_EQ(out.kind, Kind::kInstallFd);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(CheckedCallsTest, StatWritesTheStructIntoTheWorkload) {
  struct stat host {};
  ASSERT_EQ(::stat((root_ / "etc/passwd").c_str(), &host), 0);
  CheckedCallOutcome out =
      Perform(SYS_newfstatat, {kCwd, Str(0, "/passwd_link"), Out(), 0});
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  EXPECT_EQ(out.value, 0);
  auto st = ReadOut<struct stat>();
  EXPECT_EQ(st.st_ino, host.st_ino);
  EXPECT_EQ(st.st_size, 12);

  out = Perform(SYS_lstat, {Str(0, "/passwd_link"), Out()});
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  EXPECT_TRUE(S_ISLNK(ReadOut<struct stat>().st_mode));

  out = Perform(SYS_statx,
                {kCwd, Str(0, "/sub/file"), 0, STATX_BASIC_STATS, Out()});
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  auto stx = ReadOut<struct statx>();
  EXPECT_EQ(stx.stx_size, 10u);
  EXPECT_EQ(stx.stx_uid, kNobody);

  EXPECT_EQ(Perform(SYS_newfstatat, {kCwd, Str(0, "/x"), Out(), 0x8000}).error,
            EINVAL);
}

TEST_F(CheckedCallsTest, UnwritableOutputBufferIsEfault) {
  EXPECT_EQ(Perform(SYS_stat, {Str(0, "/etc/passwd"), ReadOnly()}).error,
            EFAULT);
  EXPECT_EQ(Perform(SYS_stat, {Str(0, "/etc/passwd"), 0}).error, EFAULT);
  EXPECT_EQ(
      Perform(SYS_readlink, {Str(0, "/passwd_link"), ReadOnly(), 64}).error,
      EFAULT);
  // The lookup fails first, as in the kernel.
  EXPECT_EQ(Perform(SYS_stat, {Str(0, "/missing"), ReadOnly()}).error, ENOENT);
}

TEST_F(CheckedCallsTest, FdItselfUsesTheWorkloadsOpenFile) {
  const uint64_t fd = static_cast<uint64_t>(child_->report()[0]);
  ASSERT_GE(child_->report()[0], 0);
  struct stat host {};
  ASSERT_EQ(::stat((root_ / "etc/passwd").c_str(), &host), 0);
  const Args args{fd, Str(0, ""), Out(), AT_EMPTY_PATH};
  CheckedCallOutcome out = Perform(SYS_newfstatat, args);
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  EXPECT_EQ(ReadOut<struct stat>().st_ino, host.st_ino);

  // The fd no longer names what the policy decided on (a dup2 race).
  auto paths = Decode(SYS_newfstatat, args);
  ASSERT_TRUE(paths);
  paths->paths[0].path = "/somewhere/else";
  EXPECT_EQ(PerformDecoded(SYS_newfstatat, args, *paths).error, EBADF);
}

TEST_F(CheckedCallsTest, ReadlinkCopiesTheTextLikeTheKernel) {
  CheckedCallOutcome out =
      Perform(SYS_readlink, {Str(0, "/passwd_link"), Out(), 100});
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  ASSERT_EQ(out.value, 11);
  EXPECT_EQ(std::string(ReadOut<std::array<char, 11>>().data(), 11),
            "/etc/passwd");
  out = Perform(SYS_readlinkat, {kCwd, Str(0, "/passwd_link"), Out(), 4});
  EXPECT_EQ(out.value, 4);
  EXPECT_EQ(Perform(SYS_readlink, {Str(0, "/passwd_link"), Out(), 0}).error,
            EINVAL);
  EXPECT_EQ(Perform(SYS_readlink, {Str(0, "/etc/passwd"), Out(), 64}).error,
            EINVAL);
}

TEST_F(CheckedCallsTest, AccessChecksTheWorkloadsIds) {
  EXPECT_EQ(Perform(SYS_access, {Str(0, "/secret"), R_OK}).error, EACCES);
  EXPECT_EQ(Perform(SYS_access, {Str(0, "/nobody"), R_OK | W_OK}).kind,
            Kind::kValue);
  EXPECT_EQ(Perform(SYS_faccessat2, {kCwd, Str(0, "/nobody"), X_OK, 0}).error,
            EACCES);
}

TEST_F(CheckedCallsTest, DirectoryChanges) {
  ASSERT_EQ(Perform(SYS_mkdir, {Str(0, "/sub/d/"), 0777}).kind, Kind::kValue);
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "sub/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(Perform(SYS_mkdir, {Str(0, "/sub/d"), 0777}).error, EEXIST);
  EXPECT_EQ(Perform(SYS_mkdir, {Str(0, "/"), 0777}).error, EEXIST);
  EXPECT_EQ(Perform(SYS_mkdir, {Str(0, "/d"), 0777}).error, EACCES);

  ASSERT_EQ(Perform(SYS_rename, {Str(0, "/sub/d"), Str(1, "/sub/e")}).kind,
            Kind::kValue);
  EXPECT_TRUE(fs::is_directory(root_ / "sub/e"));
  ASSERT_EQ(Perform(SYS_rmdir, {Str(0, "/sub/e")}).kind, Kind::kValue);
  EXPECT_FALSE(fs::exists(root_ / "sub/e"));

  ASSERT_EQ(
      Perform(SYS_symlink, {Str(0, "/etc/shadow"), Str(1, "/sub/l")}).kind,
      Kind::kValue);
  EXPECT_EQ(fs::read_symlink(root_ / "sub/l"), "/etc/shadow");
  ASSERT_EQ(Perform(SYS_link, {Str(0, "/sub/file"), Str(1, "/sub/hard")}).kind,
            Kind::kValue);
  EXPECT_EQ(fs::hard_link_count(root_ / "sub/file"), 2u);
  ASSERT_EQ(Perform(SYS_unlink, {Str(0, "/sub/hard")}).kind, Kind::kValue);
  ASSERT_EQ(Perform(SYS_unlinkat, {kCwd, Str(0, "/sub/l"), 0}).kind,
            Kind::kValue);
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "sub/l")));
  EXPECT_EQ(Perform(SYS_unlink, {Str(0, "/secret")}).error, EACCES);
  // Permission comes before the kind of file, as in the kernel.
  EXPECT_EQ(Perform(SYS_unlink, {Str(0, "/sub")}).error, EACCES);
  EXPECT_EQ(Perform(SYS_unlink, {Str(0, "/sub/dir")}).error, EISDIR);
  EXPECT_EQ(Perform(SYS_unlink, {Str(0, "/")}).error, EISDIR);
  EXPECT_EQ(Perform(SYS_rmdir, {Str(0, "/")}).error, EBUSY);

  EXPECT_EQ(
      Perform(SYS_mknod, {Str(0, "/sub/dev"), S_IFCHR | 0600, 0x0103}).error,
      EPERM);
  ASSERT_EQ(Perform(SYS_mknod, {Str(0, "/sub/pipe"), S_IFIFO | 0666, 0}).kind,
            Kind::kValue);
  EXPECT_TRUE(fs::is_fifo(root_ / "sub/pipe"));
}

TEST_F(CheckedCallsTest, InodeChanges) {
  ASSERT_EQ(Perform(SYS_chmod, {Str(0, "/sub/file"), 0600}).kind, Kind::kValue);
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "sub/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(Perform(SYS_chmod, {Str(0, "/secret"), 0666}).error, EPERM);
  EXPECT_EQ(Perform(SYS_chown, {Str(0, "/sub/file"), 0, 0}).error, EPERM);
  ASSERT_EQ(Perform(SYS_truncate, {Str(0, "/sub/file"), 3}).kind, Kind::kValue);
  EXPECT_EQ(fs::file_size(root_ / "sub/file"), 3u);
  EXPECT_EQ(Perform(SYS_truncate, {Str(0, "/secret"), 0}).error, EACCES);
  EXPECT_EQ(Perform(SYS_truncate, {Str(0, "/sub/file"), Reg(-1)}).error,
            EINVAL);

  const std::array<timespec, 2> times{timespec{1000, 0}, timespec{2000, 0}};
  std::memcpy(arena_ + kOut, times.data(), sizeof(times));
  ASSERT_EQ(Perform(SYS_utimensat, {kCwd, Str(0, "/sub/file"), Out(), 0}).kind,
            Kind::kValue);
  ASSERT_EQ(::stat((root_ / "sub/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(Perform(SYS_utimensat, {kCwd, Str(0, "/secret"), Out(), 0}).error,
            EPERM);
}

// The xattr family reads as the workload, follows a final symlink only
// where the call does, caps the size at the kernel's limit and checks the
// name as the kernel does.
TEST_F(CheckedCallsTest, XattrsAreReadAsTheWorkload) {
  const std::string file = (root_ / "sub/file").string();
  if (::setxattr(file.c_str(), "user.k", "value", 5, 0) != 0) {
    GTEST_SKIP() << "user xattrs unsupported on " << root_ << ": "
                 << std::strerror(errno);
  }
  ASSERT_EQ(::setxattr((root_ / "etc/passwd").c_str(), "user.k", "pw", 2, 0),
            0);
  ASSERT_EQ(::setxattr((root_ / "secret").c_str(), "user.k", "s", 1, 0), 0);

  CheckedCallOutcome out =
      Perform(SYS_getxattr, {Str(0, "/sub/file"), Str(1, "user.k"), Out(), 64});
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  ASSERT_EQ(out.value, 5);
  EXPECT_EQ(std::string(ReadOut<std::array<char, 5>>().data(), 5), "value");
  // Size 0 asks for the size; a huge size is the kernel's limit.
  EXPECT_EQ(
      Perform(SYS_getxattr, {Str(0, "/sub/file"), Str(1, "user.k"), Out(), 0})
          .value,
      5);
  EXPECT_EQ(Perform(SYS_getxattr, {Str(0, "/sub/file"), Str(1, "user.k"), Out(),
                                   uint64_t{1} << 40})
                .value,
            5);
  EXPECT_EQ(
      Perform(SYS_getxattr, {Str(0, "/sub/file"), Str(1, "user.k"), Out(), 2})
          .error,
      ERANGE);
  EXPECT_EQ(
      Perform(SYS_getxattr, {Str(0, "/sub/file"), Str(1, ""), Out(), 64}).error,
      ERANGE);
  EXPECT_EQ(Perform(SYS_getxattr,
                    {Str(0, "/sub/file"),
                     Str(1, "user." + std::string(300, 'x')), Out(), 64})
                .error,
            ERANGE);
  EXPECT_EQ(Perform(SYS_getxattr,
                    {Str(0, "/sub/file"), Str(1, "user.k"), ReadOnly(), 64})
                .error,
            EFAULT);
  // 0600 root: nobody may not read it.
  EXPECT_EQ(
      Perform(SYS_getxattr, {Str(0, "/secret"), Str(1, "user.k"), Out(), 64})
          .error,
      EACCES);
  // getxattr follows the link to /etc/passwd inside the root; lgetxattr
  // looks at the link itself, which holds no user xattr.
  EXPECT_EQ(Perform(SYS_getxattr,
                    {Str(0, "/passwd_link"), Str(1, "user.k"), Out(), 64})
                .value,
            2);
  EXPECT_EQ(Perform(SYS_lgetxattr,
                    {Str(0, "/passwd_link"), Str(1, "user.k"), Out(), 64})
                .error,
            ENODATA);
  EXPECT_EQ(
      Perform(SYS_lgetxattr, {Str(0, "/sub/file"), Str(1, "user.k"), Out(), 64})
          .value,
      5);

  out = Perform(SYS_listxattr, {Str(0, "/sub/file"), Out(), 256});
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  ASSERT_GE(out.value, 7);
  const auto list = ReadOut<std::array<char, 256>>();
  EXPECT_NE(std::string(list.data(), static_cast<size_t>(out.value))
                .find(std::string("user.k\0", 7)),
            std::string::npos);
  EXPECT_EQ(Perform(SYS_llistxattr, {Str(0, "/passwd_link"), Out(), 256}).kind,
            Kind::kValue);
  EXPECT_EQ(Perform(SYS_listxattr, {Str(0, "/sub/file"), Out(), 1}).error,
            ERANGE);
}

TEST_F(CheckedCallsTest, StatfsWritesTheStructIntoTheWorkload) {
  struct statfs host {};
  ASSERT_EQ(::statfs(root_.c_str(), &host), 0);
  CheckedCallOutcome out = Perform(SYS_statfs, {Str(0, "/sub"), Out()});
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  const auto fs = ReadOut<struct statfs>();
  EXPECT_EQ(fs.f_type, host.f_type);
  EXPECT_EQ(fs.f_bsize, host.f_bsize);
  EXPECT_EQ(Perform(SYS_statfs, {Str(0, "/missing"), Out()}).error, ENOENT);
  EXPECT_EQ(Perform(SYS_statfs, {Str(0, "/sub"), ReadOnly()}).error, EFAULT);
}

// The watch goes on the workload's own inotify instance: its events reach
// the workload's descriptor.
TEST_F(CheckedCallsTest, InotifyWatchesAreTheWorkloads) {
  const int64_t inotify = child_->report()[1];
  ASSERT_GE(inotify, 0);
  const auto fd = static_cast<uint64_t>(inotify);
  CheckedCallOutcome out =
      Perform(SYS_inotify_add_watch, {fd, Str(0, "/sub"), IN_CREATE});
  ASSERT_EQ(out.kind, Kind::kValue) << out.error;
  EXPECT_GE(out.value, 1);
  std::ofstream(root_ / "sub/new") << "x";
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child_->pid(), 0)));
  ASSERT_TRUE(pidfd.valid());
  UniqueFd theirs(static_cast<int>(
      ::syscall(SYS_pidfd_getfd, pidfd.get(), static_cast<int>(inotify), 0)));
  ASSERT_TRUE(theirs.valid());
  alignas(inotify_event) char events[512];
  const ssize_t n = ::read(theirs.get(), events, sizeof(events));
  ASSERT_GT(n, static_cast<ssize_t>(sizeof(inotify_event)));
  const auto* event = reinterpret_cast<const inotify_event*>(events);
  EXPECT_EQ(event->wd, out.value);
  EXPECT_STREQ(event->name, "new");

  // A symlink is followed unless IN_DONT_FOLLOW: then the link is watched.
  const int64_t passwd =
      Perform(SYS_inotify_add_watch, {fd, Str(0, "/etc/passwd"), IN_MODIFY})
          .value;
  EXPECT_EQ(
      Perform(SYS_inotify_add_watch, {fd, Str(0, "/passwd_link"), IN_MODIFY})
          .value,
      passwd);
  const CheckedCallOutcome link =
      Perform(SYS_inotify_add_watch,
              {fd, Str(0, "/passwd_link"), IN_MODIFY | IN_DONT_FOLLOW});
  ASSERT_EQ(link.kind, Kind::kValue) << link.error;
  EXPECT_NE(link.value, passwd);
  // Read permission as the workload; a descriptor that is not inotify's.
  EXPECT_EQ(
      Perform(SYS_inotify_add_watch, {fd, Str(0, "/secret"), IN_MODIFY}).error,
      EACCES);
  EXPECT_EQ(Perform(SYS_inotify_add_watch,
                    {static_cast<uint64_t>(child_->report()[0]), Str(0, "/sub"),
                     IN_MODIFY})
                .error,
            EINVAL);
}

TEST_F(CheckedCallsTest, ExecIsLeftToTheKernel) {
  EXPECT_EQ(Perform(SYS_execve, {Str(0, "/bin/true"), 0, 0}).kind,
            Kind::kContinue);
  EXPECT_TRUE(CanPerform(SYS_openat));
  EXPECT_TRUE(CanPerform(SYS_execveat));
  EXPECT_FALSE(CanPerform(SYS_getppid));
  // chdir is continued by the container, never performed.
  EXPECT_FALSE(CanPerform(SYS_chdir));
  EXPECT_TRUE(ContinueIsSafe(SYS_chdir));
  EXPECT_FALSE(ContinueIsSafe(SYS_openat));
  EXPECT_FALSE(CanPerform(SYS_mount));
}

TEST_F(CheckedCallsTest, CredentialsChangeOnlyTheCallingThread) {
  // A thread started before Enter (a new thread would copy the changed
  // credentials of its creator).
  std::promise<void> entered;
  uid_t other_fsuid = 1;
  std::string other_caps;
  std::thread other([&, go = entered.get_future()]() mutable {
    go.wait();
    other_fsuid = Fsuid();
    other_caps = ThreadStatus("CapEff:");
  });
  ScopedFsCredentials credentials;
  const bool ok = static_cast<bool>(credentials.Enter(kNobody, kNobody, 0));
  entered.set_value();
  other.join();
  ASSERT_TRUE(ok);
  EXPECT_EQ(Fsuid(), kNobody);
  EXPECT_EQ(Fsgid(), kNobody);
  EXPECT_EQ(ThreadStatus("CapEff:"), "CapEff:\t0000000000000000");
  // No supplementary group but the workload's (none needed when isoscope
  // has none: fsgid gives that group's access).
  const std::string groups = ThreadStatus("Groups:");
  EXPECT_TRUE(groups == "Groups:\t65534 " || groups == "Groups:\t ") << groups;
  EXPECT_EQ(other_fsuid, 0u);
  EXPECT_EQ(other_caps, cap_eff_);
  ASSERT_TRUE(credentials.Restore());
  ExpectCredentialsRestored();

  // uid 0: no filesystem id change, the capabilities still go.
  {
    ScopedFsCredentials as_root;
    ASSERT_TRUE(as_root.Enter(0, 0, uint64_t{1} << CAP_CHOWN));
    EXPECT_EQ(ThreadStatus("CapEff:"), "CapEff:\t0000000000000001");
  }  // the destructor restores
  ExpectCredentialsRestored();

  // With a supplementary group of isoscope's (root's group 0 would open
  // group-readable root files), the groups become the workload's alone.
  const auto saved = ThreadStatus("Groups:");
  std::vector<gid_t> saved_list(static_cast<size_t>(::getgroups(0, nullptr)));
  ASSERT_EQ(::getgroups(static_cast<int>(saved_list.size()), saved_list.data()),
            static_cast<int>(saved_list.size()));
  const gid_t zero = 0;
  ASSERT_EQ(::syscall(SYS_setgroups, 1, &zero), 0);
  {
    ScopedFsCredentials with_groups;
    ASSERT_TRUE(with_groups.Enter(kNobody, kNobody, 0));
    EXPECT_EQ(ThreadStatus("Groups:"), "Groups:\t65534 ");
    ASSERT_TRUE(with_groups.Restore());
  }
  EXPECT_EQ(ThreadStatus("Groups:"), "Groups:\t0 ");
  EXPECT_EQ(Fsuid(), 0u);
  EXPECT_EQ(ThreadStatus("CapEff:"), cap_eff_);
  ASSERT_EQ(::syscall(SYS_setgroups, saved_list.size(), saved_list.data()), 0);
  EXPECT_EQ(ThreadStatus("Groups:"), saved);
}

}  // namespace
}  // namespace isoscope
