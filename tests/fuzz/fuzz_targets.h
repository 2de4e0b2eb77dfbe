// isoscope's fuzz targets (docs/fuzzing.md). Each body takes one input and
// returns "" when every property it checks held, or a finding: what broke,
// in words. Crashes, leaks and undefined behaviour are the sanitizers'
// findings. The bodies are built in the ordinary build too:
// fuzz_corpus_test runs every file of tests/fuzz/corpus/<target>/ through
// its target, so each corpus entry (every fixed finding among them) is a
// regression test; with ISOSCOPE_FUZZ=ON (clang) each target is also a
// libFuzzer binary, build-fuzz/tests/fuzz/<target>_fuzz.
#ifndef ISOSCOPE_TESTS_FUZZ_FUZZ_TARGETS_H_
#define ISOSCOPE_TESTS_FUZZ_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "policies/plan.h"
#include "tests/fuzz/fuzz_input.h"

namespace isoscope::fuzz {

using FuzzBody = std::string (*)(std::span<const uint8_t> input);

struct FuzzTarget {
  std::string_view name;  // also the corpus directory's name
  std::string_view what;  // one line for --list and the docs
  FuzzBody body;
};

// Every target, in a fixed order.
std::span<const FuzzTarget> FuzzTargets();
// nullptr when there is no target of that name.
const FuzzTarget* FindFuzzTarget(std::string_view name);

// The bodies (one file each, beside this header).
std::string PolicyLoaderInput(std::span<const uint8_t> input);
std::string DecideInput(std::span<const uint8_t> input);
std::string SeccompCompilerInput(std::span<const uint8_t> input);
std::string SyscallPathsInput(std::span<const uint8_t> input);
std::string FaultDecoderInput(std::span<const uint8_t> input);
std::string ElfLoaderInput(std::span<const uint8_t> input);
std::string StoreJsonInput(std::span<const uint8_t> input);
std::string GuestKernelInput(std::span<const uint8_t> input);

// A policy's YAML built from the input's choices (policy_targets.cc): a
// syscalls section of up to eight rules over the syscalls the compiler and
// Decide treat specially (clone, clone3, unshare, the guarded memory calls,
// path calls), with arguments, paths and else branches, and a default and
// abi section. Parsed with holes allowed, most such texts are valid
// policies, which random text seldom is.
std::string GeneratedPolicyYaml(FuzzInput& in);
// The plan of such a policy (nullopt when the generator made an invalid
// one), and the presets' plans, compiled once; both with {workdir} =
// /work/run.
std::optional<CompiledPlan> GeneratedPlan(FuzzInput& in);
const CompiledPlan& PresetPlan(size_t index);

}  // namespace isoscope::fuzz

#endif  // ISOSCOPE_TESTS_FUZZ_FUZZ_TARGETS_H_
