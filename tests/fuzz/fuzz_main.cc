// The libFuzzer entry point of one target, named by the compile definition
// ISOSCOPE_FUZZ_TARGET (tests/fuzz/CMakeLists.txt builds one binary per
// target). A finding is printed and aborts, which libFuzzer reports as a
// crash and saves as crash-<sha1>.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const isoscope::fuzz::FuzzTarget* const kTarget =
      isoscope::fuzz::FindFuzzTarget(ISOSCOPE_FUZZ_TARGET);
  if (kTarget == nullptr) {
    std::fprintf(stderr, "no fuzz target %s\n", ISOSCOPE_FUZZ_TARGET);
    std::abort();
  }
  const std::string finding = kTarget->body(std::span(data, size));
  if (!finding.empty()) {
    std::fprintf(stderr, "\n%s finding: %s\n", ISOSCOPE_FUZZ_TARGET,
                 finding.c_str());
    std::abort();
  }
  return 0;
}
