#include "backends/process/exec_image.h"

#include <elf.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "base/io.h"

namespace isoscope {
namespace {

constexpr size_t kAuxvLimit = size_t{64} * 1024;
constexpr size_t kMapsLimit = size_t{16} * 1024 * 1024;

// AT_BASE from /proc/<pid>/auxv; nullopt when it cannot be read.
std::optional<uint64_t> InterpreterBase(pid_t pid) {
  auto auxv = ReadFileUpTo(fmt::format("/proc/{}/auxv", pid), kAuxvLimit);
  if (!auxv) return std::nullopt;
  const std::string& bytes = *auxv;
  for (size_t at = 0; at + 2 * sizeof(uint64_t) <= bytes.size();
       at += 2 * sizeof(uint64_t)) {
    uint64_t type = 0;
    uint64_t value = 0;
    std::memcpy(&type, bytes.data() + at, sizeof type);
    std::memcpy(&value, bytes.data() + at + sizeof type, sizeof value);
    if (type == AT_NULL) break;
    if (type == AT_BASE) return value;
  }
  return uint64_t{0};
}

// The end of the mapping that starts at `start`, from /proc/<pid>/maps.
std::optional<uint64_t> MappingEnd(pid_t pid, uint64_t start) {
  auto maps = ReadFileUpTo(fmt::format("/proc/{}/maps", pid), kMapsLimit);
  if (!maps) return std::nullopt;
  std::string_view rest = *maps;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const std::string line(rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view()
                                             : rest.substr(newline + 1);
    uint64_t begin = 0;
    uint64_t end = 0;
    if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64, &begin, &end) == 2 &&
        begin == start) {
      return end;
    }
  }
  return std::nullopt;
}

}  // namespace

ExecImage ReadExecImage(pid_t pid) {
  ExecImage image;
  auto program = ReadLinkText(fmt::format("/proc/{}/exe", pid));
  image.program = program ? *program : "/proc/self/exe";
  const std::optional<uint64_t> base = InterpreterBase(pid);
  if (base && *base == 0) return image;  // no interpreter
  const std::optional<uint64_t> end =
      base ? MappingEnd(pid, *base) : std::nullopt;
  if (!end) {
    image.interpreter = "/proc/self/map_files";
    return image;
  }
  const std::string link =
      fmt::format("/proc/{}/map_files/{:x}-{:x}", pid, *base, *end);
  auto interpreter = ReadLinkText(link);
  image.interpreter =
      interpreter ? *interpreter
                  : fmt::format("/proc/self/map_files/{:x}-{:x}", *base, *end);
  return image;
}

}  // namespace isoscope
