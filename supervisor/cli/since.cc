#include "supervisor/cli/since.h"

#include <time.h>

#include <charconv>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace isoscope::cli {
namespace {

// A run of exactly `digits` decimal digits at `text[*pos]`, advancing *pos.
std::optional<int> Digits(std::string_view text, size_t* pos, size_t digits) {
  if (text.size() < *pos + digits) return std::nullopt;
  int value = 0;
  for (size_t i = *pos; i < *pos + digits; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  *pos += digits;
  return value;
}

bool Take(std::string_view text, size_t* pos, std::string_view what) {
  for (const char c : what) {
    if (*pos < text.size() && text[*pos] == c) {
      ++*pos;
      return true;
    }
  }
  return false;
}

std::optional<int64_t> DurationMs(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  int64_t count = 0;
  const char* end = text.data() + text.size() - 1;
  auto [ptr, ec] = std::from_chars(text.data(), end, count);
  if (ec != std::errc() || ptr != end || count < 0) return std::nullopt;
  int64_t unit_ms = 0;
  switch (text.back()) {
    case 's':
      unit_ms = 1000;
      break;
    case 'm':
      unit_ms = int64_t{60} * 1000;
      break;
    case 'h':
      unit_ms = int64_t{3600} * 1000;
      break;
    case 'd':
      unit_ms = int64_t{86400} * 1000;
      break;
    case 'w':
      unit_ms = int64_t{7} * 86400 * 1000;
      break;
    default:
      return std::nullopt;
  }
  // Ten thousand years is a typo, not a filter; it also keeps the product
  // far from overflow.
  if (count > int64_t{10000} * 365 * 86400 * 1000 / unit_ms) {
    return std::nullopt;
  }
  return count * unit_ms;
}

// YYYY-MM-DD, then optionally [T or space]HH:MM[:SS], in UTC.
std::optional<int64_t> UtcTimeMs(std::string_view text) {
  size_t pos = 0;
  const auto year = Digits(text, &pos, 4);
  if (!year || !Take(text, &pos, "-")) return std::nullopt;
  const auto month = Digits(text, &pos, 2);
  if (!month || !Take(text, &pos, "-")) return std::nullopt;
  const auto day = Digits(text, &pos, 2);
  if (!day) return std::nullopt;
  int hour = 0, minute = 0, second = 0;
  if (pos < text.size()) {
    if (!Take(text, &pos, "T ")) return std::nullopt;
    const auto h = Digits(text, &pos, 2);
    if (!h || !Take(text, &pos, ":")) return std::nullopt;
    const auto m = Digits(text, &pos, 2);
    if (!m) return std::nullopt;
    hour = *h;
    minute = *m;
    if (pos < text.size()) {
      if (!Take(text, &pos, ":")) return std::nullopt;
      const auto s = Digits(text, &pos, 2);
      if (!s) return std::nullopt;
      second = *s;
    }
  }
  if (pos != text.size()) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  struct tm fields = {};
  fields.tm_year = *year - 1900;
  fields.tm_mon = *month - 1;
  fields.tm_mday = *day;
  fields.tm_hour = hour;
  fields.tm_min = minute;
  fields.tm_sec = second;
  const time_t seconds = ::timegm(&fields);
  // timegm normalises 2026-02-31 to March: such a date is refused.
  if (fields.tm_mday != *day || fields.tm_mon != *month - 1) {
    return std::nullopt;
  }
  return int64_t{seconds} * 1000;
}

}  // namespace

Result<int64_t> ParseSince(std::string_view text, int64_t now_unix_ms) {
  if (const auto ago = DurationMs(text); ago.has_value()) {
    return now_unix_ms - *ago;
  }
  if (const auto at = UtcTimeMs(text); at.has_value()) return *at;
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("--since '{}': expected a duration ago (90s, 30m, "
                          "2h, 7d, 2w) or a UTC time (2026-01-31, "
                          "2026-01-31T14:30, 2026-01-31T14:30:05)",
                          text));
}

}  // namespace isoscope::cli
