#include "reports/html_report.h"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "base/stats.h"
#include "reports/report_common.h"
#include "reports/sensitive_table.h"
#include "reports/svg_chart.h"
#include "reports/verdict.h"

namespace isoscope {
namespace {

using report_common::CommandLine;
using report_common::CountVerdicts;
using report_common::FailureText;
using report_common::FindEnforcement;
using report_common::FindFinding;
using report_common::FormatCount;
using report_common::FormatKib;
using report_common::FormatNs;
using report_common::FormatRatio;
using report_common::MeasuredBackends;
using report_common::OutcomeText;
using report_common::PlatformLine;
using report_common::ProbeIds;
using report_common::RanBackends;
using report_common::SourceText;
using report_common::UtcTime;
using report_common::Xml;

// Light by default, dark when the reader's system prefers it; the charts
// take every colour from these classes.
constexpr std::string_view kStyle = R"css(
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1f2328;--muted:#59636e;
--line:#d1d9e0;--panel:#f6f8fa;--bar:#3b6fd4;--point:#3b6fd4;
--blocked:#2da44e;--reachable:#d4a72c;--escaped:#cf222e;--na:#8c959f;
--error:#8250df;--cell-fg:#ffffff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;
--muted:#9198a1;--line:#3d444d;--panel:#161b22;--bar:#4f8cf0;--point:#6ea8ff;
--blocked:#238636;--reachable:#bb8009;--escaped:#da3633;--na:#6e7681;
--error:#8957e5;--cell-fg:#ffffff}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:32px 0 8px;
border-bottom:1px solid var(--line);padding-bottom:4px}
.muted,figcaption{color:var(--muted)}figcaption{font-size:.9em}
figure{margin:12px 0;overflow-x:auto}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
font-size:.9em}
pre{background:var(--panel);border:1px solid var(--line);padding:12px;
overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;margin:8px 0;font-size:.9em;display:block;
overflow-x:auto}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;
vertical-align:top}th{background:var(--panel)}td.num{text-align:right;
white-space:nowrap}
dt{font-weight:600}dd{margin:0 0 8px 16px}
.verdict{background:var(--panel);border-left:4px solid var(--bar);
padding:8px 16px}.verdict li{margin:4px 0}
svg.chart{display:block;max-width:100%;height:auto}
svg text{fill:var(--fg);font-size:12px;font-family:inherit}
svg .chart-title{font-weight:600;font-size:13px}
svg .tick,svg .note{fill:var(--muted);font-size:11px}
svg .axis,svg .whisker{stroke:var(--fg);stroke-width:1.5;fill:none}
svg .grid{stroke:var(--line);stroke-width:1}
svg .bar{fill:var(--bar)}svg .point{fill:var(--point);stroke:var(--bg);
stroke-width:2}
svg .cell-text{fill:var(--cell-fg);font-size:11px;font-weight:600}
.v-blocked{fill:var(--blocked);background:var(--blocked)}
.v-reachable{fill:var(--reachable);background:var(--reachable)}
.v-escaped{fill:var(--escaped);background:var(--escaped)}
.v-na,.v-none{fill:var(--na);background:var(--na)}
.v-error{fill:var(--error);background:var(--error)}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;
vertical-align:-1px;border-radius:2px}
.note-box{border:1px solid var(--reachable);padding:6px 12px;
background:var(--panel)}
.verdict details{margin:8px 0}.verdict summary{cursor:pointer;
color:var(--muted)}
td small{color:var(--muted)}
#summary th,#summary td{padding:4px 6px}#summary td.num{white-space:normal}
@media (max-width:640px){main{padding:12px}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block}
table.cards thead{display:none}table.cards tr{border:1px solid var(--line);
margin:0 0 8px}table.cards td{border:0;text-align:left;
white-space:normal}
table.cards td::before{content:attr(data-label) ": ";font-weight:600}}
)css";

std::string VerdictClass(std::string_view verdict) {
  if (verdict == kVerdictBlocked) return "v-blocked";
  if (verdict == kVerdictReachable) return "v-reachable";
  if (verdict == kVerdictEscaped) return "v-escaped";
  if (verdict == kVerdictError) return "v-error";
  return "v-na";
}

std::string Caption(const Comparison& c, std::string_view what) {
  return fmt::format("<figcaption>{} Measured on {}.</figcaption>", Xml(what),
                     Xml(PlatformLine(c.host)));
}

std::string MedianCaption(const Comparison& c) {
  return fmt::format(
      "Bars: median of {} measured run{} per backend (after one warm-up); "
      "whiskers: p25–p75; labels: ratio to native.",
      c.repeat, c.repeat == 1 ? "" : "s");
}

std::string Header(const ReportData& data) {
  const Comparison& c = data.comparison;
  std::string out = fmt::format(
      "<header><h1>isoscope comparison #{}</h1><p class=\"muted\">"
      "<code>{}</code>{}<br>policy <strong>{}</strong> · {} measured run{} "
      "per backend · {}{}</p><p class=\"muted\">Measured on {}.</p></header>",
      c.id, Xml(CommandLine(c.argv)),
      c.source ? "<br>from " + Xml(SourceText(*c.source)) : std::string(),
      Xml(c.policy_name), c.repeat, c.repeat == 1 ? "" : "s",
      Xml(UtcTime(c.started_at_unix_ms) + " UTC"),
      c.interrupted ? " · <strong>interrupted</strong>" : "",
      Xml(PlatformLine(c.host)));
  return out;
}

// One sentence per backend first; the pairwise detail (which probes, what
// each trapped syscall costs) folded below it, so the page leads with what
// a reader acts on.
std::string VerdictSection(const ReportData& data) {
  std::string out =
      "<section id=\"verdict\"><h2>Verdict in plain words</h2>"
      "<div class=\"verdict\"><ul class=\"headlines\">";
  for (const std::string& s : BackendHeadlines(data.comparison, data.probes)) {
    out += "<li>" + Xml(s) + "</li>";
  }
  out +=
      "</ul><details><summary>In detail: what each pair of backends blocks "
      "that the other leaves open, and the price</summary><ul>";
  for (const std::string& s : PlainWordsVerdict(data.comparison, data.probes)) {
    out += "<li>" + Xml(s) + "</li>";
  }
  return out + "</ul></details></div></section>";
}

// A figure that never breaks across lines ("10.0 ms", "1.00×"), so cells
// may wrap between figures and the table fits.
std::string Unbroken(const std::string& figure) {
  std::string out;
  for (char c : figure) {
    if (c == ' ') {
      out += "&nbsp;";
    } else {
      out += c;
    }
  }
  return out;
}

// Nine columns that fit the page's 1000 px; the spread of wall times sits
// under its median. Below 640 px each row becomes a card (CSS, no script),
// each cell labelled by its data-label.
std::string SummaryTable(const Comparison& c) {
  const auto ns = [](double v) { return Unbroken(FormatNs(v)); };
  std::string out =
      "<section id=\"summary\"><h2>Summary</h2><table class=\"cards\">"
      "<thead><tr><th>backend</th><th>outcome</th><th>start-up median</th>"
      "<th>wall median</th><th>user / sys CPU</th><th>peak RSS</th>"
      "<th>syscalls made / by isoscope / denied</th><th>faults / "
      "violations</th>"
      "<th>output = native</th></tr></thead><tbody>";
  for (const BackendComparison& b : c.backends) {
    if (!b.available || !b.error.empty()) {
      out += fmt::format(
          "<tr data-backend=\"{0}\"><td data-label=\"backend\">{0}</td>"
          "<td data-label=\"outcome\">{1}</td><td colspan=\"7\" "
          "data-label=\"why\">{2}</td></tr>",
          Xml(b.backend), Xml(OutcomeText(b)),
          Xml(b.available ? b.error : b.unavailable_reason));
      continue;
    }
    out += fmt::format(
        "<tr data-backend=\"{}\"><td data-label=\"backend\">{}</td>"
        "<td data-label=\"outcome\">{}</td>"
        "<td class=\"num\" data-label=\"start-up median\">{} ({})</td>"
        "<td class=\"num\" data-label=\"wall median\">{} ({})<br><small>"
        "p25–p75 {}–{}<br>min–max {}–{}</small></td>"
        "<td class=\"num\" data-label=\"user / sys CPU\">{} / {}</td>"
        "<td class=\"num\" data-label=\"peak RSS\">{}</td>"
        "<td class=\"num\" data-label=\"syscalls made / by isoscope / "
        "denied\">{} / {} / {}</td><td class=\"num\" data-label=\"faults / "
        "violations\">"
        "{} / {}</td><td data-label=\"output = native\">{}</td></tr>",
        Xml(b.backend), Xml(b.backend),
        Xml(OutcomeText(b)) +
            (b.failure.has_value() ? " <strong>failed</strong>" : ""),
        ns(b.startup_ns.median), FormatRatio(b.startup_ratio),
        ns(b.wall_ns.median), FormatRatio(b.wall_ratio), ns(b.wall_ns.p25),
        ns(b.wall_ns.p75), ns(b.wall_ns.min), ns(b.wall_ns.max),
        ns(b.user_cpu_us.median * 1000), ns(b.system_cpu_us.median * 1000),
        Unbroken(FormatKib(b.max_rss_kib)), FormatCount(b.syscalls_total),
        b.syscalls_trapped, FormatCount(b.syscalls_denied), b.faults,
        b.violations,
        !b.output_matches_native.has_value()
            ? "n/a"
            : (*b.output_matches_native ? "identical"
                                        : "<strong>differs</strong>"));
  }
  return out +
         "</tbody></table><p class=\"muted\">Ratios in brackets are to "
         "native. A ratio is a cost only between runs that did the same "
         "work: it is n/a for a backend whose runs failed.</p></section>";
}

// " Not drawn: ptrace (its runs failed)." for the cost charts.
std::string NotDrawn(const Comparison& c) {
  std::string names;
  for (const BackendComparison& b : c.backends) {
    if (!b.failure.has_value()) continue;
    if (!names.empty()) names += ", ";
    names += b.backend;
  }
  if (names.empty()) return "";
  return fmt::format(" Not drawn, because their runs failed: {}.", names);
}

std::string MeasuresSection(const Comparison& c) {
  std::string out =
      "<section id=\"measures\"><h2>What each backend's figures stand "
      "for</h2><dl>";
  for (const BackendComparison& b : c.backends) {
    out += fmt::format("<dt data-backend=\"{0}\">{0}</dt><dd>{1}</dd>",
                       Xml(b.backend), Xml(report_common::MeasuresText(b)));
  }
  return out + "</dl></section>";
}

std::string EnforcementSection(const Comparison& c) {
  const auto described = report_common::DescribedBackends(c);
  if (described.empty()) return "";
  std::string out = fmt::format(
      "<section id=\"enforcement\"><h2>What each backend enforces of "
      "policy {}</h2><table><thead><tr><th>section</th><th>used by the "
      "policy</th>",
      Xml(c.policy_name));
  for (const BackendComparison* b : described) {
    out += fmt::format("<th data-backend=\"{0}\">{0}</th>", Xml(b->backend));
  }
  out += "</tr></thead><tbody>";
  for (std::string_view section : kPolicySections) {
    const bool used = report_common::SectionUsed(c, section);
    out += fmt::format("<tr data-section=\"{0}\"><th>{0}</th><td>{1}</td>",
                       section, used ? "yes" : "no");
    for (const BackendComparison* b : described) {
      const SectionEnforcement* e = FindEnforcement(*b, section);
      if (e == nullptr) {
        out += "<td>not described</td>";
        continue;
      }
      out += fmt::format(
          "<td data-backend=\"{}\">{}{}</td>", Xml(b->backend),
          e->enforced ? "enforced"
          : used      ? "<strong>NOT enforced</strong>"
                      : "not enforced",
          e->how.empty() ? "" : "<br><small>" + Xml(e->how) + "</small>");
    }
    out += "</tr>";
  }
  return out +
         "</tbody></table><p class=\"muted\"><strong>NOT enforced</strong>: "
         "the policy asks something of this section that the backend does "
         "not hold the workload to.</p></section>";
}

std::string TimeChart(const Comparison& c, std::string_view id,
                      std::string_view heading, std::string_view title,
                      bool startup) {
  std::vector<svg::Bar> bars;
  for (const BackendComparison* b : MeasuredBackends(c)) {
    const Spread& s = startup ? b->startup_ns : b->wall_ns;
    const auto ratio = startup ? b->startup_ratio : b->wall_ratio;
    bars.push_back({b->backend, s.median, s.p25, s.p75,
                    fmt::format("{} · {} native", FormatNs(s.median),
                                FormatRatio(ratio))});
  }
  return fmt::format(
      "<section id=\"{0}\"><h2>{1}</h2><figure>{2}{3}</figure></section>", id,
      heading,
      svg::BarChart(
          id, title, bars, [](double v) { return FormatNs(v); },
          /*whiskers=*/true),
      Caption(c, MedianCaption(c) + NotDrawn(c)));
}

std::string SpectrumSection(const ReportData& data) {
  const Comparison& c = data.comparison;
  std::string out = "<section id=\"spectrum\"><h2>The isolation spectrum</h2>";
  if (!data.probes.has_value()) {
    return out +
           "<p class=\"note-box\">No probe session was recorded with this "
           "comparison, so backends cannot be placed by what they block. Run "
           "<code>isoscope compare --probes</code> to draw it.</p></section>";
  }
  // x is a cost: only backends whose runs did the work are placed.
  const auto ran = MeasuredBackends(c);
  const BackendComparison* baseline = nullptr;
  for (const BackendComparison* b : ran) {
    if (b->backend == "native") baseline = b;
  }
  if (baseline == nullptr && !ran.empty()) baseline = ran.front();
  std::vector<svg::Point> points;
  double total = 0;
  for (const BackendComparison* b : ran) {
    const auto counts = CountVerdicts(*data.probes, b->backend);
    total =
        std::max(total, static_cast<double>(counts.blocked + counts.reachable +
                                            counts.escaped + counts.other));
    const double x = b->wall_ratio.value_or(
        Ratio(b->wall_ns.median, baseline->wall_ns.median).value_or(0));
    points.push_back({b->backend, x, static_cast<double>(counts.blocked)});
  }
  out += fmt::format(
      "<figure>{}{}</figure></section>",
      svg::Scatter(
          "spectrum", "Probes blocked against wall-time overhead",
          fmt::format("wall time, ratio to {} (median)",
                      baseline != nullptr ? baseline->backend : "native"),
          "probes blocked", points,
          [](double v) { return fmt::format("{:.2f}×", v); }, total),
      Caption(c, fmt::format("Up and to the left is better: more probes "
                             "blocked for less overhead. y: BLOCKED verdicts "
                             "out of {:g} escape and detection probes "
                             "(fault-map cases excluded); x: ratio of wall "
                             "medians over {} runs.{}",
                             total, c.repeat, NotDrawn(c))));
  return out;
}

constexpr std::string_view kLegend =
    "<p class=\"legend\"><span><i class=\"v-blocked\"></i>BLOCKED</span>"
    "<span><i class=\"v-reachable\"></i>REACHABLE</span>"
    "<span><i class=\"v-escaped\"></i>ESCAPED</span>"
    "<span><i class=\"v-na\"></i>NA</span>"
    "<span><i class=\"v-error\"></i>ERROR</span>"
    "<span>* a canary planted outside was touched: the runner turned the "
    "verdict to ESCAPED</span></p>";

// The session's columns that also ran in the comparison, in its order.
std::vector<std::string> ProbedBackends(const ReportData& data) {
  std::vector<std::string> columns;
  for (const BackendComparison* b : RanBackends(data.comparison)) {
    columns.push_back(b->backend);
  }
  return columns;
}

std::string ProbeSection(const ReportData& data) {
  std::string out = "<section id=\"probes\"><h2>Probe matrix</h2>";
  if (!data.probes.has_value()) {
    return out +
           "<p class=\"note-box\">No probe session: run <code>isoscope "
           "compare --probes</code>.</p></section>";
  }
  svg::Grid grid;
  grid.columns = ProbedBackends(data);
  grid.rows = ProbeIds(*data.probes, /*fault_map=*/false);
  for (const std::string& id : grid.rows) {
    std::vector<svg::Cell> row;
    for (const std::string& backend : grid.columns) {
      const ProbeFinding* f = FindFinding(*data.probes, id, backend);
      if (f == nullptr) {
        row.push_back({"—", "v-none", "not run"});
        continue;
      }
      row.push_back(
          {f->verdict + (f->overridden ? "*" : ""), VerdictClass(f->verdict),
           fmt::format("{} on {}: {} {}", id, backend, f->verdict, f->detail)});
    }
    grid.cells.push_back(std::move(row));
  }
  out += fmt::format(
      "<figure>{}{}{}</figure>",
      svg::MatrixGrid("probes", "Escape and detection probes", grid), kLegend,
      Caption(data.comparison,
              fmt::format("Probe session #{}, policy {}; hover a cell for "
                          "the probe's own words.",
                          data.probes->id, data.probes->policy_name)));
  return out + "</section>";
}

// "SIGSEGV" from "signal=11 (SIGSEGV) code=128"; "completed" for a
// completed instruction; else the verdict.
std::string FaultCellText(const ProbeFinding& f) {
  if (f.verdict == kVerdictReachable) return "completed";
  const size_t open = f.detail.find('(');
  const size_t close = f.detail.find(')', open == std::string::npos ? 0 : open);
  if (f.verdict == kVerdictBlocked && open != std::string::npos &&
      close != std::string::npos) {
    return f.detail.substr(open + 1, close - open - 1);
  }
  return f.verdict;
}

std::string FaultSection(const ReportData& data) {
  std::string out = "<section id=\"faults\"><h2>Fault routing map</h2>";
  const std::vector<std::string> cases =
      data.probes.has_value() ? ProbeIds(*data.probes, /*fault_map=*/true)
                              : std::vector<std::string>{};
  if (cases.empty()) {
    return out +
           "<p class=\"note-box\">No fault-map findings: run <code>isoscope "
           "compare --probes</code>.</p></section>";
  }
  svg::Grid grid;
  grid.columns = ProbedBackends(data);
  std::string table =
      "<table><thead><tr><th>fault</th><th>backend</th><th>handled by</th>"
      "<th>what the workload saw</th></tr></thead><tbody>";
  for (const BackendComparison* b : RanBackends(data.comparison)) {
    grid.column_notes.push_back("by " + (b->traits.faults_handled_by.empty()
                                             ? std::string("?")
                                             : b->traits.faults_handled_by));
  }
  for (const std::string& id : cases) {
    const std::string kind = id.substr(report_common::kFaultMapPrefix.size());
    grid.rows.push_back(kind);
    std::vector<svg::Cell> row;
    for (const BackendComparison* b : RanBackends(data.comparison)) {
      const ProbeFinding* f = FindFinding(*data.probes, id, b->backend);
      if (f == nullptr) {
        row.push_back({"—", "v-none", "not run"});
        continue;
      }
      row.push_back({FaultCellText(*f), VerdictClass(f->verdict),
                     fmt::format("{} on {}: handled by {}; the workload saw "
                                 "{} {}",
                                 kind, b->backend, b->traits.faults_handled_by,
                                 f->verdict, f->detail)});
      table += fmt::format(
          "<tr data-backend=\"{}\"><td><code>{}</code></td><td>{}</td>"
          "<td>{}</td><td><span class=\"{}\">&nbsp;&nbsp;</span> {} "
          "<code>{}</code></td></tr>",
          Xml(b->backend), Xml(kind), Xml(b->backend),
          Xml(b->traits.faults_handled_by), VerdictClass(f->verdict),
          Xml(f->verdict), Xml(f->detail));
    }
    grid.cells.push_back(std::move(row));
  }
  out += fmt::format(
      "<figure>{}{}</figure>{}</tbody></table>",
      svg::MatrixGrid(
          "faults", "Who handles each fault, and what the workload saw", grid),
      Caption(data.comparison,
              "Green: the instruction trapped and reached the workload as "
              "the signal named; amber: it completed (executed or "
              "emulated). Column notes: who handles faults on that backend."),
      table);
  return out + "</section>";
}

// Green: the host's own state did not reach the workload (isoscope
// trapped it, a virtual value, a value the kernel made up, a fault);
// amber: it did, or the instruction was silently ignored; grey: not
// measured.
std::string_view SensitiveCss(SensitiveClass cls) {
  switch (cls) {
    case SensitiveClass::kTrapped:
    case SensitiveClass::kVirtual:
    case SensitiveClass::kKernel:
    case SensitiveClass::kFaults:
      return "v-blocked";
    case SensitiveClass::kHostValue:
    case SensitiveClass::kIgnored:
      return "v-reachable";
    case SensitiveClass::kAbsent:
    case SensitiveClass::kUncompared:
    case SensitiveClass::kNotRun:
      return "v-na";
  }
  return "v-na";
}

std::string SensitiveSection(const ReportData& data) {
  std::string out =
      "<section id=\"sensitive\"><h2>Sensitive instructions (Popek and "
      "Goldberg, measured)</h2>";
  const std::vector<SensitiveRow> rows = data.probes.has_value()
                                             ? BuildSensitiveTable(*data.probes)
                                             : std::vector<SensitiveRow>{};
  if (rows.empty()) {
    return out +
           "<p class=\"note-box\">No sensitive-instruction findings: run "
           "<code>isoscope compare --probes</code>.</p></section>";
  }
  svg::Grid grid;
  grid.columns = data.probes->backends;
  std::string table =
      "<table><thead><tr><th>instruction</th><th>why it is sensitive</th>";
  for (const std::string& backend : grid.columns) {
    table += fmt::format("<th>{}</th>", Xml(backend));
  }
  table +=
      "<th>can the workload tell it is not a host process?</th></tr>"
      "</thead><tbody>";
  for (const SensitiveRow& row : rows) {
    grid.rows.push_back(row.instruction);
    std::vector<svg::Cell> cells;
    table += fmt::format("<tr><td><code>{}</code></td><td>{}</td>",
                         Xml(row.instruction), Xml(row.why));
    for (const SensitiveCell& c : row.cells) {
      const std::string_view name = SensitiveClassName(c.cls);
      cells.push_back({std::string(name), std::string(SensitiveCss(c.cls)),
                       fmt::format("{} on {}: {} {}", row.instruction,
                                   c.backend, name, c.detail)});
      table += fmt::format(
          "<td><span class=\"{}\">&nbsp;&nbsp;</span> {}{}{}</td>",
          SensitiveCss(c.cls), Xml(name),
          c.seen.empty() ? "" : " <code>" + Xml(c.seen) + "</code>",
          c.trapped.empty() ? "" : " (trapped " + Xml(c.trapped) + ")");
    }
    table += fmt::format("<td>{}</td></tr>", Xml(row.inference));
    grid.cells.push_back(std::move(cells));
  }
  std::string legend = "<ul class=\"legend-list\">";
  for (SensitiveClass cls : kAllSensitiveClasses) {
    legend += fmt::format("<li><b>{}</b>: {}</li>", SensitiveClassName(cls),
                          Xml(SensitiveClassMeaning(cls)));
  }
  legend += "</ul>";
  out += fmt::format(
      "<figure>{}{}</figure>{}</tbody></table>{}",
      svg::MatrixGrid("sensitive",
                      "What each backend did with each sensitive instruction",
                      grid),
      Caption(data.comparison,
              "Green: the host's own state did not reach the workload "
              "(isoscope trapped it, a virtual value, a value the kernel made "
              "up, a fault); amber: it did, or the instruction was silently "
              "ignored; grey: not measured. The verdict above explains the "
              "table."),
      table, legend);
  return out + "</section>";
}

std::string SurfaceSection(const Comparison& c) {
  std::string out = "<section id=\"surface\"><h2>Host attack surface</h2>";
  std::vector<svg::Bar> bars;
  std::string lists;
  for (const BackendComparison* b : RanBackends(c)) {
    const auto n = static_cast<double>(b->traits.reachable_host_syscalls);
    std::string label =
        fmt::format("{} host syscalls", b->traits.reachable_host_syscalls);
    if (!b->traits.vmm_allowed_syscalls.empty()) {
      label += fmt::format(" · VMM allows {}",
                           b->traits.vmm_allowed_syscalls.size());
      std::string names;
      for (const std::string& s : b->traits.vmm_allowed_syscalls) {
        if (!names.empty()) names += ", ";
        names += Xml(s);
      }
      lists += fmt::format(
          "<p data-backend=\"{}\"><strong>{}</strong>: the VMM's own "
          "allowed syscalls ({}): <code>{}</code></p>",
          Xml(b->backend), Xml(b->backend),
          b->traits.vmm_allowed_syscalls.size(), names);
    }
    bars.push_back({b->backend, n, n, n, label});
  }
  out += fmt::format(
      "<figure>{}{}</figure>{}",
      svg::BarChart(
          "surface", "Host syscalls the workload can reach", bars,
          [](double v) { return fmt::format("{:.0f}", v); },
          /*whiskers=*/false),
      Caption(c,
              "Exact counts from each backend's compiled plan for this "
              "policy (allowed or inspected syscalls; native: every "
              "syscall), not measured, so no spread."),
      lists);
  std::string handled =
      "<table><thead><tr><th>backend</th><th>syscalls handled by</th>"
      "<th>faults handled by</th></tr></thead><tbody>";
  for (const BackendComparison* b : RanBackends(c)) {
    handled += fmt::format(
        "<tr data-backend=\"{0}\"><td>{0}</td><td>{1}</td><td>{2}</td></tr>",
        Xml(b->backend), Xml(b->traits.syscalls_handled_by),
        Xml(b->traits.faults_handled_by));
  }
  return out + handled + "</tbody></table></section>";
}

std::string RunsSection(const ReportData& data) {
  if (data.runs.empty()) return "";
  std::string out =
      "<section id=\"runs\"><h2>Measured runs</h2><details><summary>"
      "Every measured run (warm-up excluded); <code>isoscope runs show "
      "ID</code> has the events and output.</summary><table><thead><tr>"
      "<th>run</th><th>backend</th><th>outcome</th><th>exit</th>"
      "<th>start-up</th><th>wall</th><th>syscalls</th><th>by isoscope</th>"
      "<th>peak RSS</th>"
      "</tr></thead><tbody>";
  for (const RunResult& r : data.runs) {
    out += fmt::format(
        "<tr data-backend=\"{0}\"><td class=\"num\">{1}</td><td>{0}</td>"
        "<td>{2}</td><td class=\"num\">{3}</td><td class=\"num\">{4}</td>"
        "<td class=\"num\">{5}</td><td class=\"num\">{6}</td>"
        "<td class=\"num\">{7}</td><td class=\"num\">{8}</td></tr>",
        Xml(r.backend), r.id, OutcomeName(r.termination.outcome),
        r.termination.ExitStatus(),
        FormatNs(static_cast<double>(r.timings.startup_ns)),
        FormatNs(static_cast<double>(r.timings.wall_ns)),
        FormatCount(r.counters.syscalls_total), r.counters.syscalls_trapped,
        FormatKib(r.counters.max_rss_kib));
  }
  return out + "</tbody></table></details></section>";
}

std::string HostSection(const HostFacts& h) {
  std::string controllers;
  for (const auto* list :
       {&h.cgroups.v2_controllers, &h.cgroups.v1_controllers}) {
    for (const std::string& name : *list) {
      if (!controllers.empty()) controllers += ", ";
      controllers += name;
    }
  }
  std::string out = fmt::format(
      "<section id=\"host\"><h2>Host platform</h2><table><tbody>"
      "<tr><th>kernel</th><td>{} ({})</td></tr>"
      "<tr><th>CPU</th><td>{} × {}</td></tr>"
      "<tr><th>cgroups</th><td>{}{}{}</td></tr>"
      "<tr><th>virtualization</th><td>{}</td></tr>"
      "<tr><th>running as root</th><td>{}</td></tr>",
      Xml(h.kernel_release), Xml(h.machine), h.cpus,
      Xml(h.cpu_model.empty() ? "unknown CPU" : h.cpu_model),
      CgroupLayoutName(h.cgroups.layout),
      h.cgroups.v2_root.empty() ? "" : " at " + Xml(h.cgroups.v2_root.string()),
      controllers.empty() ? "" : " (" + Xml(controllers) + ")",
      VirtualizationKindName(h.virtualization), h.is_root ? "yes" : "no");
  const std::pair<std::string_view, const Feature*> features[] = {
      {"seccomp", &h.seccomp},
      {"seccomp user notification", &h.seccomp_user_notif},
      {"ptrace", &h.ptrace},
      {"user namespaces", &h.user_namespaces},
      {"CPUID faulting", &h.cpuid_faulting},
      {"RDTSC trapping", h.rdtsc_trapping ? &*h.rdtsc_trapping : nullptr},
      {"KVM", &h.kvm}};
  for (const auto& [name, f] : features) {
    if (f == nullptr) {  // not recorded with these runs
      out += fmt::format("<tr><th>{}</th><td>n/a</td></tr>", name);
      continue;
    }
    out += fmt::format("<tr><th>{}</th><td>{}{}{}</td></tr>", name,
                       f->available ? "available" : "missing",
                       f->detail.empty() ? "" : ": ", Xml(f->detail));
  }
  out += "</tbody></table>";
  if (h.virtualization == VirtualizationKind::kPvm) {
    out +=
        "<p class=\"note-box\">Virtualization here is <strong>pvm</strong>: "
        "guest code is emulated, so the KVM backend's times include "
        "emulation and are not what hardware virtualization costs.</p>";
  }
  return out + "</section>";
}

std::string PolicySection(const Comparison& c) {
  return fmt::format(
      "<section id=\"policy\"><h2>Policy: {}</h2><pre>{}</pre></section>",
      Xml(c.policy_name), [&] {
        // Keep the YAML's lines: escape each line on its own.
        const std::string_view policy = c.policy_text;
        std::string text;
        size_t start = 0;
        while (start <= c.policy_text.size()) {
          const size_t end = c.policy_text.find('\n', start);
          const size_t stop =
              end == std::string::npos ? c.policy_text.size() : end;
          text += Xml(policy.substr(start, stop - start));
          if (end == std::string::npos) break;
          text += '\n';
          start = end + 1;
        }
        return text;
      }());
}

std::string UnavailableSection(const Comparison& c) {
  std::string items;
  for (const BackendComparison& b : c.backends) {
    if (b.available && !report_common::Failed(b)) continue;
    items += fmt::format(
        "<li data-backend=\"{0}\"><strong>{0}</strong> {1}</li>",
        Xml(b.backend),
        b.available ? Xml(FailureText(b))
                    : "is unavailable: " + Xml(b.unavailable_reason));
  }
  if (items.empty()) return "";
  return "<section id=\"unavailable\"><h2>Backends that did not run or whose "
         "runs failed</h2><ul>" +
         items + "</ul></section>";
}

}  // namespace

std::string RenderHtmlReport(const ReportData& data) {
  const Comparison& c = data.comparison;
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\">"
      "<meta name=\"generator\" content=\"isoscope\">"
      "<title>isoscope comparison #{}</title><style>{}</style></head>"
      "<body><main>",
      c.id, kStyle);
  out += Header(data);
  out += VerdictSection(data);
  out += SummaryTable(c);
  out += UnavailableSection(c);
  out += MeasuresSection(c);
  out += TimeChart(c, "overhead", "Overhead: wall time per backend",
                   "Wall time, median with p25–p75", /*startup=*/false);
  out += TimeChart(c, "startup", "Start-up time per backend",
                   "Start-up time, median with p25–p75", /*startup=*/true);
  out += SpectrumSection(data);
  out += ProbeSection(data);
  out += EnforcementSection(c);
  out += FaultSection(data);
  out += SensitiveSection(data);
  out += SurfaceSection(c);
  out += RunsSection(data);
  out += HostSection(c.host);
  out += PolicySection(c);
  out +=
      "<footer><p class=\"muted\">Rendered by isoscope from its results "
      "store; re-render with <code>isoscope report " +
      std::to_string(c.id) + "</code>.</p></footer></main></body></html>\n";
  return out;
}

}  // namespace isoscope
