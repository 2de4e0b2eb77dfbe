#include "reports/text.h"

#include <time.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace isoscope::report_text {

// Makes workload-controlled bytes safe to print: C0 controls, DEL and the
// UTF-8 encoded C1 controls (U+0080..U+009F, which some terminals obey like
// ESC sequences) become visible escapes. Newlines are kept when
// `keep_newlines` (captured output), tabs always.
std::string Printable(std::string_view bytes, bool keep_newlines) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n' && !keep_newlines) {
      out += "\\n";
    } else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c == 0xc2 && i + 1 < bytes.size() &&
               static_cast<unsigned char>(bytes[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(bytes[i + 1]) <= 0x9f) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(bytes[i + 1]));
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string Line(std::string_view bytes) { return Printable(bytes, false); }

// Display columns of UTF-8 text: one per code point (no wide glyphs here).
size_t Columns(std::string_view text) {
  return static_cast<size_t>(std::count_if(
      text.begin(), text.end(),
      [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Cuts `text` to at most `width` columns on a code point boundary, marking
// the cut with "...".
std::string Truncate(std::string_view text, size_t width) {
  if (Columns(text) <= width) return std::string(text);
  if (width <= 3) return std::string(width, '.');
  size_t columns = 0;
  size_t end = 0;
  while (end < text.size()) {
    const auto c = static_cast<unsigned char>(text[end]);
    if ((c & 0xC0) != 0x80) {
      if (columns == width - 3) break;
      ++columns;
    }
    ++end;
  }
  return std::string(text.substr(0, end)) + "...";
}

std::string TruncateMiddle(std::string_view text, size_t width) {
  const size_t columns = Columns(text);
  if (columns <= width) return std::string(text);
  if (width <= 3) return std::string(width, '.');
  const size_t kept = width - 3;
  const size_t tail = kept / 3;
  const size_t head = kept - tail;
  // Byte offsets of the head's end and the tail's start, on code point
  // boundaries.
  size_t head_end = 0;
  size_t tail_start = text.size();
  size_t column = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (column == head) head_end = i;
    if (column == columns - tail) tail_start = i;
    ++column;
  }
  return std::string(text.substr(0, head_end)) + "..." +
         std::string(text.substr(tail_start));
}

std::string Wrap(std::string_view text, size_t width, size_t indent) {
  std::string out;
  size_t used = 0;         // columns on the current line
  bool line_empty = true;  // no word on the current line yet
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    if (!line_empty && used + 1 + Columns(word) > width) {
      out += '\n';
      out.append(indent, ' ');
      used = indent;
      line_empty = true;
    }
    if (!line_empty) {
      out += ' ';
      ++used;
    }
    const std::string fitted = Truncate(word, width > used ? width - used : 1);
    out += fitted;
    used += Columns(fitted);
    line_empty = false;
  }
  return out;
}

std::string PadRight(std::string_view text, size_t width) {
  std::string out(text);
  const size_t columns = Columns(text);
  if (columns < width) out.append(width - columns, ' ');
  return out;
}

std::string PadLeft(std::string_view text, size_t width) {
  const size_t columns = Columns(text);
  std::string out;
  if (columns < width) out.append(width - columns, ' ');
  out += text;
  return out;
}

std::string ThreeDigits(double value) {
  if (value < 10) return fmt::format("{:.2f}", value);
  if (value < 100) return fmt::format("{:.1f}", value);
  return fmt::format("{:.0f}", value);
}

std::string FormatNs(double ns) {
  if (!std::isfinite(ns)) return "n/a";
  if (ns < 0) return "-" + FormatNs(-ns);
  if (ns < 1e3) return fmt::format("{:.0f} ns", ns);
  if (ns < 1e6) return ThreeDigits(ns / 1e3) + " µs";
  if (ns < 1e9) return ThreeDigits(ns / 1e6) + " ms";
  return ThreeDigits(ns / 1e9) + " s";
}

std::string FormatBytes(uint64_t bytes) {
  const auto v = static_cast<double>(bytes);
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < uint64_t{1024} * 1024) return ThreeDigits(v / 1024) + " KiB";
  if (bytes < uint64_t{1024} * 1024 * 1024) {
    return ThreeDigits(v / (1024 * 1024)) + " MiB";
  }
  return ThreeDigits(v / (1024.0 * 1024 * 1024)) + " GiB";
}

std::string FormatKib(double kib) {
  if (!(kib > 0)) return "n/a";
  return FormatBytes(static_cast<uint64_t>(kib * 1024));
}

std::string FormatKib(const std::optional<int64_t>& kib) {
  return kib.has_value() ? FormatKib(static_cast<double>(*kib)) : "n/a";
}

std::string FormatKib(const Spread& kib) {
  return kib.count > 0 ? FormatKib(kib.median) : "n/a";
}

std::string FormatCount(const std::optional<uint64_t>& count) {
  return count.has_value() ? std::to_string(*count) : "n/a";
}

std::string UtcTime(int64_t unix_ms) {
  // Floor division so times before 1970 do not round toward it.
  int64_t seconds = unix_ms / 1000;
  if (unix_ms % 1000 < 0) --seconds;
  const auto t = static_cast<time_t>(seconds);
  struct tm tm {};
  if (::gmtime_r(&t, &tm) == nullptr) return "?";
  char text[32];
  if (::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
    return "?";
  }
  return text;
}

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    out += Line(arg);
  }
  return out.empty() ? std::string("(none)") : out;
}

std::string SourceText(const WorkloadSource& source) {
  if (source.image.empty()) return "bundle " + Line(source.bundle);
  return fmt::format("image {} ({}), unpacked in {}", Line(source.image),
                     Line(source.image_digest), Line(source.bundle));
}

}  // namespace isoscope::report_text
