#include "reports/report_common.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

#include "reports/text.h"

namespace isoscope::report_common {

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

bool IsSensitiveProbe(std::string_view probe_id) {
  return probe_id.starts_with(kSensitiveProbePrefix);
}

std::vector<const BackendComparison*> RanBackends(const Comparison& c) {
  std::vector<const BackendComparison*> ran;
  for (const BackendComparison& b : c.backends) {
    if (b.available && b.error.empty()) ran.push_back(&b);
  }
  return ran;
}

std::vector<const BackendComparison*> MeasuredBackends(const Comparison& c) {
  std::vector<const BackendComparison*> measured;
  for (const BackendComparison* b : RanBackends(c)) {
    if (!b->failure.has_value()) measured.push_back(b);
  }
  return measured;
}

bool Failed(const BackendComparison& b) {
  return b.available && (!b.error.empty() || b.failure.has_value());
}

std::string FailureText(const BackendComparison& b) {
  if (!b.available) return "";
  if (!b.error.empty()) {
    if (b.run_ids.empty()) return "failed to run: " + b.error;
    return fmt::format("failed after {} measured run{}: {}", b.run_ids.size(),
                       b.run_ids.size() == 1 ? "" : "s", b.error);
  }
  if (!b.failure.has_value()) return "";
  const RunFailure& f = *b.failure;
  std::string text =
      fmt::format("{} ({} of {} measured run{})", f.what, f.failed_runs,
                  b.run_ids.size(), b.run_ids.size() == 1 ? "" : "s");
  if (!f.reason.empty()) text += ": " + f.reason;
  std::vector<std::string> refs;
  if (!f.rule_id.empty() && f.reason.find(f.rule_id) == std::string::npos) {
    refs.push_back("rule " + f.rule_id);
  }
  if (f.run_id != 0) {
    refs.push_back(fmt::format("isoscope runs show {}", f.run_id));
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    text += (i == 0 ? " (" : "; ") + refs[i];
  }
  if (!refs.empty()) text += ")";
  return text;
}

std::string MeasuresText(const BackendComparison& b) {
  return b.traits.measures.empty()
             ? std::string("not described by this backend")
             : b.traits.measures;
}

bool SectionUsed(const Comparison& c, std::string_view section) {
  return std::find(c.policy_sections_used.begin(), c.policy_sections_used.end(),
                   section) != c.policy_sections_used.end();
}

const SectionEnforcement* FindEnforcement(const BackendComparison& b,
                                          std::string_view section) {
  for (const SectionEnforcement& e : b.traits.enforcement) {
    if (e.section == section) return &e;
  }
  return nullptr;
}

std::vector<const BackendComparison*> DescribedBackends(const Comparison& c) {
  std::vector<const BackendComparison*> described;
  for (const BackendComparison& b : c.backends) {
    if (!b.traits.enforcement.empty()) described.push_back(&b);
  }
  return described;
}

std::vector<std::string> ProbeIds(const ProbeSession& session, bool fault_map) {
  std::vector<std::string> ids;
  for (const ProbeFinding& f : session.findings) {
    if (IsSensitiveProbe(f.probe_id)) continue;
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
    if (f.backend != backend || IsFaultMapProbe(f.probe_id) ||
        IsSensitiveProbe(f.probe_id)) {
      continue;
    }
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
