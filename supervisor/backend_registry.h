// Backends by name. The CLI registers the built-in ones explicitly (no static
// initialisers), tests register fakes.
#ifndef ISOSCOPE_SUPERVISOR_BACKEND_REGISTRY_H_
#define ISOSCOPE_SUPERVISOR_BACKEND_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "supervisor/backend.h"

namespace isoscope {

class BackendRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Backend>()>;

  struct Entry {
    std::string name;
    std::string description;  // one line for --help and doctor
    Factory factory;
    // A backend that confines itself (the kvm VMM's seccomp filter): the
    // host syscalls it may still make, which is all of the host a workload
    // can reach through it. Empty: the plan says what the workload reaches.
    std::vector<std::string> host_syscall_surface;
  };

  // Registering a name twice replaces the earlier entry.
  void Register(std::string name, std::string description, Factory factory,
                std::vector<std::string> host_syscall_surface = {});

  // Error kInvalidArgument naming the known backends if `name` is unknown.
  Result<std::unique_ptr<Backend>> Create(std::string_view name) const;
  const Entry* Find(std::string_view name) const;
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<std::string> Names() const;

  // `--backends` values: "all" (every registered backend, in registration
  // order) or a comma-separated list of registered names; repeats are
  // dropped. An empty or unknown name is a kInvalidArgument error.
  Result<std::vector<std::string>> Select(std::string_view list) const;

 private:
  std::vector<Entry> entries_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_BACKEND_REGISTRY_H_
