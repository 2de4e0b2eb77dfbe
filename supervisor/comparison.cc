// Comparison <-> JSON: what the store keeps in comparisons.comparison_json
// and what reports read back. Strings that may not be UTF-8 (argv, errors
// quoting paths, the policy text) go through BytesToJson like a run's, and
// the host's facts through the run's own serialisation, so both read the
// same way everywhere.
#include "supervisor/comparison.h"

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "supervisor/json_codec.h"
#include "supervisor/run_result_json.h"

namespace isoscope {
namespace {

using json = nlohmann::json;

// Bumped when a field changes meaning or goes away (adding one does not).
constexpr int kComparisonSchema = 1;

json SpreadToJson(const Spread& spread) {
  return json{{"median", spread.median}, {"min", spread.min},
              {"max", spread.max},       {"p25", spread.p25},
              {"p75", spread.p75},       {"count", spread.count}};
}

json StringsToJson(const std::vector<std::string>& strings) {
  json out = json::array();
  for (const auto& s : strings) out.push_back(BytesToJson(s));
  return out;
}

json EnforcementToJson(const std::vector<SectionEnforcement>& enforcement) {
  json out = json::array();
  for (const SectionEnforcement& e : enforcement) {
    out.push_back(json{{"section", BytesToJson(e.section)},
                       {"enforced", e.enforced},
                       {"how", BytesToJson(e.how)}});
  }
  return out;
}

json FailureToJson(const std::optional<RunFailure>& failure) {
  if (!failure.has_value()) return nullptr;
  return json{{"what", BytesToJson(failure->what)},
              {"reason", BytesToJson(failure->reason)},
              {"rule_id", BytesToJson(failure->rule_id)},
              {"run_id", failure->run_id},
              {"failed_runs", failure->failed_runs}};
}

json BackendToJson(const BackendComparison& b) {
  json run_ids = json::array();
  for (int64_t id : b.run_ids) run_ids.push_back(id);
  return json{
      {"backend", BytesToJson(b.backend)},
      {"available", b.available},
      {"unavailable_reason", BytesToJson(b.unavailable_reason)},
      {"error", BytesToJson(b.error)},
      {"traits",
       {{"syscalls_handled_by", BytesToJson(b.traits.syscalls_handled_by)},
        {"faults_handled_by", BytesToJson(b.traits.faults_handled_by)},
        {"reachable_host_syscalls", b.traits.reachable_host_syscalls},
        {"vmm_allowed_syscalls", StringsToJson(b.traits.vmm_allowed_syscalls)},
        {"measures", BytesToJson(b.traits.measures)},
        {"enforcement", EnforcementToJson(b.traits.enforcement)}}},
      {"failure", FailureToJson(b.failure)},
      {"run_ids", std::move(run_ids)},
      {"outcome", std::string(OutcomeName(b.outcome))},
      {"exit_status", b.exit_status},
      {"consistent", b.consistent},
      {"startup_ns", SpreadToJson(b.startup_ns)},
      {"wall_ns", SpreadToJson(b.wall_ns)},
      {"user_cpu_us", SpreadToJson(b.user_cpu_us)},
      {"system_cpu_us", SpreadToJson(b.system_cpu_us)},
      {"max_rss_kib", SpreadToJson(b.max_rss_kib)},
      {"syscalls_total", OptionalToJson(b.syscalls_total)},
      {"syscalls_trapped", b.syscalls_trapped},
      {"syscalls_in_kernel", b.syscalls_in_kernel},
      {"syscalls_denied", OptionalToJson(b.syscalls_denied)},
      {"faults", b.faults},
      {"violations", b.violations},
      {"output_matches_native", b.output_matches_native.has_value()
                                    ? json(*b.output_matches_native)
                                    : json(nullptr)},
      {"wall_ratio", OptionalToJson(b.wall_ratio)},
      {"startup_ratio", OptionalToJson(b.startup_ratio)},
  };
}

Spread SpreadOf(JsonFieldReader& parent, std::string_view key) {
  JsonFieldReader r = parent.Object(key);
  Spread spread;
  spread.median = r.Double("median");
  spread.min = r.Double("min");
  spread.max = r.Double("max");
  spread.p25 = r.Double("p25");
  spread.p75 = r.Double("p75");
  spread.count = r.Uint64("count");
  return spread;
}

// Fields added after schema 1 was first written: absent from comparisons
// recorded before them, which read as not described.
std::vector<SectionEnforcement> EnforcementFrom(JsonFieldReader& traits) {
  std::vector<SectionEnforcement> enforcement;
  if (!traits.Has("enforcement")) return enforcement;
  if (const json* list = traits.Array("enforcement"); list != nullptr) {
    for (size_t i = 0; i < list->size() && traits.ok(); ++i) {
      JsonFieldReader e(traits.problem(), (*list)[i],
                        fmt::format("{}[{}]", traits.Where("enforcement"), i));
      SectionEnforcement& entry = enforcement.emplace_back();
      entry.section = e.Bytes("section");
      entry.enforced = e.Bool("enforced");
      entry.how = e.Bytes("how");
    }
  }
  return enforcement;
}

std::optional<RunFailure> FailureFrom(JsonFieldReader& r) {
  if (!r.Has("failure") || r.IsNull("failure")) return std::nullopt;
  JsonFieldReader f = r.Object("failure");
  RunFailure failure;
  failure.what = f.Bytes("what");
  failure.reason = f.Bytes("reason");
  failure.rule_id = f.Bytes("rule_id");
  failure.run_id = f.Int64("run_id");
  failure.failed_runs = f.Int("failed_runs");
  return failure;
}

BackendComparison BackendFrom(JsonFieldReader& r) {
  BackendComparison b;
  b.backend = r.Bytes("backend");
  b.available = r.Bool("available");
  b.unavailable_reason = r.Bytes("unavailable_reason");
  b.error = r.Bytes("error");
  JsonFieldReader traits = r.Object("traits");
  b.traits.syscalls_handled_by = traits.Bytes("syscalls_handled_by");
  b.traits.faults_handled_by = traits.Bytes("faults_handled_by");
  b.traits.reachable_host_syscalls = traits.Int("reachable_host_syscalls");
  b.traits.vmm_allowed_syscalls = traits.Strings("vmm_allowed_syscalls");
  if (traits.Has("measures")) b.traits.measures = traits.Bytes("measures");
  b.traits.enforcement = EnforcementFrom(traits);
  b.failure = FailureFrom(r);
  if (const json* ids = r.Array("run_ids"); ids != nullptr) {
    for (const json& id : *ids) {
      if (!id.is_number_integer()) {
        r.Set("run_ids", "expected integers");
        break;
      }
      b.run_ids.push_back(id.get<int64_t>());
    }
  }
  const std::string outcome = r.Bytes("outcome");
  if (r.ok()) {
    const auto parsed = OutcomeFromName(outcome);
    if (parsed.has_value()) {
      b.outcome = *parsed;
    } else {
      r.Set("outcome", fmt::format("unknown value \"{}\"", outcome));
    }
  }
  b.exit_status = r.Int("exit_status");
  b.consistent = r.Bool("consistent");
  b.startup_ns = SpreadOf(r, "startup_ns");
  b.wall_ns = SpreadOf(r, "wall_ns");
  b.user_cpu_us = SpreadOf(r, "user_cpu_us");
  b.system_cpu_us = SpreadOf(r, "system_cpu_us");
  b.max_rss_kib = SpreadOf(r, "max_rss_kib");
  // Absent in comparisons recorded before syscalls were counted: n/a.
  b.syscalls_total = r.Has("syscalls_total")
                         ? r.OptionalUint64("syscalls_total")
                         : std::nullopt;
  b.syscalls_trapped = r.Uint64("syscalls_trapped");
  b.syscalls_in_kernel = r.Uint64("syscalls_in_kernel");
  b.syscalls_denied = r.Has("syscalls_denied")
                          ? r.OptionalUint64("syscalls_denied")
                          : std::nullopt;
  b.faults = r.Uint64("faults");
  b.violations = r.Uint64("violations");
  b.output_matches_native = r.OptionalBool("output_matches_native");
  b.wall_ratio = r.OptionalDouble("wall_ratio");
  b.startup_ratio = r.OptionalDouble("startup_ratio");
  return b;
}

}  // namespace

json ToJson(const Comparison& comparison) {
  json backends = json::array();
  for (const auto& b : comparison.backends) {
    backends.push_back(BackendToJson(b));
  }
  return json{
      {"schema", kComparisonSchema},
      {"id", comparison.id},
      {"started_at_unix_ms", comparison.started_at_unix_ms},
      {"argv", StringsToJson(comparison.argv)},
      {"source", ToJson(comparison.source)},
      {"policy_name", BytesToJson(comparison.policy_name)},
      {"policy_text", BytesToJson(comparison.policy_text)},
      {"policy_sections_used", StringsToJson(comparison.policy_sections_used)},
      {"repeat", comparison.repeat},
      {"backends", std::move(backends)},
      {"probe_session_id", comparison.probe_session_id.has_value()
                               ? json(*comparison.probe_session_id)
                               : json(nullptr)},
      {"interrupted", comparison.interrupted},
      {"host", ToJson(comparison.host)},
  };
}

Result<Comparison> ComparisonFromJson(const json& json_value) {
  return DecodeJson(json_value, "a comparison", [](JsonFieldReader& r) {
    Comparison c;
    const int64_t schema = r.Int64("schema");
    if (r.ok() && schema != kComparisonSchema) {
      r.Set("schema", fmt::format("unsupported schema {} (this isoscope "
                                  "reads {})",
                                  schema, kComparisonSchema));
    }
    c.id = r.Int64("id");
    c.started_at_unix_ms = r.Int64("started_at_unix_ms");
    c.argv = r.Strings("argv");
    // Absent from comparisons recorded before they said.
    c.source = WorkloadSourceFrom(r);
    c.policy_name = r.Bytes("policy_name");
    c.policy_text = r.Bytes("policy_text");
    if (r.Has("policy_sections_used")) {
      c.policy_sections_used = r.Strings("policy_sections_used");
    }
    c.repeat = r.Int("repeat");
    if (const json* backends = r.Array("backends"); backends != nullptr) {
      for (size_t i = 0; i < backends->size() && r.ok(); ++i) {
        JsonFieldReader b(r.problem(), (*backends)[i],
                          fmt::format("backends[{}]", i));
        c.backends.push_back(BackendFrom(b));
      }
    }
    if (const json* session = r.Get("probe_session_id");
        session != nullptr && !session->is_null()) {
      c.probe_session_id = r.Int64("probe_session_id");
    }
    c.interrupted = r.Bool("interrupted");
    if (const json* host = r.Get("host"); host != nullptr) {
      auto facts = HostFactsFromJson(*host);
      if (facts) {
        c.host = std::move(*facts);
      } else {
        r.Set("host", facts.error().message());
      }
    }
    return c;
  });
}

}  // namespace isoscope
