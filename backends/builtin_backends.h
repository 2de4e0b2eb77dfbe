// Registers every backend isoscope ships with.
#ifndef ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_
#define ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_

#include <filesystem>
#include <vector>

#include "base/leftover_mark.h"
#include "supervisor/backend_registry.h"

namespace isoscope {

void RegisterBuiltinBackends(BackendRegistry& registry);

// Removes what backends of an isoscope that was killed outright left on the
// host (run cgroups whose owner is gone; also below the `isoscope`
// directories among the parents dead leftover marks recorded): how many were
// removed, and whether the sweep was complete.
SweepResult RemoveAbandonedBackendState(
    const std::vector<std::filesystem::path>& recorded_parents);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_
