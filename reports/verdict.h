// The plain-words verdict of a comparison: for each pair of backends, what
// one leaves reachable or escaped that the other blocks, and what the
// stronger isolation costs in start-up and wall time (and per trapped
// syscall). Computed from the measurements, never written by hand; the
// sentences are plain text, escaped by each renderer.
#ifndef ISOSCOPE_REPORTS_VERDICT_H_
#define ISOSCOPE_REPORTS_VERDICT_H_

#include <optional>
#include <string>
#include <vector>

#include "supervisor/comparison.h"
#include "supervisor/probe_session.h"

namespace isoscope {

// One probe left open by one backend and blocked by another.
struct OpenProbe {
  std::string probe_id;
  std::string verdict;  // REACHABLE or ESCAPED, on the backend leaving it open
  bool operator==(const OpenProbe&) const = default;
};

// Two backends that ran, `first` before `second` in the comparison's order.
struct PairVerdict {
  std::string first;
  std::string second;
  bool have_probes = false;  // both have findings in the probe session
  std::vector<OpenProbe> open_in_first_blocked_in_second;
  std::vector<OpenProbe> open_in_second_blocked_in_first;
  // second / first, medians; nullopt when either side's runs failed.
  std::optional<double> startup_ratio;
  std::optional<double> wall_ratio;
};

std::vector<PairVerdict> ComparePairs(
    const Comparison& comparison, const std::optional<ProbeSession>& probes);

// The verdict as sentences, in a stable order: the backends that failed
// (left out of every cost below), an overview, one or two sentences per
// pair, then the per-trapped-syscall cost of each backend, and last the
// sensitive-instruction table in plain words (SensitiveVerdict) when the
// probe session has one.
std::vector<std::string> PlainWordsVerdict(
    const Comparison& comparison, const std::optional<ProbeSession>& probes);

// One sentence per backend, in the comparison's order, for a reader who
// reads nothing else: what it blocks beyond the baseline (native when it
// ran through, else the first backend that did) at what price in wall time
// and start-up, or why it has no figures. PlainWordsVerdict has the detail.
std::vector<std::string> BackendHeadlines(
    const Comparison& comparison, const std::optional<ProbeSession>& probes);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_VERDICT_H_
