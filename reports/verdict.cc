#include "reports/verdict.h"

#include <fmt/format.h>

#include "base/stats.h"
#include "reports/report_common.h"
#include "reports/sensitive_table.h"

namespace isoscope {
namespace {

using report_common::CountVerdicts;
using report_common::FailureText;
using report_common::FindFinding;
using report_common::FormatNs;
using report_common::FormatRatio;
using report_common::MeasuredBackends;
using report_common::ProbeIds;
using report_common::RanBackends;

bool IsOpen(const std::string& verdict) {
  return verdict == kVerdictReachable || verdict == kVerdictEscaped;
}

bool HasFindings(const ProbeSession& session, const std::string& backend) {
  for (const ProbeFinding& f : session.findings) {
    if (f.backend == backend) return true;
  }
  return false;
}

// Probes `open` leaves reachable or escaped and `closed` blocks.
std::vector<OpenProbe> OpenVersusBlocked(const ProbeSession& session,
                                         const std::string& open,
                                         const std::string& closed) {
  std::vector<OpenProbe> result;
  for (const std::string& id : ProbeIds(session, /*fault_map=*/false)) {
    const ProbeFinding* a = FindFinding(session, id, open);
    const ProbeFinding* b = FindFinding(session, id, closed);
    if (a == nullptr || b == nullptr) continue;
    if (IsOpen(a->verdict) && b->verdict == kVerdictBlocked) {
      result.push_back({id, a->verdict});
    }
  }
  return result;
}

std::string ProbeList(const std::vector<OpenProbe>& probes) {
  std::string out;
  for (const OpenProbe& p : probes) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} ({})", p.probe_id, p.verdict);
  }
  return out;
}

std::string Probes(size_t n) {
  return fmt::format("{} probe{}", n, n == 1 ? "" : "s");
}

std::string OverviewOfOne(const BackendComparison& only,
                          const Comparison& comparison,
                          const std::optional<ProbeSession>& probes) {
  const bool unisolated = only.backend == "native";
  std::string subject = unisolated
                            ? std::string("Unisolated (native), the workload")
                            : fmt::format("On {}, the workload", only.backend);
  std::string out;
  if (probes.has_value() && HasFindings(*probes, only.backend)) {
    const auto counts = CountVerdicts(*probes, only.backend);
    std::vector<OpenProbe> open;
    for (const std::string& id : ProbeIds(*probes, /*fault_map=*/false)) {
      const ProbeFinding* f = FindFinding(*probes, id, only.backend);
      if (f != nullptr && IsOpen(f->verdict)) open.push_back({id, f->verdict});
    }
    const int total =
        counts.blocked + counts.reachable + counts.escaped + counts.other;
    out =
        fmt::format("{} reached {} of {}: {} reachable and {} escaped{}{}.",
                    subject, counts.reachable + counts.escaped,
                    Probes(static_cast<size_t>(total)), counts.reachable,
                    counts.escaped, open.empty() ? "" : ": ", ProbeList(open));
  } else {
    out = fmt::format(
        "{} was not probed (run isoscope compare with --probes to see what "
        "it can reach).",
        subject);
  }
  std::string unavailable;
  for (const BackendComparison& b : comparison.backends) {
    if (&b == &only) continue;
    if (!unavailable.empty()) unavailable += "; ";
    // A failure has its own sentence above.
    unavailable += fmt::format(
        "{}: {}", b.backend,
        b.available ? (b.error.empty() ? "did not run" : "failed to run")
                    : b.unavailable_reason);
  }
  out += fmt::format(
      " There is nothing to compare with yet: no other backend ran{}.",
      unavailable.empty() ? std::string(" in this comparison")
                          : " (" + unavailable + ")");
  return out;
}

// "blocks 3 probes that native leaves open (and leaves 1 open that native
// blocks)", or nullopt when either backend has no probe findings.
std::optional<std::string> BlocksBeyond(
    const std::optional<ProbeSession>& probes, const std::string& backend,
    const std::string& baseline) {
  if (!probes.has_value() || !HasFindings(*probes, backend) ||
      !HasFindings(*probes, baseline)) {
    return std::nullopt;
  }
  const size_t more = OpenVersusBlocked(*probes, baseline, backend).size();
  const size_t fewer = OpenVersusBlocked(*probes, backend, baseline).size();
  std::string out =
      more == 0 ? fmt::format("blocks no probe that {} leaves open", baseline)
                : fmt::format("blocks {} that {} leaves open", Probes(more),
                              baseline);
  if (fewer > 0) {
    out += fmt::format(" (and leaves {} open that {} blocks)", Probes(fewer),
                       baseline);
  }
  return out;
}

// The sensitive-instruction table in plain words, after everything else.
void AppendSensitiveVerdict(const std::optional<ProbeSession>& probes,
                            std::vector<std::string>& sentences) {
  if (!probes.has_value()) return;
  for (std::string& s :
       SensitiveVerdict(BuildSensitiveTable(*probes), probes->backends)) {
    sentences.push_back(std::move(s));
  }
}

}  // namespace

std::vector<std::string> BackendHeadlines(
    const Comparison& comparison, const std::optional<ProbeSession>& probes) {
  const auto measured = MeasuredBackends(comparison);
  const BackendComparison* baseline = nullptr;
  for (const BackendComparison* b : measured) {
    if (b->backend == "native") baseline = b;
  }
  if (baseline == nullptr && !measured.empty()) baseline = measured.front();

  std::vector<std::string> sentences;
  for (const BackendComparison& b : comparison.backends) {
    if (!b.available) {
      sentences.push_back(
          fmt::format("{} did not run: {}.", b.backend, b.unavailable_reason));
      continue;
    }
    if (!b.error.empty()) {
      sentences.push_back(fmt::format("{} {}, so it has no figures.", b.backend,
                                      FailureText(b)));
      continue;
    }
    if (b.failure.has_value()) {
      sentences.push_back(
          fmt::format("{}'s runs failed, so it has no figures: {}.", b.backend,
                      FailureText(b)));
      continue;
    }
    if (&b == baseline) {
      std::string open;
      if (probes.has_value() && HasFindings(*probes, b.backend)) {
        const auto counts = CountVerdicts(*probes, b.backend);
        const int total =
            counts.blocked + counts.reachable + counts.escaped + counts.other;
        open = fmt::format("; it leaves {} of {} open",
                           counts.reachable + counts.escaped,
                           Probes(static_cast<size_t>(total)));
      }
      sentences.push_back(
          fmt::format("{} is the baseline: {} wall time, {} start-up "
                      "(medians){}.",
                      b.backend, FormatNs(b.wall_ns.median),
                      FormatNs(b.startup_ns.median), open));
      continue;
    }
    if (baseline == nullptr) continue;  // unreachable: b itself measured
    // Ratios against the baseline's medians, as the pair verdicts compute.
    const auto blocks = BlocksBeyond(probes, b.backend, baseline->backend);
    sentences.push_back(fmt::format(
        "{} {}, at {} the wall time and {} the start-up of {}.", b.backend,
        blocks.value_or("was not probed"),
        FormatRatio(Ratio(b.wall_ns.median, baseline->wall_ns.median)),
        FormatRatio(Ratio(b.startup_ns.median, baseline->startup_ns.median)),
        baseline->backend));
  }
  return sentences;
}

std::vector<PairVerdict> ComparePairs(
    const Comparison& comparison, const std::optional<ProbeSession>& probes) {
  const auto ran = RanBackends(comparison);
  std::vector<PairVerdict> pairs;
  for (size_t i = 0; i < ran.size(); ++i) {
    for (size_t j = i + 1; j < ran.size(); ++j) {
      const BackendComparison& a = *ran[i];
      const BackendComparison& b = *ran[j];
      PairVerdict pair;
      pair.first = a.backend;
      pair.second = b.backend;
      if (probes.has_value() && HasFindings(*probes, a.backend) &&
          HasFindings(*probes, b.backend)) {
        pair.have_probes = true;
        pair.open_in_first_blocked_in_second =
            OpenVersusBlocked(*probes, a.backend, b.backend);
        pair.open_in_second_blocked_in_first =
            OpenVersusBlocked(*probes, b.backend, a.backend);
      }
      // No price from runs that failed: they did not do the same work.
      if (!a.failure.has_value() && !b.failure.has_value()) {
        pair.startup_ratio = Ratio(b.startup_ns.median, a.startup_ns.median);
        pair.wall_ratio = Ratio(b.wall_ns.median, a.wall_ns.median);
      }
      pairs.push_back(std::move(pair));
    }
  }
  return pairs;
}

std::vector<std::string> PlainWordsVerdict(
    const Comparison& comparison, const std::optional<ProbeSession>& probes) {
  std::vector<std::string> sentences;
  const auto ran = RanBackends(comparison);
  if (comparison.interrupted) {
    sentences.emplace_back(
        "This comparison was interrupted: the figures cover only what ran "
        "before it stopped.");
  }
  // Failures first: the figures below leave these backends out.
  for (const BackendComparison& b : comparison.backends) {
    if (!b.error.empty() && b.available) {
      sentences.push_back(fmt::format("{} {}. Nothing is compared from it.",
                                      b.backend, FailureText(b)));
    } else if (b.failure.has_value()) {
      sentences.push_back(
          fmt::format("{}'s runs failed, so no cost is computed from them: {}.",
                      b.backend, FailureText(b)));
    }
  }
  if (ran.empty()) {
    sentences.emplace_back("No backend ran, so there is nothing to judge yet.");
    return sentences;
  }
  if (ran.size() == 1) {
    sentences.push_back(OverviewOfOne(*ran.front(), comparison, probes));
    AppendSensitiveVerdict(probes, sentences);
    return sentences;
  }
  const auto measured = MeasuredBackends(comparison);
  if (!probes.has_value()) {
    sentences.emplace_back(
        measured.size() >= 2
            ? "No probe session was recorded with this comparison (isoscope "
              "compare --probes), so only the price of each backend is "
              "compared, not what it stops."
            : "No probe session was recorded with this comparison (isoscope "
              "compare --probes), and fewer than two backends ran the "
              "workload through, so neither a price nor what each stops is "
              "compared.");
  }

  const auto find = [&](const std::string& name) {
    for (const BackendComparison* b : measured) {
      if (b->backend == name) return b;
    }
    return static_cast<const BackendComparison*>(nullptr);
  };
  for (const PairVerdict& pair : ComparePairs(comparison, probes)) {
    if (pair.have_probes) {
      const auto& ab = pair.open_in_first_blocked_in_second;
      const auto& ba = pair.open_in_second_blocked_in_first;
      if (ab.empty() && ba.empty()) {
        sentences.push_back(fmt::format(
            "{} and {} leave the same probes open: neither blocks a probe "
            "the other leaves reachable or escaped.",
            pair.first, pair.second));
      }
      if (!ab.empty()) {
        sentences.push_back(fmt::format("{} leaves {} open that {} blocks: {}.",
                                        pair.first, Probes(ab.size()),
                                        pair.second, ProbeList(ab)));
      }
      if (!ba.empty()) {
        sentences.push_back(fmt::format("{} leaves {} open that {} blocks: {}.",
                                        pair.second, Probes(ba.size()),
                                        pair.first, ProbeList(ba)));
      }
    }
    const BackendComparison* a = find(pair.first);
    const BackendComparison* b = find(pair.second);
    if (a == nullptr || b == nullptr) continue;  // a failure, said above
    sentences.push_back(fmt::format(
        "The price of {} against {}: start-up {} ({} vs {} median), wall "
        "time {} ({} vs {} median).",
        pair.second, pair.first, FormatRatio(pair.startup_ratio),
        FormatNs(b->startup_ns.median), FormatNs(a->startup_ns.median),
        FormatRatio(pair.wall_ratio), FormatNs(b->wall_ns.median),
        FormatNs(a->wall_ns.median)));
  }

  // What each syscall the supervisor decides costs, against native's wall
  // time for the same workload.
  const BackendComparison* native = find("native");
  for (const BackendComparison* b : measured) {
    if (native == nullptr || b == native || b->syscalls_trapped == 0) continue;
    const double extra = b->wall_ns.median - native->wall_ns.median;
    const auto trapped = static_cast<double>(b->syscalls_trapped);
    if (extra <= 0) {
      sentences.push_back(fmt::format(
          "{} trapped {} syscalls per run (median) at no measurable cost "
          "over native's wall time.",
          b->backend, b->syscalls_trapped));
    } else {
      sentences.push_back(fmt::format(
          "{} trapped {} syscalls per run (median); each cost about {} "
          "((wall − native wall) / trapped = ({} − {}) / {}).",
          b->backend, b->syscalls_trapped, FormatNs(extra / trapped),
          FormatNs(b->wall_ns.median), FormatNs(native->wall_ns.median),
          b->syscalls_trapped));
    }
  }
  AppendSensitiveVerdict(probes, sentences);
  return sentences;
}

}  // namespace isoscope
