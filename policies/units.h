// Parsing of the quantities a policy's `resources` take. Separate from the
// loader so the unit grammar is tested on its own; see policies/README.md.
#ifndef ISOSCOPE_POLICIES_UNITS_H_
#define ISOSCOPE_POLICIES_UNITS_H_

#include <cstdint>
#include <string_view>

#include "base/error.h"

namespace isoscope {

// "256MiB" -> 268435456. Units B, KiB, MiB, GiB, TiB, with K, M, G, T as
// short forms of the binary units; no unit means bytes. Errors (kPolicy) say
// what is wrong without a location: the loader adds it.
Result<uint64_t> ParseSize(std::string_view text);

// "10s" -> 10000 (milliseconds). Units ms, s, m, h; a unit is required.
Result<uint64_t> ParseDurationMs(std::string_view text);

// A non-negative integer, decimal or 0x hexadecimal, that fits in 64 bits.
Result<uint64_t> ParseUnsigned(std::string_view text);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_UNITS_H_
