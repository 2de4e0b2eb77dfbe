// Registers every backend isoscope ships with.
#ifndef ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_
#define ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_

#include "base/leftover_mark.h"
#include "supervisor/backend_registry.h"

namespace isoscope {

void RegisterBuiltinBackends(BackendRegistry& registry);

// Removes what backends of an isoscope that was killed outright left on the
// host (the container backend's run cgroups, whose owner is gone): how many
// were removed, and whether the sweep was complete.
SweepResult RemoveAbandonedBackendState();

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_
