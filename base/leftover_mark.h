// Whether an isoscope was killed while it had something on disk to remove.
//
// A process that creates what it must remove itself (temporary directories)
// holds a LeftoverMark while it does: a file in a per-user registry,
// flock'ed for as long as the process holds any mark, and removed when it
// releases the last one. A process killed outright leaves its file with the
// lock free. A later isoscope then reads the registry (a directory of the
// marks of live processes, a few entries at most) instead of listing every
// entry of /tmp at each start: only a dead mark means there may be
// something to sweep.
//
// The registry is $XDG_RUNTIME_DIR/isoscope/leftovers, or, without
// XDG_RUNTIME_DIR, /run/isoscope/leftovers for root; without either (or
// when it cannot be created or trusted), FindDeadLeftoverMarks says so and
// the caller sweeps every time, as before marks existed.
#ifndef ISOSCOPE_BASE_LEFTOVER_MARK_H_
#define ISOSCOPE_BASE_LEFTOVER_MARK_H_

#include <filesystem>
#include <optional>
#include <vector>

namespace isoscope {

class LeftoverMark {
 public:
  // Marks this process (the first mark makes the file; later ones count).
  // Never fails: a registry that cannot be used only means sweeps run
  // unconditionally.
  LeftoverMark();
  LeftoverMark(const LeftoverMark&) = delete;
  LeftoverMark& operator=(const LeftoverMark&) = delete;
  LeftoverMark(LeftoverMark&& other) noexcept;
  LeftoverMark& operator=(LeftoverMark&& other) noexcept;
  ~LeftoverMark();

 private:
  bool held_ = true;
};

// The registry's marks whose process died holding them; nullopt when there
// is no usable registry (then anything may have been left). A mark being
// made is locked before it has a name, so a live process's mark is never
// taken for dead.
std::optional<std::vector<std::filesystem::path>> FindDeadLeftoverMarks();

// Removes `marks` (from FindDeadLeftoverMarks) once what they stood for has
// been swept; a mark already gone is fine.
void ForgetLeftoverMarks(const std::vector<std::filesystem::path>& marks);

// The registry this process uses now (nullopt: none).
std::optional<std::filesystem::path> LeftoverRegistry();

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_LEFTOVER_MARK_H_
