// Loading a policy from YAML. Either the whole policy is valid and returned,
// or an error names the file, line, column and field:
//   policy.yaml:14:7: syscalls.rules[2].action: unknown action 'alow'
//   (expected allow, deny, kill, log, emulate)
// No partial policy is ever returned.
#ifndef ISOSCOPE_POLICIES_LOADER_H_
#define ISOSCOPE_POLICIES_LOADER_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "policies/policy.h"

namespace isoscope {

struct ParseOptions {
  // Refuse a policy with a hole it does not accept, or that accepts a call
  // that is no hole of it (holes.h). Only tests and benchmarks that run a
  // deliberately open policy turn this off; every policy loaded from a file
  // or a preset is checked.
  bool refuse_holes = true;
};

// The largest policy accepted. The presets are about 10 KiB; a limit keeps
// a mistaken --policy (a log file, /dev/zero) from being read forever or
// parsed for minutes.
constexpr size_t kMaxPolicyBytes = size_t{1024} * 1024;

// Parses YAML text; `source_name` is used in error messages and as
// Policy::name. Errors have code ErrorCode::kPolicy: among them a text over
// kMaxPolicyBytes, and YAML nested deeper than yaml-cpp's parser allows.
Result<Policy> ParsePolicy(std::string_view yaml_text,
                           std::string_view source_name,
                           ParseOptions options = {});

// Reads and parses a file (an unreadable file is a kPolicy error too).
Result<Policy> LoadPolicyFile(const std::string& path);

// The shipped presets, embedded in the binary: "permissive", "default",
// "strict".
std::vector<std::string> PresetNames();
Result<Policy> LoadPreset(std::string_view name);
// The preset's YAML source (for `policy show` and the store).
Result<std::string> PresetText(std::string_view name);

// `--policy X`: a preset name if X is one, otherwise a file path.
Result<Policy> LoadPolicyArgument(const std::string& name_or_path);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_LOADER_H_
