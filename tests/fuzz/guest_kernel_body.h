// The guest kernel's fuzz body, shared by the libFuzzer target
// `guest_kernel` (tests/fuzz, see docs/fuzzing.md) and guest_kernel_test
// (which runs it on deterministic inputs in the ordinary build).
//
// One input is one short guest life: part of it becomes guest RAM, the rest
// a sequence of register states (syscall number and six arguments) biased
// towards the calls the guest kernel implements and towards interesting
// pointers (NULL, near the end of RAM, 2^64-1, inside planted strings), run
// through Decode and Perform on a fresh GuestKernel whose view is a private
// temporary directory. It must never crash, hang or leak.
#ifndef ISOSCOPE_TESTS_FUZZ_GUEST_KERNEL_BODY_H_
#define ISOSCOPE_TESTS_FUZZ_GUEST_KERNEL_BODY_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/kvm/guest_kernel.h"
#include "backends/kvm/guest_memory.h"
#include "base/temp_dir.h"
#include "tests/fuzz/fuzz_input.h"

namespace isoscope::kvm::fuzz {

using ::isoscope::fuzz::FuzzInput;

inline constexpr uint64_t kRam = 4ULL << 20;
inline constexpr uint64_t kStrings = 0x8000;   // planted strings
inline constexpr uint64_t kBlob = 0x10000;     // the input's bytes
inline constexpr uint64_t kBlobMax = 0x10000;  // at most 64 KiB of them
inline constexpr uint64_t kHeap = 1ULL << 20;  // brk_start = mmap_low
inline constexpr uint64_t kMmapHigh = 3ULL << 20;
inline constexpr int kMaxCalls = 48;

// The calls the guest kernel implements (and a few it does not).
inline constexpr int kNumbers[] = {
    SYS_read,
    SYS_write,
    SYS_open,
    SYS_close,
    SYS_stat,
    SYS_fstat,
    SYS_lstat,
    SYS_poll,
    SYS_lseek,
    SYS_mmap,
    SYS_mprotect,
    SYS_munmap,
    SYS_brk,
    SYS_rt_sigaction,
    SYS_rt_sigprocmask,
    SYS_ioctl,
    SYS_pread64,
    SYS_pwrite64,
    SYS_readv,
    SYS_writev,
    SYS_access,
    SYS_pipe,
    SYS_sched_yield,
    SYS_mremap,
    SYS_madvise,
    SYS_dup,
    SYS_dup2,
    SYS_nanosleep,
    SYS_getpid,
    SYS_exit,
    SYS_uname,
    SYS_fcntl,
    SYS_fsync,
    SYS_truncate,
    SYS_ftruncate,
    SYS_getcwd,
    SYS_chdir,
    SYS_fchdir,
    SYS_rename,
    SYS_mkdir,
    SYS_rmdir,
    SYS_creat,
    SYS_link,
    SYS_unlink,
    SYS_symlink,
    SYS_readlink,
    SYS_chmod,
    SYS_fchmod,
    SYS_umask,
    SYS_gettimeofday,
    SYS_getrlimit,
    SYS_sysinfo,
    SYS_getuid,
    SYS_getresuid,
    SYS_sigaltstack,
    SYS_arch_prctl,
    SYS_setrlimit,
    SYS_gettid,
    SYS_time,
    SYS_futex,
    SYS_sched_getaffinity,
    SYS_getdents64,
    SYS_set_tid_address,
    SYS_clock_gettime,
    SYS_clock_getres,
    SYS_clock_nanosleep,
    SYS_exit_group,
    SYS_openat,
    SYS_mkdirat,
    SYS_newfstatat,
    SYS_unlinkat,
    SYS_renameat,
    SYS_linkat,
    SYS_symlinkat,
    SYS_readlinkat,
    SYS_fchmodat,
    SYS_faccessat,
    SYS_ppoll,
    SYS_set_robust_list,
    SYS_dup3,
    SYS_pipe2,
    SYS_prlimit64,
    SYS_renameat2,
    SYS_getrandom,
    SYS_statx,
    SYS_rseq,
    SYS_openat2,
    SYS_faccessat2,
    452 /* fchmodat2 */,
    SYS_getppid,
    SYS_execve,
    SYS_clone,
    SYS_socket,
    SYS_mount,
};

inline const char* const kPlanted[] = {
    "",
    ".",
    "..",
    "/",
    "data",
    "d",
    "d/",
    "secret",
    "link",
    "escape",
    "up",
    "new",
    "d/x",
    "../ro/data",
    "/proc/self/exe",
    "/etc/passwd",
    "/fuzztmp",
    "/fuzztmp/f",
    "ro",
    "work",
};
inline constexpr size_t kPlantedCount = sizeof kPlanted / sizeof kPlanted[0];
inline constexpr uint64_t kSlot = 256;  // bytes per planted string

// One argument, chosen by a mode byte.
inline uint64_t Argument(FuzzInput& in, const std::vector<uint64_t>& absolute) {
  const uint8_t mode = in.Byte();
  switch (mode % 14) {
    case 0:
      return in.Byte();  // small number (fds, flags, sizes)
    case 1:
      return kStrings + kSlot * (in.Byte() % kPlantedCount);
    case 2:
      return absolute[in.Byte() % absolute.size()];
    case 3:
      return kBlob + (in.Byte() * 64ULL) % kBlobMax;
    case 4:
      return kRam - in.Byte();  // straddles the end of RAM
    case 5:
      return ~0ULL - in.Byte();  // wraps
    case 6:
      return in.Byte();  // inside the never-mapped first page
    case 7:
      return static_cast<uint64_t>(static_cast<int64_t>(AT_FDCWD));
    case 8:
      return kHeap + (in.Byte() * 4096ULL) % (kMmapHigh - kHeap);
    case 9:
      return uint64_t{in.Byte()} << (in.Byte() % 64);
    case 10:
      return in.U64();
    case 11:
      return 3 + in.Byte() % 8;  // a likely guest fd
    case 12:
      return kRam + in.Byte();  // just past RAM
    default:
      return (in.Byte() % 2) ? 4096 : 1ULL << 20;
  }
}

// A private view: work/ (writable, the cwd) with a file, a directory, a
// hidden entry and escaping symlinks; ro/ (read-only); a tmpfs.
inline int RunGuestKernelFuzzInput(const uint8_t* data, size_t size) {
  // On tmpfs when there is one: ext4 with discard makes every input's
  // mkdir and unlink cost milliseconds.
  static const std::filesystem::path kParent =
      ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "";
  auto dir = TempDir::Create("isoscope-gk-fuzz-", kParent);
  if (!dir) std::abort();
  const std::string root = dir->path().string();
  const std::string work = root + "/work";
  const std::string ro = root + "/ro";
  if (::mkdir(work.c_str(), 0755) != 0 || ::mkdir(ro.c_str(), 0755) != 0 ||
      ::mkdir((work + "/d").c_str(), 0755) != 0 ||
      ::mkdir((work + "/secret").c_str(), 0755) != 0 ||
      ::symlink("/etc/passwd", (work + "/escape").c_str()) != 0 ||
      ::symlink("../../../../..", (work + "/up").c_str()) != 0 ||
      ::symlink("data", (work + "/link").c_str()) != 0) {
    std::abort();
  }
  for (const std::string& file : {work + "/data", ro + "/data"}) {
    const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, "0123456789abcdef", 16) != 16) std::abort();
    ::close(fd);
  }

  auto memory = GuestMemory::Create(kRam);
  if (!memory) std::abort();
  FuzzInput in(data, size);
  const uint8_t setup = in.Byte();
  GuestKernelConfig config;
  config.view.writable = {work};
  config.view.readonly = {ro};
  config.view.tmpfs = {"/fuzztmp"};
  config.view.hidden = {work + "/secret"};
  config.workdir = work;
  config.executable = "/fuzz/exe";
  config.brk_start = kHeap;
  config.mmap_low = kHeap;
  config.mmap_high = kMmapHigh;
  config.open_files = 4 + setup % 16;
  config.file_size_bytes = (setup & 0x80) ? 64 : 64 << 10;
  config.max_sleep = std::chrono::nanoseconds(0);
  config.tmpfs_parent = kParent;
  auto kernel = GuestKernel::Create(*memory, std::move(config));
  if (!kernel) std::abort();

  // Planted strings, absolute paths of the view, then the input's blob.
  std::vector<uint64_t> absolute;
  for (size_t i = 0; i < kPlantedCount; ++i) {
    if (!memory->Write(kStrings + kSlot * i, kPlanted[i],
                       std::strlen(kPlanted[i]) + 1)) {
      std::abort();
    }
  }
  const std::string absolutes[] = {
      work, work + "/data",   work + "/d",  work + "/secret/x", ro + "/data",
      ro,   work + "/escape", work + "/new"};
  uint64_t at = kStrings + kSlot * kPlantedCount;
  for (const std::string& path : absolutes) {
    if (!memory->Write(at, path.c_str(), path.size() + 1)) std::abort();
    absolute.push_back(at);
    at += 512;
  }
  const uint8_t* blob = nullptr;
  const size_t blob_size = in.Take(in.Byte() * 256ULL, &blob);
  if (blob_size > 0 && !memory->Write(kBlob, blob, blob_size)) std::abort();

  for (int call = 0; call < kMaxCalls && !in.done(); ++call) {
    const uint8_t pick = in.Byte();
    uint64_t number =
        pick < 240 ? static_cast<uint64_t>(
                         kNumbers[pick % (sizeof kNumbers / sizeof(int))])
                   : in.U64() % 1024;
    if (pick == 255) number = in.U64();  // anything, x32 bit included
    std::array<uint64_t, 6> args{};
    for (uint64_t& arg : args) arg = Argument(in, absolute);
    const DecodedCall decoded = (*kernel)->Decode(number, args);
    // A hostile guest may rewrite its memory between the exit and Perform.
    if (in.Byte() == 0x5a) {
      uint64_t value = in.U64();
      (void)memory->Write(kStrings + kSlot * (in.Byte() % kPlantedCount),
                          &value, sizeof value);
    }
    const CallEffect effect = (*kernel)->Perform(decoded);
    if (effect.exit_status) break;
  }
  kernel->reset();
  return 0;
}

}  // namespace isoscope::kvm::fuzz

#endif  // ISOSCOPE_TESTS_FUZZ_GUEST_KERNEL_BODY_H_
