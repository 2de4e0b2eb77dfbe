#include "policies/policy_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policies/loader.h"

namespace isoscope {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Policy Parse(std::string_view yaml) {
  auto policy = ParsePolicy(yaml, "test.yaml");
  EXPECT_TRUE(policy.has_value()) << (policy ? "" : policy.error().ToString());
  return policy ? *policy : Policy{};
}

TEST(PolicyDiff, APolicyDoesNotDifferFromItself) {
  auto preset = LoadPreset("default");
  ASSERT_TRUE(preset.has_value());
  EXPECT_THAT(DiffPolicies(*preset, *preset, "a", "b"), IsEmpty());
}

TEST(PolicyDiff, SaysWhatEachAllowsThatTheOtherDoesNotBySection) {
  const Policy narrow = Parse(R"(version: 1
syscalls:
  default: {action: deny, errno: EPERM}
  rules:
    - {id: io, syscalls: [read, write, exit_group], action: allow}
network: none
capabilities: []
resources: {memory: 64MiB}
filesystem: {readonly: [/usr], tmpfs: [/tmp]}
)");
  const Policy wide = Parse(R"(version: 1
syscalls:
  default: {action: deny, errno: EPERM}
  rules:
    - {id: io, syscalls: [read, write, exit_group], action: allow}
    - {id: net, syscalls: [socket, connect], action: allow}
    - {id: trace, syscalls: [ptrace], action: kill}
    - {id: uring, syscalls: [io_uring_setup], action: allow}
network: loopback
capabilities: [CAP_NET_BIND_SERVICE]
resources: {memory: 128MiB}
filesystem: {readonly: [/usr, /etc], tmpfs: [/tmp]}
accepted_holes:
  - {syscalls: [io_uring_setup], reason: "the workload needs io_uring"}
)");
  const auto diff = DiffPolicies(narrow, wide, "narrow", "wide");
  std::vector<std::string> sections;
  for (const SectionDiff& s : diff) sections.push_back(s.section);
  EXPECT_THAT(sections,
              ElementsAre("syscalls", "resources", "filesystem", "network",
                          "capabilities", "accepted_holes"));
  EXPECT_THAT(diff[0].lines,
              ElementsAre("denied EPERM (default) in narrow, allowed (rule "
                          "net) in wide: socket connect",
                          "denied EPERM (default) in narrow, killed (rule "
                          "trace) in wide: ptrace",
                          "denied EPERM (default) in narrow, allowed (rule "
                          "uring) in wide: io_uring_setup"));
  EXPECT_THAT(diff[1].lines,
              ElementsAre("memory (bytes): 67108864 in narrow, 134217728 in "
                          "wide"));
  EXPECT_THAT(diff[2].lines, ElementsAre("readonly: only in wide: /etc"));
  EXPECT_THAT(diff[3].lines,
              ElementsAre("mode: none in narrow, loopback in wide"));
  EXPECT_THAT(diff[4].lines,
              ElementsAre("capabilities: only in wide: CAP_NET_BIND_SERVICE"));
  EXPECT_THAT(diff[5].lines,
              ElementsAre("accepted: only in wide: io_uring_setup"));
}

// Rules with conditions are named, not flattened: a syscall decided per
// call in one policy and allowed outright in the other is a difference.
TEST(PolicyDiff, ConditionalRulesAreNamed) {
  const auto preset = LoadPreset("default");
  const auto permissive = LoadPreset("permissive");
  ASSERT_TRUE(preset.has_value() && permissive.has_value());
  const auto diff = DiffPolicies(*preset, *permissive, "default", "permissive");
  ASSERT_FALSE(diff.empty());
  EXPECT_EQ(diff[0].section, "syscalls");
  EXPECT_THAT(diff[0].lines, Contains(HasSubstr("decided per call (rules ")));
  EXPECT_THAT(diff, Contains(Field(&SectionDiff::section, "network")));
}

}  // namespace
}  // namespace isoscope
