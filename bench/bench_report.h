// How benchmarks report: `BENCH <name> <value> <unit>` lines, and
// `RATIO <name> <measured> <target>` where an issue sets a target, so CI or a
// person can collect them with grep. Figures are medians over repetitions.
#ifndef ISOSCOPE_BENCH_BENCH_REPORT_H_
#define ISOSCOPE_BENCH_BENCH_REPORT_H_

#include <string_view>
#include <vector>

namespace isoscope::bench {

struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
  double p25 = 0;
  double p75 = 0;
  size_t count = 0;
};

// Summary of the samples (all zero for none).
Summary Summarize(std::vector<double> samples);

void PrintBench(std::string_view name, double value, std::string_view unit);
// Also prints the spread as BENCH <name>.p25 / .p75 lines.
void PrintBenchSummary(std::string_view name, const Summary& summary,
                       std::string_view unit);
void PrintRatio(std::string_view name, double measured, double target);

}  // namespace isoscope::bench

#endif  // ISOSCOPE_BENCH_BENCH_REPORT_H_
