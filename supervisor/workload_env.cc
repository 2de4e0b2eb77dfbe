#include "supervisor/workload_env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

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

Result<std::string> ResolveExecutable(const std::string& command) {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (command.find('/') != std::string::npos) {
    candidates.push_back(fs::absolute(command));
  } else {
    const char* path_env = std::getenv("PATH");
    std::string path =
        path_env != nullptr ? path_env : std::string(kWorkloadPath);
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      candidates.push_back(fs::path(dir.empty() ? "." : dir) / command);
      start = end + 1;
    }
  }
  std::optional<fs::path> not_executable;
  for (const auto& candidate : candidates) {
    struct stat st {};
    if (::stat(candidate.c_str(), &st) != 0) continue;
    if (S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return fs::absolute(candidate).lexically_normal().string();
    }
    if (!not_executable) not_executable = candidate;
  }
  if (not_executable) {
    return Fail(ErrorCode::kNotExecutable,
                fmt::format("workload '{}' is not an executable file",
                            not_executable->string()));
  }
  return Fail(ErrorCode::kNotFound,
              command.find('/') != std::string::npos
                  ? fmt::format("workload '{}' not found", command)
                  : fmt::format("workload '{}' not found on PATH", command));
}

Result<std::string> CopyProgramIntoWorkdir(const std::string& program,
                                           const std::string& workdir) {
  const std::filesystem::path copy = std::filesystem::path(workdir) /
                                     std::filesystem::path(program).filename();
  std::error_code ec;
  std::filesystem::copy_file(program, copy, ec);
  if (ec) {
    return FailErrno(
        fmt::format("copying the program {} into {}", program, workdir),
        ec.value());
  }
  return copy.string();
}

}  // namespace isoscope
