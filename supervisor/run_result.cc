#include "supervisor/run_result.h"

namespace isoscope {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kExited:
      return "exited";
    case Outcome::kSignaled:
      return "signaled";
    case Outcome::kViolation:
      return "violation";
    case Outcome::kLimit:
      return "limit";
    case Outcome::kInterrupted:
      return "interrupted";
    case Outcome::kError:
      return "error";
    case Outcome::kRunning:
      return "running";
  }
  return "unknown";
}

std::optional<Outcome> OutcomeFromName(std::string_view name) {
  for (Outcome o : {Outcome::kExited, Outcome::kSignaled, Outcome::kViolation,
                    Outcome::kLimit, Outcome::kInterrupted, Outcome::kError,
                    Outcome::kRunning}) {
    if (OutcomeName(o) == name) return o;
  }
  return std::nullopt;
}

std::string_view LimitKindName(LimitKind kind) {
  switch (kind) {
    case LimitKind::kWallTime:
      return "wall_time";
    case LimitKind::kCpuTime:
      return "cpu_time";
    case LimitKind::kMemory:
      return "memory";
    case LimitKind::kProcesses:
      return "processes";
    case LimitKind::kOpenFiles:
      return "open_files";
    case LimitKind::kFileSize:
      return "file_size";
    case LimitKind::kOutput:
      return "output";
  }
  return "unknown";
}

int Termination::ExitStatus() const {
  if (signal != 0) return 128 + signal;
  return exit_code;
}

}  // namespace isoscope
