#include "supervisor/oci_image.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/io.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"

namespace isoscope {
namespace {

constexpr size_t kMaxIndexBytes = size_t{1} << 20;
constexpr size_t kMaxUmociOutput = size_t{64} * 1024;

// Runs `argv` (found on PATH), stdin /dev/null, stdout and stderr captured
// together (the first kMaxUmociOutput bytes); its exit status, or an error
// when it could not start (ENOENT: not installed).
Result<int> RunCapturing(const std::vector<std::string>& argv,
                         std::string* output) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return FailErrno("pipe2", errno);
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (const std::string& arg : argv) {
    c_argv.push_back(const_cast<char*>(arg.c_str()));
  }
  c_argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, c_argv[0], &actions, nullptr,
                                     c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  write_end.Reset();
  if (spawned != 0) {
    return FailErrno(fmt::format("starting {}", argv[0]), spawned);
  }
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output->size() < kMaxUmociOutput) {
      output->append(buffer, static_cast<size_t>(n));
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return FailErrno("waiting for umoci", errno);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

Result<ImageReference> ParseImageReference(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 ||
      colon + 1 == text.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--image '{}': expected LAYOUT:TAG (an OCI image "
                            "layout directory and a tag in it)",
                            text));
  }
  return ImageReference{std::string(text.substr(0, colon)),
                        std::string(text.substr(colon + 1))};
}

Result<std::string> ManifestDigest(const ImageReference& image) {
  const std::string index = image.layout + "/index.json";
  auto text = ReadFileUpTo(index, kMaxIndexBytes);
  if (!text) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--image {}:{}: cannot read {} (not an OCI image "
                            "layout?): {}",
                            image.layout, image.tag, index,
                            std::strerror(text.error().sys_errno())));
  }
  const nlohmann::json json = nlohmann::json::parse(*text, nullptr, false);
  const auto bad_index = [&] {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--image {}:{}: {} is not an OCI image index",
                            image.layout, image.tag, index));
  };
  if (!json.is_object() || !json.contains("manifests") ||
      !json["manifests"].is_array()) {
    return bad_index();
  }
  for (const nlohmann::json& manifest : json["manifests"]) {
    if (!manifest.is_object()) return bad_index();
    const auto annotations = manifest.find("annotations");
    if (annotations == manifest.end() || !annotations->is_object()) continue;
    const auto name = annotations->find("org.opencontainers.image.ref.name");
    if (name == annotations->end() || !name->is_string() ||
        name->get<std::string>() != image.tag) {
      continue;
    }
    const auto digest = manifest.find("digest");
    if (digest == manifest.end() || !digest->is_string()) return bad_index();
    const std::string value = digest->get<std::string>();
    // Becomes a directory name: only the algorithm's hex digits.
    const size_t colon = value.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == value.size() ||
        value.find_first_not_of("0123456789abcdef", colon + 1) !=
            std::string::npos ||
        value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") !=
            colon) {
      return bad_index();
    }
    return value;
  }
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("--image {}:{}: the layout has no tag '{}'",
                          image.layout, image.tag, image.tag));
}

std::filesystem::path DefaultImageCacheDir() {
  // XDG: a relative $XDG_CACHE_HOME is invalid and must be ignored.
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') {
    return std::filesystem::path(xdg) / "isoscope" / "images";
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') {
    return std::filesystem::path(home) / ".cache" / "isoscope" / "images";
  }
  return std::filesystem::path("isoscope-images");
}

Result<UnpackedImage> UnpackImage(const ImageReference& image,
                                  const std::filesystem::path& cache_dir) {
  auto digest = ManifestDigest(image);
  if (!digest) return tl::unexpected(digest.error());
  std::string name = *digest;
  name[name.find(':')] = '-';
  const std::filesystem::path bundle = cache_dir / name;
  const UnpackedImage unpacked{bundle.string(), *digest};
  std::error_code ec;
  if (std::filesystem::is_regular_file(bundle / "config.json", ec)) {
    return unpacked;
  }
  std::filesystem::create_directories(cache_dir, ec);
  if (ec) {
    return FailErrno(
        fmt::format("creating the image cache {}", cache_dir.string()),
        ec.value());
  }
  TempDir::RemoveAbandoned("unpacking-", cache_dir);
  auto staging = TempDir::Create("unpacking-", cache_dir);
  if (!staging) return tl::unexpected(staging.error());
  std::vector<std::string> argv = {"umoci", "unpack"};
  if (::geteuid() != 0) argv.emplace_back("--rootless");
  argv.insert(argv.end(), {"--image", image.layout + ":" + image.tag,
                           staging->path().string()});
  std::string output;
  auto status = RunCapturing(argv, &output);
  if (!status && status.error().sys_errno() == ENOENT) {
    return Fail(ErrorCode::kUnavailable,
                "--image needs umoci to unpack the image (Debian package "
                "umoci); or unpack it yourself and use --bundle");
  }
  if (!status) return tl::unexpected(status.error());
  if (*status != 0) {
    while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) {
      output.pop_back();
    }
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--image {}:{}: umoci unpack failed (exit {}): {}",
                            image.layout, image.tag, *status, output));
  }
  if (::rename(staging->path().c_str(), bundle.c_str()) != 0) {
    // Another isoscope unpacked the same manifest meanwhile: use its.
    if ((errno == ENOTEMPTY || errno == EEXIST) &&
        std::filesystem::is_regular_file(bundle / "config.json", ec)) {
      return unpacked;
    }
    return FailErrno(
        fmt::format("moving the unpacked image to {}", bundle.string()), errno);
  }
  return unpacked;
}

Result<UnpackedImage> UnpackImage(std::string_view reference) {
  auto image = ParseImageReference(reference);
  if (!image) return tl::unexpected(image.error());
  return UnpackImage(*image, DefaultImageCacheDir());
}

}  // namespace isoscope
