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

}  // namespace isoscope
