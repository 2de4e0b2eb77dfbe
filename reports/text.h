// Text helpers shared by every rendering (internal to reports/): escaping
// bytes a workload controls, column arithmetic for aligned tables of UTF-8
// text, and the one way each quantity is written.
#ifndef ISOSCOPE_REPORTS_TEXT_H_
#define ISOSCOPE_REPORTS_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/stats.h"
#include "supervisor/workload_source.h"

namespace isoscope::report_text {

// Makes workload-controlled bytes safe to print: C0 controls, DEL and the
// UTF-8 encoded C1 controls (U+0080..U+009F, which some terminals obey like
// ESC sequences) become visible escapes. Newlines are kept when
// `keep_newlines` (captured output), tabs always.
std::string Printable(std::string_view bytes, bool keep_newlines);

// Printable on one line (newlines escaped too).
std::string Line(std::string_view bytes);

// Display columns of UTF-8 text: one per code point (no wide glyphs here).
size_t Columns(std::string_view text);

// Cuts `text` to at most `width` columns on a code point boundary, marking
// the cut with "...".
std::string Truncate(std::string_view text, size_t width);

// Cuts `text` to at most `width` columns by replacing its middle with
// "...", keeping about two thirds of what fits from its start and the rest
// from its end (a command's program and its last arguments).
std::string TruncateMiddle(std::string_view text, size_t width);

// `text` (one line: made printable by the caller) broken at spaces into
// lines of at most `width` columns, each after `indent` spaces but the
// first; a word longer than a line is cut with Truncate.
std::string Wrap(std::string_view text, size_t width, size_t indent);

std::string PadRight(std::string_view text, size_t width);
std::string PadLeft(std::string_view text, size_t width);

// Three significant digits: "1.23", "12.3", "123".
std::string ThreeDigits(double value);
// "950 ns", "1.23 µs", "12.3 ms", "1.05 s"; "n/a" when not finite.
std::string FormatNs(double ns);
// "512 B", "1.50 KiB", "12.3 MiB", "1.05 GiB".
std::string FormatBytes(uint64_t bytes);
// A size given in KiB (rusage, cgroups); "n/a" when not positive.
std::string FormatKib(double kib);
// The same for a figure that may be unknown: "n/a" when it is.
std::string FormatKib(const std::optional<int64_t>& kib);
// The median of a spread of sizes in KiB; "n/a" when no run knew it.
std::string FormatKib(const Spread& kib);
// A count that may be unknown: "n/a" when it is.
std::string FormatCount(const std::optional<uint64_t>& count);
// "YYYY-MM-DD HH:MM:SS" in UTC (callers add " UTC" where it is not obvious).
std::string UtcTime(int64_t unix_ms);
// argv joined with spaces, each argument made printable; "(none)" if empty.
std::string CommandLine(const std::vector<std::string>& argv);
// Where a workload came from, printable: "bundle DIR", or "image LAYOUT:TAG
// (DIGEST), unpacked in DIR".
std::string SourceText(const WorkloadSource& source);

}  // namespace isoscope::report_text

#endif  // ISOSCOPE_REPORTS_TEXT_H_
