// RunResult <-> JSON. The JSON form is what the store keeps and what
// `--json` prints, so it must round-trip exactly (RunResult::operator==) and
// read well: enums are stable lowercase names, register values and addresses
// are hex strings (lossless for consumers whose numbers are doubles).
//
// Strings a workload controls (output, paths, argv) may hold any bytes, and
// JSON text must be UTF-8: such a string is written as a plain JSON string
// when it is valid UTF-8 (the common case, readable) and as
// {"base64": "..."} otherwise, so nothing is lost or mangled.
#include "supervisor/run_result_json.h"

#include <signal.h>
#include <string.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "policies/syscalls.h"

namespace isoscope {
namespace {

using nlohmann::json;

constexpr int kJsonSchema = 1;

// Every value of the enums serialised by name. The Name functions live with
// their enums; these lists let the reader invert them without duplicating
// the names. A value added to an enum must be added here too (the round-trip
// test covers the values it uses).
constexpr std::array kAllOutcomes = {Outcome::kExited, Outcome::kSignaled,
                                     Outcome::kViolation, Outcome::kLimit,
                                     Outcome::kInterrupted};
constexpr std::array kAllLimitKinds = {
    LimitKind::kWallTime,  LimitKind::kCpuTime,   LimitKind::kMemory,
    LimitKind::kProcesses, LimitKind::kOpenFiles, LimitKind::kOutput};
constexpr std::array kAllActions = {
    Action::kAllow,   Action::kDeny,   Action::kKill,   Action::kLog,
    Action::kEmulate, Action::kReport, Action::kDeliver};
constexpr std::array kAllAbis = {Abi::kX86_64, Abi::kI386, Abi::kX32};
constexpr std::array kAllCgroupLayouts = {CgroupLayout::kNone,
                                          CgroupLayout::kV1, CgroupLayout::kV2,
                                          CgroupLayout::kHybrid};
constexpr std::array kAllVirtualizationKinds = {
    VirtualizationKind::kNone, VirtualizationKind::kVmx,
    VirtualizationKind::kSvm, VirtualizationKind::kPvm};

// Enums without a public Name function: named here, for this format only.
std::string_view DecidedByName(DecidedBy by) {
  switch (by) {
    case DecidedBy::kKernelFilter:
      return "kernel_filter";
    case DecidedBy::kSupervisor:
      return "supervisor";
  }
  return "unknown";
}
constexpr std::array kAllDecidedBy = {DecidedBy::kKernelFilter,
                                      DecidedBy::kSupervisor};

std::string_view OutputStreamName(OutputStream stream) {
  switch (stream) {
    case OutputStream::kStdout:
      return "stdout";
    case OutputStream::kStderr:
      return "stderr";
  }
  return "unknown";
}
constexpr std::array kAllOutputStreams = {OutputStream::kStdout,
                                          OutputStream::kStderr};

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
// Writing

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are what
    // nlohmann's strict dump rejects; reject them here too.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += kBase64Alphabet[v & 63];
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int padding = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      uint32_t digit = 0;
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++padding;
      } else {
        if (padding > 0) return std::nullopt;  // data after '='
        const size_t pos = kBase64Alphabet.find(c);
        if (pos == std::string_view::npos) return std::nullopt;
        digit = static_cast<uint32_t>(pos);
      }
      v = (v << 6) | digit;
    }
    out += static_cast<char>((v >> 16) & 0xFF);
    if (padding < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (padding < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

}  // namespace

json BytesToJson(std::string_view bytes) {
  if (IsValidUtf8(bytes)) return json(std::string(bytes));
  return json{{"base64", Base64Encode(bytes)}};
}

namespace {

std::string Hex(uint64_t value) { return fmt::format("{:#x}", value); }

std::string HexBytes(const std::vector<uint8_t>& bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

json ErrnoToJson(int value) {
  const std::string_view name = ErrnoName(value);
  if (value != 0 && !name.empty()) return json(std::string(name));
  return json(value);
}

std::string SignalName(int signal) {
  const char* abbrev = signal > 0 ? ::sigabbrev_np(signal) : nullptr;
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::string();
}

json VerdictToJson(const std::optional<Verdict>& verdict) {
  if (!verdict.has_value()) return nullptr;
  return json{{"action", std::string(ActionName(verdict->action.action))},
              {"errno", ErrnoToJson(verdict->action.errno_value)},
              {"emulate_value", verdict->action.emulate_value},
              {"rule_id", BytesToJson(verdict->rule_id)},
              {"reason", BytesToJson(verdict->reason)}};
}

json StringsToJson(const std::vector<std::string>& strings) {
  json out = json::array();
  for (const auto& s : strings) out.push_back(BytesToJson(s));
  return out;
}

json FeatureToJson(const Feature& feature) {
  return json{{"available", feature.available},
              {"detail", BytesToJson(feature.detail)}};
}

struct EventToJsonVisitor {
  json operator()(const SyscallEvent& e) const {
    json args = json::array();
    for (uint64_t arg : e.request.args) args.push_back(Hex(arg));
    json paths = json::array();
    for (const auto& p : e.request.paths) {
      paths.push_back(
          json{{"arg", p.arg_index}, {"path", BytesToJson(p.path)}});
    }
    const std::string name = SyscallName(e.request.number);
    return json{
        {"type", "syscall"},
        {"pid", e.pid},
        {"abi", std::string(AbiName(e.request.abi))},
        {"number", e.request.number},
        // For readers only; the number is authoritative.
        {"name", name},
        {"args", std::move(args)},
        {"paths", std::move(paths)},
        {"open_flags", e.request.open_flags.has_value()
                           ? json(Hex(*e.request.open_flags))
                           : json(nullptr)},
        {"decided_by", std::string(DecidedByName(e.decided_by))},
        {"verdict", VerdictToJson(e.verdict)},
    };
  }
  json operator()(const FaultEvent& e) const {
    return json{
        {"type", "fault"},
        {"pid", e.pid},
        {"kind", std::string(FaultKindName(e.kind))},
        {"signal", e.signal},
        {"signal_name", SignalName(e.signal)},  // for readers only
        {"rip", Hex(e.rip)},
        {"address", Hex(e.address)},
        {"mnemonic", BytesToJson(e.mnemonic)},
        {"bytes", HexBytes(e.bytes)},
        {"verdict", VerdictToJson(e.verdict)},
    };
  }
  json operator()(const SignalEvent& e) const {
    return json{{"type", "signal"},
                {"pid", e.pid},
                {"signal", e.signal},
                {"signal_name", SignalName(e.signal)}};
  }
  json operator()(const OutputEvent& e) const {
    return json{{"type", "output"},
                {"stream", std::string(OutputStreamName(e.stream))},
                {"bytes", BytesToJson(e.bytes)}};
  }
  json operator()(const LimitEvent& e) const {
    return json{{"type", "limit"},
                {"kind", std::string(LimitKindName(e.kind))},
                {"detail", BytesToJson(e.detail)}};
  }
  json operator()(const ExitEvent& e) const {
    return json{{"type", "exit"},
                {"signaled", e.signaled},
                {"exit_code", e.exit_code},
                {"signal", e.signal},
                {"core_dumped", e.core_dumped},
                {"usage",
                 {{"user_cpu_us", e.usage.user_cpu_us},
                  {"system_cpu_us", e.usage.system_cpu_us},
                  {"max_rss_kib", e.usage.max_rss_kib}}}};
  }
};

// ---------------------------------------------------------------------------
// Reading. A FieldReader reads the fields of one JSON object; the first
// problem found anywhere is kept in the shared Problem (with the dotted path
// of the field) and later reads return defaults, so the decoding code reads
// straight through and the caller checks once.

struct Problem {
  std::optional<std::string> message;
  void Set(const std::string& where, std::string_view why) {
    if (!message.has_value()) message = fmt::format("field {}: {}", where, why);
  }
};

class FieldReader {
 public:
  FieldReader(Problem& problem, const json& object, std::string path)
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

  const json* Array(std::string_view key) {
    const json* v = Get(key);
    if (v != nullptr && !v->is_array()) {
      problem_.Set(Where(key), "expected an array");
      return nullptr;
    }
    return v;
  }

  // A reader for a nested object (its problems land in the same Problem).
  FieldReader Object(std::string_view key) {
    static const json kEmpty = json::object();
    const json* v = Get(key);
    return FieldReader(problem_, v != nullptr ? *v : kEmpty, Where(key));
  }

  bool IsNull(std::string_view key) {
    const json* v = Get(key);
    return v != nullptr && v->is_null();
  }

  Problem& problem() { return problem_; }

 private:
  Problem& problem_;
  const json& object_;
  std::string path_;
};

int ErrnoFrom(FieldReader& r, std::string_view key) {
  const json* v = r.Get(key);
  if (v == nullptr) return 0;
  if (v->is_string()) {
    const int value = ErrnoFromName(v->get_ref<const std::string&>());
    if (value == 0) {
      r.problem().Set(r.Where(key), fmt::format("unknown errno name \"{}\"",
                                                v->get<std::string>()));
    }
    return value;
  }
  return r.Int(key);
}

std::optional<Verdict> VerdictFrom(FieldReader& parent, std::string_view key) {
  if (parent.IsNull(key) || !parent.ok()) return std::nullopt;
  FieldReader r = parent.Object(key);
  Verdict verdict;
  verdict.action.action = r.Enum("action", kAllActions, ActionName);
  verdict.action.errno_value = ErrnoFrom(r, "errno");
  verdict.action.emulate_value = r.Int64("emulate_value");
  verdict.rule_id = r.Bytes("rule_id");
  verdict.reason = r.Bytes("reason");
  return verdict;
}

std::vector<uint8_t> HexBytesFrom(FieldReader& r, std::string_view key) {
  std::vector<uint8_t> out;
  const std::string s = r.String(key);
  if (!r.ok()) return out;
  if (s.size() % 2 != 0) {
    r.problem().Set(r.Where(key), "expected an even number of hex digits");
    return out;
  }
  for (size_t i = 0; i < s.size(); i += 2) {
    uint8_t byte = 0;
    const auto [end, ec] =
        std::from_chars(s.data() + i, s.data() + i + 2, byte, 16);
    if (ec != std::errc() || end != s.data() + i + 2) {
      r.problem().Set(r.Where(key), "malformed hex bytes");
      return {};
    }
    out.push_back(byte);
  }
  return out;
}

Event EventFrom(FieldReader& r) {
  const std::string type = r.String("type");
  if (!r.ok()) return ExitEvent{};
  if (type == "syscall") {
    SyscallEvent e;
    e.pid = r.Int("pid");
    e.request.abi = r.Enum("abi", kAllAbis, AbiName);
    e.request.number = r.Int("number");
    if (const json* args = r.Array("args"); args != nullptr) {
      if (args->size() != e.request.args.size()) {
        r.problem().Set(r.Where("args"), "expected 6 values");
      } else {
        for (size_t i = 0; i < args->size(); ++i) {
          e.request.args[i] =
              r.HexFrom((*args)[i], fmt::format("{}[{}]", r.Where("args"), i));
        }
      }
    }
    if (const json* paths = r.Array("paths"); paths != nullptr) {
      for (size_t i = 0; i < paths->size() && r.ok(); ++i) {
        FieldReader p(r.problem(), (*paths)[i],
                      fmt::format("{}[{}]", r.Where("paths"), i));
        PathArgument arg;
        arg.arg_index = p.Int("arg");
        arg.path = p.Bytes("path");
        e.request.paths.push_back(std::move(arg));
      }
    }
    if (!r.IsNull("open_flags")) {
      e.request.open_flags = r.HexValue("open_flags");
    }
    e.decided_by = r.Enum("decided_by", kAllDecidedBy, DecidedByName);
    e.verdict = VerdictFrom(r, "verdict");
    return e;
  }
  if (type == "fault") {
    FaultEvent e;
    e.pid = r.Int("pid");
    e.kind = r.Enum("kind", kAllFaultKinds, FaultKindName);
    e.signal = r.Int("signal");
    e.rip = r.HexValue("rip");
    e.address = r.HexValue("address");
    e.mnemonic = r.Bytes("mnemonic");
    e.bytes = HexBytesFrom(r, "bytes");
    e.verdict = VerdictFrom(r, "verdict");
    return e;
  }
  if (type == "signal") {
    SignalEvent e;
    e.pid = r.Int("pid");
    e.signal = r.Int("signal");
    return e;
  }
  if (type == "output") {
    OutputEvent e;
    e.stream = r.Enum("stream", kAllOutputStreams, OutputStreamName);
    e.bytes = r.Bytes("bytes");
    return e;
  }
  if (type == "limit") {
    LimitEvent e;
    e.kind = r.Enum("kind", kAllLimitKinds, LimitKindName);
    e.detail = r.Bytes("detail");
    return e;
  }
  if (type == "exit") {
    ExitEvent e;
    e.signaled = r.Bool("signaled");
    e.exit_code = r.Int("exit_code");
    e.signal = r.Int("signal");
    e.core_dumped = r.Bool("core_dumped");
    FieldReader u = r.Object("usage");
    e.usage.user_cpu_us = u.Int64("user_cpu_us");
    e.usage.system_cpu_us = u.Int64("system_cpu_us");
    e.usage.max_rss_kib = u.Int64("max_rss_kib");
    return e;
  }
  r.problem().Set(r.Where("type"),
                  fmt::format("unknown event type \"{}\"", type));
  return ExitEvent{};
}

Feature FeatureFrom(FieldReader& parent, std::string_view key) {
  FieldReader r = parent.Object(key);
  Feature feature;
  feature.available = r.Bool("available");
  feature.detail = r.Bytes("detail");
  return feature;
}

HostFacts HostFactsFrom(FieldReader& r) {
  HostFacts facts;
  facts.kernel_release = r.Bytes("kernel_release");
  facts.machine = r.Bytes("machine");
  facts.cpu_model = r.Bytes("cpu_model");
  facts.cpus = r.Int("cpus");
  facts.is_root = r.Bool("is_root");
  FieldReader features = r.Object("features");
  facts.seccomp = FeatureFrom(features, "seccomp");
  facts.seccomp_user_notif = FeatureFrom(features, "seccomp_user_notif");
  facts.ptrace = FeatureFrom(features, "ptrace");
  facts.user_namespaces = FeatureFrom(features, "user_namespaces");
  facts.cpuid_faulting = FeatureFrom(features, "cpuid_faulting");
  facts.kvm = FeatureFrom(features, "kvm");
  facts.virtualization =
      r.Enum("virtualization", kAllVirtualizationKinds, VirtualizationKindName);
  FieldReader cgroups = r.Object("cgroups");
  facts.cgroups.layout =
      cgroups.Enum("layout", kAllCgroupLayouts, CgroupLayoutName);
  facts.cgroups.v2_root = cgroups.Bytes("v2_root");
  facts.cgroups.v1_controllers = cgroups.Strings("v1_controllers");
  facts.cgroups.v2_controllers = cgroups.Strings("v2_controllers");
  return facts;
}

RunResult RunResultFrom(FieldReader& r) {
  RunResult result;
  const int64_t schema = r.Int64("schema");
  if (r.ok() && schema != kJsonSchema) {
    r.problem().Set(
        r.Where("schema"),
        fmt::format("unsupported schema {} (this isoscope reads {})", schema,
                    kJsonSchema));
  }
  result.id = r.Int64("id");
  result.backend = r.Bytes("backend");
  result.argv = r.Strings("argv");
  result.workdir = r.Bytes("workdir");
  result.policy_name = r.Bytes("policy_name");
  result.policy_text = r.Bytes("policy_text");
  result.started_at_unix_ms = r.Int64("started_at_unix_ms");

  FieldReader t = r.Object("termination");
  Termination& term = result.termination;
  term.outcome = t.Enum("outcome", kAllOutcomes, OutcomeName);
  term.exit_code = t.Int("exit_code");
  term.signal = t.Int("signal");
  term.core_dumped = t.Bool("core_dumped");
  if (!t.IsNull("limit")) {
    term.limit = t.Enum("limit", kAllLimitKinds, LimitKindName);
  }
  term.rule_id = t.Bytes("rule_id");
  term.reason = t.Bytes("reason");

  FieldReader o = r.Object("output");
  result.output.stdout_bytes = o.Bytes("stdout");
  result.output.stderr_bytes = o.Bytes("stderr");
  result.output.total_bytes = o.Uint64("total_bytes");
  result.output.truncated = o.Bool("truncated");

  FieldReader tm = r.Object("timings");
  result.timings.startup_ns = tm.Int64("startup_ns");
  result.timings.wall_ns = tm.Int64("wall_ns");
  result.timings.user_cpu_us = tm.Int64("user_cpu_us");
  result.timings.system_cpu_us = tm.Int64("system_cpu_us");
  result.timings.decision_ns = tm.Int64("decision_ns");

  FieldReader c = r.Object("counters");
  result.counters.syscalls_trapped = c.Uint64("syscalls_trapped");
  result.counters.syscalls_in_kernel = c.Uint64("syscalls_in_kernel");
  result.counters.syscalls_denied = c.Uint64("syscalls_denied");
  result.counters.faults = c.Uint64("faults");
  result.counters.signals = c.Uint64("signals");
  result.counters.violations = c.Uint64("violations");
  result.counters.events_dropped = c.Uint64("events_dropped");
  result.counters.max_rss_kib = c.Int64("max_rss_kib");

  if (const json* events = r.Array("events"); events != nullptr) {
    result.events.reserve(events->size());
    for (size_t i = 0; i < events->size() && r.ok(); ++i) {
      FieldReader e(r.problem(), (*events)[i],
                    fmt::format("{}[{}]", r.Where("events"), i));
      result.events.push_back(EventFrom(e));
    }
  }

  FieldReader host = r.Object("host");
  result.host = HostFactsFrom(host);
  return result;
}

}  // namespace

json ToJson(const Event& event) {
  return std::visit(EventToJsonVisitor{}, event);
}

json ToJson(const HostFacts& facts) {
  return json{
      {"kernel_release", BytesToJson(facts.kernel_release)},
      {"machine", BytesToJson(facts.machine)},
      {"cpu_model", BytesToJson(facts.cpu_model)},
      {"cpus", facts.cpus},
      {"is_root", facts.is_root},
      {"features",
       {{"seccomp", FeatureToJson(facts.seccomp)},
        {"seccomp_user_notif", FeatureToJson(facts.seccomp_user_notif)},
        {"ptrace", FeatureToJson(facts.ptrace)},
        {"user_namespaces", FeatureToJson(facts.user_namespaces)},
        {"cpuid_faulting", FeatureToJson(facts.cpuid_faulting)},
        {"kvm", FeatureToJson(facts.kvm)}}},
      {"virtualization",
       std::string(VirtualizationKindName(facts.virtualization))},
      {"cgroups",
       {{"layout", std::string(CgroupLayoutName(facts.cgroups.layout))},
        {"v2_root", BytesToJson(facts.cgroups.v2_root.string())},
        {"v1_controllers", StringsToJson(facts.cgroups.v1_controllers)},
        {"v2_controllers", StringsToJson(facts.cgroups.v2_controllers)}}},
  };
}

json ToJson(const RunResult& result) {
  const Termination& term = result.termination;
  json events = json::array();
  for (const auto& event : result.events) events.push_back(ToJson(event));
  return json{
      {"schema", kJsonSchema},
      {"id", result.id},
      {"backend", BytesToJson(result.backend)},
      {"argv", StringsToJson(result.argv)},
      {"workdir", BytesToJson(result.workdir)},
      {"policy_name", BytesToJson(result.policy_name)},
      {"policy_text", BytesToJson(result.policy_text)},
      {"started_at_unix_ms", result.started_at_unix_ms},
      {"termination",
       {{"outcome", std::string(OutcomeName(term.outcome))},
        {"exit_code", term.exit_code},
        {"signal", term.signal},
        {"core_dumped", term.core_dumped},
        {"limit", term.limit.has_value()
                      ? json(std::string(LimitKindName(*term.limit)))
                      : json(nullptr)},
        {"rule_id", BytesToJson(term.rule_id)},
        {"reason", BytesToJson(term.reason)},
        // Derived (Termination::ExitStatus), for readers; not read back.
        {"exit_status", term.ExitStatus()}}},
      {"output",
       {{"stdout", BytesToJson(result.output.stdout_bytes)},
        {"stderr", BytesToJson(result.output.stderr_bytes)},
        {"total_bytes", result.output.total_bytes},
        {"truncated", result.output.truncated}}},
      {"timings",
       {{"startup_ns", result.timings.startup_ns},
        {"wall_ns", result.timings.wall_ns},
        {"user_cpu_us", result.timings.user_cpu_us},
        {"system_cpu_us", result.timings.system_cpu_us},
        {"decision_ns", result.timings.decision_ns}}},
      {"counters",
       {{"syscalls_trapped", result.counters.syscalls_trapped},
        {"syscalls_in_kernel", result.counters.syscalls_in_kernel},
        {"syscalls_denied", result.counters.syscalls_denied},
        {"faults", result.counters.faults},
        {"signals", result.counters.signals},
        {"violations", result.counters.violations},
        {"events_dropped", result.counters.events_dropped},
        {"max_rss_kib", result.counters.max_rss_kib}}},
      {"events", std::move(events)},
      {"host", ToJson(result.host)},
  };
}

Result<std::string> BytesFromJson(const json& value) {
  Problem problem;
  // A reader over an empty object only to reach BytesFrom and its checks.
  const json empty = json::object();
  FieldReader reader(problem, empty, "");
  std::string bytes = reader.BytesFrom(value, "(bytes)");
  if (problem.message.has_value()) {
    return Fail(ErrorCode::kStore,
                "reading bytes from JSON: " + *problem.message);
  }
  return bytes;
}

Result<HostFacts> HostFactsFromJson(const json& json_value) {
  try {
    Problem problem;
    FieldReader reader(problem, json_value, "");
    HostFacts facts = HostFactsFrom(reader);
    if (problem.message.has_value()) {
      return Fail(ErrorCode::kStore,
                  "reading host facts from JSON: " + *problem.message);
    }
    return facts;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kStore,
                std::string("reading host facts from JSON: ") + e.what());
  }
}

Result<RunResult> RunResultFromJson(const json& json_value) {
  // Every access above is checked before use, but nlohmann can still throw
  // (e.g. on allocation); nothing may escape this module.
  try {
    Problem problem;
    FieldReader reader(problem, json_value, "");
    RunResult result = RunResultFrom(reader);
    if (problem.message.has_value()) {
      return Fail(ErrorCode::kStore,
                  "reading a run result from JSON: " + *problem.message);
    }
    return result;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kStore,
                std::string("reading a run result from JSON: ") + e.what());
  }
}

}  // namespace isoscope
