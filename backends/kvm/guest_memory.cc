#include "backends/kvm/guest_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/kvm/guest_layout.h"

namespace isoscope::kvm {

Result<GuestMemory> GuestMemory::Create(uint64_t size) {
  if (size == 0 || size % kLargePageSize != 0) {
    return tl::unexpected(
        Error(ErrorCode::kInvalidArgument,
              fmt::format("guest memory of {} bytes is not a multiple of 2 MiB",
                          size)));
  }
  // MAP_NORESERVE: the policy's memory limit can be large; pages are backed
  // only when the guest touches them.
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    return tl::unexpected(Error::FromErrno(
        fmt::format("mapping {} bytes of guest memory", size), errno));
  }
  // Never copied into a child the supervisor forks (for example a probe's
  // helper): the guest's memory stays with the VMM.
  madvise(base, size, MADV_DONTFORK);
  return GuestMemory(base, size);
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept {
  if (this != &other) {
    Release();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

GuestMemory::~GuestMemory() { Release(); }

void GuestMemory::Release() {
  if (base_ != nullptr) munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

bool GuestMemory::Read(uint64_t address, void* out, uint64_t length) const {
  if (!Contains(address, length)) return false;
  if (length > 0) {
    std::memcpy(out, static_cast<const char*>(base_) + address, length);
  }
  return true;
}

bool GuestMemory::Write(uint64_t address, const void* in, uint64_t length) {
  if (!Contains(address, length)) return false;
  if (length > 0) std::memcpy(static_cast<char*>(base_) + address, in, length);
  return true;
}

bool GuestMemory::Fill(uint64_t address, uint8_t byte, uint64_t length) {
  if (!Contains(address, length)) return false;
  if (length > 0)
    std::memset(static_cast<char*>(base_) + address, byte, length);
  return true;
}

tl::expected<std::string, GuestMemory::StringError> GuestMemory::ReadString(
    uint64_t address, size_t max_length) const {
  if (address >= size_) return tl::unexpected(StringError::kFault);
  const uint64_t available = size_ - address;
  const uint64_t scan =
      available < uint64_t{max_length} + 1 ? available : max_length + 1;
  const char* begin = static_cast<const char*>(base_) + address;
  const void* nul = std::memchr(begin, 0, scan);
  if (nul == nullptr) {
    // No NUL before the end of RAM is a fault; no NUL within the limit is a
    // name too long.
    return tl::unexpected(scan == available && available <= max_length
                              ? StringError::kFault
                              : StringError::kTooLong);
  }
  return std::string(begin, static_cast<const char*>(nul));
}

bool GuestMemory::Discard(uint64_t address, uint64_t length) {
  if (!Contains(address, length) || address % kPageSize != 0 ||
      length % kPageSize != 0) {
    return false;
  }
  if (length == 0) return true;
  return madvise(static_cast<char*>(base_) + address, length, MADV_DONTNEED) ==
         0;
}

namespace {

// Calls `page(address)` for every resident page of [base, base + size);
// false when mincore fails. Chunked, so a 16 GiB guest needs no 4 MiB
// vector.
template <typename PageFn>
bool ForEachResidentPage(void* base, uint64_t size, PageFn page) {
  constexpr uint64_t kChunk = 64ULL << 20;
  std::vector<unsigned char> resident(kChunk / kPageSize);
  for (uint64_t offset = 0; offset < size; offset += kChunk) {
    const uint64_t length = std::min(kChunk, size - offset);
    if (mincore(static_cast<char*>(base) + offset, length, resident.data()) !=
        0) {
      return false;
    }
    for (uint64_t i = 0; i < length / kPageSize; ++i) {
      if (resident[i] & 1) page(offset + i * kPageSize);
    }
  }
  return true;
}

}  // namespace

uint64_t GuestMemory::ResidentBytes() const {
  uint64_t resident = 0;
  if (!ForEachResidentPage(base_, size_,
                           [&](uint64_t) { resident += kPageSize; })) {
    return 0;
  }
  return resident;
}

Result<GuestMemory::Snapshot> GuestMemory::TakeSnapshot() const {
  Snapshot snapshot;
  if (!ForEachResidentPage(base_, size_, [&](uint64_t address) {
        snapshot.pages_.push_back(address);
      })) {
    return tl::unexpected(Error::FromErrno("mincore of guest memory", errno));
  }
  snapshot.data_.resize(snapshot.pages_.size() * kPageSize);
  for (size_t i = 0; i < snapshot.pages_.size(); ++i) {
    std::memcpy(snapshot.data_.data() + i * kPageSize,
                static_cast<const char*>(base_) + snapshot.pages_[i],
                kPageSize);
  }
  return snapshot;
}

Status GuestMemory::RestoreSnapshot(const Snapshot& snapshot) {
  if (!Discard(0, size_)) {
    return tl::unexpected(Error::FromErrno("discarding guest memory", errno));
  }
  for (size_t i = 0; i < snapshot.pages_.size(); ++i) {
    std::memcpy(static_cast<char*>(base_) + snapshot.pages_[i],
                snapshot.data_.data() + i * kPageSize, kPageSize);
  }
  return {};
}

}  // namespace isoscope::kvm
