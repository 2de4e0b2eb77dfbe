// The table `isoscope compare` prints: one row per backend with medians and
// their spread, ratios to native, counters and output fidelity, at most
// kComparisonTableWidth columns. Plain text like the other terminal
// renderings: the same bytes go to a terminal, a pipe or a file.
#ifndef ISOSCOPE_REPORTS_COMPARISON_TABLE_H_
#define ISOSCOPE_REPORTS_COMPARISON_TABLE_H_

#include <cstddef>
#include <string>

#include "supervisor/comparison.h"

namespace isoscope {

inline constexpr size_t kComparisonTableWidth = 120;

// A title line, the table (unavailable and failed backends listed with
// their reason), a legend, and where the comparison is stored.
std::string RenderComparisonTable(const Comparison& comparison);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_COMPARISON_TABLE_H_
