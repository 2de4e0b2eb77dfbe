// The guest's RAM as the VMM sees it: one anonymous mapping, backed lazily,
// and the only way the VMM touches guest memory. Every access is checked
// against the RAM's bounds with overflow-safe arithmetic and copies: the
// guest's pointers and lengths are hostile, and what the VMM decides on is
// its own copy, never the guest's bytes read a second time.
#ifndef ISOSCOPE_BACKENDS_KVM_GUEST_MEMORY_H_
#define ISOSCOPE_BACKENDS_KVM_GUEST_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "base/error.h"

namespace isoscope::kvm {

class GuestMemory {
 public:
  // Maps `size` bytes (a multiple of 2 MiB) of zero, lazily backed RAM.
  static Result<GuestMemory> Create(uint64_t size);

  GuestMemory(GuestMemory&& other) noexcept;
  GuestMemory& operator=(GuestMemory&& other) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  uint64_t size() const { return size_; }
  // For KVM_SET_USER_MEMORY_REGION only: never handed to the guest.
  void* host_address() const { return base_; }

  // Whether [address, address + length) lies inside RAM (length 0: whether
  // address <= size).
  bool Contains(uint64_t address, uint64_t length) const {
    return address <= size_ && length <= size_ - address;
  }

  // Copies out of / into guest RAM; false (nothing copied) when the range is
  // not inside RAM.
  [[nodiscard]] bool Read(uint64_t address, void* out, uint64_t length) const;
  [[nodiscard]] bool Write(uint64_t address, const void* in, uint64_t length);
  [[nodiscard]] bool Fill(uint64_t address, uint8_t byte, uint64_t length);

  template <typename T>
  std::optional<T> ReadValue(uint64_t address) const {
    T value;
    if (!Read(address, &value, sizeof(T))) return std::nullopt;
    return value;
  }
  template <typename T>
  [[nodiscard]] bool WriteValue(uint64_t address, const T& value) {
    return Write(address, &value, sizeof(T));
  }

  enum class StringError {
    kFault,    // the string is not inside RAM (EFAULT)
    kTooLong,  // no NUL within max_length bytes (ENAMETOOLONG)
  };
  // A NUL-terminated string of at most `max_length` bytes before the NUL.
  tl::expected<std::string, StringError> ReadString(uint64_t address,
                                                    size_t max_length) const;

  // Gives the pages of a page-aligned range back to the host: they read as
  // zero again. False when the range is not inside RAM or not aligned.
  [[nodiscard]] bool Discard(uint64_t address, uint64_t length);

  // The resident pages of RAM, copied: what a forked child's parent gets
  // back when the child ends (the child runs in the same RAM meanwhile).
  class Snapshot {
   public:
    uint64_t bytes() const { return data_.size(); }

   private:
    friend class GuestMemory;
    std::vector<uint64_t> pages_;  // page addresses, ascending
    std::vector<uint8_t> data_;    // kPageSize bytes per page
  };
  Result<Snapshot> TakeSnapshot() const;
  // RAM becomes exactly the snapshot again (every other page zero).
  Status RestoreSnapshot(const Snapshot& snapshot);

  // Bytes of RAM the host has backed (resident pages), for the run's peak
  // memory; 0 when it cannot tell.
  uint64_t ResidentBytes() const;

 private:
  GuestMemory(void* base, uint64_t size) : base_(base), size_(size) {}
  void Release();

  void* base_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace isoscope::kvm

#endif  // ISOSCOPE_BACKENDS_KVM_GUEST_MEMORY_H_
