#include "reports/comparison_table.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "reports/report_common.h"
#include "reports/text.h"

namespace isoscope {
namespace {

using report_common::FormatKib;
using report_common::FormatNs;
using report_common::FormatRatio;
using report_text::Columns;
using report_text::Line;
using report_text::PadLeft;
using report_text::PadRight;
using report_text::Truncate;

constexpr std::array<std::string_view, 13> kHeader = {
    "backend", "outcome", "exit", "start-up", "wall",
    "×native", "user",    "sys",  "peak mem", "syscalls tot/kern/trap",
    "faults",  "viol",    "same"};
// Text columns are left-aligned, numbers right-aligned.
constexpr std::array<bool, 13> kLeftAligned = {
    true,  true,  false, false, false, false, false,
    false, false, false, false, false, true};

// "±4%": half the min-max range relative to the median, so the spread
// reads the same whatever the unit.
std::string SpreadPercent(const Spread& spread) {
  if (spread.count < 2 || spread.median <= 0) return "";
  const double percent = (spread.max - spread.min) / 2 / spread.median * 100;
  if (percent < 1) return " ±<1%";
  return fmt::format(" ±{:.0f}%", percent);
}

std::string TimeCell(const Spread& spread, double scale_to_ns) {
  return FormatNs(spread.median * scale_to_ns) + SpreadPercent(spread);
}

std::string FidelityCell(const std::optional<bool>& matches) {
  if (!matches.has_value()) return "—";
  return *matches ? "yes" : "no";
}

using Row = std::array<std::string, 13>;

Row MeasuredRow(const BackendComparison& b) {
  std::string outcome(OutcomeName(b.outcome));
  if (!b.consistent) outcome += "*";
  return Row{
      Line(b.backend),
      outcome,
      std::to_string(b.exit_status),
      TimeCell(b.startup_ns, 1),
      TimeCell(b.wall_ns, 1),
      FormatRatio(b.wall_ratio),
      FormatNs(b.user_cpu_us.median * 1000),
      FormatNs(b.system_cpu_us.median * 1000),
      FormatKib(b.max_rss_kib.median),
      fmt::format("{}/{}/{}", b.syscalls_in_kernel + b.syscalls_trapped,
                  b.syscalls_in_kernel, b.syscalls_trapped),
      std::to_string(b.faults),
      std::to_string(b.violations),
      FidelityCell(b.output_matches_native),
  };
}

// Why a backend has no measurements, in one line.
std::string WhyNotMeasured(const BackendComparison& b) {
  if (!b.available) return "unavailable: " + Line(b.unavailable_reason);
  if (!b.error.empty()) return "failed: " + Line(b.error);
  return "no measured runs";
}

}  // namespace

std::string RenderComparisonTable(const Comparison& comparison) {
  std::string out;
  std::string command;
  for (const std::string& arg : comparison.argv) {
    if (!command.empty()) command += ' ';
    command += arg;
  }
  out +=
      Truncate(fmt::format("isoscope compare: {} (policy {}, {} measured "
                           "run{} per backend after a warm-up{})",
                           Line(command), Line(comparison.policy_name),
                           comparison.repeat, comparison.repeat == 1 ? "" : "s",
                           comparison.interrupted ? "; INTERRUPTED" : ""),
               kComparisonTableWidth) +
      "\n\n";

  std::vector<Row> rows;
  std::vector<const BackendComparison*> unmeasured;
  std::vector<const BackendComparison*> failed_midway;
  for (const BackendComparison& b : comparison.backends) {
    if (b.run_ids.empty()) {
      unmeasured.push_back(&b);
      continue;
    }
    rows.push_back(MeasuredRow(b));
    if (!b.error.empty()) failed_midway.push_back(&b);
  }

  std::array<size_t, 13> widths{};
  for (size_t c = 0; c < kHeader.size(); ++c) widths[c] = Columns(kHeader[c]);
  for (const Row& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], Columns(row[c]));
    }
  }
  for (const BackendComparison* b : unmeasured) {
    widths[0] = std::max(widths[0], Columns(Line(b->backend)));
  }
  size_t total = 0;
  for (size_t w : widths) total += w;
  // Two spaces between columns when they fit, else one.
  const size_t gap =
      total + 2 * (widths.size() - 1) <= kComparisonTableWidth ? 2 : 1;
  const auto format_row = [&](const auto& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) line.append(gap, ' ');
      line += kLeftAligned[c] ? PadRight(cells[c], widths[c])
                              : PadLeft(cells[c], widths[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return Truncate(line, kComparisonTableWidth) + "\n";
  };
  out += format_row(kHeader);
  for (const Row& row : rows) out += format_row(row);
  for (const BackendComparison* b : unmeasured) {
    const std::string name = PadRight(Line(b->backend), widths[0]);
    out += Truncate(name + std::string(gap, ' ') + WhyNotMeasured(*b),
                    kComparisonTableWidth) +
           "\n";
  }
  for (const BackendComparison* b : failed_midway) {
    out +=
        Truncate(fmt::format("{}: failed after {} measured run{}: {}",
                             Line(b->backend), b->run_ids.size(),
                             b->run_ids.size() == 1 ? "" : "s", Line(b->error)),
                 kComparisonTableWidth) +
        "\n";
  }

  out +=
      "\nTimes are medians over the measured runs, ± half their min-max "
      "range; ×native is the\nwall-time ratio to native. Syscalls: total "
      "seen by isoscope / decided in the kernel / trapped\nto isoscope. "
      "same: stdout and exit status identical to native's in every run.\n";
  if (std::any_of(comparison.backends.begin(), comparison.backends.end(),
                  [](const BackendComparison& b) { return !b.consistent; })) {
    out += "* the runs of this backend ended differently from each other.\n";
  }
  if (comparison.interrupted) {
    out +=
        "Interrupted: only what was measured before the signal is shown and "
        "recorded.\n";
  }
  if (comparison.probe_session_id.has_value()) {
    out += fmt::format(
        "Probes: session {} (the probe x backend matrix is in the report).\n",
        *comparison.probe_session_id);
  }
  if (comparison.id != 0) {
    out += fmt::format(
        "Stored as comparison {0}; `isoscope report {0}` re-renders it.\n",
        comparison.id);
  }
  return out;
}

}  // namespace isoscope
