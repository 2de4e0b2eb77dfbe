#include "bench/bench_report.h"

#include <fmt/format.h>

namespace isoscope::bench {

void PrintBench(std::string_view name, double value, std::string_view unit) {
  fmt::print("BENCH {} {:.3f} {}\n", name, value, unit);
}

void PrintBenchSpread(std::string_view name, const Spread& spread,
                      std::string_view unit) {
  PrintBench(name, spread.median, unit);
  PrintBench(fmt::format("{}.p25", name), spread.p25, unit);
  PrintBench(fmt::format("{}.p75", name), spread.p75, unit);
}

void PrintRatio(std::string_view name, double measured, double target) {
  fmt::print("RATIO {} {:.3f} {:.3f}\n", name, measured, target);
}

}  // namespace isoscope::bench
