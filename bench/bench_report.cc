#include "bench/bench_report.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace isoscope::bench {
namespace {

// Linear interpolation between closest ranks; `sorted` is non-empty.
double Quantile(const std::vector<double>& sorted, double q) {
  double rank = q * static_cast<double>(sorted.size() - 1);
  size_t low = static_cast<size_t>(std::floor(rank));
  size_t high = static_cast<size_t>(std::ceil(rank));
  double fraction = rank - static_cast<double>(low);
  return sorted[low] + (sorted[high] - sorted[low]) * fraction;
}

}  // namespace

Summary Summarize(std::vector<double> samples) {
  Summary summary;
  if (samples.empty()) return summary;
  std::sort(samples.begin(), samples.end());
  summary.count = samples.size();
  summary.min = samples.front();
  summary.max = samples.back();
  summary.median = Quantile(samples, 0.5);
  summary.p25 = Quantile(samples, 0.25);
  summary.p75 = Quantile(samples, 0.75);
  return summary;
}

void PrintBench(std::string_view name, double value, std::string_view unit) {
  fmt::print("BENCH {} {:.3f} {}\n", name, value, unit);
}

void PrintBenchSummary(std::string_view name, const Summary& summary,
                       std::string_view unit) {
  PrintBench(name, summary.median, unit);
  PrintBench(fmt::format("{}.p25", name), summary.p25, unit);
  PrintBench(fmt::format("{}.p75", name), summary.p75, unit);
}

void PrintRatio(std::string_view name, double measured, double target) {
  fmt::print("RATIO {} {:.3f} {:.3f}\n", name, measured, target);
}

}  // namespace isoscope::bench
