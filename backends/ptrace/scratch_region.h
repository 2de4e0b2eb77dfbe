// The read-only scratch region the ptrace backend maps into every workload
// address space: checked copies of pointer arguments live here, so the
// kernel never reads memory the workload can still change.
//
// Why this shape: the region is a shared anonymous mapping, PROT_READ in the
// workload, so no thread of it can write a copy: not with a store, not with
// process_vm_writev, and not through /proc/<pid>/mem, whose forced writes
// the kernel takes only for private (copy-on-write) mappings. isoscope
// writes the object behind it (SharedMappingWriter); a forked child
// inherits the same object, and its copies sit in its own threads' slots.
// It sits at a fixed, low address so the seccomp filter can send any
// munmap/mprotect/mremap/madvise/mmap(MAP_FIXED)/shmat that reaches below
// its end to the tracer with one comparison; nothing legitimate maps there
// (below a non-PIE executable's usual 0x400000, above mmap_min_addr).
#ifndef ISOSCOPE_BACKENDS_PTRACE_SCRATCH_REGION_H_
#define ISOSCOPE_BACKENDS_PTRACE_SCRATCH_REGION_H_

#include <cstdint>

namespace isoscope::scratch {

inline constexpr uint64_t kPageSize = 4096;
// One slot per thread in a syscall: two paths (rename, link, ...) and
// openat2's struct open_how, a page each.
inline constexpr uint64_t kSlotPages = 3;
inline constexpr uint64_t kSlotSize = kSlotPages * kPageSize;
inline constexpr uint64_t kSlots = 128;
inline constexpr uint64_t kBegin = 0x10000;
inline constexpr uint64_t kSize = kSlots * kSlotSize;
inline constexpr uint64_t kEnd = kBegin + kSize;
static_assert(kEnd <= 0x400000, "must stay below a non-PIE executable");

// Address of page `page` (0..kSlotPages-1) of slot `slot`.
constexpr uint64_t SlotPage(uint64_t slot, uint64_t page) {
  return kBegin + slot * kSlotSize + page * kPageSize;
}

// Whether [address, address + length) meets the region; overflow-safe.
constexpr bool Overlaps(uint64_t address, uint64_t length) {
  if (length == 0) return false;
  uint64_t last = address + (length - 1);
  if (last < address) last = UINT64_MAX;  // wrapped: reaches the top
  return address < kEnd && last >= kBegin;
}

}  // namespace isoscope::scratch

#endif  // ISOSCOPE_BACKENDS_PTRACE_SCRATCH_REGION_H_
