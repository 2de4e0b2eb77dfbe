// Reading a fuzz input as a stream of choices (the fuzz targets of
// tests/fuzz): bytes, little-endian integers, picks from a list and slices,
// front to back; past its end every read is zero, so any input, the empty
// one included, is a complete sequence of choices.
#ifndef ISOSCOPE_TESTS_FUZZ_FUZZ_INPUT_H_
#define ISOSCOPE_TESTS_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace isoscope::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  explicit FuzzInput(std::span<const uint8_t> bytes)
      : FuzzInput(bytes.data(), bytes.size()) {}

  uint8_t Byte() { return at_ < size_ ? data_[at_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(Bits(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Bits(4)); }
  uint64_t U64() { return Bits(8); }
  bool Bool() { return (Byte() & 1) != 0; }
  // One element of `items` (the first past the end of the input).
  template <typename T, size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Byte() % N];
  }
  // Up to `n` of the next bytes (fewer at the end of the input).
  size_t Take(size_t n, const uint8_t** out) {
    n = std::min(n, size_ - at_);
    *out = data_ + at_;
    at_ += n;
    return n;
  }
  // A string of the next bytes, at most `max` long (a length byte first).
  std::string String(size_t max) {
    const uint8_t* bytes = nullptr;
    const size_t n = Take(std::min<size_t>(Byte(), max), &bytes);
    return std::string(reinterpret_cast<const char*>(bytes), n);
  }
  bool done() const { return at_ >= size_; }

 private:
  uint64_t Bits(int bytes) {
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= uint64_t{Byte()} << (8 * i);
    return value;
  }

  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

}  // namespace isoscope::fuzz

#endif  // ISOSCOPE_TESTS_FUZZ_FUZZ_INPUT_H_
