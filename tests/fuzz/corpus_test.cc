// Every fuzz target on every file of its seed corpus (tests/fuzz/corpus/
// <target>/), in the ordinary build: each corpus entry, every fixed finding
// among them, is a regression test that runs with the unit tests.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fuzz/fuzz_targets.h"
#include "tests/test_env.h"

namespace isoscope::fuzz {
namespace {

class FuzzCorpusTest : public ::testing::TestWithParam<FuzzTarget> {};

std::vector<uint8_t> ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file),
          std::istreambuf_iterator<char>()};
}

TEST_P(FuzzCorpusTest, EveryEntryHoldsEveryProperty) {
  const FuzzTarget& target = GetParam();
  const std::filesystem::path dir =
      isoscope::testing::SourceDir() / "tests/fuzz/corpus" / target.name;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << " is missing";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << dir << " holds no seed";
  for (const std::filesystem::path& file : files) {
    const std::vector<uint8_t> input = ReadFile(file);
    EXPECT_EQ(target.body(input), "") << file;
  }
}

// The empty input and a page of each byte value are inputs too.
TEST_P(FuzzCorpusTest, DegenerateInputs) {
  const FuzzTarget& target = GetParam();
  EXPECT_EQ(target.body({}), "");
  for (int byte : {0x00, 0x5a, 0xff}) {
    const std::vector<uint8_t> input(4096, static_cast<uint8_t>(byte));
    EXPECT_EQ(target.body(input), "") << "4096 x " << byte;
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpusTest,
                         ::testing::ValuesIn(FuzzTargets().begin(),
                                             FuzzTargets().end()),
                         [](const ::testing::TestParamInfo<FuzzTarget>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace isoscope::fuzz
