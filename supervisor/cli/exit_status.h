// isoscope's own exit statuses, documented in `isoscope --help`. A run
// otherwise exits with its workload's status (128 + N for signal N).
#ifndef ISOSCOPE_SUPERVISOR_CLI_EXIT_STATUS_H_
#define ISOSCOPE_SUPERVISOR_CLI_EXIT_STATUS_H_

#include "base/error.h"

namespace isoscope::cli {

inline constexpr int kExitPolicyError = 2;
inline constexpr int kExitUsage = 64;        // EX_USAGE
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE
inline constexpr int kExitStoreError = 74;   // EX_IOERR
inline constexpr int kExitFailure = 125;     // isoscope itself failed
inline constexpr int kExitNotExecutable = 126;
inline constexpr int kExitNotFound = 127;
// probe and compare stopped by SIGINT/SIGTERM (what they measured is kept),
// like a shell's status for a job stopped by SIGINT.
inline constexpr int kExitInterrupted = 130;

inline constexpr const char* kExitStatusHelp =
    "Exit status:\n"
    "  run      the workload's own status; 128+N when it died of signal N\n"
    "           (137 when isoscope killed it for a violation or a limit)\n"
    "  2        the policy is unreadable or invalid\n"
    "  64       usage error: bad option or value, unknown backend\n"
    "  69       the backend cannot run on this host (see isoscope doctor)\n"
    "  74       the results store could not be opened or written\n"
    "  125      isoscope itself failed\n"
    "  126      the workload exists but cannot be executed\n"
    "  127      the workload was not found\n"
    "  130      probe or compare was interrupted (partial results kept)\n";

inline int ExitStatusFor(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kPolicy:
      return kExitPolicyError;
    case ErrorCode::kInvalidArgument:
      return kExitUsage;
    case ErrorCode::kUnavailable:
      return kExitUnavailable;
    case ErrorCode::kStore:
      return kExitStoreError;
    case ErrorCode::kNotExecutable:
      return kExitNotExecutable;
    case ErrorCode::kNotFound:
      return kExitNotFound;
    case ErrorCode::kSystem:
    case ErrorCode::kInternal:
      return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace isoscope::cli

#endif  // ISOSCOPE_SUPERVISOR_CLI_EXIT_STATUS_H_
