// Parsing numbers the kernel writes in /proc and sysfs files.
#ifndef ISOSCOPE_BASE_PARSE_H_
#define ISOSCOPE_BASE_PARSE_H_

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace isoscope {

// A decimal unsigned number filling all of `text` (no sign, no spaces).
inline std::optional<uint64_t> ParseUint(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') {
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_PARSE_H_
