// The shipped presets' YAML, embedded in the binary at build time from
// policies/presets/*.yaml by embed_presets.cmake, and the same presets
// compiled to C++ (the YAML files stay the one source). Internal to
// policies/: everyone else uses loader.h.
#ifndef ISOSCOPE_POLICIES_PRESETS_EMBEDDED_H_
#define ISOSCOPE_POLICIES_PRESETS_EMBEDDED_H_

#include <optional>
#include <span>
#include <string_view>

#include "policies/policy.h"

namespace isoscope::policies_internal {

struct EmbeddedPreset {
  std::string_view name;  // "strict"
  std::string_view text;  // the YAML file's contents, verbatim
};

// In the order PresetNames() lists them.
std::span<const EmbeddedPreset> EmbeddedPresets();

// The preset `name` as compile_presets.cc built it at build time from its
// YAML, with `text` (its embedded YAML) as Policy::source: LoadPreset then
// parses no YAML. nullopt in the library the tool itself links, which parses
// (presets_not_compiled.cc).
std::optional<Policy> CompiledPreset(std::string_view name,
                                     std::string_view text);

}  // namespace isoscope::policies_internal

#endif  // ISOSCOPE_POLICIES_PRESETS_EMBEDDED_H_
