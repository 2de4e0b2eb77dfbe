#include "backends/builtin_backends.h"

#include <memory>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policies/plan.h"
#include "policies/policy.h"
#include "supervisor/host_facts.h"

namespace isoscope {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class BuiltinRoutingTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterBuiltinBackends(registry_); }

  BackendRouting RoutingOf(const std::string& name, const HostFacts& host) {
    const BackendRegistry::Entry* entry = registry_.Find(name);
    EXPECT_NE(entry, nullptr) << name;
    if (entry == nullptr) return {};
    const std::optional<BackendRouting> routing = entry->RoutingOn(host);
    EXPECT_TRUE(routing.has_value()) << name << " describes no routing";
    return routing.value_or(BackendRouting{});
  }

  static HostFacts Host(std::optional<bool> rdtsc_traps, bool cpuid_faulting) {
    HostFacts host;
    if (rdtsc_traps) host.rdtsc_trapping = Feature{*rdtsc_traps, "probed"};
    host.cpuid_faulting = {cpuid_faulting, "probed"};
    return host;
  }

  BackendRegistry registry_;
};

TEST_F(BuiltinRoutingTest, EveryBuiltinBackendDescribesItself) {
  for (const auto& entry : registry_.entries()) {
    const BackendRouting routing = RoutingOf(entry.name, Host(true, true));
    EXPECT_FALSE(routing.syscalls_handled_by.empty()) << entry.name;
    EXPECT_FALSE(routing.faults_handled_by.empty()) << entry.name;
  }
  EXPECT_FALSE(RoutingOf("native", Host(true, true)).filters);
  EXPECT_TRUE(RoutingOf("ptrace", Host(true, true)).filters);
}

// What reports print beside each backend's figures, from its own entry.
TEST_F(BuiltinRoutingTest, EveryBuiltinBackendSaysWhatItsFiguresStandFor) {
  for (const auto& entry : registry_.entries()) {
    EXPECT_FALSE(RoutingOf(entry.name, Host(true, true)).measures.empty())
        << entry.name;
  }
  EXPECT_THAT(RoutingOf("native", Host(true, true)).measures,
              HasSubstr("baseline"));
  EXPECT_THAT(RoutingOf("ptrace", Host(true, true)).measures,
              HasSubstr("stops in isoscope"));
  EXPECT_THAT(RoutingOf("container", Host(true, true)).measures,
              HasSubstr("user notification"));
  // kvm forwards every guest syscall to the VMM: an upper bound for a
  // microVM whose guest kernel handles its own syscalls.
  const std::string kvm = RoutingOf("kvm", Host(true, true)).measures;
  EXPECT_THAT(kvm, HasSubstr("syscall-forwarding VM"));
  EXPECT_THAT(kvm, HasSubstr("upper bound"));
  EXPECT_THAT(kvm, HasSubstr("Firecracker"));
}

TEST_F(BuiltinRoutingTest, PtraceEmulatesRdtscWhereTheHostTrapsIt) {
  const BackendRouting routing = RoutingOf("ptrace", Host(true, false));
  EXPECT_THAT(routing.faults_handled_by, HasSubstr("rdtsc, port I/O"));
  EXPECT_THAT(routing.faults_handled_by, Not(HasSubstr("not trappable")));
  // Only cpuid, which no host lets the workload trap.
  ASSERT_EQ(routing.untrapped_faults.size(), 1u);
  EXPECT_EQ(routing.untrapped_faults[0].kind, FaultKind::kCpuid);
}

TEST_F(BuiltinRoutingTest, PtraceSaysWhereTheHostCannotTrapRdtsc) {
  for (const std::optional<bool> traps :
       {std::optional<bool>(false), std::optional<bool>()}) {
    const BackendRouting routing = RoutingOf("ptrace", Host(traps, false));
    EXPECT_THAT(routing.faults_handled_by,
                HasSubstr("rdtsc: not trappable on this host"));
    EXPECT_THAT(routing.faults_handled_by, Not(HasSubstr("rdtsc, port I/O")));
    ASSERT_EQ(routing.untrapped_faults.size(), 2u);
    EXPECT_EQ(routing.untrapped_faults[0].kind, FaultKind::kRdtsc);
    EXPECT_EQ(routing.untrapped_faults[1].kind, FaultKind::kCpuid);

    FaultPolicy faults;
    faults.rdtsc = Action::kEmulate;
    EXPECT_THAT(UnappliedFaultWarnings(faults, routing.untrapped_faults),
                ElementsAre("rdtsc: not trappable on this host; the "
                            "policy's `rdtsc: emulate` is not applied"));
    faults.rdtsc = Action::kReport;  // asks for nothing that needs a trap
    EXPECT_TRUE(
        UnappliedFaultWarnings(faults, routing.untrapped_faults).empty());
  }
}

TEST_F(BuiltinRoutingTest, PtraceNamesWhyCpuidIsUntrapped) {
  EXPECT_THAT(RoutingOf("ptrace", Host(true, true)).faults_handled_by,
              HasSubstr("cpuid untrapped: the kernel turns CPUID faulting "
                        "off at exec"));
  EXPECT_THAT(RoutingOf("ptrace", Host(true, false)).faults_handled_by,
              HasSubstr("cpuid untrapped: no CPUID faulting on this host"));
}

// A backend that enforces the policy refuses a plan left uncompiled (the
// supervisor hands one only to a backend that does not apply the policy):
// it would otherwise enforce syscalls.default alone.
TEST_F(BuiltinRoutingTest, EnforcingBackendsRefuseAnUncompiledPlan) {
  auto policy = std::make_shared<const Policy>();
  const CompiledPlan uncompiled = CompiledPlan::Uncompiled(policy);
  const Workload workload{"/bin/true", {"true"}, {}, "/tmp"};
  int enforcing = 0;
  for (const auto& entry : registry_.entries()) {
    auto backend = registry_.Create(entry.name);
    ASSERT_TRUE(backend.has_value()) << entry.name;
    if (!(*backend)->AppliesPolicy()) continue;
    ++enforcing;
    const Status started = (*backend)->Start(workload, uncompiled);
    ASSERT_FALSE(started.has_value()) << entry.name;
    EXPECT_EQ(started.error().code(), ErrorCode::kInternal) << entry.name;
    EXPECT_THAT(started.error().ToString(), HasSubstr("uncompiled plan"));
  }
  EXPECT_EQ(enforcing, 3);  // ptrace, container, kvm
}

}  // namespace
}  // namespace isoscope
