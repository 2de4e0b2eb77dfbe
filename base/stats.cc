#include "base/stats.h"

#include <algorithm>
#include <cmath>

namespace isoscope {
namespace {

// `sorted` is non-empty.
double Quantile(const std::vector<double>& sorted, double q) {
  double rank = q * static_cast<double>(sorted.size() - 1);
  auto low = static_cast<size_t>(std::floor(rank));
  auto high = static_cast<size_t>(std::ceil(rank));
  double fraction = rank - static_cast<double>(low);
  return sorted[low] + (sorted[high] - sorted[low]) * fraction;
}

}  // namespace

Spread Summarize(std::vector<double> samples) {
  Spread spread;
  if (samples.empty()) return spread;
  std::sort(samples.begin(), samples.end());
  spread.count = samples.size();
  spread.min = samples.front();
  spread.max = samples.back();
  spread.median = Quantile(samples, 0.5);
  spread.p25 = Quantile(samples, 0.25);
  spread.p75 = Quantile(samples, 0.75);
  return spread;
}

std::optional<double> Ratio(double measured, double baseline) {
  if (!(baseline > 0)) return std::nullopt;
  return measured / baseline;
}

}  // namespace isoscope
