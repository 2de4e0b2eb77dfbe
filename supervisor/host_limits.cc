#include "supervisor/host_limits.h"

#include <linux/capability.h>
#include <sys/resource.h>

#include <charconv>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "base/parse.h"

namespace isoscope {

namespace {

// Whether this process holds CAP_SYS_RESOURCE in its effective set, from
// /proc/self/status (CapEff, hexadecimal).
bool HasSysResource() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("CapEff:")) continue;
    const size_t begin = line.find_first_not_of(" \t", 7);
    if (begin == std::string::npos) return false;
    uint64_t caps = 0;
    const auto [end, ec] = std::from_chars(line.data() + begin,
                                           line.data() + line.size(), caps, 16);
    if (ec != std::errc() || end != line.data() + line.size()) return false;
    return ((caps >> CAP_SYS_RESOURCE) & 1) != 0;
  }
  return false;
}

}  // namespace

HostLimits ReadHostLimits() {
  HostLimits limits;
  if (HasSysResource()) {
    std::ifstream nr_open("/proc/sys/fs/nr_open");
    std::string text;
    if (std::getline(nr_open, text)) {
      if (std::optional<uint64_t> value = ParseUint(text)) {
        limits.max_open_files = value;
        limits.from_nr_open = true;
        return limits;
      }
    }
  }
  rlimit own{};
  if (::getrlimit(RLIMIT_NOFILE, &own) == 0 && own.rlim_max != RLIM_INFINITY) {
    limits.max_open_files = own.rlim_max;
  }
  return limits;
}

Status CheckPolicyFitsHost(const Policy& policy, const HostLimits& limits) {
  const std::optional<uint64_t>& wanted = policy.resources.open_files;
  if (wanted && limits.max_open_files && *wanted > *limits.max_open_files) {
    return Fail(
        ErrorCode::kPolicy,
        fmt::format("{}: resources.open_files: {} is more than this host "
                    "lets isoscope set ({} = {})",
                    policy.name, *wanted,
                    limits.from_nr_open ? "fs.nr_open"
                                        : "isoscope's own hard RLIMIT_NOFILE",
                    *limits.max_open_files));
  }
  return {};
}

}  // namespace isoscope
