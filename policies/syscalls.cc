#include "policies/syscalls.h"

#include <seccomp.h>

#include <array>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace isoscope {
namespace {

struct PathTableEntry {
  std::string_view name;
  std::vector<PathArgSpec> args;
};

constexpr PathIntent kRead = PathIntent::kRead;
constexpr PathIntent kWrite = PathIntent::kWrite;
constexpr PathIntent kExec = PathIntent::kExec;

// Keyed by name, not number, so the table reads like the man pages and stays
// right if libseccomp's numbering were ever consulted for another ABI. Names
// libseccomp does not know (newer kernels) are skipped when the table is
// resolved.
const std::vector<PathTableEntry>& PathTable() {
  static const auto* const kTable = new std::vector<PathTableEntry>{
      // Opening: intent from the flags (write if O_WRONLY, O_RDWR, O_CREAT,
      // O_TRUNC or O_APPEND). openat2's flags are in a struct that the backend
      // decodes into SyscallRequest::open_flags, so its spec has no index.
      {"open", {{0, -1, kRead, 1}}},
      {"openat", {{1, 0, kRead, 2}}},
      {"openat2", {{1, 0, kRead, -1}}},
      {"creat", {{0, -1, kWrite}}},
      {"execve", {{0, -1, kExec}}},
      {"execveat", {{1, 0, kExec}}},
      // uselib maps a library into the process: it runs code from the file.
      {"uselib", {{0, -1, kExec}}},
      // Looking at a path reveals what is there: read.
      {"stat", {{0, -1, kRead}}},
      {"lstat", {{0, -1, kRead}}},
      {"newfstatat", {{1, 0, kRead}}},
      {"statx", {{1, 0, kRead}}},
      {"access", {{0, -1, kRead}}},
      {"faccessat", {{1, 0, kRead}}},
      {"faccessat2", {{1, 0, kRead}}},
      {"readlink", {{0, -1, kRead}}},
      {"readlinkat", {{1, 0, kRead}}},
      {"chdir", {{0, -1, kRead}}},
      {"chroot", {{0, -1, kRead}}},
      {"getxattr", {{0, -1, kRead}}},
      {"lgetxattr", {{0, -1, kRead}}},
      {"listxattr", {{0, -1, kRead}}},
      {"llistxattr", {{0, -1, kRead}}},
      {"statfs", {{0, -1, kRead}}},
      {"inotify_add_watch", {{1, -1, kRead}}},
      {"fanotify_mark", {{4, 3, kRead}}},
      {"name_to_handle_at", {{1, 0, kRead}}},
      {"open_tree", {{1, 0, kRead}}},
      // Changing the namespace of names or an inode's metadata: write.
      {"mkdir", {{0, -1, kWrite}}},
      {"mkdirat", {{1, 0, kWrite}}},
      {"rmdir", {{0, -1, kWrite}}},
      {"unlink", {{0, -1, kWrite}}},
      {"unlinkat", {{1, 0, kWrite}}},
      {"rename", {{0, -1, kWrite}, {1, -1, kWrite}}},
      {"renameat", {{1, 0, kWrite}, {3, 2, kWrite}}},
      {"renameat2", {{1, 0, kWrite}, {3, 2, kWrite}}},
      // A hard link gives the inode a new name the workload may write
      // through, so the existing path counts as written too.
      {"link", {{0, -1, kWrite}, {1, -1, kWrite}}},
      {"linkat", {{1, 0, kWrite}, {3, 2, kWrite}}},
      // A symlink's target is only text stored in the link; the kernel does
      // not look at it, so only the link's own path is checked.
      {"symlink", {{1, -1, kWrite}}},
      {"symlinkat", {{2, 1, kWrite}}},
      {"chmod", {{0, -1, kWrite}}},
      {"fchmodat", {{1, 0, kWrite}}},
      {"fchmodat2", {{1, 0, kWrite}}},
      {"chown", {{0, -1, kWrite}}},
      {"lchown", {{0, -1, kWrite}}},
      {"fchownat", {{1, 0, kWrite}}},
      {"truncate", {{0, -1, kWrite}}},
      {"utime", {{0, -1, kWrite}}},
      {"utimes", {{0, -1, kWrite}}},
      {"futimesat", {{1, 0, kWrite}}},
      {"utimensat", {{1, 0, kWrite}}},
      {"mknod", {{0, -1, kWrite}}},
      {"mknodat", {{1, 0, kWrite}}},
      {"setxattr", {{0, -1, kWrite}}},
      {"lsetxattr", {{0, -1, kWrite}}},
      {"removexattr", {{0, -1, kWrite}}},
      {"lremovexattr", {{0, -1, kWrite}}},
      // Mounts: the target is changed, the source is only looked at.
      {"mount", {{0, -1, kRead}, {1, -1, kWrite}}},
      {"umount2", {{0, -1, kWrite}}},
      {"pivot_root", {{0, -1, kWrite}, {1, -1, kWrite}}},
      {"move_mount", {{1, 0, kRead}, {3, 2, kWrite}}},
      {"mount_setattr", {{1, 0, kWrite}}},
      {"fspick", {{1, 0, kWrite}}},
      // The kernel writes to these files (swap, process accounting).
      {"swapon", {{0, -1, kWrite}}},
      {"swapoff", {{0, -1, kWrite}}},
      {"acct", {{0, -1, kWrite}}},
  };
  return *kTable;
}

// PathTable indexed by number, built once: a lookup is one array index,
// made for every inspected call.
using PathTableIndex =
    std::array<std::vector<PathArgSpec>, kMaxSyscallNumber + 1>;
const PathTableIndex& PathTableByNumber() {
  static const auto* const kByNumber = [] {
    auto* by_number = new PathTableIndex;
    for (const PathTableEntry& entry : PathTable()) {
      if (auto number = SyscallNumber(entry.name)) {
        (*by_number)[static_cast<size_t>(*number)] = entry.args;
      }
    }
    return by_number;
  }();
  return *kByNumber;
}

}  // namespace

std::optional<int> SyscallNumber(std::string_view name) {
  std::string copy(name);
  int number =
      seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, copy.c_str());
  // libseccomp answers __NR_SCMP_ERROR (-1) for unknown names and negative
  // pseudo-numbers for calls that exist only on other ABIs (socketcall).
  if (number < 0 || number > kMaxSyscallNumber) return std::nullopt;
  return number;
}

namespace {

// libseccomp finds a number's name by scanning its table of every
// architecture: asked once per number and kept, since compiling a plan
// names every syscall more than once.
const std::vector<std::string>& NameTable() {
  static const auto* const kNames = [] {
    auto* names = new std::vector<std::string>(kMaxSyscallNumber + 1);
    for (int number = 0; number <= kMaxSyscallNumber; ++number) {
      char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, number);
      if (name == nullptr) continue;
      (*names)[static_cast<size_t>(number)] = name;
      std::free(name);
    }
    return names;
  }();
  return *kNames;
}

}  // namespace

std::string SyscallName(int number) {
  if (number < 0 || number > kMaxSyscallNumber) return "";
  return NameTable()[static_cast<size_t>(number)];
}

const std::vector<int>& AllSyscallNumbers() {
  static const auto* const kNumbers = [] {
    auto* numbers = new std::vector<int>;
    for (int number = 0; number <= kMaxSyscallNumber; ++number) {
      if (!NameTable()[static_cast<size_t>(number)].empty()) {
        numbers->push_back(number);
      }
    }
    return numbers;
  }();
  return *kNumbers;
}

std::span<const PathArgSpec> PathArguments(int number) {
  if (number < 0 || number > kMaxSyscallNumber) return {};
  return PathTableByNumber()[static_cast<size_t>(number)];
}

}  // namespace isoscope
