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

using report_common::FormatCount;
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
    "×native", "user",    "sys",  "peak mem", "syscalls tot/trap/deny",
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

// The legend's prose reads better narrower than the table.
constexpr size_t kLegendWidth = 96;

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
      FormatKib(b.max_rss_kib),
      fmt::format("{}/{}/{}", FormatCount(b.syscalls_total), b.syscalls_trapped,
                  FormatCount(b.syscalls_denied)),
      std::to_string(b.faults),
      std::to_string(b.violations),
      FidelityCell(b.output_matches_native),
  };
}

// Why a backend has no measurements, in one line.
std::string WhyNotMeasured(const BackendComparison& b) {
  if (!b.available) return "unavailable: " + Line(b.unavailable_reason);
  if (!b.error.empty()) return "failed to run (below)";
  return "no measured runs";
}

// "name: text" wrapped to the table's width under a hanging indent.
std::string Paragraph(std::string_view name, std::string_view text) {
  return report_text::Wrap(fmt::format("{}: {}", Line(name), Line(text)),
                           kComparisonTableWidth, 2) +
         "\n";
}

// Section x backend: what each compared backend enforces of the policy on
// this host, then why, for the sections the policy uses that one does not.
std::string EnforcementMatrix(const Comparison& c) {
  const auto described = report_common::DescribedBackends(c);
  if (described.empty()) return "";
  std::string out = Truncate(
      fmt::format("\nWhat each backend enforces of policy {} (NOT: the "
                  "policy asks it, the backend does not enforce it):",
                  Line(c.policy_name)),
      kComparisonTableWidth);
  out += "\n";
  size_t name_width = 13;
  for (const BackendComparison* b : described) {
    name_width = std::max(name_width, Columns(Line(b->backend)));
  }
  std::string head = PadRight("section", 14) + PadRight("used", 6);
  for (const BackendComparison* b : described) {
    head += PadRight(Line(b->backend), name_width + 1);
  }
  while (!head.empty() && head.back() == ' ') head.pop_back();
  out += Truncate(head, kComparisonTableWidth) + "\n";
  for (std::string_view section : kPolicySections) {
    const bool used = report_common::SectionUsed(c, section);
    std::string line = PadRight(section, 14) + PadRight(used ? "yes" : "no", 6);
    for (const BackendComparison* b : described) {
      const SectionEnforcement* e = report_common::FindEnforcement(*b, section);
      const std::string_view cell = e == nullptr  ? "?"
                                    : e->enforced ? "enforced"
                                    : used        ? "NOT"
                                                  : "not";
      line += PadRight(cell, name_width + 1);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += Truncate(line, kComparisonTableWidth) + "\n";
  }
  // Why not, grouped by reason: "native: syscalls, paths, ... (the
  // baseline enforces nothing)".
  for (const BackendComparison* b : described) {
    std::vector<std::pair<std::string, std::string>> reasons;  // how, sections
    for (const SectionEnforcement& e : b->traits.enforcement) {
      if (e.enforced || !report_common::SectionUsed(c, e.section)) continue;
      auto it = std::find_if(reasons.begin(), reasons.end(),
                             [&](const auto& r) { return r.first == e.how; });
      if (it == reasons.end()) {
        reasons.emplace_back(e.how, e.section);
      } else {
        it->second += ", " + e.section;
      }
    }
    for (const auto& [how, sections] : reasons) {
      out += Paragraph(
          b->backend,
          fmt::format("does not enforce {}{}", sections,
                      how.empty() ? std::string() : " (" + how + ")"));
    }
  }
  return out;
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
  std::vector<const BackendComparison*> failed;
  for (const BackendComparison& b : comparison.backends) {
    if (report_common::Failed(b)) failed.push_back(&b);
    if (b.run_ids.empty()) {
      unmeasured.push_back(&b);
      continue;
    }
    rows.push_back(MeasuredRow(b));
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
  if (!failed.empty()) {
    out += "\nFailed runs (no ratio is computed from them):\n";
  }
  for (const BackendComparison* b : failed) {
    out += Paragraph(b->backend, report_common::FailureText(*b));
  }

  out +=
      "\n" +
      report_text::Wrap(
          "Times are medians over the measured runs, ± half their min-max "
          "range; ×native is the wall-time ratio to native (n/a for runs "
          "that failed). peak mem: the workload's own peak resident set (n/a "
          "where it cannot be told from isoscope's). Syscalls: every call "
          "the workload made, counted by the kernel (n/a where it cannot "
          "count them) / decided by isoscope / denied. same: stdout and exit "
          "status "
          "identical to native's in every run.",
          kLegendWidth, 0) +
      "\n";
  if (std::any_of(comparison.backends.begin(), comparison.backends.end(),
                  [](const BackendComparison& b) { return !b.consistent; })) {
    out += "* the runs of this backend ended differently from each other.\n";
  }
  if (comparison.interrupted) {
    out +=
        "Interrupted: only what was measured before the signal is shown and "
        "recorded.\n";
  }
  out += "\nWhat each row stands for:\n";
  for (const BackendComparison& b : comparison.backends) {
    out += Paragraph(b.backend, report_common::MeasuresText(b));
  }
  out += EnforcementMatrix(comparison);
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
