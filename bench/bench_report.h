// How benchmarks report: `BENCH <name> <value> <unit>` lines, and
// `RATIO <name> <measured> <target>` where an issue sets a target, so CI or a
// person can collect them with grep. Figures are medians over repetitions.
#ifndef ISOSCOPE_BENCH_BENCH_REPORT_H_
#define ISOSCOPE_BENCH_BENCH_REPORT_H_

#include <string_view>

#include "base/stats.h"

namespace isoscope::bench {

void PrintBench(std::string_view name, double value, std::string_view unit);
// The median, then the spread as BENCH <name>.p25 / .p75 lines.
void PrintBenchSpread(std::string_view name, const Spread& spread,
                      std::string_view unit);
void PrintRatio(std::string_view name, double measured, double target);

}  // namespace isoscope::bench

#endif  // ISOSCOPE_BENCH_BENCH_REPORT_H_
