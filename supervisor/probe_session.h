// The result of `isoscope probe`: one finding per probe and backend, as a
// value the store records and reports render. Plain data, no behaviour.
#ifndef ISOSCOPE_SUPERVISOR_PROBE_SESSION_H_
#define ISOSCOPE_SUPERVISOR_PROBE_SESSION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "supervisor/run_result.h"

namespace isoscope {

// The verdicts of workloads/README.md, plus the runner's own ERROR (the
// probe could not be run or said nothing understandable).
inline constexpr std::string_view kVerdictBlocked = "BLOCKED";
inline constexpr std::string_view kVerdictReachable = "REACHABLE";
inline constexpr std::string_view kVerdictEscaped = "ESCAPED";
inline constexpr std::string_view kVerdictNa = "NA";
inline constexpr std::string_view kVerdictError = "ERROR";

// Findings of the `sensitive` probe ("sensitive.<instruction>") are
// observations of what one instruction did, not escape attempts; the
// runner adds to each the word `trapped=...`: what isoscope itself
// intercepted during that run (see RecordTraps in probe_runner.h).
inline constexpr std::string_view kSensitiveProbePrefix = "sensitive.";
inline constexpr std::string_view kTrappedKey = "trapped";

// One probe (or one fault-map case) on one backend. Named Finding because
// ProbeResult is the backend availability check of supervisor/backend.h.
struct ProbeFinding {
  std::string probe_id;  // "secret-file", "fault-map.hlt"
  std::string backend;
  std::string verdict;  // one of the kVerdict* above
  std::string detail;
  bool overridden = false;  // a touched canary turned the verdict to ESCAPED
  int64_t run_id = 0;       // the recorded run; 0 when nothing ran
  std::optional<Outcome> outcome;  // how that run ended; none if none ran
  bool operator==(const ProbeFinding&) const = default;
};

struct ProbeSession {
  int64_t id = 0;  // assigned by the store
  int64_t started_at_unix_ms = 0;
  std::string policy_name;
  std::vector<std::string> backends;  // the matrix's columns, in order
  bool interrupted = false;           // stopped early by SIGINT/SIGTERM
  std::vector<ProbeFinding> findings;
  bool operator==(const ProbeSession&) const = default;
};

nlohmann::json ToJson(const ProbeSession& session);

// The value of the word `key=` in a finding's detail (space-separated
// words; the first such word), or nullopt.
std::optional<std::string_view> DetailWord(std::string_view detail,
                                           std::string_view key);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_PROBE_SESSION_H_
