#include "backends/builtin_backends.h"

#include <memory>

#include "backends/native/native_backend.h"

namespace isoscope {

void RegisterBuiltinBackends(BackendRegistry& registry) {
  registry.Register("native",
                    "a plain host process: no isolation, the baseline",
                    [] { return std::make_unique<NativeBackend>(); });
}

}  // namespace isoscope
