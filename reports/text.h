// Text helpers shared by the terminal renderings (internal to reports/):
// escaping bytes a workload controls, and column arithmetic for aligned
// tables of UTF-8 text.
#ifndef ISOSCOPE_REPORTS_TEXT_H_
#define ISOSCOPE_REPORTS_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

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

std::string PadRight(std::string_view text, size_t width);
std::string PadLeft(std::string_view text, size_t width);

}  // namespace isoscope::report_text

#endif  // ISOSCOPE_REPORTS_TEXT_H_
