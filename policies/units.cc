#include "policies/units.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

struct Unit {
  std::string_view name;
  uint64_t factor;
};

constexpr uint64_t kKi = 1024;
constexpr std::array kSizeUnits = {
    Unit{"B", 1},
    Unit{"K", kKi},
    Unit{"KiB", kKi},
    Unit{"M", kKi* kKi},
    Unit{"MiB", kKi* kKi},
    Unit{"G", kKi* kKi* kKi},
    Unit{"GiB", kKi* kKi* kKi},
    Unit{"T", kKi* kKi* kKi* kKi},
    Unit{"TiB", kKi* kKi* kKi* kKi},
};
constexpr std::array kDurationUnits = {
    Unit{"ms", 1},
    Unit{"s", 1000},
    Unit{"m", uint64_t{60} * 1000},
    Unit{"h", uint64_t{60} * 60 * 1000},
};

std::string_view Trim(std::string_view text) {
  while (!text.empty() &&
         std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() &&
         std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

template <size_t N>
std::string UnitList(const std::array<Unit, N>& units) {
  std::string out;
  for (const Unit& unit : units) {
    if (!out.empty()) out += ", ";
    out += unit.name;
  }
  return out;
}

// Splits "256 MiB" into the digits and the unit after them.
std::pair<std::string_view, std::string_view> SplitNumber(
    std::string_view text) {
  size_t end = 0;
  while (end < text.size() &&
         std::isdigit(static_cast<unsigned char>(text[end]))) {
    ++end;
  }
  return {text.substr(0, end), Trim(text.substr(end))};
}

Result<uint64_t> ParseDecimal(std::string_view digits, std::string_view text) {
  uint64_t value = 0;
  for (char c : digits) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return Fail(ErrorCode::kPolicy,
                  fmt::format("'{}' does not fit in 64 bits", text));
    }
    value = value * 10 + digit;
  }
  return value;
}

template <size_t N>
Result<uint64_t> ParseWithUnit(std::string_view raw,
                               const std::array<Unit, N>& units,
                               bool unit_required, std::string_view what) {
  std::string_view text = Trim(raw);
  if (text.empty()) {
    return Fail(ErrorCode::kPolicy, fmt::format("empty {}", what));
  }
  if (text.front() == '-') {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{} '{}' is negative", what, text));
  }
  if (text.front() == '+') text.remove_prefix(1);
  auto [digits, unit_name] = SplitNumber(text);
  if (digits.empty()) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("invalid {} '{}' (expected an integer and a unit "
                            "from {})",
                            what, raw, UnitList(units)));
  }
  Result<uint64_t> number = ParseDecimal(digits, raw);
  if (!number) return number;
  uint64_t factor = 1;
  if (unit_name.empty()) {
    if (unit_required) {
      return Fail(ErrorCode::kPolicy, fmt::format("{} '{}' needs a unit ({})",
                                                  what, raw, UnitList(units)));
    }
  } else {
    bool found = false;
    for (const Unit& unit : units) {
      if (unit.name == unit_name) {
        factor = unit.factor;
        found = true;
      }
    }
    if (!found) {
      return Fail(ErrorCode::kPolicy,
                  fmt::format("unknown unit '{}' in {} '{}' (expected {})",
                              unit_name, what, raw, UnitList(units)));
    }
  }
  if (*number > UINT64_MAX / factor) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{} '{}' does not fit in 64 bits", what, raw));
  }
  return *number * factor;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  return ParseWithUnit(text, kSizeUnits, /*unit_required=*/false, "size");
}

Result<uint64_t> ParseDurationMs(std::string_view text) {
  return ParseWithUnit(text, kDurationUnits, /*unit_required=*/true,
                       "duration");
}

Result<uint64_t> ParseUnsigned(std::string_view raw) {
  std::string_view text = Trim(raw);
  if (!text.empty() && text.front() == '-') {
    return Fail(ErrorCode::kPolicy, fmt::format("'{}' is negative", raw));
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    std::string_view hex = text.substr(2);
    uint64_t value = 0;
    for (char c : hex) {
      int digit = -1;
      if (c >= '0' && c <= '9') digit = c - '0';
      if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      if (digit < 0) {
        return Fail(ErrorCode::kPolicy,
                    fmt::format("'{}' is not an integer", raw));
      }
      if (value > (UINT64_MAX >> 4)) {
        return Fail(ErrorCode::kPolicy,
                    fmt::format("'{}' does not fit in 64 bits", raw));
      }
      value = (value << 4) | static_cast<uint64_t>(digit);
    }
    return value;
  }
  auto [digits, rest] = SplitNumber(text);
  if (digits.empty() || !rest.empty()) {
    return Fail(ErrorCode::kPolicy, fmt::format("'{}' is not an integer", raw));
  }
  return ParseDecimal(digits, raw);
}

}  // namespace isoscope
