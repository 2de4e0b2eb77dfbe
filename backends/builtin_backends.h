// Registers every backend isoscope ships with.
#ifndef ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_
#define ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_

#include "supervisor/backend_registry.h"

namespace isoscope {

void RegisterBuiltinBackends(BackendRegistry& registry);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_BUILTIN_BACKENDS_H_
