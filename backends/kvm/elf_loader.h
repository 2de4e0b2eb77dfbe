// Loading a static x86-64 executable into guest RAM and building its initial
// stack the way Linux's execve does, so that an unmodified static (or
// static-PIE) program starts in the guest as it would on the host.
//
// The executable is untrusted input: every header field is checked with
// overflow-safe arithmetic before it is used, and a malformed file yields an
// error that says what is wrong (the caller prepends the path), never a crash.
// Dynamically linked executables are refused: the guest has no loader.
#ifndef ISOSCOPE_BACKENDS_KVM_ELF_LOADER_H_
#define ISOSCOPE_BACKENDS_KVM_ELF_LOADER_H_

#include <elf.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backends/kvm/guest_layout.h"
#include "backends/kvm/guest_memory.h"
#include "base/error.h"

namespace isoscope::kvm {

// The most program headers an executable may have (real ones have about 10;
// the bound keeps the pairwise checks cheap on hostile input).
inline constexpr uint16_t kMaxProgramHeaders = 128;
// The longest interpreter path quoted in the "dynamically linked" error.
inline constexpr size_t kMaxQuotedInterpreter = 256;

// Reads the executable at `path` (a regular file with an execute bit) whole.
// Its errors name `path`: kNotFound when it does not exist, kNotExecutable
// when it is not a regular executable file or is larger than `max_bytes`.
Result<std::vector<uint8_t>> ReadExecutable(const std::string& path,
                                            uint64_t max_bytes);

// One PT_LOAD segment, as found in the file (before any load bias).
struct ElfSegment {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;  // > 0: empty PT_LOADs are dropped
  uint64_t offset = 0;
  uint64_t filesz = 0;  // <= memsz; [offset, offset + filesz) is in the file
  uint32_t flags = 0;   // PF_R | PF_W | PF_X
};

// A parsed and validated executable. Everything that does not depend on
// where it is placed has been checked: header fields, program headers inside
// the file, segments inside the file, no wrap-around, no two segments
// sharing a byte, the entry point inside an executable segment, the program
// headers themselves inside a segment.
struct ElfImage {
  uint16_t type = ET_EXEC;        // ET_EXEC or ET_DYN (static-PIE)
  uint64_t entry = 0;             // unbiased
  std::vector<Elf64_Phdr> phdrs;  // copied out of the file, all of them
  std::vector<ElfSegment> loads;  // sorted by vaddr, non-overlapping
  uint64_t phdr_vaddr = 0;  // unbiased address of the program header table
};

// Parses `file` (the bytes of an executable) and validates it. A dynamically
// linked executable (PT_INTERP) is a kUnavailable error naming its
// interpreter; other malformations are kNotExecutable.
Result<ElfImage> ParseElf(std::span<const uint8_t> file);

// Where a loaded program ended up in guest memory.
struct LoadedProgram {
  uint64_t entry = 0;         // biased: where the vCPU starts
  uint64_t load_bias = 0;     // 0 for ET_EXEC (mod 2^64 for ET_DYN)
  uint64_t phdr_address = 0;  // AT_PHDR
  uint16_t phent = sizeof(Elf64_Phdr);
  uint16_t phnum = 0;
  // Page-aligned end of the highest segment: where brk starts.
  uint64_t image_end = 0;
};

// Places the PT_LOAD segments of `image` into `memory` within [low, high)
// (the backend passes kWorkloadBase and StackRegionFor(size).guard_bottom):
// ET_EXEC at its own addresses, ET_DYN with the bias that puts its lowest
// page at kPieLoadBase (for the usual static-PIE, whose first segment is at
// 0, the bias is kPieLoadBase). Each segment's whole page range is zeroed,
// then its p_filesz bytes are copied: bss and page remainders read as zero.
// `file` must be the bytes `image` was parsed from (it is re-checked).
Result<LoadedProgram> LoadElf(const ElfImage& image,
                              std::span<const uint8_t> file,
                              GuestMemory& memory, uint64_t low, uint64_t high);

struct StackInputs {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value"
  std::string execfn;            // AT_EXECFN: the path as the program sees it
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::array<uint8_t, 16> random{};  // AT_RANDOM's bytes
};

// Builds the initial stack at the top of `stack` as Linux's execve does on
// x86-64 and returns the initial rsp (16-byte aligned, argc at [rsp], then
// argv pointers, NULL, envp pointers, NULL, auxv pairs up to AT_NULL; above
// them the AT_RANDOM bytes, the "x86_64" platform string, then the argv,
// env and execfn strings and 8 zero bytes at the very top). There is no
// AT_SYSINFO_EHDR: without a vDSO, libc makes real syscalls. Strings that
// would take more than a quarter of the stack (Linux's ARG_MAX rule) are a
// kInvalidArgument error with sys_errno E2BIG; a string with a NUL byte in
// it (which execve could not pass either) is one with EINVAL.
Result<uint64_t> BuildInitialStack(GuestMemory& memory,
                                   const StackRegion& stack,
                                   const LoadedProgram& program,
                                   const StackInputs& inputs);

}  // namespace isoscope::kvm

#endif  // ISOSCOPE_BACKENDS_KVM_ELF_LOADER_H_
