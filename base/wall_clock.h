// Wall-clock time for records (when a run started); durations use
// std::chrono::steady_clock instead.
#ifndef ISOSCOPE_BASE_WALL_CLOCK_H_
#define ISOSCOPE_BASE_WALL_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace isoscope {

inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_WALL_CLOCK_H_
