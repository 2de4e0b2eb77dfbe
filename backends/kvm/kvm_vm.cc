#include "backends/kvm/kvm_vm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

// guest_stubs.S: the bytes the VMM copies to kStubsAddress.
extern "C" {
extern const unsigned char isoscope_guest_stubs_begin[];
extern const unsigned char isoscope_guest_stubs_end[];
extern const unsigned char isoscope_guest_syscall_entry[];
extern const unsigned char isoscope_guest_vector_stubs[];
}

namespace isoscope::kvm {
namespace {

constexpr int kKvmApiVersion = 12;
// Each vector stub is this long (guest_stubs.S checks it with .org).
constexpr uint64_t kVectorStubSize = 16;
constexpr unsigned kExceptionVectors = 32;

// Page table entry bits.
constexpr uint64_t kPtePresent = 1ULL << 0;
constexpr uint64_t kPteWritable = 1ULL << 1;
constexpr uint64_t kPteAccessed = 1ULL << 5;
constexpr uint64_t kPteDirty = 1ULL << 6;
constexpr uint64_t kPteLargePage = 1ULL << 7;
// Accessed and dirty are preset: the hypervisor need not write them back
// into the tables on the guest's first access to each page.
constexpr uint64_t kPteTable = kPtePresent | kPteWritable | kPteAccessed;
constexpr uint64_t kPte4k = kPteTable | kPteDirty;
constexpr uint64_t kPte2m = kPte4k | kPteLargePage;
constexpr uint64_t kEntriesPerTable = kPageSize / sizeof(uint64_t);
constexpr uint64_t kGiB = 1ULL << 30;

// Control registers and EFER.
constexpr uint64_t kCr0Pe = 1ULL << 0;
constexpr uint64_t kCr0Mp = 1ULL << 1;
constexpr uint64_t kCr0Et = 1ULL << 4;
constexpr uint64_t kCr0Ne = 1ULL << 5;
constexpr uint64_t kCr0Wp = 1ULL << 16;
constexpr uint64_t kCr0Pg = 1ULL << 31;
constexpr uint64_t kCr4Pae = 1ULL << 5;
// FXSAVE/SSE enabled: on a host with hardware virtualization SSE code then
// runs natively; the software hypervisor here fails on it either way.
constexpr uint64_t kCr4Osfxsr = 1ULL << 9;
constexpr uint64_t kCr4Osxmmexcpt = 1ULL << 10;
constexpr uint64_t kEferSce = 1ULL << 0;
constexpr uint64_t kEferLme = 1ULL << 8;
constexpr uint64_t kEferLma = 1ULL << 10;

// RFLAGS.
constexpr uint64_t kRflagsReserved1 = 1ULL << 1;
constexpr uint64_t kRflagsTf = 1ULL << 8;
constexpr uint64_t kRflagsIf = 1ULL << 9;
constexpr uint64_t kRflagsDf = 1ULL << 10;
constexpr uint64_t kRflagsAc = 1ULL << 18;
// The flags SYSRET restores from R11 (RF and VM are cleared).
constexpr uint64_t kSysretFlagsMask = 0x3C7FD7;

// MSRs.
constexpr uint32_t kMsrStar = 0xC0000081;
constexpr uint32_t kMsrLstar = 0xC0000082;
constexpr uint32_t kMsrCstar = 0xC0000083;
constexpr uint32_t kMsrSfmask = 0xC0000084;
constexpr uint32_t kMsrKernelGsBase = 0xC0000102;

// Descriptors.
constexpr uint64_t kGdtEntries = 5;  // null, code, data, TSS (two slots)
constexpr uint64_t kCodeDescriptor = 0x00AF9A000000FFFF;  // 64-bit, DPL 0
constexpr uint64_t kDataDescriptor = 0x00CF92000000FFFF;  // flat, writable
constexpr uint64_t kTssSize = 104;
constexpr uint8_t kTssTypeBusy = 0xB;
constexpr uint8_t kInterruptGate = 0xE;
constexpr uint64_t kIdtEntries = 256;
constexpr uint64_t kIdtEntrySize = 16;
constexpr uint64_t kTssRsp0Offset = 4;
constexpr uint64_t kTssIst1Offset = 36;
constexpr uint64_t kTssIoMapOffset = 102;

// CPUID bits hidden from the guest.
constexpr uint32_t kCpuid1EcxFma = 1U << 12;
constexpr uint32_t kCpuid1EcxXsave = 1U << 26;
constexpr uint32_t kCpuid1EcxOsxsave = 1U << 27;
constexpr uint32_t kCpuid1EcxAvx = 1U << 28;
constexpr uint32_t kCpuid1EcxF16c = 1U << 29;
constexpr uint32_t kCpuid1EcxHypervisor = 1U << 31;
// Leaf 7 subleaf 0: AVX2 and every AVX-512 flavour, VAES/VPCLMULQDQ (VEX
// or EVEX encoded) and AMX (needs XSAVE).
constexpr uint32_t kCpuid7EbxVector = (1U << 5) | (1U << 16) | (1U << 17) |
                                      (1U << 21) | (1U << 26) | (1U << 27) |
                                      (1U << 28) | (1U << 30) | (1U << 31);
constexpr uint32_t kCpuid7EcxVector = (1U << 1) | (1U << 6) | (1U << 9) |
                                      (1U << 10) | (1U << 11) | (1U << 12) |
                                      (1U << 14);
constexpr uint32_t kCpuid7EdxVector = (1U << 2) | (1U << 3) | (1U << 8) |
                                      (1U << 22) | (1U << 23) | (1U << 24) |
                                      (1U << 25);
// Leaf 7 subleaf 1: AVX-VNNI, AVX512-BF16.
constexpr uint32_t kCpuid7Sub1EaxVector = (1U << 4) | (1U << 5);
constexpr uint32_t kHypervisorLeavesFirst = 0x40000000;
constexpr uint32_t kHypervisorLeavesLast = 0x4fffffff;

// Debian 12's 6.1 uapi headers declare the entries of kvm_cpuid2 and
// kvm_msrs with __DECLARE_FLEX_ARRAY, whose empty struct has size 1 in C++:
// there the entries move (to offset 12 and 16) and the ioctl numbers, which
// encode sizeof, change (KVM answers EINVAL / ENOTTY). So this file builds
// those buffers with headers of the kernel's layout and its own numbers.
struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8);
constexpr uint64_t kIoctlGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr uint64_t kIoctlSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr uint64_t kIoctlGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr uint64_t kIoctlSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);

// A CpuidHeader followed by `count` entries, 8-byte aligned.
class CpuidBuffer {
 public:
  explicit CpuidBuffer(uint32_t count)
      : storage_((sizeof(CpuidHeader) + count * sizeof(kvm_cpuid_entry2) +
                  sizeof(uint64_t) - 1) /
                 sizeof(uint64_t)) {
    header()->nent = count;
  }
  CpuidHeader* header() {
    return reinterpret_cast<CpuidHeader*>(storage_.data());
  }
  kvm_cpuid_entry2* entries() {
    return reinterpret_cast<kvm_cpuid_entry2*>(
        reinterpret_cast<unsigned char*>(storage_.data()) +
        sizeof(CpuidHeader));
  }

 private:
  std::vector<uint64_t> storage_;
};

uint64_t StubsOffset(const unsigned char* symbol) {
  return reinterpret_cast<uintptr_t>(symbol) -
         reinterpret_cast<uintptr_t>(isoscope_guest_stubs_begin);
}

uint64_t StubsSize() { return StubsOffset(isoscope_guest_stubs_end); }

// A 16-byte system descriptor (TSS) in the GDT: two quadwords.
std::array<uint64_t, 2> SystemDescriptor(uint64_t base, uint64_t limit,
                                         uint8_t type) {
  const uint64_t low = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) |
                       (static_cast<uint64_t>(type) << 40) | (1ULL << 47) |
                       (((limit >> 16) & 0xF) << 48) |
                       (((base >> 24) & 0xFF) << 56);
  return {low, base >> 32};
}

// A 64-bit interrupt gate: DPL 0, present, on IST `ist`.
std::array<uint64_t, 2> InterruptGate(uint64_t target, uint16_t selector,
                                      uint8_t ist) {
  const uint64_t low = (target & 0xFFFF) |
                       (static_cast<uint64_t>(selector) << 16) |
                       (static_cast<uint64_t>(ist & 0x7) << 32) |
                       (static_cast<uint64_t>(kInterruptGate) << 40) |
                       (1ULL << 47) | (((target >> 16) & 0xFFFF) << 48);
  return {low, target >> 32};
}

kvm_segment Segment(uint16_t selector, uint8_t type, bool code) {
  kvm_segment segment{};
  segment.base = 0;
  segment.limit = 0xFFFFFFFF;
  segment.selector = selector;
  segment.type = type;
  segment.present = 1;
  segment.dpl = 0;
  segment.db = code ? 0 : 1;  // a 64-bit code segment has D = 0
  segment.s = 1;
  segment.l = code ? 1 : 0;
  segment.g = 1;
  return segment;
}

Error InternalError(std::string message) {
  return Error(ErrorCode::kInternal, std::move(message));
}

Error Unavailable(std::string message, int sys_errno = 0) {
  return Error(ErrorCode::kUnavailable, std::move(message), sys_errno);
}

Status CheckConfig(const VmConfig& config) {
  const uint64_t size = config.memory_size;
  if (size % kLargePageSize != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("guest memory of {} bytes is not a multiple of "
                            "2 MiB",
                            size));
  }
  if (size < kMinGuestMemory) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("guest memory of {} bytes is below the minimum "
                            "of {} MiB",
                            size, kMinGuestMemory >> 20));
  }
  if (size > kMaxGuestMemory) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("guest memory of {} bytes is above the maximum "
                            "of {} GiB",
                            size, kMaxGuestMemory >> 30));
  }
  return {};
}

// KVM_GET_SUPPORTED_CPUID depends only on the host and KVM module, so it is
// asked once per process.
struct SupportedCpuid {
  std::vector<kvm_cpuid_entry2> entries;
  int sys_errno = 0;
};

SupportedCpuid QuerySupportedCpuid(int kvm_fd) {
  SupportedCpuid result;
  for (uint32_t capacity = 128; capacity <= 4096; capacity *= 2) {
    CpuidBuffer buffer(capacity);
    if (ioctl(kvm_fd, kIoctlGetSupportedCpuid, buffer.header()) == 0) {
      const uint32_t count = std::min(buffer.header()->nent, capacity);
      result.entries.assign(buffer.entries(), buffer.entries() + count);
      return result;
    }
    if (errno != E2BIG) {
      result.sys_errno = errno;
      return result;
    }
  }
  result.sys_errno = E2BIG;
  return result;
}

const SupportedCpuid& CachedSupportedCpuid(int kvm_fd) {
  static const SupportedCpuid cached = QuerySupportedCpuid(kvm_fd);
  return cached;
}

// The CPUID the guest sees: the host's supported set without what the
// emulator cannot run (XSAVE, AVX and up) and, if asked, without any sign
// of a hypervisor. kvm_pvm ORs the host's own feature bits back into leaf 1
// and 7, so there AVX still shows; CR4.OSXSAVE stays clear, which is what
// programs (glibc included) check before they use AVX.
void FilterCpuid(std::vector<kvm_cpuid_entry2>& entries, bool hide_hypervisor) {
  if (hide_hypervisor) {
    std::erase_if(entries, [](const kvm_cpuid_entry2& entry) {
      return entry.function >= kHypervisorLeavesFirst &&
             entry.function <= kHypervisorLeavesLast;
    });
  }
  for (kvm_cpuid_entry2& entry : entries) {
    if (entry.function == 1) {
      entry.ecx &= ~(kCpuid1EcxFma | kCpuid1EcxXsave | kCpuid1EcxOsxsave |
                     kCpuid1EcxAvx | kCpuid1EcxF16c);
      if (hide_hypervisor) entry.ecx &= ~kCpuid1EcxHypervisor;
    } else if (entry.function == 7 && entry.index == 0) {
      entry.ebx &= ~kCpuid7EbxVector;
      entry.ecx &= ~kCpuid7EcxVector;
      entry.edx &= ~kCpuid7EdxVector;
    } else if (entry.function == 7 && entry.index == 1) {
      entry.eax &= ~kCpuid7Sub1EaxVector;
    }
  }
}

// A MsrsHeader with room for `N` entries after it.
template <size_t N>
class MsrList {
 public:
  MsrList() { header()->nmsrs = 0; }
  void Add(uint32_t index, uint64_t data) {
    kvm_msr_entry& entry = entries()[header()->nmsrs++];
    entry = kvm_msr_entry{};
    entry.index = index;
    entry.data = data;
  }
  MsrsHeader* header() { return reinterpret_cast<MsrsHeader*>(storage_); }
  kvm_msr_entry* entries() {
    return reinterpret_cast<kvm_msr_entry*>(storage_ + sizeof(MsrsHeader));
  }
  uint32_t size() { return header()->nmsrs; }

 private:
  alignas(uint64_t) unsigned char storage_[sizeof(MsrsHeader) +
                                           N * sizeof(kvm_msr_entry)] = {};
};

}  // namespace

void Vm::RunMapping::Reset(kvm_run* run, size_t size) {
  if (run_ != nullptr) munmap(run_, size_);
  run_ = run;
  size_ = size;
}

Vm::~Vm() = default;

uint64_t Vm::SyscallEntryAddress() {
  return kStubsAddress + StubsOffset(isoscope_guest_syscall_entry);
}

uint64_t Vm::VectorStubAddress(unsigned vector) {
  return kStubsAddress + StubsOffset(isoscope_guest_vector_stubs) +
         static_cast<uint64_t>(vector) * kVectorStubSize;
}

Result<std::unique_ptr<Vm>> Vm::Create(const VmConfig& config) {
  if (Status status = CheckConfig(config); !status) {
    return tl::unexpected(std::move(status).error());
  }

  UniqueFd kvm_fd(open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm_fd) {
    const int error = errno;
    return tl::unexpected(Unavailable(
        fmt::format("cannot open /dev/kvm ({})", ErrnoName(error)), error));
  }
  const int version = ioctl(kvm_fd.get(), KVM_GET_API_VERSION, 0);
  if (version != kKvmApiVersion) {
    return tl::unexpected(Unavailable(
        fmt::format("/dev/kvm speaks KVM API version {}, this VMM needs {}",
                    version, kKvmApiVersion)));
  }
  struct Capability {
    int id;
    const char* name;
  };
  for (const Capability& cap :
       {Capability{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        Capability{KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"},
        Capability{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"}}) {
    const int value = ioctl(kvm_fd.get(), KVM_CHECK_EXTENSION, cap.id);
    if (value <= 0 ||
        (cap.id == KVM_CAP_SYNC_REGS && (value & KVM_SYNC_X86_REGS) == 0)) {
      return tl::unexpected(Unavailable(
          fmt::format("KVM lacks {}, which this VMM needs", cap.name)));
    }
  }

  UniqueFd vm_fd(ioctl(kvm_fd.get(), KVM_CREATE_VM, 0));
  if (!vm_fd) return FailErrno("KVM_CREATE_VM", errno);

  Result<GuestMemory> memory = GuestMemory::Create(config.memory_size);
  if (!memory) return tl::unexpected(std::move(memory).error());

  std::unique_ptr<Vm> vm(
      new Vm(std::move(*memory), std::move(kvm_fd), std::move(vm_fd)));
  if (Status status = vm->Initialize(config); !status) {
    return tl::unexpected(std::move(status).error());
  }
  return vm;
}

Status Vm::Initialize(const VmConfig& config) {
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = memory_.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(memory_.host_address());
  if (ioctl(vm_fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    return FailErrno("KVM_SET_USER_MEMORY_REGION", errno);
  }

  vcpu_fd_.Reset(ioctl(vm_fd_.get(), KVM_CREATE_VCPU, 0));
  if (!vcpu_fd_) return FailErrno("KVM_CREATE_VCPU", errno);

  const int mmap_size = ioctl(kvm_fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size < 0) return FailErrno("KVM_GET_VCPU_MMAP_SIZE", errno);
  if (static_cast<size_t>(mmap_size) < sizeof(kvm_run)) {
    return Fail(ErrorCode::kInternal,
                fmt::format("KVM_GET_VCPU_MMAP_SIZE is {}, smaller than "
                            "struct kvm_run",
                            mmap_size));
  }
  void* run = mmap(nullptr, static_cast<size_t>(mmap_size),
                   PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd_.get(), 0);
  if (run == MAP_FAILED) return FailErrno("mapping kvm_run", errno);
  run_mapping_.Reset(static_cast<kvm_run*>(run),
                     static_cast<size_t>(mmap_size));
  run_ = run_mapping_.get();

  if (Status s = WriteSystemTables(); !s) return s;
  if (Status s = SetUpCpuid(config.hide_hypervisor); !s) return s;
  if (Status s = SetUpSregs(); !s) return s;
  if (Status s = SetUpMsrs(); !s) return s;

  // KVM keeps the general registers in the kvm_run page at every exit; the
  // VMM's changes go back with kvm_dirty_regs.
  run_->kvm_valid_regs = KVM_SYNC_X86_REGS;
  run_->s.regs.regs = kvm_regs{};
  run_->s.regs.regs.rflags = kRflagsReserved1;
  MarkRegsDirty();
  return {};
}

Status Vm::WriteSystemTables() {
  const uint64_t size = memory_.size();
  const StackRegion stack = StackRegionFor(size);
  bool ok = true;

  // Identity page tables: PML4[0] -> PDPT -> one PD per GiB of RAM.
  ok &= memory_.WriteValue<uint64_t>(kPml4Address, kPdptAddress | kPteTable);
  const uint64_t gibs = (size + kGiB - 1) / kGiB;
  for (uint64_t gib = 0; gib < gibs; ++gib) {
    ok &= memory_.WriteValue<uint64_t>(
        kPdptAddress + gib * sizeof(uint64_t),
        (kPageDirectoriesAddress + gib * kPageSize) | kPteTable);
    std::array<uint64_t, kEntriesPerTable> directory{};
    uint64_t used = 0;
    for (; used < kEntriesPerTable; ++used) {
      const uint64_t address = gib * kGiB + used * kLargePageSize;
      if (address >= size) break;
      if (address == 0) {
        // The first 2 MiB in 4 KiB pages, so page 0 can stay unmapped.
        directory[used] = kFirstPageTableAddress | kPteTable;
      } else if (address == stack.guard_bottom) {
        directory[used] = 0;  // the stack guard: an overflow faults
      } else {
        directory[used] = address | kPte2m;
      }
    }
    ok &= memory_.Write(kPageDirectoriesAddress + gib * kPageSize,
                        directory.data(), used * sizeof(uint64_t));
  }
  std::array<uint64_t, kEntriesPerTable> first_table{};
  for (uint64_t page = 1; page < kEntriesPerTable; ++page) {
    first_table[page] = page * kPageSize | kPte4k;  // page 0: NULL faults
  }
  ok &= memory_.Write(kFirstPageTableAddress, first_table.data(),
                      sizeof(first_table));

  // GDT: null, code, data, TSS.
  const std::array<uint64_t, 2> tss =
      SystemDescriptor(kTssAddress, kTssSize - 1, kTssTypeBusy);
  const std::array<uint64_t, kGdtEntries> gdt = {
      0, kCodeDescriptor, kDataDescriptor, tss[0], tss[1]};
  ok &= memory_.Write(kGdtAddress, gdt.data(), sizeof(gdt));

  // IDT: vectors 0-31 on IST1; the others stay zero (not present).
  std::array<uint64_t, size_t{2} * kExceptionVectors> idt{};
  for (unsigned vector = 0; vector < kExceptionVectors; ++vector) {
    const std::array<uint64_t, 2> gate =
        InterruptGate(VectorStubAddress(vector), kCodeSelector, 1);
    idt[size_t{2} * vector] = gate[0];
    idt[size_t{2} * vector + 1] = gate[1];
  }
  ok &= memory_.Write(kIdtAddress, idt.data(), sizeof(idt));

  // TSS: every exception (and ring 0 itself) gets the exception stack.
  ok &= memory_.WriteValue<uint64_t>(kTssAddress + kTssRsp0Offset,
                                     kExceptionStackTop);
  ok &= memory_.WriteValue<uint64_t>(kTssAddress + kTssIst1Offset,
                                     kExceptionStackTop);
  ok &= memory_.WriteValue<uint16_t>(kTssAddress + kTssIoMapOffset,
                                     static_cast<uint16_t>(kTssSize));

  const uint64_t stubs_size = StubsSize();
  if (stubs_size > kStubsMaxSize) {
    return Fail(ErrorCode::kInternal,
                fmt::format("the guest stubs ({} bytes) exceed their {} byte "
                            "slot",
                            stubs_size, kStubsMaxSize));
  }
  ok &= memory_.Write(kStubsAddress, isoscope_guest_stubs_begin, stubs_size);
  if (!ok) {
    return tl::unexpected(
        InternalError("the guest's system tables do not fit in guest RAM"));
  }
  return {};
}

Status Vm::SetUpCpuid(bool hide_hypervisor) {
  const SupportedCpuid& supported = CachedSupportedCpuid(kvm_fd_.get());
  if (supported.sys_errno != 0) {
    return FailErrno("KVM_GET_SUPPORTED_CPUID", supported.sys_errno);
  }
  std::vector<kvm_cpuid_entry2> entries = supported.entries;
  FilterCpuid(entries, hide_hypervisor);

  CpuidBuffer buffer(static_cast<uint32_t>(entries.size()));
  std::copy(entries.begin(), entries.end(), buffer.entries());
  if (ioctl(vcpu_fd_.get(), kIoctlSetCpuid2, buffer.header()) != 0) {
    return FailErrno("KVM_SET_CPUID2", errno);
  }
  return {};
}

Status Vm::SetUpSregs() {
  Result<kvm_sregs> current = GetSregs();
  if (!current) return tl::unexpected(std::move(current).error());
  kvm_sregs sregs = *current;

  sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  sregs.cr3 = kPml4Address;
  sregs.cr4 = kCr4Pae | kCr4Osfxsr | kCr4Osxmmexcpt;
  sregs.efer = kEferLme | kEferLma | kEferSce;

  sregs.cs = Segment(kCodeSelector, 0xB, /*code=*/true);  // exec/read, acc.
  const kvm_segment data = Segment(kDataSelector, 0x3, /*code=*/false);
  sregs.ds = data;
  sregs.es = data;
  sregs.fs = data;
  sregs.gs = data;
  sregs.ss = data;

  kvm_segment tr{};
  tr.base = kTssAddress;
  tr.limit = kTssSize - 1;
  tr.selector = kTssSelector;
  tr.type = kTssTypeBusy;
  tr.present = 1;
  sregs.tr = tr;

  sregs.gdt.base = kGdtAddress;
  sregs.gdt.limit = kGdtEntries * sizeof(uint64_t) - 1;
  sregs.idt.base = kIdtAddress;
  sregs.idt.limit = kIdtEntries * kIdtEntrySize - 1;

  if (ioctl(vcpu_fd_.get(), KVM_SET_SREGS, &sregs) != 0) {
    return FailErrno("KVM_SET_SREGS", errno);
  }
  return {};
}

Status Vm::SetUpMsrs() {
  MsrList<7> msrs;
  // SYSCALL loads CS from STAR[47:32] and SS from it + 8 (the data selector).
  msrs.Add(kMsrStar, static_cast<uint64_t>(kCodeSelector) << 32);
  msrs.Add(kMsrLstar, SyscallEntryAddress());
  msrs.Add(kMsrCstar, 0);
  msrs.Add(kMsrSfmask, kRflagsIf | kRflagsTf | kRflagsDf | kRflagsAc);
  msrs.Add(kMsrFsBase, 0);
  msrs.Add(kMsrGsBase, 0);
  msrs.Add(kMsrKernelGsBase, 0);
  const int set = ioctl(vcpu_fd_.get(), kIoctlSetMsrs, msrs.header());
  if (set < 0) return FailErrno("KVM_SET_MSRS", errno);
  if (static_cast<uint32_t>(set) != msrs.size()) {
    return Fail(
        ErrorCode::kSystem,
        fmt::format(
            "KVM_SET_MSRS set {} of {} MSRs (refused: {:#x})", set, msrs.size(),
            msrs.entries()[std::min<uint32_t>(static_cast<uint32_t>(set),
                                              msrs.size() - 1)]
                .index));
  }
  return {};
}

Status Vm::ResetGuest() {
  if (!memory_.Discard(0, memory_.size())) {
    return Fail(ErrorCode::kSystem, "discarding guest memory");
  }
  if (Status s = WriteSystemTables(); !s) return s;
  if (Status s = SetUpSregs(); !s) return s;
  if (Status s = SetUpMsrs(); !s) return s;
  run_->s.regs.regs = kvm_regs{};
  run_->s.regs.regs.rflags = kRflagsReserved1;
  MarkRegsDirty();
  return {};
}

Status Vm::SetSregs(const kvm_sregs& sregs) {
  if (ioctl(vcpu_fd_.get(), KVM_SET_SREGS, &sregs) != 0) {
    return FailErrno("KVM_SET_SREGS", errno);
  }
  return {};
}

Result<kvm_sregs> Vm::GetSregs() {
  kvm_sregs sregs{};
  if (ioctl(vcpu_fd_.get(), KVM_GET_SREGS, &sregs) != 0) {
    return FailErrno("KVM_GET_SREGS", errno);
  }
  return sregs;
}

Result<uint64_t> Vm::GetMsr(uint32_t index) {
  MsrList<1> msrs;
  msrs.Add(index, 0);
  const int got = ioctl(vcpu_fd_.get(), kIoctlGetMsrs, msrs.header());
  if (got < 0) return FailErrno("KVM_GET_MSRS", errno);
  if (got != 1) {
    return Fail(ErrorCode::kSystem,
                fmt::format("KVM_GET_MSRS could not read MSR {:#x}", index));
  }
  return msrs.entries()[0].data;
}

Status Vm::SetMsr(uint32_t index, uint64_t value) {
  MsrList<1> msrs;
  msrs.Add(index, value);
  const int set = ioctl(vcpu_fd_.get(), kIoctlSetMsrs, msrs.header());
  if (set < 0) return FailErrno("KVM_SET_MSRS", errno);
  if (set != 1) {
    // For FS/GS base: a non-canonical address.
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("KVM refused {:#x} for MSR {:#x}", value, index));
  }
  return {};
}

void Vm::CompleteSyscall(uint64_t result) {
  kvm_regs& r = regs();
  r.rax = result;
  r.rip = r.rcx;
  r.rflags = (r.r11 & kSysretFlagsMask) | kRflagsReserved1;
  MarkRegsDirty();
}

Result<VcpuExit> Vm::Run() {
  VcpuExit exit;
  if (ioctl(vcpu_fd_.get(), KVM_RUN, 0) != 0) {
    const int error = errno;
    if (error == EINTR) {
      // KVM stores the registers on this path too.
      exit.kind = VcpuExit::Kind::kInterrupted;
      exit.rip = run_->s.regs.regs.rip;
      return exit;
    }
    return FailErrno("KVM_RUN", error);
  }
  DecodeExit(exit);
  return exit;
}

void Vm::DecodeExit(VcpuExit& exit) const {
  const kvm_run& run = *run_;
  exit.exit_reason = run.exit_reason;
  exit.rip = run.s.regs.regs.rip;
  switch (run.exit_reason) {
    case KVM_EXIT_IO: {
      const uint8_t size = run.io.size;
      const uint32_t count = run.io.count;
      const uint64_t bytes = static_cast<uint64_t>(size) * count;
      const uint64_t offset = run.io.data_offset;
      const uint64_t page = run_mapping_.size();
      // KVM wrote these; checked anyway before reading through them.
      if ((size != 1 && size != 2 && size != 4) || count == 0 ||
          offset > page || bytes > page - offset) {
        exit.kind = VcpuExit::Kind::kOther;
        return;
      }
      exit.port = run.io.port;
      exit.io_out = run.io.direction == KVM_EXIT_IO_OUT;
      exit.io_size = size;
      exit.io_count = count;
      if (exit.io_out) {
        const uint64_t length = std::min<uint64_t>(bytes, exit.io_data.size());
        std::memcpy(exit.io_data.data(),
                    reinterpret_cast<const unsigned char*>(run_) + offset,
                    length);
        exit.io_data_length = static_cast<uint8_t>(length);
      }
      const bool hypercall = exit.io_out && size == 1 && count == 1;
      if (hypercall && exit.port == kSyscallPort) {
        exit.kind = VcpuExit::Kind::kSyscall;
      } else if (hypercall && exit.port == kExceptionPort) {
        exit.kind = VcpuExit::Kind::kException;
      } else {
        exit.kind = VcpuExit::Kind::kIo;
      }
      return;
    }
    case KVM_EXIT_HLT:
      exit.kind = VcpuExit::Kind::kHlt;
      return;
    case KVM_EXIT_MMIO: {
      exit.kind = VcpuExit::Kind::kMmio;
      exit.mmio_address = run.mmio.phys_addr;
      exit.mmio_write = run.mmio.is_write != 0;
      exit.mmio_length = run.mmio.len;
      if (exit.mmio_write) {
        std::memcpy(exit.mmio_data.data(), run.mmio.data,
                    std::min<size_t>(run.mmio.len, exit.mmio_data.size()));
      }
      return;
    }
    case KVM_EXIT_SHUTDOWN:
      exit.kind = VcpuExit::Kind::kShutdown;
      return;
    case KVM_EXIT_INTERNAL_ERROR: {
      exit.kind = VcpuExit::Kind::kInternalError;
      exit.internal_suberror = run.internal.suberror;
      const uint32_t ndata = std::min<uint32_t>(
          run.internal.ndata, static_cast<uint32_t>(exit.internal_data.size()));
      exit.internal_ndata = ndata;
      std::memcpy(exit.internal_data.data(), run.internal.data,
                  ndata * sizeof(uint64_t));
      return;
    }
    case KVM_EXIT_FAIL_ENTRY:
      exit.kind = VcpuExit::Kind::kFailEntry;
      exit.hardware_entry_failure_reason =
          run.fail_entry.hardware_entry_failure_reason;
      return;
    default:
      exit.kind = VcpuExit::Kind::kOther;
      return;
  }
}

Result<ExceptionFrame> Vm::ReadExceptionFrame() {
  // [vector, error_code, rip, cs, rflags, rsp, ss] as the stub left them;
  // the guest may have pointed RSP anywhere or made the `out` itself.
  const uint64_t rsp = regs().rsp;
  std::array<uint64_t, 7> words{};
  if (!memory_.Read(rsp, words.data(), sizeof(words))) {
    return Fail(ErrorCode::kInternal,
                fmt::format("the guest's exception frame at RSP {:#x} is not "
                            "inside guest RAM",
                            rsp));
  }
  ExceptionFrame frame;
  frame.vector = words[0];
  frame.error_code = words[1];
  frame.rip = words[2];
  frame.cs = words[3];
  frame.rflags = words[4];
  frame.rsp = words[5];
  frame.ss = words[6];
  if (frame.vector >= kExceptionVectors) {
    return Fail(ErrorCode::kInternal,
                fmt::format("the guest reported exception vector {}, which is "
                            "not one of 0-31",
                            frame.vector));
  }
  Result<kvm_sregs> sregs = GetSregs();
  if (!sregs) return tl::unexpected(std::move(sregs).error());
  frame.cr2 = sregs->cr2;
  return frame;
}

std::string_view ExitKindName(VcpuExit::Kind kind) {
  switch (kind) {
    case VcpuExit::Kind::kSyscall:
      return "syscall";
    case VcpuExit::Kind::kException:
      return "exception";
    case VcpuExit::Kind::kIo:
      return "port I/O";
    case VcpuExit::Kind::kHlt:
      return "hlt";
    case VcpuExit::Kind::kMmio:
      return "MMIO";
    case VcpuExit::Kind::kShutdown:
      return "shutdown (triple fault)";
    case VcpuExit::Kind::kInternalError:
      return "KVM internal error";
    case VcpuExit::Kind::kFailEntry:
      return "VM entry failure";
    case VcpuExit::Kind::kInterrupted:
      return "interrupted";
    case VcpuExit::Kind::kOther:
      return "other exit";
  }
  return "unknown exit";
}

std::string DescribeExit(const VcpuExit& exit) {
  std::string text =
      fmt::format("{} at rip {:#x}", ExitKindName(exit.kind), exit.rip);
  switch (exit.kind) {
    case VcpuExit::Kind::kSyscall:
    case VcpuExit::Kind::kException:
    case VcpuExit::Kind::kIo: {
      text += fmt::format(": {} port {:#x}, {} x {} byte(s)",
                          exit.io_out ? "out" : "in", exit.port, exit.io_count,
                          exit.io_size);
      if (exit.io_data_length > 0) {
        text += ", data";
        for (uint8_t i = 0; i < exit.io_data_length; ++i) {
          text += fmt::format(" {:02x}", exit.io_data[i]);
        }
      }
      break;
    }
    case VcpuExit::Kind::kMmio:
      text += fmt::format(": {} of {} byte(s) at guest-physical {:#x}",
                          exit.mmio_write ? "write" : "read", exit.mmio_length,
                          exit.mmio_address);
      break;
    case VcpuExit::Kind::kInternalError: {
      text += fmt::format(": suberror {}", exit.internal_suberror);
      if (exit.internal_suberror == KVM_INTERNAL_ERROR_EMULATION) {
        text += " (instruction emulation failed)";
      }
      if (exit.internal_ndata > 0) {
        text += ", data";
        for (uint32_t i = 0; i < exit.internal_ndata; ++i) {
          text += fmt::format(" {:#x}", exit.internal_data[i]);
        }
      }
      break;
    }
    case VcpuExit::Kind::kFailEntry:
      text += fmt::format(": hardware entry failure reason {:#x}",
                          exit.hardware_entry_failure_reason);
      break;
    case VcpuExit::Kind::kOther:
      text += fmt::format(": exit reason {}", exit.exit_reason);
      break;
    default:
      break;
  }
  return text;
}

}  // namespace isoscope::kvm
