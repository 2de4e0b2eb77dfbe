// What the tests of a real backend share: a fresh workdir per test, workloads
// and policies made for it, and the syscall events of a run.
#ifndef ISOSCOPE_TESTS_BACKEND_FIXTURE_H_
#define ISOSCOPE_TESTS_BACKEND_FIXTURE_H_

#include <sys/syscall.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "backends/native/native_backend.h"
#include "base/temp_dir.h"
#include "policies/loader.h"
#include "supervisor/backend.h"
#include "supervisor/run_result.h"
#include "supervisor/supervisor.h"

namespace isoscope::testing {

class BackendFixture : public ::testing::Test {
 protected:
  // Call from SetUp, after skipping when the backend is unavailable.
  void MakeWorkdir(std::string_view prefix) {
    auto dir = TempDir::Create(prefix);
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    workdir_.emplace(std::move(*dir));
  }

  std::string Workdir() const { return workdir_->path().string(); }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = Workdir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  Workload Program(const std::string& path,
                   std::vector<std::string> args = {}) const {
    // The test's TempDir, as isoscope's own would be: a backend may give it
    // to the workload's ids.
    Workload workload{path,
                      {path},
                      {"PATH=/usr/bin:/bin"},
                      Workdir(),
                      /*scratch_workdir=*/true};
    for (auto& arg : args) workload.argv.push_back(std::move(arg));
    return workload;
  }

  // `yaml` with {workdir} instantiated for this test's workdir.
  std::shared_ptr<const Policy> PolicyFrom(const std::string& yaml) const {
    // Backend tests run small, deliberately open policies (everything
    // allowed but one rule): their holes are the point, not refused.
    auto policy = ParsePolicy(yaml, "test.yaml", {.refuse_holes = false});
    EXPECT_TRUE(policy.has_value()) << policy.error().ToString();
    return std::make_shared<const Policy>(
        WithWorkdir(policy ? *policy : Policy{}, Workdir()));
  }

  // Expects `result` to show what `workload` shows as a plain host process
  // with everything allowed: the same stdout and exit status.
  static void ExpectSameAsNative(const RunResult& result,
                                 const Workload& workload) {
    SupervisorOptions options;
    options.host_facts = HostFacts{};
    auto allow_all = std::make_shared<Policy>();
    allow_all->syscalls.default_action = {Action::kAllow};
    NativeBackend native;
    auto baseline = Supervisor(allow_all, options).Run(native, workload);
    ASSERT_TRUE(baseline.has_value()) << baseline.error().ToString();
    ASSERT_EQ(baseline->termination.outcome, Outcome::kExited)
        << baseline->termination.reason;
    EXPECT_EQ(result.output.stdout_bytes, baseline->output.stdout_bytes);
    EXPECT_EQ(result.termination.exit_code, baseline->termination.exit_code);
  }

  // Every syscall denied with ENOSYS but what syscall-storm needs to start,
  // write and exit: its getppid calls are denied by the plan, which a
  // backend's fast path decides without asking (a seccomp filter).
  std::shared_ptr<const Policy> DenyByDefaultPolicy() const {
    return PolicyFrom(R"(version: 1
syscalls:
  default: {action: deny, errno: ENOSYS}
  rules:
    - id: run
      syscalls: [execve, write, exit_group]
      action: allow
)");
  }

  // Expects `result`, syscall-storm `n` under DenyByDefaultPolicy, to count
  // all its n + 1 getppid calls under the default rule with their errno,
  // and to keep the first as an event with its arguments, the only one.
  static void ExpectGetppidDenialsCounted(const RunResult& result, uint64_t n) {
    EXPECT_EQ(result.output.stdout_bytes,
              "RESULT syscall-storm n=" + std::to_string(n) + " ok=0\n");
    EXPECT_EQ(result.termination.exit_code, 1);
    ASSERT_TRUE(result.denials.has_value());
    const DenialCount* getppid = nullptr;
    for (const DenialCount& row : *result.denials) {
      if (row.number == SYS_getppid) getppid = &row;
    }
    ASSERT_NE(getppid, nullptr) << "getppid is not in the denial table";
    EXPECT_EQ(*getppid,
              (DenialCount{Abi::kX86_64, SYS_getppid, "syscalls.default",
                           Action::kDeny, ENOSYS, n + 1}));
    size_t kept = 0;
    for (const SyscallEvent& event : SyscallEvents(result)) {
      if (event.request.number != SYS_getppid) continue;
      ++kept;
      ASSERT_TRUE(event.verdict.has_value());
      EXPECT_EQ(event.verdict->rule_id, "syscalls.default");
      EXPECT_EQ(event.verdict->action.errno_value, ENOSYS);
    }
    EXPECT_EQ(kept, 1u);
  }

  static std::vector<SyscallEvent> SyscallEvents(const RunResult& result) {
    std::vector<SyscallEvent> events;
    for (const Event& event : result.events) {
      if (const auto* call = std::get_if<SyscallEvent>(&event)) {
        events.push_back(*call);
      }
    }
    return events;
  }

  std::optional<TempDir> workdir_;
};

}  // namespace isoscope::testing

#endif  // ISOSCOPE_TESTS_BACKEND_FIXTURE_H_
