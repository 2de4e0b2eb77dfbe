#include "supervisor/probe_session.h"

namespace isoscope {

nlohmann::json ToJson(const ProbeSession& session) {
  nlohmann::json findings = nlohmann::json::array();
  for (const ProbeFinding& f : session.findings) {
    nlohmann::json finding = {
        {"probe", f.probe_id},        {"backend", f.backend},
        {"verdict", f.verdict},       {"detail", f.detail},
        {"overridden", f.overridden},
    };
    finding["run_id"] =
        f.run_id != 0 ? nlohmann::json(f.run_id) : nlohmann::json();
    finding["outcome"] = f.outcome.has_value()
                             ? nlohmann::json(OutcomeName(*f.outcome))
                             : nlohmann::json();
    findings.push_back(std::move(finding));
  }
  return {
      {"id", session.id},
      {"started_at_unix_ms", session.started_at_unix_ms},
      {"policy", session.policy_name},
      {"backends", session.backends},
      {"interrupted", session.interrupted},
      {"findings", std::move(findings)},
  };
}

std::optional<std::string_view> DetailWord(std::string_view detail,
                                           std::string_view key) {
  size_t start = 0;
  while (start < detail.size()) {
    size_t end = detail.find(' ', start);
    if (end == std::string_view::npos) end = detail.size();
    std::string_view word = detail.substr(start, end - start);
    if (word.size() > key.size() && word.starts_with(key) &&
        word[key.size()] == '=') {
      return word.substr(key.size() + 1);
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace isoscope
