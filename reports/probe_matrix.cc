#include "reports/probe_matrix.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "reports/report_common.h"
#include "reports/sensitive_table.h"
#include "reports/text.h"

namespace isoscope {
namespace {

using report_text::Columns;
using report_text::Line;
using report_text::PadRight;
using report_text::Truncate;
using report_text::Wrap;

constexpr size_t kWidth = 100;
constexpr size_t kMaxProbeColumn = 28;
constexpr size_t kMaxBackendColumn = 12;
constexpr size_t kMinCell = 10;  // "REACHABLE*"
constexpr std::string_view kUnavailablePrefix = "backend unavailable: ";

constexpr std::string_view kLegend[] = {
    "BLOCKED    refused before doing anything (errno, filter, signal)",
    "REACHABLE  got past the sandbox to the kernel's own checks",
    "ESCAPED    reached a host-global resource",
    "NA         cannot tell (absent, timed out, backend unavailable)",
    "ERROR      the probe did not report (see the run in `isoscope runs`)",
    "*          a canary planted outside was touched: the runner's verdict",
};

bool IsUnavailable(const ProbeFinding& f) {
  return f.run_id == 0 &&
         std::string_view{f.detail}.starts_with(kUnavailablePrefix);
}

std::string FitLine(std::string_view text) {
  return Truncate(text, kWidth) + "\n";
}

// Backends grouped by what their workload saw: "native, ptrace 0x33; kvm
// 0x8", with what isoscope trapped.
std::string SeenText(const SensitiveRow& row) {
  std::vector<std::pair<std::string, std::string>> groups;  // seen, backends
  for (const SensitiveCell& c : row.cells) {
    if (c.seen.empty()) continue;
    std::string seen = Line(c.seen);
    if (!c.trapped.empty()) {
      seen += fmt::format(" (trapped {})", Line(c.trapped));
    }
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == seen; });
    if (it == groups.end()) {
      groups.emplace_back(seen, Line(c.backend));
    } else {
      it->second += ", " + Line(c.backend);
    }
  }
  std::string text;
  for (const auto& [seen, backends] : groups) {
    if (!text.empty()) text += "; ";
    text += fmt::format("{} {}", backends, seen);
  }
  return text.empty() ? std::string("nothing observed") : text;
}

// The sensitive-instruction table: instruction x backend, one class each,
// whether the workload can tell, then what it saw and the plain words.
std::string SensitiveSection(const ProbeSession& session) {
  const std::vector<SensitiveRow> rows = BuildSensitiveTable(session);
  if (rows.empty()) return "";
  size_t name_width = Columns("instruction");
  for (const SensitiveRow& row : rows) {
    name_width = std::max(name_width, Columns(Line(row.instruction)));
  }
  name_width = std::min(name_width, kMaxProbeColumn);
  std::vector<size_t> widths;
  for (const std::string& backend : session.backends) {
    widths.push_back(
        std::clamp(Columns(Line(backend)), size_t{7}, kMaxBackendColumn));
  }
  std::string out =
      "\nSensitive but unprivileged instructions: what each backend did "
      "with them\n";
  std::string header = PadRight("instruction", name_width);
  for (size_t i = 0; i < session.backends.size(); ++i) {
    header += "  " + PadRight(Truncate(Line(session.backends[i]), widths[i]),
                              widths[i]);
  }
  out += FitLine(header + "  workload can tell?");
  std::vector<SensitiveClass> used;
  for (const SensitiveRow& row : rows) {
    std::string line =
        PadRight(Truncate(Line(row.instruction), name_width), name_width);
    for (size_t i = 0; i < row.cells.size() && i < widths.size(); ++i) {
      const SensitiveClass cls = row.cells[i].cls;
      if (std::find(used.begin(), used.end(), cls) == used.end()) {
        used.push_back(cls);
      }
      line += "  " + PadRight(SensitiveClassName(cls), widths[i]);
    }
    const bool others = std::any_of(
        row.cells.begin(), row.cells.end(),
        [](const auto& c) { return c.backend != "native" && !c.seen.empty(); });
    std::string tells = !row.compared ? "n/a" : others ? "no" : "-";
    if (!row.tells.empty()) {
      tells = "yes:";
      for (size_t i = 0; i < row.tells.size(); ++i) {
        tells += (i == 0 ? " " : ", ") + Line(row.tells[i]);
      }
    }
    out += FitLine(fmt::format("{}  {}", line, tells));
  }
  out += '\n';
  for (SensitiveClass cls : kAllSensitiveClasses) {
    if (std::find(used.begin(), used.end(), cls) == used.end()) continue;
    out += FitLine(fmt::format("{}  {}", PadRight(SensitiveClassName(cls), 8),
                               SensitiveClassMeaning(cls)));
  }
  out += "\nWhat the workload saw, and why each instruction is sensitive:\n";
  for (const SensitiveRow& row : rows) {
    out += "  " +
           Wrap(fmt::format("{}: {}", Line(row.instruction), SeenText(row)),
                kWidth - 2, 6) +
           "\n";
    if (!row.why.empty()) {
      out +=
          "      " + Wrap(fmt::format("({})", row.why), kWidth - 6, 7) + "\n";
    }
  }
  out += "\nIn plain words:\n";
  for (const std::string& sentence : SensitiveVerdict(rows, session.backends)) {
    out += "  " + Wrap(Line(sentence), kWidth - 2, 2) + "\n";
  }
  return out;
}

}  // namespace

std::string RenderProbeMatrix(const ProbeSession& session) {
  // Rows in first-seen order; columns as the session lists them.
  std::vector<std::string> rows;
  std::map<std::pair<std::string, std::string>, const ProbeFinding*> cells;
  for (const ProbeFinding& f : session.findings) {
    if (report_common::IsSensitiveProbe(f.probe_id)) continue;  // own table
    if (std::find(rows.begin(), rows.end(), f.probe_id) == rows.end()) {
      rows.push_back(f.probe_id);
    }
    cells[{f.probe_id, f.backend}] = &f;
  }

  size_t probe_width = Columns("probe");
  for (const std::string& row : rows) {
    probe_width = std::max(probe_width, Columns(Line(row)));
  }
  probe_width = std::min(probe_width, kMaxProbeColumn);
  std::vector<size_t> widths;
  for (const std::string& backend : session.backends) {
    widths.push_back(std::clamp(Columns(Line(backend)), kMinCell,
                                std::max(kMinCell, kMaxBackendColumn)));
  }

  std::string out;
  out += FitLine(fmt::format(
      "isoscope probe: policy {}{}{}", Line(session.policy_name),
      session.id != 0 ? fmt::format(", session {}", session.id) : "",
      session.interrupted ? " (interrupted: incomplete)" : ""));
  out += '\n';
  std::string header = PadRight("probe", probe_width);
  for (size_t i = 0; i < session.backends.size(); ++i) {
    header += "  " + PadRight(Truncate(Line(session.backends[i]), widths[i]),
                              widths[i]);
  }
  out += FitLine(header.substr(0, header.find_last_not_of(' ') + 1));
  for (const std::string& row : rows) {
    std::string line = PadRight(Truncate(Line(row), probe_width), probe_width);
    for (size_t i = 0; i < session.backends.size(); ++i) {
      auto cell = cells.find({row, session.backends[i]});
      std::string text = "-";  // not run (interrupted)
      if (cell != cells.end()) {
        text = Line(cell->second->verdict);
        if (cell->second->overridden) text += '*';
      }
      line += "  " + PadRight(Truncate(text, widths[i]), widths[i]);
    }
    out += FitLine(line.substr(0, line.find_last_not_of(' ') + 1));
  }

  out += "\n";
  for (std::string_view legend : kLegend) out += FitLine(legend);

  // What the escapes and reachable calls were; then why columns are empty.
  std::vector<std::string> notable;
  std::vector<std::string> errors;
  std::vector<std::string> unavailable;
  for (const ProbeFinding& f : session.findings) {
    // Sensitive instructions are observations: their table says it all.
    if (report_common::IsSensitiveProbe(f.probe_id) && !IsUnavailable(f)) {
      continue;
    }
    const std::string entry =
        fmt::format("  {} on {}: {}{} {}", Line(f.probe_id), Line(f.backend),
                    Line(f.verdict), f.overridden ? "*" : "", Line(f.detail));
    if (f.verdict == kVerdictEscaped || f.verdict == kVerdictReachable) {
      notable.push_back(entry);
    } else if (f.verdict == kVerdictError) {
      errors.push_back(entry);
    } else if (IsUnavailable(f)) {
      const std::string reason =
          fmt::format("  {}: {}", Line(f.backend),
                      Line(f.detail.substr(kUnavailablePrefix.size())));
      if (std::find(unavailable.begin(), unavailable.end(), reason) ==
          unavailable.end()) {
        unavailable.push_back(reason);
      }
    }
  }
  const auto section = [&out](std::string_view title,
                              const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    out += fmt::format("\n{}\n", title);
    for (const std::string& line : lines) out += FitLine(line);
  };
  section("Escaped and reachable:", notable);
  section("Errors:", errors);
  section("Backends unavailable on this host:", unavailable);
  out += SensitiveSection(session);
  return out;
}

}  // namespace isoscope
