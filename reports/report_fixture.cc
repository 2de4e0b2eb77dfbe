#include "reports/report_fixture.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/test_env.h"

namespace isoscope::report_fixture {
namespace {

BackendComparison Backend(const std::string& name,
                          const std::vector<double>& startup_ns,
                          const std::vector<double>& wall_ns,
                          int64_t first_run_id) {
  BackendComparison b;
  b.backend = name;
  b.startup_ns = Summarize(startup_ns);
  b.wall_ns = Summarize(wall_ns);
  b.user_cpu_us = Summarize({4000, 4100, 4200});
  b.system_cpu_us = Summarize({5000, 5200, 5400});
  b.max_rss_kib = Summarize({1024, 1024, 1100});
  b.run_ids = {first_run_id, first_run_id + 1, first_run_id + 2};
  return b;
}

RunResult Run(const BackendComparison& b, int index) {
  RunResult r;
  r.id = b.run_ids[static_cast<size_t>(index)];
  r.backend = b.backend;
  r.argv = {"workloads/bench/syscall-storm", "100000"};
  r.policy_name = "default";
  r.started_at_unix_ms = 1700000000000 + index;
  r.timings.startup_ns = static_cast<int64_t>(b.startup_ns.median) + index;
  r.timings.wall_ns =
      static_cast<int64_t>(b.wall_ns.median) + int64_t{index} * 1000;
  r.counters.syscalls_total = b.syscalls_total;
  r.counters.syscalls_trapped = b.syscalls_trapped;
  r.counters.syscalls_in_kernel = b.syscalls_in_kernel;
  r.counters.syscalls_denied = b.syscalls_denied.value_or(0);
  if (b.max_rss_kib.count > 0) {
    r.counters.max_rss_kib = static_cast<int64_t>(b.max_rss_kib.median);
  }
  r.output.stdout_bytes = "RESULT syscall-storm n=100000 ok=1\n";
  r.host = Host();
  return r;
}

void Add(ProbeSession& s, const std::string& probe, const std::string& native,
         const std::string& fake, const std::string& detail = "") {
  s.findings.push_back({probe, "native", native, detail, false, 0, {}});
  s.findings.push_back({probe, "fake", fake, detail, false, 0, {}});
}

// A sensitive instruction (`sensitive.<instruction>`) as the runner records
// it, with what each backend saw.
// A sensitive instruction (`sensitive.<instruction>`) as the runner records
// it, with what each backend saw (no run id: the store holds no such run).
void AddSensitive(ProbeSession& s, const std::string& instruction,
                  const std::string& native, const std::string& fake) {
  const auto verdict = [](const std::string& detail) {
    return detail.starts_with("value=")    ? "REACHABLE"
           : detail.starts_with("signal=") ? "BLOCKED"
                                           : "NA";
  };
  s.findings.push_back({"sensitive." + instruction, "native", verdict(native),
                        native, false, 0, Outcome::kExited});
  s.findings.push_back({"sensitive." + instruction, "fake", verdict(fake), fake,
                        false, 0, Outcome::kExited});
}

ProbeSession Probes(bool with_fake) {
  ProbeSession s;
  s.id = 3;
  s.started_at_unix_ms = 1700000000000;
  s.policy_name = "default";
  s.backends = {"native"};
  if (with_fake) s.backends.emplace_back("fake");
  Add(s, "secret-file", "ESCAPED", "BLOCKED", "read 32 bytes");
  Add(s, "userns", "REACHABLE", "BLOCKED", "created");
  Add(s, "bpf", "REACHABLE", "REACHABLE", "EINVAL");
  Add(s, "tracer-pid", "BLOCKED", "REACHABLE", "TracerPid=0");
  Add(s, "dev-mem", "NA", "NA", "absent");
  Add(s, "mount-tmpfs", "REACHABLE", "ERROR", "ENOENT <script>&");
  Add(s, "signal-canary", "ESCAPED", "BLOCKED", "delivered");
  s.findings[s.findings.size() - 2].overridden = true;
  Add(s, "fault-map.hlt", "BLOCKED", "BLOCKED", "signal=11 (SIGSEGV) code=128");
  Add(s, "fault-map.cpuid", "REACHABLE", "REACHABLE", "completed GenuineIntel");
  Add(s, "fault-map.int3", "BLOCKED", "BLOCKED", "signal=5 (SIGTRAP) code=128");
  AddSensitive(s, "popf-if",
               "value=ignored cpl=3 effect=ignored if=1->1 trapped=none",
               "value=changed cpl=0 effect=changed if=0->1 trapped=none");
  AddSensitive(s, "sgdt",
               "value=0xfffffffffffe0000/0x0 cpl=3 umip=emulated trapped=none",
               "value=0x14000/0x27 cpl=0 trapped=none");
  AddSensitive(s, "cs", "value=0x33 cpl=3 trapped=none",
               "value=0x8 cpl=0 trapped=none");
  AddSensitive(s, "rdtscp", "value=cpunode cpl=3 trapped=none",
               "value=0x0 cpl=0 trapped=rdtscp:emulate");
  AddSensitive(s, "cpuid-1",
               "value=0xa10f11/0x20800/0x80000001/0x1 cpl=3 hypervisor=1 "
               "trapped=none",
               "value=0xa10f11/0x20800/0x80000001/0x1 cpl=0 hypervisor=1 "
               "<b>&amp; trapped=none");
  if (!with_fake) {
    std::erase_if(s.findings,
                  [](const ProbeFinding& f) { return f.backend == "fake"; });
  }
  return s;
}

}  // namespace

std::string Golden(std::string_view name, const std::string& actual) {
  const std::filesystem::path path =
      testing::SourceDir() / "reports" / "testdata" / name;
  const char* update = std::getenv("ISOSCOPE_UPDATE_GOLDEN");
  if (update != nullptr && std::string_view(update) == "1") {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << actual;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

HostFacts Host() {
  HostFacts h;
  h.kernel_release = "6.1.0-test";
  h.machine = "x86_64";
  h.cpu_model = "Fixture CPU @ 2.0GHz";
  h.cpus = 2;
  h.is_root = true;
  h.seccomp = {true, "mode 2"};
  h.rdtsc_trapping = Feature{false, "RDTSC still runs after PR_SET_TSC"};
  h.kvm = {false, "/dev/kvm: no such file"};
  h.virtualization = VirtualizationKind::kPvm;
  h.cgroups.layout = CgroupLayout::kV2;
  h.cgroups.v2_root = "/sys/fs/cgroup";
  h.cgroups.v2_controllers = {"cpu", "memory", "pids"};
  return h;
}

ReportData TwoBackends(bool probes) {
  ReportData data;
  Comparison& c = data.comparison;
  c.id = 7;
  c.started_at_unix_ms = 1700000000000;
  c.argv = {"workloads/bench/syscall-storm", "100000"};
  c.source = WorkloadSource{"/cache/isoscope/images/sha256-5e1f", "layout:v1",
                            "sha256:5e1f"};
  c.policy_name = "default";
  c.policy_text = "# the default preset\nsyscalls:\n  default: deny\n";
  c.policy_sections_used = {"syscalls", "network"};
  c.repeat = 3;
  c.host = Host();

  BackendComparison native =
      Backend("native", {1.0e6, 1.1e6, 1.2e6}, {9.0e6, 10.0e6, 11.0e6}, 1);
  native.traits = {"host kernel", "host kernel", 450, {}};
  native.syscalls_in_kernel = 0;
  native.syscalls_total = 100003;
  native.output_matches_native = true;
  native.wall_ratio = 1.0;
  native.startup_ratio = 1.0;
  native.traits.measures = "the baseline: a plain host process";
  native.traits.enforcement = {
      {"syscalls", false, "the baseline enforces nothing"},
      {"network", false, "the baseline enforces nothing"},
      {"faults", false, "the baseline enforces nothing"}};

  BackendComparison fake =
      Backend("fake", {3.0e6, 3.3e6, 3.6e6}, {24.0e6, 30.0e6, 33.0e6}, 4);
  fake.traits = {"seccomp filter + isoscope",
                 "isoscope",
                 120,
                 {"read", "write", "ioctl", "exit_group"}};
  fake.syscalls_total = 100015;
  fake.syscalls_trapped = 100000;
  fake.syscalls_in_kernel = 12;
  fake.syscalls_denied = 12;
  // A backend that cannot tell its workload's peak from its own.
  fake.max_rss_kib = Spread{};
  fake.output_matches_native = true;
  fake.wall_ratio = 3.0;
  fake.startup_ratio = 3.0;
  fake.traits.measures =
      "a syscall-forwarding fake: an upper bound for the real thing";
  fake.traits.enforcement = {{"syscalls", true, "seccomp filter <in kernel>"},
                             {"network", false, "no network namespace"},
                             {"faults", true, ""}};

  BackendComparison kvm;
  kvm.backend = "kvm";
  kvm.available = false;
  kvm.unavailable_reason = "/dev/kvm is missing: load kvm_intel";
  kvm.traits.measures = "a VM";

  c.backends = {native, fake, kvm};
  for (const BackendComparison* b : {&native, &fake}) {
    for (int i = 0; i < 3; ++i) data.runs.push_back(Run(*b, i));
  }
  if (probes) {
    data.probes = Probes(/*with_fake=*/true);
    c.probe_session_id = data.probes->id;
  }
  return data;
}

ReportData WithFailures() {
  ReportData data = TwoBackends(/*probes=*/true);
  data.comparison.source.reset();  // a program of the host
  BackendComparison& fake = data.comparison.backends[1];
  fake.outcome = Outcome::kViolation;
  fake.exit_status = 137;
  fake.violations = 1;
  fake.output_matches_native = false;
  fake.wall_ratio.reset();
  fake.startup_ratio.reset();
  fake.failure = RunFailure{"killed by the policy",
                            "syscall uname (63) killed by rule 'no-uname'",
                            "no-uname", fake.run_ids.front(), 3};
  for (RunResult& run : data.runs) {
    if (run.backend != "fake") continue;
    run.termination.outcome = Outcome::kViolation;
    run.termination.signal = 9;
    run.termination.rule_id = "no-uname";
    run.termination.reason = fake.failure->reason;
  }
  BackendComparison broken;
  broken.backend = "broken";
  broken.error = "starting /bin/x on backend broken: clone3: EPERM";
  broken.traits.measures = "a backend that does not start";
  data.comparison.backends.push_back(broken);
  return data;
}

ReportData NativeOnly() {
  ReportData data = TwoBackends(/*probes=*/false);
  data.comparison.backends.resize(1);
  data.runs.resize(3);
  data.probes = Probes(/*with_fake=*/false);
  data.comparison.probe_session_id = data.probes->id;
  return data;
}

}  // namespace isoscope::report_fixture
