#include "supervisor/workload_env.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "base/unique_fd.h"

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

namespace {

// `path` opened O_PATH beneath `root_fd`, symlinks and ".." kept inside it.
Result<UniqueFd> OpenInRoot(int root_fd, const std::string& path) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const long fd =  // NOLINT(google-runtime-int): syscall's type
      ::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how);
  if (fd < 0) return FailErrno(fmt::format("openat2 '{}'", path), errno);
  return UniqueFd(static_cast<int>(fd));
}

Result<UniqueFd> OpenRoot(const std::string& root) {
  UniqueFd fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return FailErrno(fmt::format("opening the root {}", root), errno);
  return fd;
}

}  // namespace

Result<std::string> ResolveExecutableInRoot(
    const std::string& root, const std::string& command, const std::string& cwd,
    const std::vector<std::string>& env) {
  namespace fs = std::filesystem;
  auto root_fd = OpenRoot(root);
  if (!root_fd) return tl::unexpected(root_fd.error());
  std::vector<fs::path> candidates;
  if (command.find('/') != std::string::npos) {
    candidates.push_back(fs::path(cwd) / command);
  } else {
    std::string path(kWorkloadPath);
    for (const std::string& entry : env) {
      if (entry.starts_with("PATH=")) path = entry.substr(5);
    }
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      candidates.push_back(fs::path(cwd) / (dir.empty() ? "." : dir) / command);
      start = end + 1;
    }
  }
  std::optional<fs::path> not_executable;
  for (const auto& candidate : candidates) {
    auto fd = OpenInRoot(root_fd->get(), candidate.string());
    if (!fd) continue;
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) continue;
    // The exec bits, as execve checks them for root (any of them); a
    // workload with other ids is refused by its own execve, which says so.
    if (S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
      return candidate.lexically_normal().string();
    }
    if (!not_executable) not_executable = candidate;
  }
  if (not_executable) {
    return Fail(ErrorCode::kNotExecutable,
                fmt::format("workload '{}' in the bundle's root {} is not an "
                            "executable file",
                            not_executable->lexically_normal().string(), root));
  }
  return Fail(ErrorCode::kNotFound,
              command.find('/') != std::string::npos
                  ? fmt::format("workload '{}' not found in the bundle's root "
                                "{}",
                                command, root)
                  : fmt::format("workload '{}' not found on the bundle's PATH "
                                "in its root {}",
                                command, root));
}

Result<std::string> CanonicalInRoot(const std::string& root,
                                    const std::string& path) {
  auto fd = OpenInRoot(root, path);
  if (!fd) return tl::unexpected(fd.error());
  std::error_code ec;
  const std::string root_real = std::filesystem::canonical(root, ec).string();
  const std::string real = std::filesystem::read_symlink(
                               fmt::format("/proc/self/fd/{}", fd->get()), ec)
                               .string();
  if (ec) return FailErrno(fmt::format("resolving '{}'", path), ec.value());
  // Beneath the root by RESOLVE_IN_ROOT; the prefix is the root's own path.
  if (root_real == "/") return real;
  if (real == root_real) return std::string("/");
  if (real.size() > root_real.size() && real.starts_with(root_real) &&
      real[root_real.size()] == '/') {
    return real.substr(root_real.size());
  }
  return Fail(ErrorCode::kInternal,
              fmt::format("'{}' resolved to '{}', outside the root {}", path,
                          real, root_real));
}

Result<UniqueFd> OpenInRoot(const std::string& root, const std::string& path) {
  auto root_fd = OpenRoot(root);
  if (!root_fd) return tl::unexpected(root_fd.error());
  auto fd = OpenInRoot(root_fd->get(), path);
  if (!fd) {
    const int error = fd.error().sys_errno();
    if (error != ENOENT && error != ENOTDIR) return fd;
    return Fail(ErrorCode::kNotFound,
                fmt::format("'{}' not found in the root {}", path, root),
                error);
  }
  return fd;
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
