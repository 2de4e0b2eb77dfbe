// The sensitive-instruction table (Popek and Goldberg, measured): one row
// per instruction the `sensitive` probe executes, one cell per backend
// saying what happened to it there, and whether that lets the workload tell
// it is not running as a plain host process.
//
// Each cell is classified from what was observed, never from a table per
// backend: the runner's record of what isoscope intercepted (`trapped=`),
// the signal the workload's own handler got, the probe's own reading of
// UMIP and of a flag that did not change, and otherwise the value compared
// with the one native saw.
#ifndef ISOSCOPE_REPORTS_SENSITIVE_TABLE_H_
#define ISOSCOPE_REPORTS_SENSITIVE_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/probe_session.h"

namespace isoscope {

enum class SensitiveClass {
  kTrapped,     // isoscope intercepted it (a fault it recorded and decided)
  kHostValue,   // ran; the workload saw what a host process sees
  kVirtual,     // ran; another value or effect than a host process gets
  kIgnored,     // ran; the change it asked for silently did not happen
  kFaults,      // faulted; the workload's own handler got the signal
  kKernel,      // faulted into the host kernel, which made up a value (UMIP)
  kAbsent,      // CPUID says the CPU lacks it: not executed
  kUncompared,  // ran, but there is no native value to compare with
  kNotRun,      // the backend did not run it (unavailable, interrupted, ...)
};

inline constexpr SensitiveClass kAllSensitiveClasses[] = {
    SensitiveClass::kTrapped, SensitiveClass::kHostValue,
    SensitiveClass::kVirtual, SensitiveClass::kIgnored,
    SensitiveClass::kFaults,  SensitiveClass::kKernel,
    SensitiveClass::kAbsent,  SensitiveClass::kUncompared,
    SensitiveClass::kNotRun};

// One word for a cell: "trap", "host", "virtual", "ignored", "fault",
// "kernel", "absent", "ran", "n/a".
std::string_view SensitiveClassName(SensitiveClass c);
// What that word means, in one line.
std::string_view SensitiveClassMeaning(SensitiveClass c);

struct SensitiveCell {
  std::string backend;
  SensitiveClass cls = SensitiveClass::kNotRun;
  // What the workload observed, one short token: the value it read, the
  // signal it got ("SIGSEGV"), "absent", or "ended" (the run ended first).
  std::string seen;
  // What isoscope intercepted ("rdtscp:emulate"); empty when nothing.
  std::string trapped;
  std::string detail;  // the finding's whole detail (workload-controlled)
  int64_t run_id = 0;
};

struct SensitiveRow {
  std::string instruction;           // the probe's case: "popf-if", "sgdt", ...
  std::string why;                   // why it is sensitive, one line
  std::vector<SensitiveCell> cells;  // the session's backends, in order
  // Backends whose workload saw something else than native's did: there
  // the workload can tell it is not a plain host process. Empty when none
  // did or when there is no native cell to compare with.
  std::vector<std::string> tells;
  bool compared = false;  // a native cell with an observation exists
  // "yes: kvm sees 0x8, a host process 0x33", "no: ...", "n/a: ...".
  std::string inference;
};

// The rows, in the order the session holds them; empty when the session
// has no sensitive-instruction findings.
std::vector<SensitiveRow> BuildSensitiveTable(const ProbeSession& session);

// Why `instruction` (a case of the `sensitive` probe) is sensitive but
// unprivileged, in one line; empty for an unknown case.
std::string_view WhySensitive(std::string_view instruction);

// The table explained in plain words, from its data: privileged against
// sensitive instructions, what ran untrapped at CPL 3, what each backend
// trapped, virtualized or left as on the host. Empty without rows.
std::vector<std::string> SensitiveVerdict(
    const std::vector<SensitiveRow>& rows,
    const std::vector<std::string>& backends);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_SENSITIVE_TABLE_H_
