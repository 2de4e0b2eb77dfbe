// Where things live in the guest's physical address space. Guest virtual
// addresses equal guest physical ones (identity page tables), so a guest
// pointer is an offset into GuestMemory.
//
//   0x0000 - 0x0fff   never mapped: a NULL dereference faults (#PF)
//   0x1000 - ...      page tables (PML4, PDPT, one PD per GiB, the 4 KiB
//                     table of the first 2 MiB), then GDT, IDT, TSS
//   kStubsAddress     the guest stubs (LSTAR entry, IDT vectors 0-31)
//   kExceptionStack   the IST1 stack every exception runs on, so a stack
//                     overflow of the workload still reaches its stub
//   kWorkloadBase     2 MiB: ELF segments, then brk upwards; anonymous
//                     mmaps downwards from below the stack guard
//   top of RAM        the initial stack, with an unmapped 2 MiB guard below
#ifndef ISOSCOPE_BACKENDS_KVM_GUEST_LAYOUT_H_
#define ISOSCOPE_BACKENDS_KVM_GUEST_LAYOUT_H_

#include <cstdint>

namespace isoscope::kvm {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kLargePageSize = 2ULL << 20;

inline constexpr uint64_t kPml4Address = 0x1000;
inline constexpr uint64_t kPdptAddress = 0x2000;
inline constexpr uint64_t kFirstPageTableAddress = 0x3000;   // first 2 MiB
inline constexpr uint64_t kPageDirectoriesAddress = 0x4000;  // one per GiB
inline constexpr uint64_t kMaxGuestMemory = 16ULL << 30;     // 16 PDs
inline constexpr uint64_t kGdtAddress = 0x14000;
inline constexpr uint64_t kIdtAddress = 0x15000;
inline constexpr uint64_t kTssAddress = 0x16000;
inline constexpr uint64_t kStubsAddress = 0x18000;
inline constexpr uint64_t kStubsMaxSize = 0x8000;
inline constexpr uint64_t kExceptionStackBottom = 0x20000;
inline constexpr uint64_t kExceptionStackTop = 0x40000;

inline constexpr uint64_t kWorkloadBase = kLargePageSize;
// Where a static-PIE (ET_DYN) executable is placed.
inline constexpr uint64_t kPieLoadBase = 0x400000;
// The smallest guest RAM the layout fits in: system area, a few MiB of
// program, heap and mmap space, the stack guard and the stack.
inline constexpr uint64_t kMinGuestMemory = 16ULL << 20;
// Guest RAM when the policy sets no memory limit (backed lazily).
inline constexpr uint64_t kDefaultGuestMemory = 256ULL << 20;
// The initial stack's size: at most this, at least kLargePageSize.
inline constexpr uint64_t kMaxStackSize = 8ULL << 20;

// I/O ports of the stubs' hypercalls: below 0x100, so `out %al, $port`
// needs no register besides RAX (RDX carries a syscall argument).
inline constexpr uint16_t kSyscallPort = 0xE0;
inline constexpr uint16_t kExceptionPort = 0xE1;

// Segment selectors in the VMM's GDT.
inline constexpr uint16_t kCodeSelector = 0x08;
inline constexpr uint16_t kDataSelector = 0x10;
inline constexpr uint16_t kTssSelector = 0x18;  // 16-byte descriptor

// The stack of a guest memory size: [bottom, top) and the guard below it.
struct StackRegion {
  uint64_t guard_bottom = 0;  // unmapped 2 MiB below `bottom`
  uint64_t bottom = 0;
  uint64_t top = 0;
};
constexpr StackRegion StackRegionFor(uint64_t memory_size) {
  uint64_t size = memory_size / 8;
  if (size > kMaxStackSize) size = kMaxStackSize;
  size &= ~(kLargePageSize - 1);
  if (size < kLargePageSize) size = kLargePageSize;
  return StackRegion{memory_size - size - kLargePageSize, memory_size - size,
                     memory_size};
}

}  // namespace isoscope::kvm

#endif  // ISOSCOPE_BACKENDS_KVM_GUEST_LAYOUT_H_
