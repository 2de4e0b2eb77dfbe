#include "backends/kvm/guest_kernel.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kvm/guest_layout.h"
#include "backends/kvm/guest_memory.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "tests/fuzz/guest_kernel_body.h"

namespace isoscope::kvm {
namespace {

constexpr uint64_t kRam = 32ULL << 20;
constexpr uint64_t kStrings = 0x100000;  // where the test plants strings
constexpr uint64_t kBuffer = 0x180000;   // a 512 KiB scratch buffer
constexpr uint64_t kBrkStart = 4ULL << 20;
constexpr uint64_t kMmapHigh = 24ULL << 20;
constexpr uint64_t kFdcwd = static_cast<uint64_t>(int64_t{AT_FDCWD});

int CountOpenFds() {
  int count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

// Entries named isoscope-... under the temp dirs (and their lock files).
std::set<std::string> TempEntries(const std::string& prefix) {
  std::set<std::string> out;
  const char* tmpdir = std::getenv("TMPDIR");
  for (const std::string& parent :
       {std::string(tmpdir != nullptr && *tmpdir ? tmpdir : "/tmp"),
        std::string("/dev/shm")}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(prefix)) {
        out.insert(std::string(parent).append("/").append(name));
      }
    }
  }
  return out;
}
// What `after` holds that `before` did not, leaving out the directories of
// another live process (their lock file, <dir>.lock, held): a fuzzer or a
// test running beside this one makes and removes entries of the same names
// in /dev/shm.
std::set<std::string> LeftSince(const std::set<std::string>& before,
                                const std::set<std::string>& after) {
  std::set<std::string> left;
  for (const std::string& path : after) {
    if (before.count(path) != 0) continue;
    const std::string dir =
        path.ends_with(".lock") ? path.substr(0, path.size() - 5) : path;
    const UniqueFd lock(
        ::open((dir + ".lock").c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (lock && ::flock(lock.get(), LOCK_SH | LOCK_NB) != 0) continue;
    left.insert(path);
  }
  return left;
}
std::set<std::string> TmpfsDirs() {
  std::set<std::string> out;
  for (const std::string& path : TempEntries("isoscope-guest-tmpfs-")) {
    if (!path.ends_with(".lock")) out.insert(path);
  }
  return out;
}

class GuestKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-gk-test-");
    ASSERT_TRUE(dir) << dir.error().ToString();
    dir_.emplace(*std::move(dir));
    root_ = dir_->path().string();
    work_ = root_ + "/work";
    ro_ = root_ + "/ro";
    ASSERT_EQ(::mkdir(work_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(ro_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((ro_ + "/secret").c_str(), 0755), 0);
    WriteHostFile(ro_ + "/data", "read-only bytes");
    WriteHostFile(ro_ + "/secret/key", "hidden");
    WriteHostFile(root_ + "/outside", "outside the view");
    auto memory = GuestMemory::Create(kRam);
    ASSERT_TRUE(memory) << memory.error().ToString();
    memory_.emplace(*std::move(memory));
    config_.view.writable = {work_};
    config_.view.readonly = {ro_};
    config_.view.hidden = {ro_ + "/secret"};
    config_.workdir = work_;
    config_.executable = "/usr/bin/the-program";
    config_.hostname = "guest-host";
    config_.uid = 1000;
    config_.gid = 1001;
    config_.brk_start = kBrkStart;
    config_.mmap_low = kBrkStart;
    config_.mmap_high = kMmapHigh;
    config_.max_sleep = std::chrono::milliseconds(50);
  }

  void MakeKernel() {
    auto kernel = GuestKernel::Create(*memory_, config_);
    ASSERT_TRUE(kernel) << kernel.error().ToString();
    kernel_ = std::move(*kernel);
  }

  static void WriteHostFile(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }

  // Plants a NUL-terminated string in guest RAM and returns its address.
  uint64_t Str(const std::string& text) {
    const uint64_t at = next_string_;
    EXPECT_TRUE(memory_->Write(at, text.c_str(), text.size() + 1));
    next_string_ += (text.size() + 1 + 63) & ~uint64_t{63};
    return at;
  }

  CallEffect Call(uint64_t number, std::array<uint64_t, 6> args = {}) {
    const DecodedCall call = kernel_->Decode(number, args);
    return kernel_->Perform(call);
  }
  int64_t Sys(uint64_t number, uint64_t a0 = 0, uint64_t a1 = 0,
              uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
              uint64_t a5 = 0) {
    return Call(number, {a0, a1, a2, a3, a4, a5}).result;
  }
  int64_t Open(const std::string& path, uint64_t flags, uint64_t mode = 0644) {
    return Sys(SYS_openat, kFdcwd, Str(path), flags, mode);
  }
  std::string ReadGuest(uint64_t address, size_t length) {
    std::string out(length, '\0');
    EXPECT_TRUE(memory_->Read(address, out.data(), length));
    return out;
  }
  std::vector<std::string> ListDir(int64_t fd) {
    std::vector<std::string> names;
    for (;;) {
      const int64_t got = Sys(SYS_getdents64, fd, kBuffer, 4096);
      EXPECT_GE(got, 0);
      if (got <= 0) break;
      const std::string bytes = ReadGuest(kBuffer, static_cast<size_t>(got));
      for (size_t at = 0; at < bytes.size();) {
        uint16_t reclen;
        std::memcpy(&reclen, bytes.data() + at + 16, sizeof reclen);
        names.emplace_back(bytes.c_str() + at + 19);
        at += reclen;
      }
    }
    return names;
  }

  std::optional<TempDir> dir_;
  std::string root_, work_, ro_;
  std::optional<GuestMemory> memory_;
  GuestKernelConfig config_;
  std::unique_ptr<GuestKernel> kernel_;
  uint64_t next_string_ = kStrings;
};

TEST_F(GuestKernelTest, PathsAreDecodedAbsoluteAgainstCwdAndDirfd) {
  MakeKernel();
  DecodedCall call = kernel_->Decode(
      SYS_openat, {kFdcwd, Str("a/./b/../c//d"), O_RDONLY, 0, 0, 0});
  EXPECT_EQ(call.decode_errno, 0);
  ASSERT_EQ(call.request.paths.size(), 1u);
  EXPECT_EQ(call.request.paths[0].arg_index, 1);
  EXPECT_EQ(call.request.paths[0].path, work_ + "/a/c/d");
  EXPECT_EQ(call.must_be_directory, 0);

  const int64_t dirfd = Open(ro_, O_RDONLY | O_DIRECTORY);
  ASSERT_EQ(dirfd, 3);
  call = kernel_->Decode(SYS_newfstatat, {static_cast<uint64_t>(dirfd),
                                          Str("x/../data/"), kBuffer, 0, 0, 0});
  EXPECT_EQ(call.decode_errno, 0);
  ASSERT_EQ(call.request.paths.size(), 1u);
  EXPECT_EQ(call.request.paths[0].path, ro_ + "/data");
  EXPECT_EQ(call.must_be_directory, 1);  // the trailing '/'

  // An absolute path ignores even a bad dirfd; two paths of rename.
  call = kernel_->Decode(SYS_renameat,
                         {99, Str("/x/../y"), kFdcwd, Str("z"), 0, 0});
  EXPECT_EQ(call.decode_errno, 0);
  ASSERT_EQ(call.request.paths.size(), 2u);
  EXPECT_EQ(call.request.paths[0].path, "/y");
  EXPECT_EQ(call.request.paths[1].arg_index, 3);
  EXPECT_EQ(call.request.paths[1].path, work_ + "/z");

  // After chdir, relative paths follow the new cwd.
  ASSERT_EQ(Sys(SYS_chdir, Str(ro_)), 0);
  call = kernel_->Decode(SYS_stat, {Str("data"), kBuffer, 0, 0, 0, 0});
  EXPECT_EQ(call.request.paths[0].path, ro_ + "/data");
  // AT_EMPTY_PATH with "" names the dirfd itself.
  call = kernel_->Decode(SYS_newfstatat, {static_cast<uint64_t>(dirfd), Str(""),
                                          kBuffer, AT_EMPTY_PATH, 0, 0});
  EXPECT_EQ(call.decode_errno, 0);
  EXPECT_TRUE(call.names_fd);
  EXPECT_EQ(call.request.paths[0].path, ro_);
  EXPECT_EQ(Call(SYS_newfstatat, call.request.args).result, 0);

  // openat2's flags are decoded for the policy.
  const uint64_t how = kBuffer;
  const uint64_t fields[3] = {O_WRONLY | O_CREAT, 0600, 0};
  ASSERT_TRUE(memory_->Write(how, fields, sizeof fields));
  call = kernel_->Decode(SYS_openat2, {kFdcwd, Str("f"), how, 24, 0, 0});
  EXPECT_EQ(call.decode_errno, 0);
  EXPECT_EQ(call.request.open_flags, uint64_t{O_WRONLY | O_CREAT});
}

TEST_F(GuestKernelTest, DecodeErrorsAreTheKernels) {
  MakeKernel();
  auto decode_errno = [&](uint64_t number, std::array<uint64_t, 6> args) {
    return kernel_->Decode(number, args).decode_errno;
  };
  EXPECT_EQ(decode_errno(SYS_open, {0, 0, 0, 0, 0, 0}), EFAULT);      // NULL
  EXPECT_EQ(decode_errno(SYS_open, {~0ULL, 0, 0, 0, 0, 0}), EFAULT);  // 2^64-1
  EXPECT_EQ(decode_errno(SYS_open, {kRam, 0, 0, 0, 0, 0}), EFAULT);
  // A string running off the end of RAM without its NUL.
  ASSERT_TRUE(memory_->Fill(kRam - 16, 'a', 16));
  EXPECT_EQ(decode_errno(SYS_open, {kRam - 16, 0, 0, 0, 0, 0}), EFAULT);
  EXPECT_EQ(
      decode_errno(SYS_open, {Str(std::string(4096, 'a')), 0, 0, 0, 0, 0}),
      ENAMETOOLONG);
  EXPECT_EQ(
      decode_errno(SYS_open, {Str(std::string(4095, 'a')), 0, 0, 0, 0, 0}),
      ENAMETOOLONG);  // too long once made absolute
  EXPECT_EQ(decode_errno(SYS_open, {Str(""), 0, 0, 0, 0, 0}), ENOENT);
  EXPECT_EQ(decode_errno(SYS_openat, {77, Str("x"), 0, 0, 0, 0}), EBADF);
  EXPECT_EQ(decode_errno(SYS_openat, {1, Str("x"), 0, 0, 0, 0}), ENOTDIR);
  // openat2's struct: size bounds, non-zero tail, unreadable.
  const uint64_t how = kBuffer;
  ASSERT_TRUE(memory_->Fill(how, 0, 64));
  EXPECT_EQ(decode_errno(SYS_openat2, {kFdcwd, Str("f"), how, 16, 0, 0}),
            EINVAL);
  EXPECT_EQ(decode_errno(SYS_openat2, {kFdcwd, Str("f"), how, 8192, 0, 0}),
            E2BIG);
  ASSERT_TRUE(memory_->Fill(how + 30, 1, 1));
  EXPECT_EQ(decode_errno(SYS_openat2, {kFdcwd, Str("f"), how, 32, 0, 0}),
            E2BIG);
  EXPECT_EQ(decode_errno(SYS_openat2, {kFdcwd, Str("f"), kRam - 8, 24, 0, 0}),
            EFAULT);
  // An allowed call with a decode error fails with it, without running.
  const CallEffect effect = Call(SYS_mkdir, {Str(""), 0755, 0, 0, 0, 0});
  EXPECT_EQ(effect.result, -ENOENT);
  EXPECT_FALSE(effect.unimplemented);
}

TEST_F(GuestKernelTest, PerformUsesTheDecodedPathNotGuestMemoryAgain) {
  MakeKernel();
  const uint64_t name = Str("first");
  const DecodedCall call = kernel_->Decode(
      SYS_openat, {kFdcwd, name, O_CREAT | O_WRONLY, 0644, 0, 0});
  // The guest rewrites the string after the policy saw it.
  ASSERT_TRUE(memory_->Write(name, "other", 6));
  EXPECT_EQ(kernel_->Perform(call).result, 3);
  EXPECT_TRUE(std::filesystem::exists(work_ + "/first"));
  EXPECT_FALSE(std::filesystem::exists(work_ + "/other"));
}

TEST_F(GuestKernelTest, WritesToStdoutAndStderrBecomeOutput) {
  MakeKernel();
  ASSERT_TRUE(memory_->Write(kBuffer, "hello world", 11));
  CallEffect effect = Call(SYS_write, {1, kBuffer, 5, 0, 0, 0});
  EXPECT_EQ(effect.result, 5);
  ASSERT_TRUE(effect.stream);
  EXPECT_EQ(*effect.stream, OutputStream::kStdout);
  EXPECT_EQ(effect.output, "hello");
  effect = Call(SYS_write, {2, kBuffer + 6, 5, 0, 0, 0});
  EXPECT_EQ(*effect.stream, OutputStream::kStderr);
  EXPECT_EQ(effect.output, "world");
  // writev gathers its segments.
  const uint64_t iov[4] = {kBuffer + 6, 5, kBuffer, 5};
  ASSERT_TRUE(memory_->Write(kBuffer + 4096, iov, sizeof iov));
  effect = Call(SYS_writev, {1, kBuffer + 4096, 2, 0, 0, 0});
  EXPECT_EQ(effect.result, 10);
  EXPECT_EQ(effect.output, "worldhello");
  // stdin reads EOF; stdout is not readable.
  EXPECT_EQ(Sys(SYS_read, 0, kBuffer, 10), 0);
  EXPECT_EQ(Sys(SYS_read, 1, kBuffer, 10), -EBADF);
  // dup2 of stdout writes output too.
  EXPECT_EQ(Sys(SYS_dup2, 1, 7), 7);
  effect = Call(SYS_write, {7, kBuffer, 2, 0, 0, 0});
  EXPECT_EQ(effect.output, "he");
  // A huge write is short (1 MiB per call), never more than was asked.
  effect = Call(SYS_write, {1, kBrkStart, 8ULL << 20, 0, 0, 0});
  EXPECT_EQ(effect.result, 1 << 20);
  EXPECT_EQ(effect.output.size(), 1u << 20);
}

TEST_F(GuestKernelTest, BadBuffersAreEfault) {
  MakeKernel();
  const int64_t fd = Open("file", O_CREAT | O_RDWR);
  ASSERT_EQ(fd, 3);
  const uint64_t f = static_cast<uint64_t>(fd);
  for (const auto& [address, length] :
       std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 16},           // NULL
           {16, 16},          // the never-mapped first page
           {kRam - 8, 16},    // straddles the end of RAM
           {kRam, 1},         // just past it
           {~0ULL, 1},        // 2^64-1
           {~0ULL - 15, 32},  // wraps around
           {kBuffer, ~0ULL},  // length 2^64-1
           {kBuffer, 1ULL << 63}}) {
    SCOPED_TRACE(::testing::Message() << std::hex << address << " " << length);
    EXPECT_EQ(Sys(SYS_write, f, address, length), -EFAULT);
    EXPECT_EQ(Sys(SYS_read, f, address, length), -EFAULT);
    EXPECT_EQ(Sys(SYS_write, 1, address, length), -EFAULT);
    EXPECT_EQ(Sys(SYS_getrandom, address, length, 0), -EFAULT);
  }
  // Zero-length at any address is fine, as in Linux.
  EXPECT_EQ(Sys(SYS_read, f, ~0ULL, 0), 0);
  // A bad iovec array, and a bad segment inside a good one.
  EXPECT_EQ(Sys(SYS_writev, 1, kRam - 8, 1), -EFAULT);
  const uint64_t iov[2] = {kRam - 4, 8};
  ASSERT_TRUE(memory_->Write(kBuffer, iov, sizeof iov));
  EXPECT_EQ(Sys(SYS_writev, 1, kBuffer, 1), -EFAULT);
  EXPECT_EQ(Sys(SYS_writev, 1, kBuffer, 100000), -EINVAL);
  // Results to bad pointers.
  EXPECT_EQ(Sys(SYS_fstat, f, kRam - 8), -EFAULT);
  EXPECT_EQ(Sys(SYS_uname, 0), -EFAULT);
  EXPECT_EQ(Sys(SYS_getcwd, kRam - 2, 4096), -EFAULT);
  EXPECT_EQ(Sys(SYS_pipe2, ~0ULL - 3, 0), -EFAULT);
}

TEST_F(GuestKernelTest, FileRoundTripInTheWorkdir) {
  MakeKernel();
  const int64_t fd = Open("notes.txt", O_CREAT | O_RDWR | O_TRUNC, 0640);
  ASSERT_EQ(fd, 3);
  const uint64_t f = static_cast<uint64_t>(fd);
  ASSERT_TRUE(memory_->Write(kBuffer, "abcdefghij", 10));
  EXPECT_EQ(Sys(SYS_write, f, kBuffer, 10), 10);
  EXPECT_EQ(Sys(SYS_pwrite64, f, kBuffer, 3, 20), 3);
  EXPECT_EQ(Sys(SYS_lseek, f, 2, SEEK_SET), 2);
  ASSERT_TRUE(memory_->Fill(kBuffer + 100, 0, 64));
  EXPECT_EQ(Sys(SYS_read, f, kBuffer + 100, 4), 4);
  EXPECT_EQ(ReadGuest(kBuffer + 100, 4), "cdef");
  EXPECT_EQ(Sys(SYS_pread64, f, kBuffer + 100, 3, 20), 3);
  EXPECT_EQ(ReadGuest(kBuffer + 100, 3), "abc");
  EXPECT_EQ(Sys(SYS_fstat, f, kBuffer + 200), 0);
  struct stat st;
  ASSERT_TRUE(memory_->Read(kBuffer + 200, &st, sizeof st));
  EXPECT_EQ(st.st_size, 23);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0640u & ~022u);
  EXPECT_EQ(Sys(SYS_stat, Str("notes.txt"), kBuffer + 200), 0);
  EXPECT_EQ(
      Sys(SYS_statx, kFdcwd, Str("notes.txt"), 0, STATX_SIZE, kBuffer + 400),
      0);
  struct statx stx;
  ASSERT_TRUE(memory_->Read(kBuffer + 400, &stx, sizeof stx));
  EXPECT_EQ(stx.stx_size, 23u);
  EXPECT_EQ(Sys(SYS_mkdir, Str("sub"), 0755), 0);
  EXPECT_EQ(Sys(SYS_rename, Str("notes.txt"), Str("sub/moved")), 0);
  const int64_t dir = Open(".", O_RDONLY | O_DIRECTORY);
  ASSERT_EQ(dir, 4);
  EXPECT_THAT(ListDir(dir), ::testing::UnorderedElementsAre(".", "..", "sub"));
  EXPECT_EQ(Sys(SYS_close, f), 0);
  EXPECT_EQ(Sys(SYS_close, f), -EBADF);
  EXPECT_EQ(Sys(SYS_access, Str("sub/moved"), R_OK | W_OK), 0);
  EXPECT_EQ(Sys(SYS_unlink, Str("sub/moved")), 0);
  EXPECT_EQ(Sys(SYS_stat, Str("sub/moved"), kBuffer), -ENOENT);
  EXPECT_EQ(Sys(SYS_rmdir, Str("sub")), 0);
  // setuid and setgid never reach a host file; the umask applies.
  EXPECT_EQ(Open("suid", O_CREAT | O_WRONLY, 06777), 3);
  struct stat host;
  ASSERT_EQ(::stat((work_ + "/suid").c_str(), &host), 0);
  EXPECT_EQ(host.st_mode & 07777, 0755u);
  EXPECT_EQ(Sys(SYS_chmod, Str("suid"), 04711), 0);
  ASSERT_EQ(::stat((work_ + "/suid").c_str(), &host), 0);
  EXPECT_EQ(host.st_mode & 07777, 0711u);
  EXPECT_EQ(Sys(SYS_fchmod, 3, 02701), 0);
  ASSERT_EQ(::stat((work_ + "/suid").c_str(), &host), 0);
  EXPECT_EQ(host.st_mode & 07777, 0701u);
  EXPECT_EQ(Sys(SYS_close, 3), 0);
  EXPECT_FALSE(std::filesystem::exists(work_ + "/sub"));
  // getcwd and the root of the view itself.
  EXPECT_EQ(Sys(SYS_getcwd, kBuffer, 4096),
            static_cast<int64_t>(work_.size() + 1));
  EXPECT_EQ(ReadGuest(kBuffer, work_.size()), work_);
  EXPECT_EQ(Sys(SYS_getcwd, kBuffer, 3), -ERANGE);
  EXPECT_EQ(Sys(SYS_rmdir, Str(work_)), -EBUSY);
  // A symlink inside the root to a name inside it works.
  EXPECT_EQ(Sys(SYS_symlink, Str("target"), Str("alias")), 0);
  EXPECT_EQ(Sys(SYS_readlink, Str("alias"), kBuffer, 64), 6);
  EXPECT_EQ(ReadGuest(kBuffer, 6), "target");
  WriteHostFile(work_ + "/target", "via link");
  EXPECT_EQ(Open("alias", O_RDONLY), 3);
  EXPECT_EQ(Sys(SYS_read, 3, kBuffer, 64), 8);
}

TEST_F(GuestKernelTest, ReadOnlyRootRefusesWrites) {
  MakeKernel();
  const std::string data = ro_ + "/data";
  EXPECT_EQ(Open(data, O_WRONLY), -EROFS);
  EXPECT_EQ(Open(data, O_RDWR), -EROFS);
  EXPECT_EQ(Open(data, O_RDONLY | O_TRUNC), -EROFS);
  EXPECT_EQ(Open(ro_ + "/new", O_CREAT | O_WRONLY), -EROFS);
  EXPECT_EQ(Open(ro_ + "/new", O_CREAT | O_RDONLY), -EROFS);
  EXPECT_EQ(Sys(SYS_unlink, Str(data)), -EROFS);
  EXPECT_EQ(Sys(SYS_mkdir, Str(ro_ + "/dir"), 0755), -EROFS);
  EXPECT_EQ(Sys(SYS_rename, Str(data), Str(work_ + "/stolen")), -EROFS);
  EXPECT_EQ(Sys(SYS_link, Str(data), Str(work_ + "/writable-alias")), -EROFS);
  EXPECT_EQ(Sys(SYS_truncate, Str(data), 0), -EROFS);
  EXPECT_EQ(Sys(SYS_chmod, Str(data), 0777), -EROFS);
  EXPECT_EQ(Sys(SYS_access, Str(data), W_OK), -EROFS);
  EXPECT_EQ(Sys(SYS_symlink, Str("x"), Str(ro_ + "/l")), -EROFS);
  // Reading works; fchmod through a read-only fd of it does not.
  const int64_t fd = Open(data, O_RDONLY);
  ASSERT_EQ(fd, 3);
  EXPECT_EQ(Sys(SYS_read, 3, kBuffer, 64), 15);
  EXPECT_EQ(ReadGuest(kBuffer, 15), "read-only bytes");
  EXPECT_EQ(Sys(SYS_fchmod, 3, 0777), -EROFS);
  EXPECT_EQ(Sys(SYS_write, 3, kBuffer, 1), -EBADF);
  // O_CREAT of an existing file, opened for reading only, is allowed.
  EXPECT_EQ(Open(data, O_CREAT | O_RDONLY), 4);
  struct stat st;
  ASSERT_EQ(::stat(data.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(GuestKernelTest, HiddenAndUnlistedPathsDoNotExist) {
  MakeKernel();
  EXPECT_EQ(Open(ro_ + "/secret/key", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open(ro_ + "/secret", O_RDONLY), -ENOENT);
  EXPECT_EQ(Sys(SYS_stat, Str(ro_ + "/secret"), kBuffer), -ENOENT);
  EXPECT_EQ(Open(ro_ + "/x/../secret/key", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open("/etc/passwd", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open(root_ + "/outside", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open(work_ + "/../outside", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open("/proc/self/status", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open("/", O_RDONLY), -ENOENT);
  // A name that only starts like a root is not under it.
  EXPECT_EQ(Open(work_ + "x", O_CREAT | O_WRONLY), -ENOENT);
  EXPECT_EQ(Sys(SYS_chdir, Str("/")), -ENOENT);
  // Listing the parent does not show the hidden name.
  const int64_t dir = Open(ro_, O_RDONLY | O_DIRECTORY);
  ASSERT_EQ(dir, 3);
  EXPECT_THAT(ListDir(dir), ::testing::UnorderedElementsAre(".", "..", "data"));
  // readlink of the program answers the configured executable.
  EXPECT_EQ(Sys(SYS_readlink, Str("/proc/self/exe"), kBuffer, 4096),
            static_cast<int64_t>(config_.executable.size()));
  EXPECT_EQ(ReadGuest(kBuffer, config_.executable.size()), config_.executable);
  EXPECT_EQ(Sys(SYS_readlink, Str("/proc/self/exe"), kBuffer, 4), 4);
}

TEST_F(GuestKernelTest, SymlinksCannotLeaveTheView) {
  ASSERT_EQ(::symlink("/etc/passwd", (work_ + "/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../../../etc/passwd", (work_ + "/up").c_str()),
            0);
  ASSERT_EQ(::symlink("../outside", (work_ + "/sibling").c_str()), 0);
  ASSERT_EQ(::symlink("/proc/self/environ", (work_ + "/proc").c_str()), 0);
  ASSERT_EQ(::symlink("data", (ro_ + "/alias").c_str()), 0);
  ASSERT_EQ(::symlink("secret/key", (ro_ + "/to-hidden").c_str()), 0);
  MakeKernel();
  for (const char* name : {"abs", "up", "sibling", "proc"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Open(name, O_RDONLY), -ENOENT);
    EXPECT_EQ(Open(name, O_WRONLY | O_TRUNC), -ENOENT);
    EXPECT_EQ(Sys(SYS_stat, Str(name), kBuffer), -ENOENT);
    EXPECT_EQ(Sys(SYS_truncate, Str(name), 0), -ENOENT);
    EXPECT_EQ(Sys(SYS_chdir, Str(name)), -ENOENT);
    // The link itself is visible.
    EXPECT_EQ(Sys(SYS_lstat, Str(name), kBuffer), 0);
  }
  // Under a root with hidden entries below it no symlink is followed.
  EXPECT_EQ(Open(ro_ + "/to-hidden", O_RDONLY), -ELOOP);
  EXPECT_EQ(Open(ro_ + "/alias", O_RDONLY), -ELOOP);
  std::ifstream passwd("/etc/passwd");
  EXPECT_TRUE(passwd.good());  // the host file is still there, untouched
}

// A root of its own (an OCI bundle's rootfs) is the view's base, "/":
// read-only unless listed writable, the view's paths resolved beneath it,
// an absolute symlink under the base naming a path of the root, and
// nothing of the host's tree visible.
TEST_F(GuestKernelTest, ARootOfItsOwnIsTheBaseOfTheView) {
  const std::string rootfs = root_ + "/rootfs";
  for (const char* dir : {"", "/etc", "/bin", "/work", "/srv"}) {
    ASSERT_EQ(::mkdir((rootfs + dir).c_str(), 0755), 0) << dir;
  }
  WriteHostFile(rootfs + "/etc/marker", "the root's own");
  WriteHostFile(rootfs + "/srv/secret", "hidden");
  ASSERT_EQ(::symlink("/etc/marker", (rootfs + "/abs").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/marker", (rootfs + "/bin/abs").c_str()), 0);
  ASSERT_EQ(::symlink("/work", (rootfs + "/to-work").c_str()), 0);
  config_.root = rootfs;
  config_.workdir = "/work";
  config_.view = {};
  config_.view.readonly = {"/bin"};
  // Resolved beneath the root: the root's /work, not the host's.
  config_.view.writable = {"/to-work"};
  MakeKernel();
  auto read = [&](const std::string& path) {
    const int64_t fd = Open(path, O_RDONLY);
    if (fd < 0) return std::string("errno ") + std::to_string(-fd);
    const int64_t got = Sys(SYS_read, static_cast<uint64_t>(fd), kBuffer, 64);
    Sys(SYS_close, static_cast<uint64_t>(fd));
    return got < 0 ? std::string("read failed")
                   : ReadGuest(kBuffer, static_cast<size_t>(got));
  };
  EXPECT_EQ(read("/etc/marker"), "the root's own");
  EXPECT_EQ(read("/abs"), "the root's own");  // inside the root, as chroot
  // Beneath another root of the view, an absolute symlink leads nowhere.
  EXPECT_EQ(Open("/bin/abs", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open("/etc/marker", O_WRONLY), -EROFS);
  EXPECT_EQ(Open("/etc/new", O_CREAT | O_WRONLY), -EROFS);
  // The view's writable path is the root's /work, and only that.
  const int64_t created = Open("/to-work/made", O_CREAT | O_WRONLY);
  EXPECT_GE(created, 0);
  EXPECT_TRUE(std::filesystem::exists(rootfs + "/work/made"));
  EXPECT_EQ(Open("/work/other", O_CREAT | O_WRONLY), -EROFS);
  // Nothing of the host's tree: its paths are the root's, which lacks them.
  EXPECT_EQ(Open(root_ + "/outside", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open("/../outside", O_RDONLY), -ENOENT);

  // Hidden paths of the root, and a writable root: below a base that has
  // them, or a read-only root, no symlink is followed.
  kernel_.reset();
  config_.view.writable = {"/"};
  config_.view.hidden = {"/srv"};
  MakeKernel();
  EXPECT_EQ(Open("/srv/secret", O_RDONLY), -ENOENT);
  EXPECT_EQ(Open("/abs", O_RDONLY), -ELOOP);
  EXPECT_GE(Open("/etc/new", O_CREAT | O_WRONLY), 0);
  EXPECT_TRUE(std::filesystem::exists(rootfs + "/etc/new"));
  EXPECT_EQ(Open("/bin/new", O_CREAT | O_WRONLY), -EROFS);
}

TEST_F(GuestKernelTest, TmpfsIsFreshAndRemovedWithTheKernel) {
  const std::set<std::string> before = TmpfsDirs();
  config_.view.tmpfs = {"/tmp", "/scratch"};
  MakeKernel();
  const std::set<std::string> during = TmpfsDirs();
  EXPECT_EQ(during.size(), before.size() + 1);
  const int64_t dir = Open("/tmp", O_RDONLY | O_DIRECTORY);
  ASSERT_EQ(dir, 3);
  EXPECT_THAT(ListDir(dir), ::testing::UnorderedElementsAre(".", ".."));
  EXPECT_EQ(Open("/tmp/file", O_CREAT | O_WRONLY), 4);
  EXPECT_EQ(Sys(SYS_mkdir, Str("/scratch/d"), 0700), 0);
  EXPECT_EQ(Open("/tmp/../etc/passwd", O_RDONLY), -ENOENT);
  // A clone shares the tmpfs: it stays until the last kernel goes.
  auto clone = kernel_->Clone(*memory_);
  ASSERT_TRUE(clone) << clone.error().ToString();
  kernel_.reset();
  EXPECT_EQ(TmpfsDirs(), during);
  clone->reset();
  EXPECT_EQ(TmpfsDirs(), before);
}

TEST_F(GuestKernelTest, GuestFdsAreTheVmmsOwnNumbers) {
  MakeKernel();
  const int host_fds_before = CountOpenFds();
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY), 3);
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY), 4);
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY), 5);
  EXPECT_EQ(Sys(SYS_close, 4), 0);
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY | O_CLOEXEC), 4);
  EXPECT_EQ(Sys(SYS_fcntl, 4, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(Sys(SYS_dup, 3), 6);
  EXPECT_EQ(Sys(SYS_fcntl, 3, F_DUPFD, 20), 20);
  EXPECT_EQ(Sys(SYS_fcntl, 3, F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(Sys(SYS_dup3, 3, 3, 0), -EINVAL);
  EXPECT_EQ(Sys(SYS_dup2, 3, 3), 3);
  EXPECT_EQ(Sys(SYS_dup2, 99, 8), -EBADF);
  // A dup shares the offset, as one open file description.
  EXPECT_EQ(Sys(SYS_read, 3, kBuffer, 5), 5);
  EXPECT_EQ(Sys(SYS_lseek, 6, 0, SEEK_CUR), 5);
  // Pipes are guest numbers too.
  ASSERT_EQ(Sys(SYS_pipe2, kBuffer, O_CLOEXEC), 0);
  int32_t ends[2];
  ASSERT_TRUE(memory_->Read(kBuffer, ends, sizeof ends));
  EXPECT_EQ(ends[0], 7);
  EXPECT_EQ(ends[1], 8);
  ASSERT_TRUE(memory_->Write(kBuffer, "ping", 4));
  EXPECT_EQ(Sys(SYS_write, 8, kBuffer, 4), 4);
  EXPECT_EQ(Sys(SYS_read, 7, kBuffer + 16, 16), 4);
  EXPECT_EQ(Sys(SYS_read, 7, kBuffer + 16, 16), -EAGAIN);
  for (int fd = 3; fd <= 20; ++fd) (void)Sys(SYS_close, fd);
  EXPECT_EQ(CountOpenFds(), host_fds_before);
  EXPECT_EQ(Sys(SYS_ioctl, 1, TCGETS, kBuffer), -ENOTTY);
  EXPECT_EQ(Sys(SYS_ioctl, 1, TIOCGWINSZ, kBuffer), -ENOTTY);
  EXPECT_EQ(Sys(SYS_ioctl, 42, TCGETS, kBuffer), -EBADF);
}

// The guest's table starts with its virtual 0-2 only: descriptors the VMM
// process holds (what isoscope inherited, `isoscope run ... 8<secret`, or
// its own kvm, vcpu, pipe and sqlite fds) are not the guest's, whatever
// their numbers, before or after a fork's Clone.
TEST_F(GuestKernelTest, TheGuestReachesNoHostDescriptor) {
  const std::string secret_dir = root_ + "/secret-dir";
  std::filesystem::create_directory(secret_dir);
  WriteHostFile(secret_dir + "/secret", "vmm-secret");
  // Host fds of this process (the VMM's), not close-on-exec, as inherited.
  const int file = ::open((secret_dir + "/secret").c_str(), O_RDONLY);
  const int dir = ::open(secret_dir.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(file, 3);
  ASSERT_GE(dir, 3);
  MakeKernel();
  auto no_host_fd = [&](GuestKernel& kernel, int fd) {
    SCOPED_TRACE(fmt::format("host fd {}", fd));
    auto sys = [&](uint64_t number, std::array<uint64_t, 6> args) {
      return kernel.Perform(kernel.Decode(number, args)).result;
    };
    const auto n = static_cast<uint64_t>(fd);
    EXPECT_EQ(sys(SYS_read, {n, kBuffer, 64}), -EBADF);
    EXPECT_EQ(sys(SYS_pread64, {n, kBuffer, 64, 0}), -EBADF);
    EXPECT_EQ(sys(SYS_fstat, {n, kBuffer}), -EBADF);
    EXPECT_EQ(sys(SYS_fcntl, {n, F_GETFD}), -EBADF);
    EXPECT_EQ(sys(SYS_fcntl, {n, F_DUPFD, 0}), -EBADF);
    EXPECT_EQ(sys(SYS_dup, {n}), -EBADF);
    EXPECT_EQ(sys(SYS_dup2, {n, 30}), -EBADF);
    EXPECT_EQ(sys(SYS_lseek, {n, 0, SEEK_SET}), -EBADF);
    EXPECT_EQ(sys(SYS_getdents64, {n, kBuffer, 4096}), -EBADF);
    EXPECT_EQ(sys(SYS_fchdir, {n}), -EBADF);
    EXPECT_EQ(sys(SYS_openat, {n, Str("secret"), O_RDONLY, 0}), -EBADF);
    EXPECT_EQ(sys(SYS_mmap, {0, 4096, PROT_READ, MAP_PRIVATE, n, 0}), -EBADF);
    EXPECT_EQ(sys(SYS_close, {n}), -EBADF);
  };
  for (int fd : {file, dir}) no_host_fd(*kernel_, fd);
  // The guest's first descriptor is 3, whatever the VMM holds there.
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY), 3);
  EXPECT_EQ(Sys(SYS_close, 3), 0);
  for (int fd = 3; fd < 64; ++fd) {
    EXPECT_EQ(Sys(SYS_fcntl, static_cast<uint64_t>(fd), F_GETFD), -EBADF)
        << "guest fd " << fd;
  }
  EXPECT_THAT(ReadGuest(kBuffer, 64),
              ::testing::Not(::testing::HasSubstr("vmm-secret")));
  // A fork's kernel copies the guest's table, not the VMM's.
  auto child = kernel_->Clone(*memory_);
  ASSERT_TRUE(child) << child.error().ToString();
  for (int fd : {file, dir}) no_host_fd(**child, fd);
  // The secret is still there, to the VMM: only the guest cannot reach it.
  char byte = 0;
  EXPECT_EQ(::pread(file, &byte, 1, 0), 1);
  ::close(file);
  ::close(dir);
}

TEST_F(GuestKernelTest, OpenFilesLimitIsEmfile) {
  config_.open_files = 5;
  MakeKernel();
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY), 3);
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY), 4);
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY), -EMFILE);
  EXPECT_EQ(Sys(SYS_dup, 3), -EMFILE);
  EXPECT_EQ(Sys(SYS_dup2, 3, 5), -EBADF);
  EXPECT_EQ(Sys(SYS_pipe2, kBuffer, 0), -EMFILE);
  uint64_t limit[2] = {0, 0};
  EXPECT_EQ(Sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, kBuffer), 0);
  ASSERT_TRUE(memory_->Read(kBuffer, limit, sizeof limit));
  EXPECT_EQ(limit[0], 5u);
  EXPECT_EQ(limit[1], 5u);
  // Lowering is accepted (and enforced); raising is not.
  limit[0] = limit[1] = 4;
  ASSERT_TRUE(memory_->Write(kBuffer, limit, sizeof limit));
  EXPECT_EQ(Sys(SYS_setrlimit, RLIMIT_NOFILE, kBuffer), 0);
  EXPECT_EQ(Sys(SYS_close, 4), 0);
  EXPECT_EQ(Open(ro_ + "/data", O_RDONLY), -EMFILE);
  limit[0] = limit[1] = 100;
  ASSERT_TRUE(memory_->Write(kBuffer, limit, sizeof limit));
  EXPECT_EQ(Sys(SYS_setrlimit, RLIMIT_NOFILE, kBuffer), -EPERM);
}

TEST_F(GuestKernelTest, FileSizeLimitIsEfbigAndALimitEvent) {
  config_.file_size_bytes = 10;
  MakeKernel();
  const int64_t fd = Open("big", O_CREAT | O_WRONLY);
  ASSERT_EQ(fd, 3);
  ASSERT_TRUE(memory_->Fill(kBuffer, 'x', 64));
  CallEffect effect = Call(SYS_write, {3, kBuffer, 8, 0, 0, 0});
  EXPECT_EQ(effect.result, 8);
  EXPECT_FALSE(effect.limit);
  effect = Call(SYS_write, {3, kBuffer, 8, 0, 0, 0});
  EXPECT_EQ(effect.result, 2);  // up to the limit, as Linux
  effect = Call(SYS_write, {3, kBuffer, 8, 0, 0, 0});
  EXPECT_EQ(effect.result, -EFBIG);
  ASSERT_TRUE(effect.limit);
  EXPECT_EQ(*effect.limit, LimitKind::kFileSize);
  effect = Call(SYS_pwrite64, {3, kBuffer, 1, 50, 0, 0});
  EXPECT_EQ(effect.result, -EFBIG);
  effect = Call(SYS_ftruncate, {3, 11, 0, 0, 0, 0});
  EXPECT_EQ(effect.result, -EFBIG);
  EXPECT_TRUE(effect.limit);
  EXPECT_EQ(Call(SYS_ftruncate, {3, 4, 0, 0, 0, 0}).result, 0);
  EXPECT_EQ(std::filesystem::file_size(work_ + "/big"), 4u);
}

TEST_F(GuestKernelTest, BrkAndMmapSemantics) {
  MakeKernel();
  EXPECT_EQ(Sys(SYS_brk, 0), static_cast<int64_t>(kBrkStart));
  EXPECT_EQ(Sys(SYS_brk, kBrkStart + 10000),
            static_cast<int64_t>(kBrkStart + 10000));
  EXPECT_EQ(Sys(SYS_brk, 1), static_cast<int64_t>(kBrkStart + 10000));
  ASSERT_TRUE(memory_->Fill(kBrkStart, 0xaa, 10000));

  const uint64_t anon = MAP_PRIVATE | MAP_ANONYMOUS;
  const uint64_t rw = PROT_READ | PROT_WRITE;
  const int64_t first = Sys(SYS_mmap, 0, 10000, rw, anon, ~0ULL, 0);
  EXPECT_EQ(first, static_cast<int64_t>(kMmapHigh - 3 * kPageSize));
  const int64_t second = Sys(SYS_mmap, 0, kPageSize, rw, anon, ~0ULL, 0);
  EXPECT_EQ(second, first - static_cast<int64_t>(kPageSize));
  // New mappings read as zero even where the guest wrote before.
  ASSERT_TRUE(memory_->Fill(static_cast<uint64_t>(first), 0x55, 100));
  EXPECT_EQ(Sys(SYS_munmap, static_cast<uint64_t>(first), 10000), 0);
  const int64_t again = Sys(SYS_mmap, 0, 10000, rw, anon, ~0ULL, 0);
  EXPECT_EQ(again, first);
  EXPECT_EQ(ReadGuest(static_cast<uint64_t>(again), 4), std::string(4, '\0'));
  // MAP_FIXED replaces, MAP_FIXED_NOREPLACE refuses, outside the area fails.
  const uint64_t fixed = 16ULL << 20;
  EXPECT_EQ(Sys(SYS_mmap, fixed, 8192, rw, anon | MAP_FIXED, ~0ULL, 0),
            static_cast<int64_t>(fixed));
  EXPECT_EQ(Sys(SYS_mmap, fixed + 4096, 4096, rw, anon | MAP_FIXED, ~0ULL, 0),
            static_cast<int64_t>(fixed + 4096));
  EXPECT_EQ(
      Sys(SYS_mmap, fixed, 4096, rw, anon | MAP_FIXED_NOREPLACE, ~0ULL, 0),
      -EEXIST);
  EXPECT_EQ(Sys(SYS_mmap, fixed + 1, 4096, rw, anon | MAP_FIXED, ~0ULL, 0),
            -EINVAL);
  EXPECT_EQ(Sys(SYS_mmap, kPageSize, 4096, rw, anon | MAP_FIXED, ~0ULL, 0),
            -ENOMEM);
  EXPECT_EQ(Sys(SYS_mmap, kMmapHigh, 4096, rw, anon | MAP_FIXED, ~0ULL, 0),
            -ENOMEM);
  EXPECT_EQ(Sys(SYS_mmap, ~0ULL - 4095, 8192, rw, anon | MAP_FIXED, ~0ULL, 0),
            -ENOMEM);
  // The heap cannot grow into a mapping.
  const int64_t low = Sys(SYS_mmap, kBrkStart + (1 << 20), 4096, rw,
                          anon | MAP_FIXED_NOREPLACE, ~0ULL, 0);
  EXPECT_EQ(low, static_cast<int64_t>(kBrkStart + (1 << 20)));
  EXPECT_EQ(Sys(SYS_brk, kBrkStart + (2 << 20)),
            static_cast<int64_t>(kBrkStart + 10000));
  // Bad arguments.
  EXPECT_EQ(Sys(SYS_mmap, 0, 0, rw, anon, ~0ULL, 0), -EINVAL);
  EXPECT_EQ(Sys(SYS_mmap, 0, 4096, rw, MAP_ANONYMOUS, ~0ULL, 0), -EINVAL);
  EXPECT_EQ(Sys(SYS_mmap, 0, 4096, rw, anon, ~0ULL, 1), -EINVAL);
  EXPECT_EQ(Sys(SYS_mmap, 0, ~0ULL, rw, anon, ~0ULL, 0), -ENOMEM);
  EXPECT_EQ(Sys(SYS_mmap, 0, 4096, rw, MAP_PRIVATE, 42, 0), -EBADF);
  EXPECT_EQ(Sys(SYS_mmap, 0, 4096, rw, MAP_PRIVATE, 1, 0), -ENODEV);
  EXPECT_EQ(Sys(SYS_munmap, 1, 4096), -EINVAL);
  EXPECT_EQ(Sys(SYS_munmap, 4096, 0), -EINVAL);
  EXPECT_EQ(Sys(SYS_munmap, 1ULL << 40, 4096), 0);  // not mapped: fine
  EXPECT_EQ(Sys(SYS_mprotect, static_cast<uint64_t>(second), 4096, PROT_READ),
            0);
  EXPECT_EQ(Sys(SYS_mprotect, kRam, 4096, PROT_READ), -ENOMEM);
  // Exhaustion.
  EXPECT_EQ(Sys(SYS_mmap, 0, kRam, rw, anon, ~0ULL, 0), -ENOMEM);
  int64_t last = 0;
  int count = 0;
  while ((last = Sys(SYS_mmap, 0, 1 << 20, rw, anon, ~0ULL, 0)) > 0) ++count;
  EXPECT_EQ(last, -ENOMEM);
  EXPECT_GT(count, 10);
  EXPECT_LT(count, 24);
  // A private file mapping holds the file's bytes.
  EXPECT_EQ(Sys(SYS_munmap, kBrkStart, kMmapHigh - kBrkStart), 0);
  const int64_t fd = Open(ro_ + "/data", O_RDONLY);
  ASSERT_EQ(fd, 3);
  const int64_t mapped = Sys(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 3, 0);
  ASSERT_GT(mapped, 0);
  EXPECT_EQ(ReadGuest(static_cast<uint64_t>(mapped), 16),
            std::string("read-only bytes\0", 16));
  EXPECT_EQ(Sys(SYS_mmap, 0, 4096, rw, MAP_SHARED, 3, 0), -ENODEV);
  // mremap grows in place or moves with the contents.
  const int64_t a = Sys(SYS_mremap, static_cast<uint64_t>(mapped), 4096,
                        uint64_t{3} * 4096, MREMAP_MAYMOVE);
  ASSERT_GT(a, 0);
  EXPECT_EQ(ReadGuest(static_cast<uint64_t>(a), 4), "read");
  // Growing a range that does not end its mapping cannot be in place.
  EXPECT_EQ(Sys(SYS_mremap, static_cast<uint64_t>(a), 4096, 8192, 0), -ENOMEM);
  EXPECT_EQ(Sys(SYS_mremap, 1ULL << 40, 4096, 8192, MREMAP_MAYMOVE), -EFAULT);
  EXPECT_EQ(
      Sys(SYS_mremap, static_cast<uint64_t>(a), uint64_t{3} * 4096, 4096, 0),
      a);
  EXPECT_EQ(Sys(SYS_madvise, static_cast<uint64_t>(a), 4096, MADV_DONTNEED), 0);
  EXPECT_EQ(ReadGuest(static_cast<uint64_t>(a), 4), std::string(4, '\0'));
}

TEST_F(GuestKernelTest, ArchPrctlTracksFsAndGs) {
  MakeKernel();
  CallEffect effect = Call(SYS_arch_prctl, {0x1002, 0x123000, 0, 0, 0, 0});
  EXPECT_EQ(effect.result, 0);
  ASSERT_TRUE(effect.set_fs_base);
  EXPECT_EQ(*effect.set_fs_base, 0x123000u);
  EXPECT_FALSE(effect.set_gs_base);
  effect = Call(SYS_arch_prctl, {0x1001, 0x456000, 0, 0, 0, 0});
  EXPECT_EQ(*effect.set_gs_base, 0x456000u);
  EXPECT_EQ(Sys(SYS_arch_prctl, 0x1003, kBuffer), 0);
  EXPECT_EQ(memory_->ReadValue<uint64_t>(kBuffer), 0x123000u);
  EXPECT_EQ(Sys(SYS_arch_prctl, 0x1004, kBuffer), 0);
  EXPECT_EQ(memory_->ReadValue<uint64_t>(kBuffer), 0x456000u);
  EXPECT_EQ(Sys(SYS_arch_prctl, 0x1003, 0), -EFAULT);
  EXPECT_EQ(Sys(SYS_arch_prctl, 0x1003, kRam - 4), -EFAULT);
  EXPECT_EQ(Sys(SYS_arch_prctl, 0x1002, 1ULL << 63), -EPERM);
  EXPECT_EQ(Sys(SYS_arch_prctl, 0x1011, 0), -EINVAL);
  EXPECT_EQ(kernel_->fs_base(), 0x123000u);
}

TEST_F(GuestKernelTest, IdentityAnswers) {
  MakeKernel();
  EXPECT_EQ(Sys(SYS_uname, kBuffer), 0);
  struct utsname uts;
  ASSERT_TRUE(memory_->Read(kBuffer, &uts, sizeof uts));
  EXPECT_STREQ(uts.sysname, "Linux");
  EXPECT_STREQ(uts.nodename, "guest-host");
  EXPECT_STREQ(uts.machine, "x86_64");
  struct utsname host;
  ASSERT_EQ(::uname(&host), 0);
  EXPECT_STREQ(uts.release, host.release);
  EXPECT_EQ(Sys(SYS_getpid), 1);
  EXPECT_EQ(Sys(SYS_gettid), 1);
  EXPECT_EQ(Sys(SYS_getppid), 0);
  EXPECT_EQ(Sys(SYS_getuid), 1000);
  EXPECT_EQ(Sys(SYS_getegid), 1001);
  EXPECT_EQ(Sys(SYS_getresuid, kBuffer, kBuffer + 4, kBuffer + 8), 0);
  EXPECT_EQ(memory_->ReadValue<uint32_t>(kBuffer + 8), 1000u);
  EXPECT_EQ(Sys(SYS_getresgid, kBuffer, kBuffer + 4, 0), -EFAULT);
  EXPECT_EQ(Sys(SYS_set_tid_address, kBuffer), 1);
  EXPECT_EQ(Sys(SYS_set_robust_list, kBuffer, 24), 0);
  EXPECT_EQ(Sys(SYS_set_robust_list, kBuffer, 23), -EINVAL);
  EXPECT_EQ(Sys(SYS_umask, 077), 022);
  EXPECT_EQ(Sys(SYS_umask, 022), 077);
  EXPECT_EQ(Sys(SYS_sched_getaffinity, 0, 128, kBuffer), 8);
  EXPECT_EQ(memory_->ReadValue<uint64_t>(kBuffer), 1u);
  EXPECT_EQ(Sys(SYS_sched_getaffinity, 0, 3, kBuffer), -EINVAL);
  EXPECT_EQ(Sys(SYS_sysinfo, kBuffer), 0);
  const CallEffect exit = Call(SYS_exit_group, {0x1234, 0, 0, 0, 0, 0});
  ASSERT_TRUE(exit.exit_status);
  EXPECT_EQ(*exit.exit_status, 0x34);
}

TEST_F(GuestKernelTest, SignalStateRoundTrips) {
  MakeKernel();
  const uint64_t action[4] = {0x401000,
                              0x04000000 /* SA_RESTORER */ | SA_SIGINFO,
                              0x402000, (1ULL << (SIGKILL - 1)) | 0x10};
  ASSERT_TRUE(memory_->Write(kBuffer, action, sizeof action));
  EXPECT_EQ(Sys(SYS_rt_sigaction, SIGUSR1, kBuffer, 0, 8), 0);
  ASSERT_TRUE(memory_->Fill(kBuffer + 64, 0xff, 32));
  EXPECT_EQ(Sys(SYS_rt_sigaction, SIGUSR1, 0, kBuffer + 64, 8), 0);
  uint64_t old[4];
  ASSERT_TRUE(memory_->Read(kBuffer + 64, old, sizeof old));
  EXPECT_EQ(old[0], action[0]);
  EXPECT_EQ(old[1], action[1]);
  EXPECT_EQ(old[2], action[2]);
  EXPECT_EQ(old[3], 0x10u);  // SIGKILL cannot be blocked
  EXPECT_EQ(Sys(SYS_rt_sigaction, SIGKILL, kBuffer, 0, 8), -EINVAL);
  EXPECT_EQ(Sys(SYS_rt_sigaction, SIGKILL, 0, kBuffer + 64, 8), 0);
  EXPECT_EQ(Sys(SYS_rt_sigaction, 0, 0, kBuffer + 64, 8), -EINVAL);
  EXPECT_EQ(Sys(SYS_rt_sigaction, 65, 0, kBuffer + 64, 8), -EINVAL);
  EXPECT_EQ(Sys(SYS_rt_sigaction, SIGUSR1, kBuffer, 0, 16), -EINVAL);
  EXPECT_EQ(Sys(SYS_rt_sigaction, SIGUSR1, kRam - 8, 0, 8), -EFAULT);
  const uint64_t set = 0x5;
  ASSERT_TRUE(memory_->WriteValue(kBuffer, set));
  EXPECT_EQ(Sys(SYS_rt_sigprocmask, SIG_BLOCK, kBuffer, 0, 8), 0);
  EXPECT_EQ(Sys(SYS_rt_sigprocmask, SIG_SETMASK, 0, kBuffer + 8, 8), 0);
  EXPECT_EQ(memory_->ReadValue<uint64_t>(kBuffer + 8), set);
  EXPECT_EQ(Sys(SYS_rt_sigprocmask, 7, kBuffer, 0, 8), -EINVAL);
  const uint64_t stack[3] = {0x500000, 0, 1 << 16};
  ASSERT_TRUE(memory_->Write(kBuffer, stack, sizeof stack));
  EXPECT_EQ(Sys(SYS_sigaltstack, kBuffer, 0), 0);
  EXPECT_EQ(Sys(SYS_sigaltstack, 0, kBuffer + 64), 0);
  EXPECT_EQ(memory_->ReadValue<uint64_t>(kBuffer + 64), 0x500000u);
}

TEST_F(GuestKernelTest, UnknownCallsAreEnosysAndFlagged) {
  MakeKernel();
  for (uint64_t number :
       {uint64_t{SYS_socket}, uint64_t{SYS_clone}, uint64_t{SYS_execve},
        uint64_t{SYS_rseq}, uint64_t{1000}}) {
    SCOPED_TRACE(number);
    const DecodedCall call =
        kernel_->Decode(number, {Str("/x"), 0, 0, 0, 0, 0});
    EXPECT_EQ(call.request.number, static_cast<int>(number));
    const CallEffect effect = kernel_->Perform(call);
    EXPECT_EQ(effect.result, -ENOSYS);
    EXPECT_TRUE(effect.unimplemented);
  }
  DecodedCall call = kernel_->Decode(1ULL << 32, {});
  EXPECT_EQ(call.request.number, -1);
  EXPECT_EQ(kernel_->Perform(call).result, -ENOSYS);
  call = kernel_->Decode(0x40000000 | SYS_getppid, {});
  EXPECT_EQ(call.request.abi, Abi::kX32);
  EXPECT_EQ(call.request.number, SYS_getppid);
  EXPECT_TRUE(kernel_->Perform(call).unimplemented);
}

TEST_F(GuestKernelTest, ClocksAndSleeps) {
  MakeKernel();
  EXPECT_EQ(Sys(SYS_clock_gettime, CLOCK_MONOTONIC, kBuffer), 0);
  const auto ts = memory_->ReadValue<std::array<int64_t, 2>>(kBuffer);
  ASSERT_TRUE(ts);
  EXPECT_GT((*ts)[0] + (*ts)[1], 0);
  EXPECT_EQ(Sys(SYS_clock_gettime, CLOCK_MONOTONIC, 0), -EFAULT);
  EXPECT_EQ(Sys(SYS_clock_gettime, CLOCK_MONOTONIC, kRam - 8), -EFAULT);
  EXPECT_EQ(Sys(SYS_clock_gettime, CLOCK_MONOTONIC, ~0ULL), -EFAULT);
  EXPECT_EQ(Sys(SYS_clock_gettime, 10, kBuffer), -EINVAL);
  EXPECT_EQ(Sys(SYS_clock_gettime, ~0ULL, kBuffer), -EINVAL);
  EXPECT_EQ(Sys(SYS_clock_getres, CLOCK_REALTIME, 0), 0);
  EXPECT_EQ(Sys(SYS_gettimeofday, kBuffer, 0), 0);
  EXPECT_GT(Sys(SYS_time, 0), 1600000000);
  const int64_t bad[2] = {0, 1000000000};
  ASSERT_TRUE(memory_->Write(kBuffer, bad, sizeof bad));
  EXPECT_EQ(Sys(SYS_nanosleep, kBuffer, 0), -EINVAL);
  const int64_t ten_ms[2] = {0, 10000000};
  ASSERT_TRUE(memory_->Write(kBuffer, ten_ms, sizeof ten_ms));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Sys(SYS_nanosleep, kBuffer, 0), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(10));
  // A century is capped by max_sleep (the wall-time limit in a run).
  const int64_t century[2] = {int64_t{3} << 32, 0};
  ASSERT_TRUE(memory_->Write(kBuffer, century, sizeof century));
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(Sys(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, kBuffer, 0), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // futex: a wrong value is EAGAIN, a timed wait times out, wake is 0.
  ASSERT_TRUE(memory_->WriteValue(kBuffer + 64, uint32_t{7}));
  ASSERT_TRUE(memory_->Write(kBuffer, ten_ms, sizeof ten_ms));
  EXPECT_EQ(Sys(SYS_futex, kBuffer + 64, FUTEX_WAIT_PRIVATE, 8, 0), -EAGAIN);
  EXPECT_EQ(Sys(SYS_futex, kBuffer + 64, FUTEX_WAIT_PRIVATE, 7, kBuffer),
            -ETIMEDOUT);
  EXPECT_EQ(Sys(SYS_futex, kBuffer + 66, FUTEX_WAIT_PRIVATE, 7, 0), -EINVAL);
  EXPECT_EQ(Sys(SYS_futex, kBuffer + 64, FUTEX_WAKE_PRIVATE, 1), 0);
  EXPECT_EQ(Sys(SYS_getrandom, kBuffer, 1ULL << 20, 0), 256 << 10);
  EXPECT_EQ(Sys(SYS_getrandom, kBuffer, 16, 0x100), -EINVAL);
  // poll: stdin and files are ready.
  const pollfd polls[2] = {{0, POLLIN, 0}, {42, POLLIN, 0}};
  ASSERT_TRUE(memory_->Write(kBuffer, polls, sizeof polls));
  EXPECT_EQ(Sys(SYS_poll, kBuffer, 2, 0), 2);
  pollfd after[2];
  ASSERT_TRUE(memory_->Read(kBuffer, after, sizeof after));
  EXPECT_EQ(after[0].revents, POLLIN);
  EXPECT_EQ(after[1].revents, POLLNVAL);
  // Nothing ready and no timeout: a deadlock natively, EINTR here.
  const pollfd none[1] = {{-1, POLLIN, 0}};
  ASSERT_TRUE(memory_->Write(kBuffer, none, sizeof none));
  EXPECT_EQ(Sys(SYS_poll, kBuffer, 1, ~0ULL), -EINTR);
}

TEST_F(GuestKernelTest, CloneDupsEveryHostFd) {
  MakeKernel();
  ASSERT_EQ(Open(ro_ + "/data", O_RDONLY), 3);
  ASSERT_EQ(Sys(SYS_chdir, Str(ro_)), 0);
  const int fds_before = CountOpenFds();
  auto clone = kernel_->Clone(*memory_);
  ASSERT_TRUE(clone) << clone.error().ToString();
  EXPECT_EQ(CountOpenFds(), fds_before + 1);
  EXPECT_EQ((*clone)->cwd(), ro_);
  const DecodedCall read = (*clone)->Decode(SYS_read, {3, kBuffer, 5, 0, 0, 0});
  EXPECT_EQ((*clone)->Perform(read).result, 5);
  // The offset is shared, as after fork.
  EXPECT_EQ(Sys(SYS_lseek, 3, 0, SEEK_CUR), 5);
  clone->reset();
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_F(GuestKernelTest, OpenExecutableFollowsTheView) {
  const std::string program = work_ + "/prog";
  WriteHostFile(program,
                "\x7f"
                "ELF");
  ASSERT_EQ(::chmod(program.c_str(), 0755), 0);
  MakeKernel();
  auto fd = kernel_->OpenExecutable(program);
  ASSERT_TRUE(fd) << fd.error().ToString();
  char magic[4];
  EXPECT_EQ(::pread(fd->get(), magic, 4, 0), 4);
  auto data = kernel_->OpenExecutable(ro_ + "/data");  // not executable
  ASSERT_FALSE(data);
  EXPECT_EQ(data.error().code(), ErrorCode::kNotExecutable);
  EXPECT_EQ(data.error().sys_errno(), EACCES);
  auto hidden = kernel_->OpenExecutable("/bin/sh");  // not in the view
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(hidden.error().sys_errno(), ENOENT);
}

TEST_F(GuestKernelTest, CreateRejectsABadLayout) {
  config_.mmap_high = kRam * 2;
  EXPECT_FALSE(GuestKernel::Create(*memory_, config_));
  config_.mmap_high = kMmapHigh;
  config_.brk_start = kBrkStart + 1;
  EXPECT_FALSE(GuestKernel::Create(*memory_, config_));
  config_.brk_start = kBrkStart;
  config_.workdir = "relative";
  EXPECT_FALSE(GuestKernel::Create(*memory_, config_));
  // A root that does not exist on the host is skipped, not an error.
  config_.workdir = work_;
  config_.view.readonly.push_back(root_ + "/missing");
  EXPECT_TRUE(GuestKernel::Create(*memory_, config_));
}

// Counts, sizes and lengths a hostile guest picks to overflow a sum, a
// buffer or a loop: each is refused (or bounded) as Linux does, and none
// makes the VMM copy more than the guest's RAM holds.
TEST_F(GuestKernelTest, HostileCountsAndLengthsAreBounded) {
  MakeKernel();
  const int64_t fd = Open(ro_ + "/data", O_RDONLY);
  ASSERT_EQ(fd, 3);
  const uint64_t f = static_cast<uint64_t>(fd);
  // read: a count past the end of RAM faults; one up to it is short.
  EXPECT_EQ(Sys(SYS_read, f, kBuffer, 1ULL << 40), -EFAULT);
  EXPECT_EQ(Sys(SYS_read, f, kBuffer, kRam - kBuffer), 15);

  // getdents64: buffers too small for one record are EINVAL; the count is
  // an unsigned int; one record per call still never lists a hidden name.
  const int64_t dir = Open(ro_, O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dir, 0);
  const uint64_t d = static_cast<uint64_t>(dir);
  for (uint64_t tiny : {0ULL, 1ULL, 19ULL, 1ULL << 32}) {
    EXPECT_EQ(Sys(SYS_getdents64, d, kBuffer, tiny), -EINVAL) << tiny;
  }
  std::set<std::string> names;
  for (int i = 0; i < 16; ++i) {
    const int64_t got = Sys(SYS_getdents64, d, kBuffer, 32);
    ASSERT_GE(got, 0);
    if (got == 0) break;
    EXPECT_LE(got, 32);
    names.insert(ReadGuest(kBuffer + 19, 8).c_str());
  }
  EXPECT_EQ(names, (std::set<std::string>{".", "..", "data"}));

  // writev: at most UIO_MAXIOV segments; lengths whose sum passes SSIZE_MAX
  // are EINVAL before any is used.
  std::vector<uint64_t> iov;
  for (int i = 0; i < 1024; ++i) {
    iov.push_back(kStrings);
    iov.push_back(1);
  }
  ASSERT_TRUE(memory_->Write(kStrings, "x", 1));
  ASSERT_TRUE(memory_->Write(kBuffer, iov.data(), iov.size() * 8));
  CallEffect effect = Call(SYS_writev, {1, kBuffer, 1024, 0, 0, 0});
  EXPECT_EQ(effect.result, 1024);
  EXPECT_EQ(effect.output, std::string(1024, 'x'));
  EXPECT_EQ(Sys(SYS_writev, 1, kBuffer, 1025), -EINVAL);
  EXPECT_EQ(Sys(SYS_writev, 1, kBuffer, ~0ULL), -EINVAL);
  const uint64_t overflow[4] = {kStrings, 16, kStrings, (1ULL << 63) - 8};
  ASSERT_TRUE(memory_->Write(kBuffer, overflow, sizeof overflow));
  EXPECT_EQ(Sys(SYS_writev, 1, kBuffer, 2), -EINVAL);
  EXPECT_EQ(Sys(SYS_readv, f, kBuffer, 2), -EINVAL);

  // readlink: the size is an int; zero or negative is EINVAL.
  ASSERT_EQ(::symlink("data", (work_ + "/alias").c_str()), 0);
  const uint64_t alias = Str("alias");
  EXPECT_EQ(Sys(SYS_readlink, alias, kBuffer, 0), -EINVAL);
  EXPECT_EQ(Sys(SYS_readlink, alias, kBuffer, ~0ULL), -EINVAL);
  EXPECT_EQ(Sys(SYS_readlink, alias, kBuffer, 1ULL << 31), -EINVAL);
  EXPECT_EQ(Sys(SYS_readlink, alias, kBuffer, (1ULL << 32) + 2), 2);
  EXPECT_EQ(Sys(SYS_readlink, alias, kRam - 2, 4096), -EFAULT);

  // poll: more fds than RLIMIT_NOFILE is EINVAL (the copy stays bounded).
  EXPECT_EQ(Sys(SYS_poll, kBuffer, 1ULL << 32, 0), -EINVAL);
  EXPECT_EQ(Sys(SYS_poll, kBuffer, 1025, 0), -EINVAL);
  EXPECT_EQ(Sys(SYS_poll, 0, 0, 0), 0);

  // mmap: a length that rounds to 2^64-4096 or wraps is ENOMEM.
  const uint64_t anon = MAP_PRIVATE | MAP_ANONYMOUS;
  EXPECT_EQ(Sys(SYS_mmap, 0, ~0ULL - 4095, PROT_READ, anon, ~0ULL, 0), -ENOMEM);
  EXPECT_EQ(Sys(SYS_mmap, 0, ~0ULL - 8190, PROT_READ, anon, ~0ULL, 0), -ENOMEM);
  EXPECT_EQ(Sys(SYS_mmap, kBrkStart, ~0ULL - 4095, PROT_READ, anon | MAP_FIXED,
                ~0ULL, 0),
            -ENOMEM);
  const int64_t page = Sys(SYS_mmap, 0, 4096, PROT_READ, anon, ~0ULL, 0);
  ASSERT_GT(page, 0);
  EXPECT_EQ(Sys(SYS_mremap, static_cast<uint64_t>(page), 4096, ~0ULL - 4095,
                MREMAP_MAYMOVE),
            -ENOMEM);

  // brk below its start leaves the break where it is.
  EXPECT_EQ(Sys(SYS_brk, kBrkStart - kPageSize),
            static_cast<int64_t>(kBrkStart));

  // arch_prctl: non-canonical and kernel-half bases are EPERM.
  for (uint64_t base :
       {1ULL << 47, 0x0000800000001000ULL, 0xffff800000000000ULL, ~0ULL}) {
    EXPECT_EQ(Sys(SYS_arch_prctl, 0x1002, base), -EPERM) << std::hex << base;
    EXPECT_EQ(Sys(SYS_arch_prctl, 0x1001, base), -EPERM) << std::hex << base;
  }
  EXPECT_EQ(kernel_->fs_base(), 0u);

  // statx: the reserved mask bit and unknown flags are EINVAL; unknown
  // mask bits are ignored.
  const uint64_t data = Str(ro_ + "/data");
  EXPECT_EQ(Sys(SYS_statx, kFdcwd, data, 0, STATX__RESERVED, kBuffer), -EINVAL);
  EXPECT_EQ(Sys(SYS_statx, kFdcwd, data, 0x40000000, STATX_SIZE, kBuffer),
            -EINVAL);
  EXPECT_EQ(Sys(SYS_statx, kFdcwd, data, AT_STATX_SYNC_TYPE, 0, kBuffer),
            -EINVAL);
  EXPECT_EQ(Sys(SYS_statx, kFdcwd, data, 0, 0x7fff0000 | STATX_SIZE, kBuffer),
            0);
  struct statx stx;
  ASSERT_TRUE(memory_->Read(kBuffer, &stx, sizeof stx));
  EXPECT_EQ(stx.stx_size, 15u);
  EXPECT_EQ(Sys(SYS_statx, kFdcwd, data, 0, STATX_SIZE, kRam - 16), -EFAULT);
}

TEST_F(GuestKernelTest, GetppidIsCheap) {
  MakeKernel();
  constexpr int kCalls = 200000;
  const auto start = std::chrono::steady_clock::now();
  int64_t sum = 0;
  for (int i = 0; i < kCalls; ++i) {
    const DecodedCall call = kernel_->Decode(SYS_getppid, {});
    sum += kernel_->Perform(call).result;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(sum, 0);
  const double ns =
      std::chrono::duration<double, std::nano>(elapsed).count() / kCalls;
  std::printf("Decode+Perform(getppid): %.0f ns per call\n", ns);
  // Generous: the budget is a few hundred ns; a loaded CI host is noisy.
  EXPECT_LT(ns, 5000);
}

// The fuzz target's body on deterministic pseudo-random inputs: no crash,
// no leaked host fd, no temp dir left behind.
TEST(GuestKernelFuzzBodyTest, RandomRegisterStatesOverRandomMemory) {
  // A TMPDIR of its own: kvm runs of tests running beside this one make
  // and remove tmpfs directories of the same name in the shared /tmp.
  auto tmp = TempDir::Create("isoscope-gk-fuzzbody-");
  ASSERT_TRUE(tmp) << tmp.error().ToString();
  const char* old_tmpdir = std::getenv("TMPDIR");
  const std::string saved = old_tmpdir != nullptr ? old_tmpdir : "";
  ::setenv("TMPDIR", tmp->path().c_str(), 1);
  const int fds_before = CountOpenFds();
  const std::set<std::string> tmpfs_before = TmpfsDirs();
  const std::set<std::string> dirs_before = TempEntries("isoscope-gk-fuzz-");
  std::mt19937_64 random(20240601);
  std::vector<uint8_t> input;
  for (int i = 0; i < 2000; ++i) {
    input.resize(random() % 2048);
    for (uint8_t& byte : input) byte = static_cast<uint8_t>(random());
    // Half the inputs lean on planted strings and small fds.
    if (i % 2 == 0) {
      for (size_t at = 2; at < input.size(); at += 3) {
        input[at] = static_cast<uint8_t>(input[at] % 14 == 1 ? 1 : 11);
      }
    }
    fuzz::RunGuestKernelFuzzInput(input.data(), input.size());
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
  EXPECT_EQ(LeftSince(tmpfs_before, TmpfsDirs()), std::set<std::string>{});
  EXPECT_EQ(LeftSince(dirs_before, TempEntries("isoscope-gk-fuzz-")),
            std::set<std::string>{});
  if (old_tmpdir != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
}

}  // namespace
}  // namespace isoscope::kvm
