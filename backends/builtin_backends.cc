#include "backends/builtin_backends.h"

#include <memory>

#include "backends/native/native_backend.h"
#include "backends/ptrace/ptrace_backend.h"

namespace isoscope {

void RegisterBuiltinBackends(BackendRegistry& registry) {
  registry.Register("native",
                    "a plain host process: no isolation, the baseline",
                    [] { return std::make_unique<NativeBackend>(); });
  registry.Register(
      "ptrace",
      "a host process under a seccomp filter and a ptrace tracer: syscalls "
      "decided in the kernel or by isoscope, faults trapped and emulated",
      [] { return std::make_unique<PtraceBackend>(); });
}

}  // namespace isoscope
