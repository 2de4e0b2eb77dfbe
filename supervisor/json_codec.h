// The conventions every stored JSON form of isoscope follows (RunResult,
// Comparison, ...): bytes that may not be UTF-8 travel as {"base64": ...},
// enums as their stable names, and decoding goes through one JsonFieldReader
// that keeps the first problem with the field's dotted path.
#ifndef ISOSCOPE_SUPERVISOR_JSON_CODEC_H_
#define ISOSCOPE_SUPERVISOR_JSON_CODEC_H_

#include <array>
#include <charconv>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace isoscope {

// Bytes that may not be UTF-8 (argv, paths, output): a JSON string when they
// are valid UTF-8, else {"base64": ...}, so every stored string survives a
// round trip.
nlohmann::json BytesToJson(std::string_view bytes);
Result<std::string> BytesFromJson(const nlohmann::json& value);

std::optional<std::string> Base64Decode(std::string_view in);

// A figure that may be unknown: null when it is.
template <typename T>
nlohmann::json OptionalToJson(const std::optional<T>& value) {
  return value.has_value() ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

template <typename E, size_t N>
std::optional<E> EnumFromName(std::string_view name,
                              const std::array<E, N>& all,
                              std::string_view (*name_of)(E)) {
  for (E value : all) {
    if (name_of(value) == name) return value;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Reading. A JsonFieldReader reads the fields of one JSON object; the first
// problem found anywhere is kept in the shared JsonProblem (with the dotted
// path of the field) and later reads return defaults, so the decoding code
// reads straight through and the caller checks once.

struct JsonProblem {
  std::optional<std::string> message;
  void Set(const std::string& where, std::string_view why) {
    if (!message.has_value()) message = fmt::format("field {}: {}", where, why);
  }
};

class JsonFieldReader {
 public:
  using json = nlohmann::json;

  JsonFieldReader(JsonProblem& problem, const json& object, std::string path)
      : problem_(problem), object_(object), path_(std::move(path)) {
    if (!object_.is_object()) problem_.Set(Where(), "not a JSON object");
  }

  bool ok() const { return !problem_.message.has_value(); }
  const std::string& path() const { return path_; }

  std::string Where(std::string_view key = {}) const {
    if (key.empty()) return path_.empty() ? std::string("(top level)") : path_;
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  // The field's value, or nullptr (and a problem) when it is missing.
  const json* Get(std::string_view key) {
    if (!ok() || !object_.is_object()) return nullptr;
    const auto it = object_.find(key);
    if (it == object_.end()) {
      problem_.Set(Where(key), "missing");
      return nullptr;
    }
    return &*it;
  }

  bool Has(std::string_view key) const {
    return object_.is_object() && object_.contains(key);
  }

  bool Bool(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
      problem_.Set(Where(key), "expected true or false");
      return false;
    }
    return v->get<bool>();
  }

  int64_t Int64(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr) return 0;
    if (v->is_number_unsigned()) {
      const auto u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) {
        problem_.Set(Where(key), "integer out of range");
        return 0;
      }
      return static_cast<int64_t>(u);
    }
    if (!v->is_number_integer()) {
      problem_.Set(Where(key), "expected an integer");
      return 0;
    }
    return v->get<int64_t>();
  }

  uint64_t Uint64(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr) return 0;
    if (!v->is_number_unsigned()) {
      problem_.Set(Where(key), "expected a non-negative integer");
      return 0;
    }
    return v->get<uint64_t>();
  }

  int Int(std::string_view key) {
    const int64_t v = Int64(key);
    if (v < INT32_MIN || v > INT32_MAX) {
      problem_.Set(Where(key), "integer out of range");
      return 0;
    }
    return static_cast<int>(v);
  }

  // A string written by BytesToJson: plain, or {"base64": ...}.
  std::string Bytes(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr) return {};
    return BytesFrom(*v, Where(key));
  }

  std::string BytesFrom(const json& v, const std::string& where) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.size() == 1 && v.contains("base64") &&
        v["base64"].is_string()) {
      auto decoded = Base64Decode(v["base64"].get_ref<const std::string&>());
      if (decoded.has_value()) return std::move(*decoded);
      problem_.Set(where, "malformed base64");
      return {};
    }
    problem_.Set(where, "expected a string");
    return {};
  }

  std::vector<std::string> Strings(std::string_view key) {
    std::vector<std::string> out;
    const json* v = Array(key);
    if (v == nullptr) return out;
    for (size_t i = 0; i < v->size() && ok(); ++i) {
      out.push_back(BytesFrom((*v)[i], fmt::format("{}[{}]", Where(key), i)));
    }
    return out;
  }

  // "0x1f" -> 31.
  uint64_t HexValue(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr) return 0;
    return HexFrom(*v, Where(key));
  }

  uint64_t HexFrom(const json& v, const std::string& where) {
    if (!v.is_string()) {
      problem_.Set(where, "expected a hex string like \"0x1f\"");
      return 0;
    }
    const auto& s = v.get_ref<const std::string&>();
    uint64_t value = 0;
    if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) {
      problem_.Set(where, "expected a hex string like \"0x1f\"");
      return 0;
    }
    const char* first = s.data() + 2;
    const char* last = s.data() + s.size();
    const auto [end, ec] = std::from_chars(first, last, value, 16);
    if (ec != std::errc() || end != last) {
      problem_.Set(where, fmt::format("malformed hex value \"{}\"", s));
      return 0;
    }
    return value;
  }

  std::string String(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      problem_.Set(Where(key), "expected a string");
      return {};
    }
    return v->get<std::string>();
  }

  template <typename E, size_t N>
  E Enum(std::string_view key, const std::array<E, N>& all,
         std::string_view (*name_of)(E)) {
    const std::string name = String(key);
    if (!ok()) return all[0];
    const auto value = EnumFromName(name, all, name_of);
    if (!value.has_value()) {
      problem_.Set(Where(key), fmt::format("unknown value \"{}\"", name));
      return all[0];
    }
    return *value;
  }

  double Double(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr) return 0;
    if (!v->is_number()) {
      problem_.Set(Where(key), "expected a number");
      return 0;
    }
    return v->get<double>();
  }

  // null (or missing, which is also a problem) reads as nullopt.
  std::optional<double> OptionalDouble(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return Double(key);
  }

  std::optional<int64_t> OptionalInt64(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return Int64(key);
  }

  std::optional<uint64_t> OptionalUint64(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return Uint64(key);
  }

  std::optional<bool> OptionalBool(std::string_view key) {
    const json* v = Get(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return Bool(key);
  }

  // Records a problem with `key` found by the caller's own checks.
  void Set(std::string_view key, std::string_view why) {
    problem_.Set(Where(key), why);
  }

  const json* Array(std::string_view key) {
    const json* v = Get(key);
    if (v != nullptr && !v->is_array()) {
      problem_.Set(Where(key), "expected an array");
      return nullptr;
    }
    return v;
  }

  // A reader for a nested object (its problems land in the same JsonProblem).
  JsonFieldReader Object(std::string_view key) {
    static const json kEmpty = json::object();
    const json* v = Get(key);
    return JsonFieldReader(problem_, v != nullptr ? *v : kEmpty, Where(key));
  }

  bool IsNull(std::string_view key) {
    const json* v = Get(key);
    return v != nullptr && v->is_null();
  }

  JsonProblem& problem() { return problem_; }

 private:
  JsonProblem& problem_;
  const json& object_;
  std::string path_;
};

// Decodes `value` with `decode(JsonFieldReader&)`, turning the first problem
// it records, or anything nlohmann throws (allocation), into a kStore error
// "reading <what> from JSON: ...": nothing escapes as an exception.
template <typename Decode>
auto DecodeJson(const nlohmann::json& value, std::string_view what,
                Decode decode)
    -> Result<decltype(decode(std::declval<JsonFieldReader&>()))> {
  try {
    JsonProblem problem;
    JsonFieldReader reader(problem, value, "");
    auto decoded = decode(reader);
    if (problem.message.has_value()) {
      return Fail(ErrorCode::kStore, fmt::format("reading {} from JSON: {}",
                                                 what, *problem.message));
    }
    return decoded;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kStore,
                fmt::format("reading {} from JSON: {}", what, e.what()));
  }
}

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_JSON_CODEC_H_
