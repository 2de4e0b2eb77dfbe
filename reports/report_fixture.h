// Report data built in code, for the report tests: no store, no backend.
// A comparison of `native` and a second backend `fake` (with a probe
// session where each leaves open something the other blocks), plus an
// unavailable `kvm`.
#ifndef ISOSCOPE_REPORTS_REPORT_FIXTURE_H_
#define ISOSCOPE_REPORTS_REPORT_FIXTURE_H_

#include "reports/report.h"

namespace isoscope::report_fixture {

HostFacts Host();
// native + fake (+ kvm unavailable); with a probe session when `probes`.
ReportData TwoBackends(bool probes = true);
// native alone, with probes.
ReportData NativeOnly();

}  // namespace isoscope::report_fixture

#endif  // ISOSCOPE_REPORTS_REPORT_FIXTURE_H_
