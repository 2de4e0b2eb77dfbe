// RunResult <-> JSON (nlohmann), the one serialisation used by the store,
// `--json` and the JSON report.
#ifndef ISOSCOPE_SUPERVISOR_RUN_RESULT_JSON_H_
#define ISOSCOPE_SUPERVISOR_RUN_RESULT_JSON_H_

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "supervisor/run_result.h"

namespace isoscope {

// Whether a run's JSON holds its events: the results store keeps them
// apart (store.h) and leaves them out; every other reader gets them.
enum class JsonEvents { kIncluded, kLeftOut };

nlohmann::json ToJson(const RunResult& result,
                      JsonEvents events = JsonEvents::kIncluded);
nlohmann::json ToJson(const Event& event);
nlohmann::json ToJson(const HostFacts& facts);
// A run's or a comparison's "source": an object, or null for none.
nlohmann::json ToJson(const std::optional<WorkloadSource>& source);

class JsonFieldReader;
// The "source" member `r` holds; absent (recorded before runs said) or
// null: none.
std::optional<WorkloadSource> WorkloadSourceFrom(JsonFieldReader& r);

// Inverse of ToJson; errors (kStore) name the missing or malformed field.
Result<RunResult> RunResultFromJson(const nlohmann::json& json);
Result<HostFacts> HostFactsFromJson(const nlohmann::json& json);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_RUN_RESULT_JSON_H_
