// The results store's JSON decoding on arbitrary text: what Store::Get and
// Store::GetComparison do with a result_json or comparison_json column
// (parse without exceptions, then RunResultFromJson / ComparisonFromJson),
// and HostFactsFromJson. A decoded value must survive ToJson and decoding
// again unchanged, and any bytes must survive BytesToJson/BytesFromJson.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "supervisor/comparison.h"
#include "supervisor/json_codec.h"
#include "supervisor/run_result_json.h"
#include "tests/fuzz/fuzz_targets.h"

namespace isoscope::fuzz {
namespace {

// "" when `decoded` is an error, or when encoding and decoding it again
// gives it back.
template <typename T, typename Decode>
std::string RoundTrip(std::string_view what, const Result<T>& decoded,
                      Decode decode) {
  if (!decoded) {
    if (decoded.error().code() != ErrorCode::kStore) {
      return fmt::format("{}: error of code {}: {}", what,
                         ErrorCodeName(decoded.error().code()),
                         decoded.error().message());
    }
    return "";
  }
  const nlohmann::json encoded = ToJson(*decoded);
  auto again = decode(encoded);
  if (!again) {
    return fmt::format("{}: its own JSON does not decode: {}\n{}", what,
                       again.error().message(), encoded.dump());
  }
  if (!(*again == *decoded)) {
    return fmt::format("{}: changed by a round trip through\n{}", what,
                       encoded.dump());
  }
  return "";
}

}  // namespace

std::string StoreJsonInput(std::span<const uint8_t> input) {
  const std::string_view text(reinterpret_cast<const char*>(input.data()),
                              input.size());
  auto bytes = BytesFromJson(BytesToJson(text));
  if (!bytes || *bytes != text) return "BytesToJson does not round-trip";
  // As the store parses a column: a discarded value is "not JSON".
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return "";
  std::string finding =
      RoundTrip("run", RunResultFromJson(json),
                [](const nlohmann::json& j) { return RunResultFromJson(j); });
  if (finding.empty()) {
    finding = RoundTrip(
        "comparison", ComparisonFromJson(json),
        [](const nlohmann::json& j) { return ComparisonFromJson(j); });
  }
  if (finding.empty()) {
    finding =
        RoundTrip("host facts", HostFactsFromJson(json),
                  [](const nlohmann::json& j) { return HostFactsFromJson(j); });
  }
  if (finding.empty()) (void)BytesFromJson(json);
  return finding;
}

}  // namespace isoscope::fuzz
