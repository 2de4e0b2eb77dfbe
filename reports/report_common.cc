#include "reports/report_common.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

#include "reports/text.h"

namespace isoscope::report_common {
namespace {}  // namespace

std::string FormatRatio(std::optional<double> ratio) {
  if (!ratio.has_value() || !std::isfinite(*ratio)) return "n/a";
  return fmt::format("{:.2f}×", *ratio);
}

std::string Xml(std::string_view text) {
  const std::string line = report_text::Line(text);
  std::string out;
  out.reserve(line.size());
  for (char c : line) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string MarkdownCell(std::string_view text) {
  const std::string line = report_text::Line(text);
  std::string out;
  out.reserve(line.size());
  for (char c : line) {
    // Pipes end a cell; the others would turn text into markup or HTML.
    if (c == '|' || c == '\\' || c == '`' || c == '*' || c == '_' || c == '<' ||
        c == '>' || c == '[' || c == ']') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::string OutcomeText(const BackendComparison& b) {
  if (!b.available) return "unavailable";
  if (!b.error.empty()) return "failed to run";
  std::string text =
      fmt::format("{} {}", OutcomeName(b.outcome), b.exit_status);
  if (!b.consistent) text += " (runs differed)";
  return text;
}

std::string PlatformLine(const HostFacts& host) {
  return fmt::format(
      "kernel {} ({}), {} CPU{}, {}, cgroups {}, virtualization {}",
      host.kernel_release.empty() ? "unknown" : host.kernel_release,
      host.machine.empty() ? "?" : host.machine, std::max(host.cpus, 0),
      host.cpus == 1 ? "" : "s",
      host.cpu_model.empty() ? "unknown CPU" : host.cpu_model,
      CgroupLayoutName(host.cgroups.layout),
      VirtualizationKindName(host.virtualization));
}

bool IsFaultMapProbe(std::string_view probe_id) {
  return probe_id.starts_with(kFaultMapPrefix);
}

std::vector<const BackendComparison*> RanBackends(const Comparison& c) {
  std::vector<const BackendComparison*> ran;
  for (const BackendComparison& b : c.backends) {
    if (b.available && b.error.empty()) ran.push_back(&b);
  }
  return ran;
}

std::vector<std::string> ProbeIds(const ProbeSession& session, bool fault_map) {
  std::vector<std::string> ids;
  for (const ProbeFinding& f : session.findings) {
    if (IsFaultMapProbe(f.probe_id) != fault_map) continue;
    if (std::find(ids.begin(), ids.end(), f.probe_id) == ids.end()) {
      ids.push_back(f.probe_id);
    }
  }
  return ids;
}

const ProbeFinding* FindFinding(const ProbeSession& session,
                                std::string_view probe_id,
                                std::string_view backend) {
  for (const ProbeFinding& f : session.findings) {
    if (f.probe_id == probe_id && f.backend == backend) return &f;
  }
  return nullptr;
}

ProbeCounts CountVerdicts(const ProbeSession& session,
                          std::string_view backend) {
  ProbeCounts counts;
  for (const ProbeFinding& f : session.findings) {
    if (f.backend != backend || IsFaultMapProbe(f.probe_id)) continue;
    if (f.verdict == kVerdictBlocked) {
      ++counts.blocked;
    } else if (f.verdict == kVerdictReachable) {
      ++counts.reachable;
    } else if (f.verdict == kVerdictEscaped) {
      ++counts.escaped;
    } else {
      ++counts.other;
    }
  }
  return counts;
}

}  // namespace isoscope::report_common
