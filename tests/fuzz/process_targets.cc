// The process backends' decoders of what a hostile workload hands them: the
// path arguments of a stopped syscall (syscall_paths.h) and the bytes at a
// faulting RIP (fault_decoder.h).
//
// The tracee of DecodeSyscallPaths is the fuzzer itself: its reads go
// through process_vm_readv and /proc/<tid> as they do for a workload, into
// a region laid out per input, whose last readable byte is followed by a
// PROT_NONE page, so that strings running off the end, unreadable structs
// and wrapping addresses are real. The dirfds are real descriptors of every
// kind a workload can pass (a directory, a deleted directory, a file, a
// pipe, a socket, an eventfd, a closed number).
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backends/process/syscall_paths.h"
#include "backends/ptrace/fault_decoder.h"
#include "policies/decide.h"
#include "policies/syscalls.h"
#include "tests/fuzz/fuzz_targets.h"

namespace isoscope::fuzz {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kReadable = 4 * kPage;  // then one PROT_NONE page
constexpr size_t kPathMax = 4096;

// The planted strings, at kSlot-byte slots from the region's start; the
// last two are long ones placed after the slots.
constexpr const char* kPlanted[] = {
    "",   ".",          "..",      "/",           "a/../../b", "x/",
    "d/", "/proc/self", "//a//b/", "/tmp/../etc", "sub/./f",   "..."};
constexpr size_t kSlot = 64;
constexpr size_t kLongAt = 1024;       // 2 KiB of "aaaa/", NUL-terminated
constexpr size_t kBlobAt = 3 * kPage;  // the input's bytes end at kReadable

struct Process {
  uint8_t* region = nullptr;  // kReadable bytes + a PROT_NONE page
  std::vector<int> fds;       // dirfds to choose from
  std::vector<int> path_calls;
};

int MustFd(int fd) {
  if (fd < 0) std::abort();
  return fd;
}

const Process& TheProcess() {
  static const Process* const kProcess = [] {
    auto* process = new Process;
    void* map = ::mmap(nullptr, kReadable + kPage, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || ::mprotect(static_cast<uint8_t*>(map) + kReadable,
                                        kPage, PROT_NONE) != 0) {
      std::abort();
    }
    process->region = static_cast<uint8_t*>(map);
    char deleted[] = "/tmp/isoscope-fuzz-paths-XXXXXX";
    if (::mkdtemp(deleted) == nullptr) std::abort();
    const int deleted_fd =
        MustFd(::open(deleted, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ::rmdir(deleted);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) std::abort();
    process->fds = {
        AT_FDCWD,
        MustFd(::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
        MustFd(::open("/", O_PATH | O_CLOEXEC)),
        deleted_fd,
        MustFd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC)),
        pipe_fds[0],
        MustFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)),
        MustFd(::eventfd(0, EFD_CLOEXEC)),
        1000,  // not open
        -1,
        -5,
    };
    for (int number : AllSyscallNumbers()) {
      if (!PathArguments(number).empty()) process->path_calls.push_back(number);
    }
    return process;
  }();
  return *kProcess;
}

uint64_t Address(const Process& process, size_t offset) {
  return reinterpret_cast<uintptr_t>(process.region) + offset;
}

// Lays the region out for one input; returns where the blob starts.
uint64_t LayOut(const Process& process, FuzzInput& in) {
  uint8_t* region = process.region;
  std::memset(region, 0, kReadable);
  for (size_t i = 0; i < std::size(kPlanted); ++i) {
    std::memcpy(region + i * kSlot, kPlanted[i], std::strlen(kPlanted[i]));
  }
  for (size_t at = 0; at + 1 < 2 * kPage - 1; ++at) {
    region[kLongAt + at] = (at % 5 == 4) ? '/' : 'a';
  }
  // The input's next bytes end exactly at the PROT_NONE page.
  const uint8_t* blob = nullptr;
  const size_t size = in.Take(in.U16() % (kReadable - kBlobAt + 1), &blob);
  // An empty input has no bytes at all (`blob` is null).
  if (size > 0) std::memcpy(region + kReadable - size, blob, size);
  return Address(process, kReadable - size);
}

uint64_t Argument(const Process& process, FuzzInput& in, uint64_t blob) {
  const uint64_t end = Address(process, kReadable);
  switch (in.Byte() % 16) {
    case 0:
      return Address(process, kSlot * (in.Byte() % std::size(kPlanted)));
    case 1:
      return Address(process, kLongAt + in.U16() % (2 * kPage));
    case 2:
      return blob + in.Byte();
    case 3:
      return end - in.Byte() % 32;  // up to the PROT_NONE page
    case 4:
      return 0;
    case 5:
      return in.Byte();  // the never-mapped first page
    case 6:
      return ~uint64_t{0} - in.Byte();
    case 7:
      return static_cast<uint64_t>(
          static_cast<int64_t>(process.fds[in.Byte() % process.fds.size()]));
    case 8:
      return uint64_t{1} << (in.Byte() % 64);
    case 9:
      return AT_EMPTY_PATH | (in.Bool() ? AT_SYMLINK_NOFOLLOW : 0);
    case 10:
      return O_WRONLY | O_CREAT;
    case 11: {
      constexpr uint64_t kSizes[] = {0, 8, 23, 24, 25, 32, 4096, 4097};
      return in.Pick(kSizes);
    }
    case 12:
      return in.U64();
    default:
      return in.Byte() % 8;
  }
}

bool DocumentedErrno(int error) {
  switch (error) {
    case EFAULT:
    case ENAMETOOLONG:
    case ENOENT:
    case EBADF:
    case ENOTDIR:
    case EINVAL:
    case E2BIG:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string SyscallPathsInput(std::span<const uint8_t> input) {
  const Process& process = TheProcess();
  FuzzInput in(input);
  const uint8_t how = in.Byte();
  const int number =
      how < 240 ? process.path_calls[in.U16() % process.path_calls.size()]
                : static_cast<int>(in.U16() % 600);
  const uint64_t blob = LayOut(process, in);
  std::array<uint64_t, 6> args{};
  for (uint64_t& arg : args) arg = Argument(process, in, blob);
  const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  auto decoded = DecodeSyscallPaths(tid, number, args);
  const std::string call = fmt::format(
      "{}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})", SyscallName(number),
      args[0], args[1], args[2], args[3], args[4], args[5]);
  if (!decoded) {
    const Error& error = decoded.error();
    if (error.code() != ErrorCode::kInvalidArgument ||
        !DocumentedErrno(error.sys_errno())) {
      return fmt::format("{}: {} error, errno {}: {}", call,
                         ErrorCodeName(error.code()), error.sys_errno(),
                         error.message());
    }
    return "";
  }
  const std::span<const PathArgSpec> specs = PathArguments(number);
  const DecodedPaths& out = *decoded;
  if (out.paths.size() != specs.size() ||
      out.kernel_copies.size() != specs.size() ||
      out.given.size() != specs.size() || !out.reopened_fds.empty()) {
    return fmt::format("{}: {} paths, {} copies, {} given for {} arguments",
                       call, out.paths.size(), out.kernel_copies.size(),
                       out.given.size(), specs.size());
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    const PathArgument& path = out.paths[i];
    const std::optional<std::string>& copy = out.kernel_copies[i];
    if (path.arg_index != specs[i].path_index) {
      return fmt::format("{}: path {} is for arg {}", call, i, path.arg_index);
    }
    const bool fd_itself = !copy || copy->empty();
    if (fd_itself) continue;  // the fd's own target, as the kernel shows it
    if (copy->size() >= kPathMax || copy->find('\0') != std::string::npos) {
      return fmt::format("{}: kernel copy {} is not a path the kernel takes",
                         call, i);
    }
    if (path.path.empty() || path.path.front() != '/' ||
        NormalizePath(path.path) != path.path) {
      return fmt::format("{}: path {} '{}' is not absolute and normalised",
                         call, i, path.path);
    }
    if (*copy != path.path && *copy != path.path + "/") {
      return fmt::format("{}: kernel copy '{}' differs from path '{}'", call,
                         *copy, path.path);
    }
  }
  const bool openat2 = number == SYS_openat2;
  if (out.open_flags.has_value() != openat2 ||
      (openat2 && out.open_how.size() != args[3])) {
    return fmt::format("{}: open_how decoded as {} bytes", call,
                       out.open_how.size());
  }
  return "";
}

std::string FaultDecoderInput(std::span<const uint8_t> input) {
  FuzzInput in(input);
  constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE};
  const int signal = in.Pick(kSignals);
  // 0..239 (SI_KERNEL is 0x80), and -16..-1 (SI_TKILL, SI_QUEUE, ...).
  const uint8_t code_byte = in.Byte();
  const int si_code =
      code_byte < 0xf0 ? code_byte : static_cast<int8_t>(code_byte);
  const uint64_t address = in.U64();
  const uint64_t rip = in.U64();
  const uint8_t* bytes = nullptr;
  const size_t size = in.Take(kMaxInstructionLength, &bytes);
  const std::span<const uint8_t> code(bytes, size);
  const auto decoded = DecodeInstruction(code);
  if (decoded && (decoded->length == 0 || decoded->length > size ||
                  decoded->mnemonic.empty())) {
    return fmt::format("instruction of length {} '{}' from {} bytes",
                       decoded->length, decoded->mnemonic, size);
  }
  const FaultInfo fault = ClassifyFault(signal, si_code, address, rip, code);
  if (!(ClassifyFault(signal, si_code, address, rip, code) == fault)) {
    return "ClassifyFault gave two answers";
  }
  if (fault.bytes.size() > size) {
    return fmt::format("{} fault bytes from {} read", fault.bytes.size(), size);
  }
  if (signal == SIGTRAP &&
      (fault.kind != FaultKind::kBreakpoint || !fault.bytes.empty())) {
    return "SIGTRAP is not a breakpoint without bytes";
  }
  if (signal == SIGILL && fault.kind != FaultKind::kInvalidInstruction) {
    return "SIGILL is not an invalid instruction";
  }
  if (signal == SIGFPE && fault.kind != FaultKind::kArithmetic) {
    return "SIGFPE is not an arithmetic fault";
  }
  return "";
}

}  // namespace isoscope::fuzz
