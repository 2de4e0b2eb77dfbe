// Helpers shared by the policies/ tests (not part of the library).
#ifndef ISOSCOPE_POLICIES_TEST_SUPPORT_H_
#define ISOSCOPE_POLICIES_TEST_SUPPORT_H_

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "policies/loader.h"
#include "policies/policy.h"

namespace isoscope::testing {

// The source tree: CTest sets ISOSCOPE_SOURCE_DIR; running the binary by
// hand falls back to the directory it was configured from.
inline std::string SourceDir() {
  if (const char* dir = std::getenv("ISOSCOPE_SOURCE_DIR"); dir && *dir) {
    return dir;
  }
  return ISOSCOPE_POLICIES_TEST_SOURCE_DIR;
}

// Parses a test policy; its holes are not refused (decide and plan tests
// use small, deliberately open policies). Hole tests call ParsePolicy.
inline Policy MustParse(const std::string& yaml) {
  auto policy = ParsePolicy(yaml, "test.yaml", {.refuse_holes = false});
  EXPECT_TRUE(policy.has_value()) << (policy ? "" : policy.error().message());
  return policy ? *policy : Policy{};
}

inline Policy MustLoadPreset(const std::string& name) {
  auto policy = LoadPreset(name);
  EXPECT_TRUE(policy.has_value()) << (policy ? "" : policy.error().message());
  return policy ? *policy : Policy{};
}

}  // namespace isoscope::testing

#endif  // ISOSCOPE_POLICIES_TEST_SUPPORT_H_
