#include "reports/json_report.h"

#include "reports/report_common.h"
#include "reports/sensitive_table.h"
#include "reports/verdict.h"

namespace isoscope {
namespace {

using nlohmann::json;

template <typename T>
json OrNull(const std::optional<T>& value) {
  return value.has_value() ? json(*value) : json();
}

json SpreadJson(const Spread& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max},
          {"p25", s.p25},       {"p75", s.p75}, {"count", s.count}};
}

json FeatureJson(const Feature& f) {
  return {{"available", f.available}, {"detail", f.detail}};
}

json HostJson(const HostFacts& h) {
  return {
      {"kernel_release", h.kernel_release},
      {"machine", h.machine},
      {"cpu_model", h.cpu_model},
      {"cpus", h.cpus},
      {"is_root", h.is_root},
      {"virtualization", VirtualizationKindName(h.virtualization)},
      {"cgroups",
       {{"layout", CgroupLayoutName(h.cgroups.layout)},
        {"v2_root", h.cgroups.v2_root.string()},
        {"v1_controllers", h.cgroups.v1_controllers},
        {"v2_controllers", h.cgroups.v2_controllers}}},
      {"features",
       {{"seccomp", FeatureJson(h.seccomp)},
        {"seccomp_user_notif", FeatureJson(h.seccomp_user_notif)},
        {"ptrace", FeatureJson(h.ptrace)},
        {"user_namespaces", FeatureJson(h.user_namespaces)},
        {"cpuid_faulting", FeatureJson(h.cpuid_faulting)},
        // null: not recorded with these runs.
        {"rdtsc_trapping",
         h.rdtsc_trapping ? FeatureJson(*h.rdtsc_trapping) : json(nullptr)},
        {"kvm", FeatureJson(h.kvm)},
        // null: not recorded with these runs.
        {"syscall_counter",
         h.syscall_counter ? FeatureJson(*h.syscall_counter) : json(nullptr)}}},
  };
}

json EnforcementJson(const std::vector<SectionEnforcement>& enforcement) {
  json out = json::array();
  for (const SectionEnforcement& e : enforcement) {
    out.push_back(
        {{"section", e.section}, {"enforced", e.enforced}, {"how", e.how}});
  }
  return out;
}

json FailureJson(const BackendComparison& b) {
  if (!b.failure.has_value()) return nullptr;
  const RunFailure& f = *b.failure;
  return {{"what", f.what},
          {"reason", f.reason},
          {"rule_id", f.rule_id},
          {"run_id", f.run_id == 0 ? json(nullptr) : json(f.run_id)},
          {"failed_runs", f.failed_runs}};
}

json BackendJson(const BackendComparison& b) {
  return {
      {"backend", b.backend},
      {"available", b.available},
      {"unavailable_reason", b.unavailable_reason},
      {"error", b.error},
      {"traits",
       {{"syscalls_handled_by", b.traits.syscalls_handled_by},
        {"faults_handled_by", b.traits.faults_handled_by},
        {"reachable_host_syscalls", b.traits.reachable_host_syscalls},
        {"vmm_allowed_syscalls", b.traits.vmm_allowed_syscalls},
        {"measures", b.traits.measures},
        {"enforcement", EnforcementJson(b.traits.enforcement)}}},
      {"failure", FailureJson(b)},
      {"failed", report_common::Failed(b)},
      {"failure_text", report_common::FailureText(b)},
      {"run_ids", b.run_ids},
      {"outcome", OutcomeName(b.outcome)},
      {"exit_status", b.exit_status},
      {"consistent", b.consistent},
      {"startup_ns", SpreadJson(b.startup_ns)},
      {"wall_ns", SpreadJson(b.wall_ns)},
      {"user_cpu_us", SpreadJson(b.user_cpu_us)},
      {"system_cpu_us", SpreadJson(b.system_cpu_us)},
      // null when no run knew its workload's peak.
      {"max_rss_kib",
       b.max_rss_kib.count > 0 ? SpreadJson(b.max_rss_kib) : json(nullptr)},
      {"syscalls_total", OrNull(b.syscalls_total)},
      {"syscalls_trapped", b.syscalls_trapped},
      {"syscalls_in_kernel", b.syscalls_in_kernel},
      {"syscalls_denied", OrNull(b.syscalls_denied)},
      {"faults", b.faults},
      {"violations", b.violations},
      {"output_matches_native", OrNull(b.output_matches_native)},
      {"wall_ratio", OrNull(b.wall_ratio)},
      {"startup_ratio", OrNull(b.startup_ratio)},
  };
}

json ComparisonJson(const Comparison& c) {
  json backends = json::array();
  for (const BackendComparison& b : c.backends) {
    backends.push_back(BackendJson(b));
  }
  return {
      {"id", c.id},
      {"started_at_unix_ms", c.started_at_unix_ms},
      {"argv", c.argv},
      {"source", c.source ? json{{"bundle", c.source->bundle},
                                 {"image", c.source->image},
                                 {"image_digest", c.source->image_digest}}
                          : json(nullptr)},
      {"policy",
       {{"name", c.policy_name},
        {"text", c.policy_text},
        {"sections_used", c.policy_sections_used}}},
      {"repeat", c.repeat},
      {"interrupted", c.interrupted},
      {"probe_session_id", OrNull(c.probe_session_id)},
      {"host", HostJson(c.host)},
      {"backends", std::move(backends)},
  };
}

json PairsJson(const ReportData& data) {
  json pairs = json::array();
  for (const PairVerdict& p : ComparePairs(data.comparison, data.probes)) {
    const auto open = [](const std::vector<OpenProbe>& probes) {
      json list = json::array();
      for (const OpenProbe& o : probes) {
        list.push_back({{"probe", o.probe_id}, {"verdict", o.verdict}});
      }
      return list;
    };
    pairs.push_back({
        {"first", p.first},
        {"second", p.second},
        {"probed", p.have_probes},
        {"open_in_first_blocked_in_second",
         open(p.open_in_first_blocked_in_second)},
        {"open_in_second_blocked_in_first",
         open(p.open_in_second_blocked_in_first)},
        {"startup_ratio", OrNull(p.startup_ratio)},
        {"wall_ratio", OrNull(p.wall_ratio)},
    });
  }
  return pairs;
}

json SensitiveJson(const ReportData& data) {
  if (!data.probes.has_value()) return nullptr;
  json rows = json::array();
  for (const SensitiveRow& row : BuildSensitiveTable(*data.probes)) {
    json cells = json::array();
    for (const SensitiveCell& c : row.cells) {
      cells.push_back(
          {{"backend", c.backend},
           {"class", SensitiveClassName(c.cls)},
           {"seen", c.seen},
           {"trapped", c.trapped},
           {"detail", c.detail},
           {"run_id", c.run_id == 0 ? json(nullptr) : json(c.run_id)}});
    }
    rows.push_back({{"instruction", row.instruction},
                    {"why", row.why},
                    {"cells", std::move(cells)},
                    {"compared", row.compared},
                    {"tells", row.tells},
                    {"inference", row.inference}});
  }
  return rows;
}

}  // namespace

json ReportJson(const ReportData& data) {
  // ToJson(ProbeSession) is the probe command's own --json form; reusing it
  // keeps one JSON shape for a probe session.
  return {
      {"schema_version", kReportSchemaVersion},
      {"generator", "isoscope"},
      {"comparison", ComparisonJson(data.comparison)},
      {"probes", data.probes.has_value() ? ToJson(*data.probes) : json()},
      {"sensitive_instructions", SensitiveJson(data)},
      {"verdict",
       {{"headlines", BackendHeadlines(data.comparison, data.probes)},
        {"sentences", PlainWordsVerdict(data.comparison, data.probes)},
        {"pairs", PairsJson(data)}}},
  };
}

std::string RenderJsonReport(const ReportData& data) {
  // Workload output may hold invalid UTF-8: replaced, never thrown on.
  return ReportJson(data).dump(2, ' ', false,
                               nlohmann::json::error_handler_t::replace) +
         "\n";
}

}  // namespace isoscope
