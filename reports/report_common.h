// Helpers shared by the comparison reports (internal to reports/): number
// formatting, escaping for HTML/SVG and Markdown on top of report_text's
// Printable, and the lookups every renderer needs (a backend's findings,
// the fault-map cases). Pure functions: a report is a function of its data.
#ifndef ISOSCOPE_REPORTS_REPORT_COMMON_H_
#define ISOSCOPE_REPORTS_REPORT_COMMON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reports/text.h"
#include "supervisor/comparison.h"
#include "supervisor/probe_session.h"

namespace isoscope::report_common {

// The formatters every rendering shares live in reports/text.h.
using report_text::CommandLine;
using report_text::FormatCount;
using report_text::FormatKib;
using report_text::FormatNs;
using report_text::SourceText;
using report_text::UtcTime;

// "1.05×", or "n/a" without a ratio.
std::string FormatRatio(std::optional<double> ratio);

// Workload- or host-controlled text made safe for HTML and SVG: control
// bytes escaped as report_text::Line does, then & < > " ' as entities.
std::string Xml(std::string_view text);
// Printable on one line, then Markdown table metacharacters escaped.
std::string MarkdownCell(std::string_view text);

// "exited 0", "signaled 9", ...: how a backend's measured runs ended.
std::string OutcomeText(const BackendComparison& b);

// "kernel 6.1.0 (x86_64), 2 CPUs, <cpu>, cgroups v2, virtualization kvm":
// the platform line every figure carries.
std::string PlatformLine(const HostFacts& host);

// Fault-map findings ("fault-map.<case>") are routing observations, not
// escape attempts: they are drawn in the fault map and left out of the
// blocked/reachable counts.
inline constexpr std::string_view kFaultMapPrefix = "fault-map.";
bool IsFaultMapProbe(std::string_view probe_id);
// Sensitive-instruction findings ("sensitive.<instruction>") are drawn in
// their own table (reports/sensitive_table.h): left out of the probe
// matrix, the fault map and the counts.
bool IsSensitiveProbe(std::string_view probe_id);

// Backends that ran (available, no error), in the comparison's order.
std::vector<const BackendComparison*> RanBackends(const Comparison& c);
// Backends whose figures are a cost: they ran and their runs did not fail
// (BackendComparison::failure). Only these enter ratios and verdicts.
std::vector<const BackendComparison*> MeasuredBackends(const Comparison& c);

// Available, but failed to run or its runs failed.
bool Failed(const BackendComparison& b);
// Why, in one line of plain words (unescaped): "failed to run: <error>",
// "killed by the policy (3 of 3 measured runs): <reason> (rule r;
// isoscope runs show 12)".
// Empty when it did not fail.
std::string FailureText(const BackendComparison& b);

// What a backend's figures stand for (its registry entry's words), or a
// note that it does not say.
std::string MeasuresText(const BackendComparison& b);

// The enforcement matrix: whether the comparison's policy uses `section`,
// and a backend's entry for it (null when it does not describe it).
bool SectionUsed(const Comparison& c, std::string_view section);
const SectionEnforcement* FindEnforcement(const BackendComparison& b,
                                          std::string_view section);
// The backends that describe what they enforce, in the comparison's order
// (empty for a comparison recorded before the matrix was kept).
std::vector<const BackendComparison*> DescribedBackends(const Comparison& c);
// Probe ids in first-seen order: the fault-map cases, or the escape and
// detection probes (never the sensitive-instruction findings).
std::vector<std::string> ProbeIds(const ProbeSession& session, bool fault_map);
const ProbeFinding* FindFinding(const ProbeSession& session,
                                std::string_view probe_id,
                                std::string_view backend);

struct ProbeCounts {
  int blocked = 0;
  int reachable = 0;
  int escaped = 0;
  int other = 0;  // NA, ERROR
};
// Over the escape and detection probes (not the fault-map cases nor the
// sensitive instructions).
ProbeCounts CountVerdicts(const ProbeSession& session,
                          std::string_view backend);

}  // namespace isoscope::report_common

#endif  // ISOSCOPE_REPORTS_REPORT_COMMON_H_
