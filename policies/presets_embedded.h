// The shipped presets' YAML, embedded in the binary at build time from
// policies/presets/*.yaml by embed_presets.cmake (the YAML files stay the one
// source). Internal to policies/: everyone else uses loader.h.
#ifndef ISOSCOPE_POLICIES_PRESETS_EMBEDDED_H_
#define ISOSCOPE_POLICIES_PRESETS_EMBEDDED_H_

#include <span>
#include <string_view>

namespace isoscope::policies_internal {

struct EmbeddedPreset {
  std::string_view name;  // "strict"
  std::string_view text;  // the YAML file's contents, verbatim
};

// In the order PresetNames() lists them.
std::span<const EmbeddedPreset> EmbeddedPresets();

}  // namespace isoscope::policies_internal

#endif  // ISOSCOPE_POLICIES_PRESETS_EMBEDDED_H_
