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
#include "supervisor/json_codec.h"

namespace isoscope {
namespace {

using nlohmann::json;

// 2 added the denial and signal tables ("denials", "signal_counts"; null
// when not counted). Schema 1 is still read: its tables are n/a. 3 added
// the counts of every event kind ("event_counts"; null when not counted,
// and absent before 3). 4 added counters.syscalls_total and an exit's
// usage.syscalls, and made counters.max_rss_kib and an exit's
// usage.max_rss_kib the workload's own peak, null when unknown (before 4,
// 0 meant unknown); older runs are read as they are: no total, no 0 peak.
// 5 added "source", where the workload came from (null for a program of the
// host); runs recorded before read as not saying.
constexpr int kJsonSchema = 5;
constexpr int kJsonSchemaWithoutTables = 1;

// A peak memory; 0 is none: schemas before 4 wrote it for "not known", and
// runs recorded with them are read as they are (the store rewrites none).
std::optional<int64_t> PeakFrom(JsonFieldReader& r) {
  std::optional<int64_t> peak = r.OptionalInt64("max_rss_kib");
  if (peak == 0) return std::nullopt;
  return peak;
}

// Every value of the enums serialised by name. The Name functions live with
// their enums; these lists let the reader invert them without duplicating
// the names. A value added to an enum must be added here too (the round-trip
// test covers the values it uses).
constexpr std::array kAllOutcomes = {Outcome::kExited,      Outcome::kSignaled,
                                     Outcome::kViolation,   Outcome::kLimit,
                                     Outcome::kInterrupted, Outcome::kError,
                                     Outcome::kRunning};
constexpr std::array kAllLimitKinds = {
    LimitKind::kWallTime,  LimitKind::kCpuTime,   LimitKind::kMemory,
    LimitKind::kProcesses, LimitKind::kOpenFiles, LimitKind::kFileSize,
    LimitKind::kOutput};
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

}  // namespace

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
                {"detail", BytesToJson(e.detail)},
                {"usage",
                 {{"user_cpu_us", e.usage.user_cpu_us},
                  {"system_cpu_us", e.usage.system_cpu_us},
                  {"max_rss_kib", OptionalToJson(e.usage.max_rss_kib)},
                  {"syscalls", OptionalToJson(e.usage.syscalls)}}}};
  }
};

int ErrnoFrom(JsonFieldReader& r, std::string_view key) {
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

std::optional<Verdict> VerdictFrom(JsonFieldReader& parent,
                                   std::string_view key) {
  if (parent.IsNull(key) || !parent.ok()) return std::nullopt;
  JsonFieldReader r = parent.Object(key);
  Verdict verdict;
  verdict.action.action = r.Enum("action", kAllActions, ActionName);
  verdict.action.errno_value = ErrnoFrom(r, "errno");
  verdict.action.emulate_value = r.Int64("emulate_value");
  verdict.rule_id = r.Bytes("rule_id");
  verdict.reason = r.Bytes("reason");
  return verdict;
}

std::vector<uint8_t> HexBytesFrom(JsonFieldReader& r, std::string_view key) {
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

Event EventFrom(JsonFieldReader& r) {
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
        JsonFieldReader p(r.problem(), (*paths)[i],
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
    // Absent in runs stored before ExitEvent had a detail.
    if (r.Has("detail")) e.detail = r.Bytes("detail");
    JsonFieldReader u = r.Object("usage");
    e.usage.user_cpu_us = u.Int64("user_cpu_us");
    e.usage.system_cpu_us = u.Int64("system_cpu_us");
    e.usage.max_rss_kib = PeakFrom(u);
    // Absent in runs recorded before syscalls were counted.
    if (u.Has("syscalls")) e.usage.syscalls = u.OptionalUint64("syscalls");
    return e;
  }
  r.problem().Set(r.Where("type"),
                  fmt::format("unknown event type \"{}\"", type));
  return ExitEvent{};
}

json DenialsToJson(const std::optional<std::vector<DenialCount>>& denials) {
  if (!denials) return nullptr;
  json out = json::array();
  for (const DenialCount& d : *denials) {
    out.push_back(json{{"abi", std::string(AbiName(d.abi))},
                       {"number", d.number},
                       // For readers only; the number is authoritative.
                       {"name", SyscallName(d.number)},
                       {"rule_id", BytesToJson(d.rule_id)},
                       {"action", std::string(ActionName(d.action))},
                       {"errno", ErrnoToJson(d.errno_value)},
                       {"count", d.count}});
  }
  return out;
}

json SignalCountsToJson(
    const std::optional<std::vector<SignalCount>>& signals) {
  if (!signals) return nullptr;
  json out = json::array();
  for (const SignalCount& c : *signals) {
    out.push_back(json{{"signal", c.signal},
                       {"signal_name", SignalName(c.signal)},  // for readers
                       {"action", std::string(ActionName(c.action))},
                       {"count", c.count}});
  }
  return out;
}

std::optional<std::vector<DenialCount>> DenialsFrom(JsonFieldReader& r) {
  if (r.IsNull("denials")) return std::nullopt;
  std::vector<DenialCount> denials;
  const json* rows = r.Array("denials");
  for (size_t i = 0; rows != nullptr && i < rows->size() && r.ok(); ++i) {
    JsonFieldReader d(r.problem(), (*rows)[i],
                      fmt::format("{}[{}]", r.Where("denials"), i));
    DenialCount row;
    row.abi = d.Enum("abi", kAllAbis, AbiName);
    row.number = d.Int("number");
    row.rule_id = d.Bytes("rule_id");
    row.action = d.Enum("action", kAllActions, ActionName);
    row.errno_value = ErrnoFrom(d, "errno");
    row.count = d.Uint64("count");
    denials.push_back(std::move(row));
  }
  return denials;
}

std::optional<std::vector<SignalCount>> SignalCountsFrom(JsonFieldReader& r) {
  if (r.IsNull("signal_counts")) return std::nullopt;
  std::vector<SignalCount> signals;
  const json* rows = r.Array("signal_counts");
  for (size_t i = 0; rows != nullptr && i < rows->size() && r.ok(); ++i) {
    JsonFieldReader c(r.problem(), (*rows)[i],
                      fmt::format("{}[{}]", r.Where("signal_counts"), i));
    SignalCount row;
    row.signal = c.Int("signal");
    row.action = c.Enum("action", kAllActions, ActionName);
    row.count = c.Uint64("count");
    signals.push_back(row);
  }
  return signals;
}

json EventCountsToJson(const std::optional<std::vector<EventCount>>& counts) {
  if (!counts) return nullptr;
  json out = json::array();
  for (const EventCount& c : *counts) {
    out.push_back(json{{"kind", BytesToJson(c.kind)},
                       {"action", c.action},
                       {"rule_id", BytesToJson(c.rule_id)},
                       {"count", c.count},
                       {"kept", c.kept}});
  }
  return out;
}

// Absent (schema < 3) or null: the run did not count its event kinds.
std::optional<std::vector<EventCount>> EventCountsFrom(JsonFieldReader& r) {
  if (!r.Has("event_counts") || r.IsNull("event_counts")) return std::nullopt;
  std::vector<EventCount> counts;
  const json* rows = r.Array("event_counts");
  for (size_t i = 0; rows != nullptr && i < rows->size() && r.ok(); ++i) {
    JsonFieldReader c(r.problem(), (*rows)[i],
                      fmt::format("{}[{}]", r.Where("event_counts"), i));
    EventCount row;
    row.kind = c.Bytes("kind");
    row.action = c.String("action");
    row.rule_id = c.Bytes("rule_id");
    row.count = c.Uint64("count");
    row.kept = c.Uint64("kept");
    if (c.ok() && row.kept > row.count) {
      c.problem().Set(c.Where("kept"), "more kept than counted");
    }
    counts.push_back(std::move(row));
  }
  return counts;
}

Feature FeatureFrom(JsonFieldReader& parent, std::string_view key) {
  JsonFieldReader r = parent.Object(key);
  Feature feature;
  feature.available = r.Bool("available");
  feature.detail = r.Bytes("detail");
  return feature;
}

HostFacts HostFactsFrom(JsonFieldReader& r) {
  HostFacts facts;
  facts.kernel_release = r.Bytes("kernel_release");
  facts.machine = r.Bytes("machine");
  facts.cpu_model = r.Bytes("cpu_model");
  facts.cpus = r.Int("cpus");
  facts.is_root = r.Bool("is_root");
  JsonFieldReader features = r.Object("features");
  facts.seccomp = FeatureFrom(features, "seccomp");
  facts.seccomp_user_notif = FeatureFrom(features, "seccomp_user_notif");
  facts.ptrace = FeatureFrom(features, "ptrace");
  facts.user_namespaces = FeatureFrom(features, "user_namespaces");
  facts.cpuid_faulting = FeatureFrom(features, "cpuid_faulting");
  // Absent (or null) in runs recorded before RDTSC trapping was probed.
  if (features.Has("rdtsc_trapping") && !features.IsNull("rdtsc_trapping")) {
    facts.rdtsc_trapping = FeatureFrom(features, "rdtsc_trapping");
  }
  facts.kvm = FeatureFrom(features, "kvm");
  // Absent (or null) in runs recorded before syscalls were counted.
  if (features.Has("syscall_counter") && !features.IsNull("syscall_counter")) {
    facts.syscall_counter = FeatureFrom(features, "syscall_counter");
  }
  facts.virtualization =
      r.Enum("virtualization", kAllVirtualizationKinds, VirtualizationKindName);
  JsonFieldReader cgroups = r.Object("cgroups");
  facts.cgroups.layout =
      cgroups.Enum("layout", kAllCgroupLayouts, CgroupLayoutName);
  facts.cgroups.v2_root = cgroups.Bytes("v2_root");
  facts.cgroups.v1_controllers = cgroups.Strings("v1_controllers");
  facts.cgroups.v2_controllers = cgroups.Strings("v2_controllers");
  return facts;
}

RunResult RunResultFrom(JsonFieldReader& r) {
  RunResult result;
  const int64_t schema = r.Int64("schema");
  if (r.ok() && (schema < kJsonSchemaWithoutTables || schema > kJsonSchema)) {
    r.problem().Set(r.Where("schema"),
                    fmt::format("unsupported schema {} (this isoscope reads "
                                "{} to {})",
                                schema, kJsonSchemaWithoutTables, kJsonSchema));
  }
  result.id = r.Int64("id");
  result.backend = r.Bytes("backend");
  result.argv = r.Strings("argv");
  result.workdir = r.Bytes("workdir");
  result.source = WorkloadSourceFrom(r);
  result.policy_name = r.Bytes("policy_name");
  result.policy_text = r.Bytes("policy_text");
  result.started_at_unix_ms = r.Int64("started_at_unix_ms");

  JsonFieldReader t = r.Object("termination");
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

  JsonFieldReader o = r.Object("output");
  result.output.stdout_bytes = o.Bytes("stdout");
  result.output.stderr_bytes = o.Bytes("stderr");
  result.output.total_bytes = o.Uint64("total_bytes");
  result.output.truncated = o.Bool("truncated");

  JsonFieldReader tm = r.Object("timings");
  result.timings.startup_ns = tm.Int64("startup_ns");
  result.timings.wall_ns = tm.Int64("wall_ns");
  result.timings.user_cpu_us = tm.Int64("user_cpu_us");
  result.timings.system_cpu_us = tm.Int64("system_cpu_us");
  result.timings.decision_ns = tm.Int64("decision_ns");

  JsonFieldReader c = r.Object("counters");
  result.counters.syscalls_trapped = c.Uint64("syscalls_trapped");
  result.counters.syscalls_in_kernel = c.Uint64("syscalls_in_kernel");
  result.counters.syscalls_denied = c.Uint64("syscalls_denied");
  result.counters.faults = c.Uint64("faults");
  result.counters.signals = c.Uint64("signals");
  result.counters.violations = c.Uint64("violations");
  result.counters.events_dropped = c.Uint64("events_dropped");
  result.counters.max_rss_kib = PeakFrom(c);
  if (schema >= kJsonSchema) {
    result.counters.syscalls_total = c.OptionalUint64("syscalls_total");
  }

  if (const json* events = r.Array("events"); events != nullptr) {
    result.events.reserve(events->size());
    for (size_t i = 0; i < events->size() && r.ok(); ++i) {
      JsonFieldReader e(r.problem(), (*events)[i],
                        fmt::format("{}[{}]", r.Where("events"), i));
      result.events.push_back(EventFrom(e));
    }
  }

  if (schema == kJsonSchemaWithoutTables) {
    // Recorded before isoscope counted denials and signals: n/a.
    result.denials = std::nullopt;
    result.signal_counts = std::nullopt;
  } else {
    result.denials = DenialsFrom(r);
    result.signal_counts = SignalCountsFrom(r);
  }

  result.event_counts = EventCountsFrom(r);

  // Absent in runs recorded before runs carried warnings.
  if (r.Has("warnings")) result.warnings = r.Strings("warnings");

  JsonFieldReader host = r.Object("host");
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
        {"rdtsc_trapping", facts.rdtsc_trapping
                               ? FeatureToJson(*facts.rdtsc_trapping)
                               : json(nullptr)},
        {"kvm", FeatureToJson(facts.kvm)},
        {"syscall_counter", facts.syscall_counter
                                ? FeatureToJson(*facts.syscall_counter)
                                : json(nullptr)}}},
      {"virtualization",
       std::string(VirtualizationKindName(facts.virtualization))},
      {"cgroups",
       {{"layout", std::string(CgroupLayoutName(facts.cgroups.layout))},
        {"v2_root", BytesToJson(facts.cgroups.v2_root.string())},
        {"v1_controllers", StringsToJson(facts.cgroups.v1_controllers)},
        {"v2_controllers", StringsToJson(facts.cgroups.v2_controllers)}}},
  };
}

json ToJson(const std::optional<WorkloadSource>& source) {
  if (!source) return json(nullptr);
  return json{{"bundle", BytesToJson(source->bundle)},
              {"image", BytesToJson(source->image)},
              {"image_digest", BytesToJson(source->image_digest)}};
}

std::optional<WorkloadSource> WorkloadSourceFrom(JsonFieldReader& r) {
  if (!r.Has("source") || r.IsNull("source")) return std::nullopt;
  JsonFieldReader s = r.Object("source");
  WorkloadSource source;
  source.bundle = s.Bytes("bundle");
  source.image = s.Bytes("image");
  source.image_digest = s.Bytes("image_digest");
  return source;
}

json ToJson(const RunResult& result, JsonEvents with_events) {
  const Termination& term = result.termination;
  json events = json::array();
  if (with_events == JsonEvents::kIncluded) {
    for (const auto& event : result.events) events.push_back(ToJson(event));
  }
  return json{
      {"schema", kJsonSchema},
      {"id", result.id},
      {"backend", BytesToJson(result.backend)},
      {"argv", StringsToJson(result.argv)},
      {"workdir", BytesToJson(result.workdir)},
      {"source", ToJson(result.source)},
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
       {{"syscalls_total", OptionalToJson(result.counters.syscalls_total)},
        {"syscalls_trapped", result.counters.syscalls_trapped},
        {"syscalls_in_kernel", result.counters.syscalls_in_kernel},
        {"syscalls_denied", result.counters.syscalls_denied},
        {"faults", result.counters.faults},
        {"signals", result.counters.signals},
        {"violations", result.counters.violations},
        {"events_dropped", result.counters.events_dropped},
        {"max_rss_kib", OptionalToJson(result.counters.max_rss_kib)}}},
      {"events", std::move(events)},
      {"denials", DenialsToJson(result.denials)},
      {"signal_counts", SignalCountsToJson(result.signal_counts)},
      {"event_counts", EventCountsToJson(result.event_counts)},
      // Derived (AllEventsKept), for readers; not read back.
      {"all_events_kept", AllEventsKept(result)},
      {"warnings", StringsToJson(result.warnings)},
      {"host", ToJson(result.host)},
  };
}

Result<HostFacts> HostFactsFromJson(const json& json_value) {
  return DecodeJson(json_value, "host facts", HostFactsFrom);
}

Result<RunResult> RunResultFromJson(const json& json_value) {
  return DecodeJson(json_value, "a run result", RunResultFrom);
}

}  // namespace isoscope
