#include "supervisor/workload_env.h"

namespace isoscope {

std::vector<std::string> WorkloadEnvironment(
    const std::string& workdir, const std::vector<std::string>& extra) {
  std::vector<std::string> env = {
      "PATH=" + std::string(kWorkloadPath),
      "HOME=" + workdir,
      "LANG=C",
  };
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

}  // namespace isoscope
