// Summaries of repeated measurements: every figure isoscope reports carries
// its spread, and ratios are taken between medians of the same run.
#ifndef ISOSCOPE_BASE_STATS_H_
#define ISOSCOPE_BASE_STATS_H_

#include <cstddef>
#include <optional>
#include <vector>

namespace isoscope {

struct Spread {
  double median = 0;
  double min = 0;
  double max = 0;
  double p25 = 0;  // quartiles by linear interpolation between closest ranks
  double p75 = 0;
  size_t count = 0;
  bool operator==(const Spread&) const = default;
};

// The spread of `samples` (all zero for none).
Spread Summarize(std::vector<double> samples);

// measured / baseline; nullopt when the baseline is not positive.
std::optional<double> Ratio(double measured, double baseline);

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_STATS_H_
