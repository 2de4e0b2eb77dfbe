// Report data built in code, for the report tests: no store, no backend.
// A comparison of `native` and a second backend `fake` (with a probe
// session where each leaves open something the other blocks), plus an
// unavailable `kvm`; each says what its figures stand for and what it
// enforces of the policy.
#ifndef ISOSCOPE_REPORTS_REPORT_FIXTURE_H_
#define ISOSCOPE_REPORTS_REPORT_FIXTURE_H_

#include <string>
#include <string_view>

#include "reports/report.h"

namespace isoscope::report_fixture {

// reports/testdata/`name`: a rendering of the fixture as last reviewed, the
// fixed expectation the renderers are held to (a rendering compared with
// itself cannot notice a clock, the environment or state leaking into it).
// With ISOSCOPE_UPDATE_GOLDEN=1 in the environment the file is first
// rewritten with `actual`; review its diff before committing it.
std::string Golden(std::string_view name, const std::string& actual);

HostFacts Host();
// native + fake (+ kvm unavailable); with a probe session when `probes`.
ReportData TwoBackends(bool probes = true);
// native alone, with probes.
ReportData NativeOnly();
// TwoBackends with probes, where fake's measured runs were killed by the
// policy (RunFailure) and a third backend `broken` failed to start.
ReportData WithFailures();

}  // namespace isoscope::report_fixture

#endif  // ISOSCOPE_REPORTS_REPORT_FIXTURE_H_
