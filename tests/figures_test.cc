// The figures a run reports are the workload's own, end to end on the real
// binary: every syscall it made, counted by the kernel on every process
// backend, and its peak memory without the image of isoscope's child.
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/sanitizers.h"
#include "base/temp_dir.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

using nlohmann::json;

constexpr int kCalls = 2000;
// syscall-storm N: N + 1 getppid, one write, exit_group (its execve is
// isoscope's, before the count starts).
constexpr uint64_t kStormSyscalls = kCalls + 3;

class FiguresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-figures-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
  }

  // Why this host cannot count syscalls; empty when it can.
  static std::string NoSyscallCounter() {
    CommandResult doctor =
        RunCommand({IsoscopeBinary().string(), "doctor", "--json"});
    if (doctor.exit_status != 0) return "isoscope doctor failed";
    const json facts = json::parse(doctor.out, nullptr, false);
    const json* counter = nullptr;
    if (facts.contains("host") &&
        facts["host"]["features"].contains("syscall_counter")) {
      counter = &facts["host"]["features"]["syscall_counter"];
    } else if (facts.contains("features") &&
               facts["features"].contains("syscall_counter")) {
      counter = &facts["features"]["syscall_counter"];
    }
    if (counter == nullptr || !counter->is_object()) return "not probed";
    if ((*counter)["available"] == true) return "";
    return (*counter)["detail"].get<std::string>();
  }

  // `isoscope run --json` of `argv` on `backend`: the run's JSON.
  json Run(const std::string& backend, const std::vector<std::string>& argv,
           bool count_syscalls) {
    const std::string out = (dir_->path() / "run.json").string();
    std::vector<std::string> command = {IsoscopeBinary().string(),
                                        "--db",
                                        db_,
                                        "run",
                                        "-q",
                                        "--backend",
                                        backend,
                                        "--json",
                                        out};
    if (count_syscalls) command.emplace_back("--count-syscalls");
    command.emplace_back("--");
    command.insert(command.end(), argv.begin(), argv.end());
    CommandResult result = RunCommand(command);
    EXPECT_EQ(result.exit_status, 0) << result.err;
    std::ifstream in(out);
    return json::parse(in, nullptr, false);
  }

  // What /usr/bin/time -f %M says of `argv` run bare (KiB); nullopt
  // without GNU time.
  static std::optional<int64_t> TimeMaxRss(std::vector<std::string> argv) {
    if (!std::filesystem::exists("/usr/bin/time")) return std::nullopt;
    argv.insert(argv.begin(), {"/usr/bin/time", "-f", "TIME %M"});
    CommandResult result = RunCommand(argv);
    const size_t at = result.err.rfind("TIME ");
    if (result.exit_status != 0 || at == std::string::npos) return std::nullopt;
    return std::stoll(result.err.substr(at + 5));
  }

  std::optional<TempDir> dir_;
  std::string db_;
};

TEST_F(FiguresTest, EveryProcessBackendCountsEverySyscallTheWorkloadMade) {
  if (std::string why = NoSyscallCounter(); !why.empty()) {
    GTEST_SKIP() << "the kernel cannot count syscalls here: " << why;
  }
  const std::string storm = BuiltWorkload("bench/syscall-storm").string();
  for (const std::string backend : {"native", "ptrace", "container"}) {
    SCOPED_TRACE(backend);
    if (!BackendUnavailable(backend).empty()) continue;
    const json run = Run(backend, {storm, std::to_string(kCalls)}, true);
    ASSERT_TRUE(run.is_object());
    EXPECT_EQ(run["counters"]["syscalls_total"], kStormSyscalls);
  }
}

// Counting costs tens of ms on some hosts: a run counts only when asked,
// and then says so: n/a, and how to get the figure.
TEST_F(FiguresTest, ARunLeavesItsTotalUnknownUnlessAsked) {
  const json run = Run(
      "native", {BuiltWorkload("bench/syscall-storm").string(), "10"}, false);
  ASSERT_TRUE(run.is_object());
  EXPECT_TRUE(run["counters"]["syscalls_total"].is_null())
      << run["counters"].dump();
  EXPECT_TRUE(run["host"]["features"]["syscall_counter"].is_null())
      << run["host"].dump();
  CommandResult shown =
      RunCommand({IsoscopeBinary().string(), "--db", db_, "runs", "show",
                  std::to_string(run["id"].get<int64_t>())});
  ASSERT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_THAT(shown.out + shown.err,
              ::testing::HasSubstr(
                  "made: n/a (isoscope run --count-syscalls counts them)"));
}

TEST_F(FiguresTest, CompareShowsTheKernelsCountForEveryProcessBackend) {
  if (std::string why = NoSyscallCounter(); !why.empty()) {
    GTEST_SKIP() << "the kernel cannot count syscalls here: " << why;
  }
  const std::string report = (dir_->path() / "report.json").string();
  CommandResult result = RunCommand(
      {IsoscopeBinary().string(), "--db", db_, "compare", "--backends",
       "native,ptrace,container", "--repeat", "1", "--report", report, "--",
       BuiltWorkload("bench/syscall-storm").string(), std::to_string(kCalls)});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_THAT(result.out,
              ::testing::HasSubstr(fmt::format("{}/", kStormSyscalls)));
  std::ifstream in(report);
  const json j = json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object());
  int counted = 0;
  for (const json& b : j["comparison"]["backends"]) {
    SCOPED_TRACE(b["backend"].get<std::string>());
    if (b["available"] != true) continue;
    EXPECT_EQ(b["syscalls_total"], kStormSyscalls);
    ++counted;
  }
  EXPECT_GE(counted, 1);
}

// Where the workload's own peak dominates /usr/bin/time's (whose child
// carries time's own image, some hundreds of KiB, into the figure), the two
// agree. The native peak is known only above the image of isoscope's child
// before its execve: under AddressSanitizer that image is some 70 MiB
// (shadow memory, the allocator's pools), so the workload touches 256 MiB
// there instead of 32.
TEST_F(FiguresTest, NativePeakMemoryAgreesWithTimeOnTheBareProgram) {
  const std::string pages = kAddressSanitizer ? "65536" : "8192";
  const std::vector<std::string> touch = {
      BuiltWorkload("bench/mmap-touch").string(), pages};
  const std::optional<int64_t> time_kib = TimeMaxRss(touch);
  if (!time_kib) GTEST_SKIP() << "needs GNU time (Debian package time)";
  const json run = Run("native", touch, false);
  ASSERT_TRUE(run["counters"]["max_rss_kib"].is_number())
      << run["counters"].dump();
  const double peak = run["counters"]["max_rss_kib"].get<double>();
  EXPECT_GE(peak, 0.75 * static_cast<double>(*time_kib));
  EXPECT_LE(peak, 1.25 * static_cast<double>(*time_kib));
}

// A tiny workload's own peak is some KiB: under ptrace it is read at its
// exit stop; natively it hides below the image of isoscope's child and is
// n/a. Never 0.
TEST_F(FiguresTest, ATinyWorkloadsPeakIsItsOwnOrUnknown) {
  const std::vector<std::string> storm = {
      BuiltWorkload("bench/syscall-storm").string(), "1000"};
  const json native = Run("native", storm, false);
  const json& native_peak = native["counters"]["max_rss_kib"];
  EXPECT_TRUE(native_peak.is_null() || native_peak.get<int64_t>() > 0);
  if (!BackendUnavailable("ptrace").empty()) return;
  const json traced = Run("ptrace", storm, false);
  const json& peak = traced["counters"]["max_rss_kib"];
  ASSERT_TRUE(peak.is_number()) << traced["counters"].dump();
  EXPECT_GT(peak.get<int64_t>(), 0);
  // isoscope's child image before the exec is over 1 MiB.
  EXPECT_LT(peak.get<int64_t>(), 512);
}

}  // namespace
}  // namespace isoscope::testing
