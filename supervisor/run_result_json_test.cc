#include "supervisor/run_result_json.h"

#include <errno.h>
#include <signal.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace isoscope {

// A RunResult with every field set and one event of each kind; shared with
// store_test.cc (same test binary).
RunResult FullRunResultForTest() {
  RunResult r;
  r.id = 0;
  r.backend = "ptrace";
  r.argv = {"/usr/bin/cat", "--number", "/etc/h\xc3\xa9llo"};
  r.workdir = "/home/user/work";
  r.source = WorkloadSource{"/home/user/.cache/isoscope/images/sha256-ab12",
                            "/srv/layout:v1", "sha256:ab12"};
  r.policy_name = "default";
  r.policy_text = "version: 1\nsyscalls:\n  default: kill\n";
  r.started_at_unix_ms = 1700000000123;
  r.termination.outcome = Outcome::kViolation;
  r.termination.exit_code = 3;
  r.termination.signal = SIGSYS;
  r.termination.core_dumped = true;
  r.termination.limit = LimitKind::kMemory;
  r.termination.rule_id = "net.deny";
  r.termination.reason = "connect is killed by rule net.deny";
  r.output.stdout_bytes = "hello\n";
  r.output.stderr_bytes = std::string(
      "bin\xff\x00\x80"
      "ary",
      9);
  r.output.total_bytes = 123456789012;
  r.output.truncated = true;
  r.timings = {.startup_ns = 1234567,
               .wall_ns = 9876543210,
               .user_cpu_us = 1500,
               .system_cpu_us = 700,
               .decision_ns = 45000};
  r.counters = {.syscalls_total = 100003,
                .syscalls_trapped = 11,
                .syscalls_in_kernel = 2222,
                .syscalls_denied = 3,
                .faults = 4,
                .signals = 5,
                .violations = 1,
                .events_dropped = 7,
                .max_rss_kib = 34567};

  SyscallEvent syscall;
  syscall.pid = 4242;
  syscall.request.abi = Abi::kX86_64;
  syscall.request.number = 257;  // openat
  syscall.request.args = {0xffffff9c, 0x7ffd0000, 0x241,
                          0644,       0,          0xffffffffffffffff};
  syscall.request.paths = {{.arg_index = 1, .path = "/etc/shadow"}};
  syscall.request.open_flags = 0x241;
  syscall.verdict = Verdict{.action = {.action = Action::kDeny,
                                       .errno_value = EACCES,
                                       .emulate_value = -5},
                            .rule_id = "files.read.else",
                            .reason = "path /etc/shadow is not readable"};
  syscall.decided_by = DecidedBy::kSupervisor;

  FaultEvent fault;
  fault.pid = 4243;
  fault.kind = FaultKind::kCpuid;
  fault.signal = SIGSEGV;
  fault.rip = 0x401000;
  fault.address = 0xdeadbeef000;
  fault.mnemonic = "cpuid";
  fault.bytes = {0x0f, 0xa2};
  fault.verdict = Verdict{.action = {.action = Action::kEmulate},
                          .rule_id = "faults.cpuid",
                          .reason = "cpuid is emulated"};

  r.events = {
      syscall,
      fault,
      SignalEvent{.pid = 4242, .signal = SIGUSR1},
      OutputEvent{.stream = OutputStream::kStderr, .bytes = "oops\n"},
      LimitEvent{.kind = LimitKind::kMemory, .detail = "peak 64 MiB"},
      ExitEvent{.signaled = true,
                .exit_code = 0,
                .signal = SIGSYS,
                .core_dumped = true,
                .usage = {.user_cpu_us = 1500,
                          .system_cpu_us = 700,
                          .max_rss_kib = 34567,
                          .syscalls = 100003}},
  };

  r.denials = std::vector<DenialCount>{
      {Abi::kX86_64, 257, "files.read.else", Action::kDeny, EACCES, 12},
      {Abi::kI386, 20, "syscalls.abi.i386", Action::kKill, 0, 1}};
  r.signal_counts = std::vector<SignalCount>{{SIGUSR1, Action::kDeliver, 30000},
                                             {SIGSEGV, Action::kEmulate, 2}};
  r.event_counts = std::vector<EventCount>{
      {"syscall openat", "deny", "files.read.else", 12, 1},
      {"fault cpuid", "emulate", "faults.cpuid", 2, 1},
      {"signal SIGUSR1", "", "", 1, 1},
      {"limit memory", "", "", 1, 1},
      {"exit", "", "", 1, 1}};

  r.host.kernel_release = "6.1.0-18-amd64";
  r.host.machine = "x86_64";
  r.host.cpu_model = "Test CPU @ 3.00GHz";
  r.host.cpus = 2;
  r.host.is_root = true;
  r.host.seccomp = {.available = true, .detail = "mode 2"};
  r.host.seccomp_user_notif = {.available = true, .detail = "yes"};
  r.host.ptrace = {.available = true, .detail = "yama scope 1"};
  r.host.user_namespaces = {
      .available = false,
      .detail = "sysctl kernel.unprivileged_userns_clone=0"};
  r.host.cpuid_faulting = {.available = false, .detail = "not supported"};
  r.host.rdtsc_trapping = Feature{.available = false, .detail = "runs on"};
  r.warnings = {
      "rdtsc: not trappable on this host; the policy's "
      "`rdtsc: emulate` is not applied"};
  r.host.kvm = {.available = true, .detail = "/dev/kvm"};
  r.host.virtualization = VirtualizationKind::kVmx;
  r.host.cgroups.layout = CgroupLayout::kV2;
  r.host.cgroups.v2_root = "/sys/fs/cgroup";
  r.host.cgroups.v1_controllers = {"cpu"};
  r.host.cgroups.v2_controllers = {"cpu", "memory", "pids"};
  return r;
}

namespace {

using ::testing::HasSubstr;

TEST(RunResultJsonTest, RoundTripsEveryFieldAndEventKind) {
  const RunResult original = FullRunResultForTest();
  const nlohmann::json json = ToJson(original);
  auto back = RunResultFromJson(json);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, original);
}

TEST(RunResultJsonTest, RoundTripsThroughText) {
  const RunResult original = FullRunResultForTest();
  // dump() throws on invalid UTF-8: binary output must be encoded.
  const std::string text = ToJson(original).dump();
  auto back = RunResultFromJson(nlohmann::json::parse(text));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, original);
}

TEST(RunResultJsonTest, RoundTripsDefaultRunResult) {
  const RunResult original;
  auto back = RunResultFromJson(ToJson(original));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, original);
}

TEST(RunResultJsonTest, UsesStableReadableNames) {
  const nlohmann::json json = ToJson(FullRunResultForTest());
  EXPECT_EQ(json["schema"], 5);
  EXPECT_EQ(json["source"]["image"], "/srv/layout:v1");
  EXPECT_EQ(json["source"]["image_digest"], "sha256:ab12");
  EXPECT_EQ(json["counters"]["syscalls_total"], 100003);
  EXPECT_EQ(json["counters"]["max_rss_kib"], 34567);
  EXPECT_EQ(json["termination"]["outcome"], "violation");
  EXPECT_EQ(json["termination"]["limit"], "memory");
  const auto& events = json["events"];
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0]["type"], "syscall");
  EXPECT_EQ(events[0]["number"], 257);
  EXPECT_EQ(events[0]["decided_by"], "supervisor");
  EXPECT_EQ(events[0]["args"][1], "0x7ffd0000");
  EXPECT_EQ(events[0]["verdict"]["errno"], "EACCES");
  EXPECT_EQ(events[0]["verdict"]["rule_id"], "files.read.else");
  EXPECT_EQ(events[1]["type"], "fault");
  EXPECT_EQ(events[1]["bytes"], "0fa2");
  EXPECT_EQ(events[1]["signal_name"], "SIGSEGV");
  EXPECT_EQ(events[2]["type"], "signal");
  EXPECT_EQ(events[3]["type"], "output");
  EXPECT_EQ(events[3]["stream"], "stderr");
  EXPECT_EQ(events[4]["type"], "limit");
  EXPECT_EQ(events[4]["kind"], "memory");
  EXPECT_EQ(events[5]["type"], "exit");
  EXPECT_EQ(json["denials"][0]["name"], "openat");
  EXPECT_EQ(json["denials"][0]["errno"], "EACCES");
  EXPECT_EQ(json["denials"][0]["count"], 12);
  EXPECT_EQ(json["denials"][1]["abi"], "i386");
  EXPECT_EQ(json["denials"][1]["action"], "kill");
  EXPECT_EQ(json["signal_counts"][0]["signal_name"], "SIGUSR1");
  EXPECT_EQ(json["signal_counts"][1]["action"], "emulate");
  EXPECT_EQ(json["output"]["stdout"], "hello\n");
  // Not UTF-8: kept exactly, as base64.
  EXPECT_TRUE(json["output"]["stderr"].is_object());
  EXPECT_TRUE(json["output"]["stderr"].contains("base64"));
}

TEST(RunResultJsonTest, EventJsonIsTagged) {
  ExitEvent killed;
  killed.signaled = true;
  killed.signal = SIGKILL;
  const nlohmann::json exit = ToJson(Event{killed});
  EXPECT_EQ(exit["type"], "exit");
  EXPECT_EQ(exit["signaled"], true);
  EXPECT_EQ(exit["signal"], SIGKILL);
}

// The stored name is the policy's key, and every kind reads back.
TEST(RunResultJsonTest, EveryFaultKindRoundTrips) {
  for (FaultKind kind : kAllFaultKinds) {
    FaultEvent fault;
    fault.kind = kind;
    RunResult original;
    original.events = {fault};
    const nlohmann::json json = ToJson(original);
    EXPECT_EQ(json["events"][0]["kind"], std::string(FaultKindName(kind)));
    auto back = RunResultFromJson(json);
    ASSERT_TRUE(back.has_value()) << back.error().ToString();
    EXPECT_EQ(*back, original) << FaultKindName(kind);
  }
  EXPECT_EQ(ToJson(Event{FaultEvent{.kind = FaultKind::kArithmetic}})["kind"],
            "arithmetic");
}

TEST(RunResultJsonTest, NotAnObjectIsAnError) {
  auto result = RunResultFromJson(nlohmann::json::array());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kStore);
  EXPECT_THAT(result.error().message(), HasSubstr("not a JSON object"));
}

// Runs recorded before RDTSC trapping was probed, or before runs carried
// warnings, still read: the fact is unknown (n/a), not false.
TEST(RunResultJsonTest, RunsWithoutNewerFieldsStillRead) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["host"]["features"].erase("rdtsc_trapping");
  json.erase("warnings");
  auto result = RunResultFromJson(json);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_FALSE(result->host.rdtsc_trapping.has_value());
  EXPECT_TRUE(result->warnings.empty());
  // An unknown fact is written as null and read back as unknown.
  const nlohmann::json again = ToJson(*result);
  EXPECT_TRUE(again["host"]["features"]["rdtsc_trapping"].is_null());
  auto back = RunResultFromJson(again);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, *result);
}

TEST(RunResultJsonTest, MissingFieldIsNamed) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["timings"].erase("wall_ns");
  auto result = RunResultFromJson(json);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kStore);
  EXPECT_THAT(result.error().message(), HasSubstr("timings.wall_ns"));
  EXPECT_THAT(result.error().message(), HasSubstr("missing"));
}

TEST(RunResultJsonTest, WrongTypeIsNamed) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["counters"]["faults"] = "many";
  auto result = RunResultFromJson(json);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(), HasSubstr("counters.faults"));
}

TEST(RunResultJsonTest, NestedEventFieldIsNamed) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["events"][1]["rip"] = "0xZZ";
  auto result = RunResultFromJson(json);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(), HasSubstr("events[1].rip"));
}

TEST(RunResultJsonTest, UnknownEnumValueIsNamed) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["termination"]["outcome"] = "exploded";
  auto result = RunResultFromJson(json);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(), HasSubstr("termination.outcome"));
  EXPECT_THAT(result.error().message(), HasSubstr("exploded"));
}

TEST(RunResultJsonTest, UnknownEventTypeIsNamed) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["events"][2]["type"] = "teleport";
  auto result = RunResultFromJson(json);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(), HasSubstr("events[2].type"));
}

TEST(RunResultJsonTest, MalformedBase64IsAnError) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["output"]["stderr"] = {{"base64", "!!!"}};
  auto result = RunResultFromJson(json);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(), HasSubstr("output.stderr"));
}

TEST(RunResultJsonTest, OtherSchemaIsRefused) {
  for (const int schema : {0, 6}) {
    nlohmann::json json = ToJson(FullRunResultForTest());
    json["schema"] = schema;
    auto result = RunResultFromJson(json);
    ASSERT_FALSE(result.has_value()) << schema;
    EXPECT_THAT(result.error().message(), HasSubstr("schema"));
  }
}

// A figure that is not known is null, and comes back unknown.
TEST(RunResultJsonTest, UnknownFiguresAreNull) {
  RunResult r = FullRunResultForTest();
  r.counters.syscalls_total.reset();
  r.counters.max_rss_kib.reset();
  std::get<ExitEvent>(r.events.back()).usage = {};
  const nlohmann::json json = ToJson(r);
  EXPECT_TRUE(json["counters"]["syscalls_total"].is_null());
  EXPECT_TRUE(json["counters"]["max_rss_kib"].is_null());
  auto back = RunResultFromJson(json);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, r);
}

// A program of the host has no source (null); runs recorded before runs
// said (schema 4 and older, without the key) read as having none, not as
// a made-up one.
TEST(RunResultJsonTest, NoSourceIsNullAndOlderRunsHaveNone) {
  RunResult r = FullRunResultForTest();
  r.source.reset();
  nlohmann::json json = ToJson(r);
  EXPECT_TRUE(json["source"].is_null());
  auto back = RunResultFromJson(json);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, r);
  json = ToJson(FullRunResultForTest());
  json["schema"] = 4;
  json.erase("source");
  back = RunResultFromJson(json);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_FALSE(back->source.has_value());
}

// Schemas before 4 had no total and wrote 0 for a peak they did not know.
TEST(RunResultJsonTest, SchemaThreeHasNoTotalAndZeroIsNoPeak) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["schema"] = 3;
  json["counters"].erase("syscalls_total");
  json["counters"]["max_rss_kib"] = 0;
  json["events"].back()["usage"]["max_rss_kib"] = 0;
  json["events"].back()["usage"].erase("syscalls");
  auto back = RunResultFromJson(json);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->counters.syscalls_total, std::nullopt);
  EXPECT_EQ(back->counters.max_rss_kib, std::nullopt);
  const auto& exit = std::get<ExitEvent>(back->events.back());
  EXPECT_EQ(exit.usage.max_rss_kib, std::nullopt);
  EXPECT_EQ(exit.usage.syscalls, std::nullopt);
}

// Runs written before isoscope counted denials and signals (schema 1) read
// back with those tables n/a, not empty.
TEST(RunResultJsonTest, SchemaOneHasNoTables) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["schema"] = 1;
  json.erase("denials");
  json.erase("signal_counts");
  auto result = RunResultFromJson(json);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_FALSE(result->denials.has_value());
  EXPECT_FALSE(result->signal_counts.has_value());
  // Schema 2 says "not counted" with null, and needs the keys.
  json["schema"] = 2;
  EXPECT_FALSE(RunResultFromJson(json).has_value());
  json["denials"] = nullptr;
  json["signal_counts"] = nullptr;
  result = RunResultFromJson(json);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_FALSE(result->denials.has_value());
  EXPECT_EQ(ToJson(*result)["denials"], nullptr);
}

TEST(RunResultJsonTest, OutOfRangeIntegerIsAnError) {
  nlohmann::json json = ToJson(FullRunResultForTest());
  json["termination"]["exit_code"] = int64_t{1} << 40;
  auto result = RunResultFromJson(json);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(), HasSubstr("termination.exit_code"));
}

}  // namespace
}  // namespace isoscope
