#include "backends/process/exec_image.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/io.h"

namespace isoscope {
namespace {

// A new image's maps are a handful of lines; a larger file is not one.
constexpr size_t kMapsLimit = size_t{1} << 20;

// One line of /proc/<pid>/maps: "start-end perms offset major:minor inode
// path".
struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  dev_t device = 0;
  uint64_t inode = 0;
};

std::optional<Mapping> ParseMapping(const std::string& line) {
  Mapping m;
  unsigned major = 0;
  unsigned minor = 0;
  char perms[8] = {};
  uint64_t offset = 0;
  if (std::sscanf(line.c_str(),
                  "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64,
                  &m.start, &m.end, perms, &offset, &major, &minor,
                  &m.inode) != 7) {
    return std::nullopt;
  }
  m.device = makedev(major, minor);
  return m;
}

}  // namespace

ExecImage ReadExecImage(pid_t pid) {
  ExecImage image;
  const std::string exe = fmt::format("/proc/{}/exe", pid);
  auto program = ReadLinkText(exe);
  image.program = program ? *program : "/proc/self/exe";
  struct stat program_file {};
  const bool program_known = ::stat(exe.c_str(), &program_file) == 0;

  auto maps = ReadFileUpTo(fmt::format("/proc/{}/maps", pid), kMapsLimit);
  if (!maps || maps->size() > kMapsLimit) {
    image.interpreters.emplace_back("/proc/self/map_files");
    return image;
  }
  std::set<std::pair<dev_t, uint64_t>> seen;
  std::string_view rest = *maps;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const std::string line(rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view()
                                             : rest.substr(newline + 1);
    const std::optional<Mapping> m = ParseMapping(line);
    if (!m || m->inode == 0) continue;  // anonymous, stack, vdso
    if (program_known && m->device == program_file.st_dev &&
        m->inode == program_file.st_ino) {
      continue;
    }
    if (!seen.emplace(m->device, m->inode).second) continue;
    const std::string range = fmt::format("{:x}-{:x}", m->start, m->end);
    auto file = ReadLinkText(fmt::format("/proc/{}/map_files/{}", pid, range));
    std::string path = file ? *file : "/proc/self/map_files/" + range;
    if (path != image.program) image.interpreters.push_back(std::move(path));
  }
  return image;
}

}  // namespace isoscope
