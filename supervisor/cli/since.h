// `isoscope runs list --since WHEN`: a time from what a user types.
#ifndef ISOSCOPE_SUPERVISOR_CLI_SINCE_H_
#define ISOSCOPE_SUPERVISOR_CLI_SINCE_H_

#include <cstdint>
#include <string_view>

#include "base/error.h"

namespace isoscope::cli {

// Unix milliseconds for `text`, either a duration before `now_unix_ms` (a
// whole number and a unit: 90s, 30m, 2h, 7d, 2w) or a UTC time like the one
// `runs list` shows (2026-01-31, 2026-01-31T14:30, 2026-01-31 14:30:05).
// Anything else is kInvalidArgument naming the accepted forms.
Result<int64_t> ParseSince(std::string_view text, int64_t now_unix_ms);

}  // namespace isoscope::cli

#endif  // ISOSCOPE_SUPERVISOR_CLI_SINCE_H_
