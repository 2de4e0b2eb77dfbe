// The x86-64 syscall table (names from libseccomp) and what isoscope knows
// about each syscall's arguments.
#ifndef ISOSCOPE_POLICIES_SYSCALLS_H_
#define ISOSCOPE_POLICIES_SYSCALLS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policies/policy.h"

namespace isoscope {

// Highest x86-64 syscall number isoscope plans for (inclusive). Numbers above
// it, and numbers libseccomp has no name for, follow the default action.
inline constexpr int kMaxSyscallNumber = 511;

// "openat" -> 257; nullopt if not an x86-64 syscall name.
std::optional<int> SyscallNumber(std::string_view name);
// 257 -> "openat"; "" if the number has no name.
std::string SyscallName(int number);
// Every named x86-64 syscall number, ascending.
const std::vector<int>& AllSyscallNumbers();

// A path argument of a syscall and how to tell its intent.
struct PathArgSpec {
  int path_index;   // argument holding the path pointer
  int dirfd_index;  // argument holding the directory fd, or -1
  // Intent: fixed, or decided from open flags in argument `flags_index`
  // (O_WRONLY/O_RDWR/O_CREAT/O_TRUNC/O_APPEND mean write).
  PathIntent intent;
  int flags_index = -1;
};

// Path arguments of a syscall (empty if it takes none). openat2's flags live
// in a struct; its intent is decided from the flags the backend decodes into
// SyscallRequest::open_flags. A view of a table that lives as long as the
// program.
std::span<const PathArgSpec> PathArguments(int number);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_SYSCALLS_H_
