#include "supervisor/cli/version.h"

#include <fmt/format.h>

namespace isoscope::cli {

std::string VersionText(const BackendRegistry& registry) {
  const BuildInfo build = ThisBuild();
  return fmt::format("isoscope {}\nrevision {}\nbuild {}\nbackends {}",
                     build.version, build.git_revision, build.build_type,
                     fmt::join(registry.Names(), " "));
}

}  // namespace isoscope::cli
