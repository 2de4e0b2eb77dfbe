// `isoscope probe`'s matrix: probes down, backends across, one verdict per
// cell, then what each escape or reachable call was. Plain text fitting 100
// columns; every byte a probe printed is escaped.
#ifndef ISOSCOPE_REPORTS_PROBE_MATRIX_H_
#define ISOSCOPE_REPORTS_PROBE_MATRIX_H_

#include <string>

#include "supervisor/probe_session.h"

namespace isoscope {

std::string RenderProbeMatrix(const ProbeSession& session);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_PROBE_MATRIX_H_
