#include "reports/markdown_report.h"

#include <algorithm>

#include <fmt/format.h>

#include "reports/report_common.h"
#include "reports/sensitive_table.h"
#include "reports/verdict.h"

namespace isoscope {
namespace {

using report_common::CommandLine;
using report_common::FailureText;
using report_common::FindEnforcement;
using report_common::FindFinding;
using report_common::FormatCount;
using report_common::FormatKib;
using report_common::FormatNs;
using report_common::FormatRatio;
using report_common::MarkdownCell;
using report_common::OutcomeText;
using report_common::PlatformLine;
using report_common::ProbeIds;
using report_common::RanBackends;
using report_common::SourceText;
using report_common::UtcTime;

std::string Row(const std::vector<std::string>& cells) {
  std::string out = "|";
  for (const std::string& c : cells) out += " " + c + " |";
  return out + "\n";
}

std::string Head(const std::vector<std::string>& cells) {
  std::string out = Row(cells) + "|";
  for (size_t i = 0; i < cells.size(); ++i) out += " --- |";
  return out + "\n";
}

// A fence longer than any run of backticks in `text`, so the policy's YAML
// cannot close the code block early.
std::string Fence(const std::string& text) {
  size_t longest = 0;
  size_t run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

std::string SpreadCell(const Spread& s) {
  return fmt::format("{} ({}–{})", FormatNs(s.median), FormatNs(s.p25),
                     FormatNs(s.p75));
}

std::string Summary(const Comparison& c) {
  std::string out = "## Summary\n\n";
  out += fmt::format(
      "Medians of {} measured run{} per backend (after one warm-up), with "
      "p25–p75 in parentheses. Measured on {}.\n\n",
      c.repeat, c.repeat == 1 ? "" : "s", MarkdownCell(PlatformLine(c.host)));
  out += Head({"backend", "outcome", "start-up", "start-up × native", "wall",
               "wall min–max", "wall × native", "user / sys CPU", "peak RSS",
               "syscalls made / by isoscope / denied", "faults", "violations",
               "output = native"});
  for (const BackendComparison& b : c.backends) {
    if (!b.available || !b.error.empty()) {
      out += Row({MarkdownCell(b.backend), OutcomeText(b),
                  MarkdownCell(b.available ? b.error : b.unavailable_reason),
                  "", "", "", "", "", "", "", "", "", ""});
      continue;
    }
    out += Row(
        {MarkdownCell(b.backend),
         MarkdownCell(OutcomeText(b)) +
             (b.failure.has_value() ? " (**failed**)" : ""),
         SpreadCell(b.startup_ns), FormatRatio(b.startup_ratio),
         SpreadCell(b.wall_ns),
         fmt::format("{}–{}", FormatNs(b.wall_ns.min), FormatNs(b.wall_ns.max)),
         FormatRatio(b.wall_ratio),
         fmt::format("{} / {}", FormatNs(b.user_cpu_us.median * 1000),
                     FormatNs(b.system_cpu_us.median * 1000)),
         FormatKib(b.max_rss_kib),
         fmt::format("{} / {} / {}", FormatCount(b.syscalls_total),
                     b.syscalls_trapped, FormatCount(b.syscalls_denied)),
         std::to_string(b.faults), std::to_string(b.violations),
         !b.output_matches_native.has_value()
             ? "n/a"
             : (*b.output_matches_native ? "identical" : "**differs**")});
  }
  return out +
         "\nA ratio (× native) is a cost only between runs that did the "
         "same work: it is n/a for a backend whose runs failed.\n\n";
}

// Available backends that failed, and unavailable ones, with why.
std::string NotRunSection(const Comparison& c) {
  std::string items;
  for (const BackendComparison& b : c.backends) {
    if (b.available && !report_common::Failed(b)) continue;
    items += fmt::format(
        "- **{}** {}\n", MarkdownCell(b.backend),
        b.available ? MarkdownCell(FailureText(b))
                    : "is unavailable: " + MarkdownCell(b.unavailable_reason));
  }
  if (items.empty()) return "";
  return "## Backends that did not run or whose runs failed\n\n" + items + "\n";
}

std::string MeasuresSection(const Comparison& c) {
  std::string out = "## What each backend's figures stand for\n\n";
  for (const BackendComparison& b : c.backends) {
    out += fmt::format("- **{}**: {}\n", MarkdownCell(b.backend),
                       MarkdownCell(report_common::MeasuresText(b)));
  }
  return out + "\n";
}

std::string EnforcementTable(const Comparison& c) {
  const auto described = report_common::DescribedBackends(c);
  if (described.empty()) return "";
  std::string out =
      fmt::format("## What each backend enforces of policy {}\n\n",
                  MarkdownCell(c.policy_name));
  std::vector<std::string> head = {"section", "used by the policy"};
  for (const BackendComparison* b : described) {
    head.push_back(MarkdownCell(b->backend));
  }
  out += Head(head);
  for (std::string_view section : kPolicySections) {
    const bool used = report_common::SectionUsed(c, section);
    std::vector<std::string> row = {std::string(section), used ? "yes" : "no"};
    for (const BackendComparison* b : described) {
      const SectionEnforcement* e = FindEnforcement(*b, section);
      if (e == nullptr) {
        row.emplace_back("not described");
        continue;
      }
      const std::string how = e->how.empty() ? "" : ": " + MarkdownCell(e->how);
      row.push_back(e->enforced ? "enforced" + how
                    : used      ? "**NOT enforced**" + how
                                : "not enforced" + how);
    }
    out += Row(row);
  }
  return out +
         "\n**NOT enforced**: the policy asks something of this section "
         "that the backend does not hold the workload to.\n\n";
}

std::string ProbeTable(const ReportData& data) {
  std::string out = "## Probe matrix\n\n";
  if (!data.probes.has_value()) {
    return out + "No probe session: run `isoscope compare --probes`.\n\n";
  }
  std::vector<std::string> head = {"probe"};
  const auto ran = RanBackends(data.comparison);
  for (const BackendComparison* b : ran) {
    head.push_back(MarkdownCell(b->backend));
  }
  out += Head(head);
  for (const std::string& id : ProbeIds(*data.probes, /*fault_map=*/false)) {
    std::vector<std::string> row = {MarkdownCell(id)};
    for (const BackendComparison* b : ran) {
      const ProbeFinding* f = FindFinding(*data.probes, id, b->backend);
      row.push_back(
          f == nullptr ? "—"
                       : MarkdownCell(f->verdict + (f->overridden ? "*" : "")));
    }
    out += Row(row);
  }
  return out +
         "\nBLOCKED: refused before doing anything; REACHABLE: got past the "
         "sandbox to the kernel's own checks; ESCAPED: reached a host-global "
         "resource; NA: cannot tell; ERROR: the probe did not report; "
         "\\*: a canary planted outside was touched.\n\n";
}

std::string FaultTable(const ReportData& data) {
  std::string out = "## Fault routing map\n\n";
  const std::vector<std::string> cases =
      data.probes.has_value() ? ProbeIds(*data.probes, /*fault_map=*/true)
                              : std::vector<std::string>{};
  if (cases.empty()) {
    return out + "No fault-map findings: run `isoscope compare --probes`.\n\n";
  }
  out += Head({"fault", "backend", "handled by", "what the workload saw"});
  for (const std::string& id : cases) {
    const std::string kind = id.substr(report_common::kFaultMapPrefix.size());
    for (const BackendComparison* b : RanBackends(data.comparison)) {
      const ProbeFinding* f = FindFinding(*data.probes, id, b->backend);
      if (f == nullptr) continue;
      out += Row({MarkdownCell(kind), MarkdownCell(b->backend),
                  MarkdownCell(b->traits.faults_handled_by),
                  MarkdownCell(f->verdict + " " + f->detail)});
    }
  }
  return out + "\n";
}

std::string SensitiveTable(const ReportData& data) {
  std::string out =
      "## Sensitive instructions (Popek and Goldberg, measured)\n\n";
  const std::vector<SensitiveRow> rows = data.probes.has_value()
                                             ? BuildSensitiveTable(*data.probes)
                                             : std::vector<SensitiveRow>{};
  if (rows.empty()) {
    return out +
           "No sensitive-instruction findings: run `isoscope compare "
           "--probes`.\n\n";
  }
  std::vector<std::string> head = {"instruction", "why it is sensitive"};
  for (const std::string& backend : data.probes->backends) {
    head.push_back(MarkdownCell(backend));
  }
  head.emplace_back("can the workload tell it is not a host process?");
  out += Head(head);
  for (const SensitiveRow& row : rows) {
    std::vector<std::string> cells = {MarkdownCell(row.instruction),
                                      MarkdownCell(row.why)};
    for (const SensitiveCell& c : row.cells) {
      std::string cell = fmt::format("**{}**", SensitiveClassName(c.cls));
      if (!c.seen.empty()) cell += " " + MarkdownCell(c.seen);
      if (!c.trapped.empty()) {
        cell += " (trapped " + MarkdownCell(c.trapped) + ")";
      }
      cells.push_back(std::move(cell));
    }
    cells.push_back(MarkdownCell(row.inference));
    out += Row(cells);
  }
  out += "\n";
  for (SensitiveClass cls : kAllSensitiveClasses) {
    out += fmt::format("- **{}**: {}\n", SensitiveClassName(cls),
                       SensitiveClassMeaning(cls));
  }
  return out + "\nThe verdict above explains the table in plain words.\n\n";
}

std::string SurfaceTable(const Comparison& c) {
  std::string out = "## Host attack surface\n\n";
  out += Head({"backend", "syscalls handled by", "faults handled by",
               "reachable host syscalls", "VMM allowed syscalls"});
  for (const BackendComparison* b : RanBackends(c)) {
    std::string vmm;
    for (const std::string& s : b->traits.vmm_allowed_syscalls) {
      if (!vmm.empty()) vmm += ", ";
      vmm += MarkdownCell(s);
    }
    out += Row({MarkdownCell(b->backend),
                MarkdownCell(b->traits.syscalls_handled_by),
                MarkdownCell(b->traits.faults_handled_by),
                std::to_string(b->traits.reachable_host_syscalls),
                vmm.empty() ? "—" : vmm});
  }
  return out + "\n";
}

std::string HostTable(const HostFacts& h) {
  std::string out = "## Host platform\n\n";
  out += Head({"fact", "value"});
  out +=
      Row({"kernel", MarkdownCell(h.kernel_release + " (" + h.machine + ")")});
  out += Row({"CPU", MarkdownCell(fmt::format(
                         "{} × {}", h.cpus,
                         h.cpu_model.empty() ? "unknown CPU" : h.cpu_model))});
  out += Row({"cgroups", std::string(CgroupLayoutName(h.cgroups.layout))});
  out += Row({"virtualization",
              std::string(VirtualizationKindName(h.virtualization)) +
                  (h.virtualization == VirtualizationKind::kPvm
                       ? " (guest code emulated: KVM times include emulation)"
                       : "")});
  return out + "\n";
}

}  // namespace

std::string RenderMarkdownReport(const ReportData& data) {
  const Comparison& c = data.comparison;
  std::string out = fmt::format("# isoscope comparison #{}\n\n", c.id);
  out += fmt::format(
      "Command: `{}` · policy **{}** · {} measured run{} per backend · "
      "{}{}\n\n",
      [&] {
        std::string cmd = CommandLine(c.argv);
        std::replace(cmd.begin(), cmd.end(), '`', '\'');
        return cmd;
      }(),
      MarkdownCell(c.policy_name), c.repeat, c.repeat == 1 ? "" : "s",
      UtcTime(c.started_at_unix_ms) + " UTC",
      c.interrupted ? " · **interrupted**" : "");
  if (c.source) {
    std::string from = SourceText(*c.source);
    std::replace(from.begin(), from.end(), '`', '\'');
    out += fmt::format("From: `{}`\n\n", from);
  }
  out += "## Verdict in plain words\n\n";
  for (const std::string& s : BackendHeadlines(c, data.probes)) {
    out += "- " + MarkdownCell(s) + "\n";
  }
  out += "\nIn detail:\n\n";
  for (const std::string& s : PlainWordsVerdict(c, data.probes)) {
    out += "- " + MarkdownCell(s) + "\n";
  }
  out += "\n";
  out += Summary(c);
  out += NotRunSection(c);
  out += MeasuresSection(c);
  out += ProbeTable(data);
  out += EnforcementTable(c);
  out += FaultTable(data);
  out += SensitiveTable(data);
  out += SurfaceTable(c);
  out += HostTable(c.host);
  const std::string fence = Fence(c.policy_text);
  out += fmt::format(
      "## Policy: {}\n\n{}yaml\n{}{}{}\n", MarkdownCell(c.policy_name), fence,
      c.policy_text,
      c.policy_text.empty() || c.policy_text.back() == '\n' ? "" : "\n", fence);
  return out;
}

}  // namespace isoscope
