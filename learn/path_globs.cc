#include "learn/path_globs.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

#include <fmt/format.h>

#include "policies/yaml_text.h"

namespace isoscope {
namespace {

constexpr std::string_view kWorkdir = "{workdir}";

bool IsUnder(std::string_view path, std::string_view dir) {
  return path == dir || (path.starts_with(dir) && path.size() > dir.size() &&
                         path[dir.size()] == '/');
}

bool IsNumber(std::string_view component) {
  return !component.empty() &&
         std::all_of(component.begin(), component.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) != 0;
         });
}

// "/proc/4242/task/4243/stat" -> "/proc/*/task/*/stat": pids, tids and fd
// numbers differ from run to run.
std::string NumbersAsStars(std::string_view path) {
  std::string out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view component = path.substr(start, end - start);
    out += '/';
    out += IsNumber(component) ? std::string_view("*") : component;
    start = end + 1;
  }
  return out;
}

// Trees whose subdirectories each belong to one package or library:
// /usr/lib/python3.11/**, /usr/share/zoneinfo/**.
constexpr std::array<std::string_view, 10> kPackageTrees = {
    "/usr/lib/",     "/usr/lib64/",     "/usr/libexec/",     "/usr/share/",
    "/usr/include/", "/usr/local/lib/", "/usr/local/share/", "/lib/",
    "/lib64/",       "/etc/ssl/"};

// Where files are listed one by one however many are reached: bin
// directories (every program run is named), and the trees where secrets
// sit beside what programs read (/etc, homes, /proc of any process).
bool KeptExact(std::string_view dir) {
  static constexpr std::array<std::string_view, 6> kDirs = {
      "/", "/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin"};
  static constexpr std::array<std::string_view, 7> kTrees = {
      "/etc", "/root", "/home", "/proc", "/sys", "/dev", "/usr/local/bin"};
  return std::find(kDirs.begin(), kDirs.end(), dir) != kDirs.end() ||
         std::any_of(
             kTrees.begin(), kTrees.end(),
             [dir](std::string_view tree) { return IsUnder(dir, tree); });
}

// The tree glob that stands for `path`, or "" when it is kept exact (for
// now: many files of one directory may still become "dir/*").
std::string TreeGlob(PathIntent intent, const std::string& path) {
  const bool exec = intent == PathIntent::kExec;
  if (IsUnder(path, kWorkdir)) {
    return exec ? "" : fmt::format("{}/**", kWorkdir);
  }
  if (IsUnder(path, "/tmp")) return exec ? "" : "/tmp/**";
  if (IsUnder(path, "/dev/shm")) return exec ? "" : "/dev/shm/**";
  // A package's tree is read as a whole; writing or running in it stays
  // exact (one .pyc written must not let the workload rewrite the tree).
  if (intent != PathIntent::kRead) return "";
  for (std::string_view tree : kPackageTrees) {
    if (!path.starts_with(tree)) continue;
    const size_t slash = path.find('/', tree.size());
    if (slash == std::string::npos) return "";  // a file of the tree itself
    return path.substr(0, slash) + "/**";
  }
  return "";
}

void Add(GeneralisedPaths& out, const std::string& glob,
         const ObservedPath& observed) {
  GlobUse& use = out.globs[glob];
  if (use.paths++ == 0) use.example = observed.path;
  use.calls += observed.calls;
}

}  // namespace

GeneralisedPaths GeneralisePaths(PathIntent intent,
                                 const std::vector<ObservedPath>& paths) {
  GeneralisedPaths out;
  std::map<std::string, std::vector<ObservedPath>> exact_by_parent;
  for (const ObservedPath& observed : paths) {
    std::string_view literal = observed.path;
    if (literal.starts_with(kWorkdir)) literal.remove_prefix(kWorkdir.size());
    if (literal.find_first_of("*?{}") != std::string_view::npos) {
      out.notes.push_back(fmt::format(
          "{} path '{}' holds a glob character ('*', '?', '{{' or '}}'), "
          "which a glob cannot name exactly: not allowed",
          PathIntentName(intent), YamlCommentText(observed.path)));
      continue;
    }
    if (!IsUtf8(observed.path)) {
      out.notes.push_back(fmt::format(
          "{} path '{}' is not UTF-8, which a YAML policy cannot name: not "
          "allowed",
          PathIntentName(intent), YamlCommentText(observed.path)));
      continue;
    }
    std::string path = observed.path;
    if (IsUnder(path, "/proc") || IsUnder(path, "/dev/pts")) {
      path = NumbersAsStars(path);
    }
    if (std::string tree = TreeGlob(intent, path); !tree.empty()) {
      Add(out, tree, ObservedPath{observed.path, observed.calls});
      continue;
    }
    const size_t slash = path.rfind('/');
    std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    exact_by_parent[std::move(parent)].push_back(
        ObservedPath{std::move(path), observed.calls});
  }
  for (const auto& [parent, files] : exact_by_parent) {
    const bool many = files.size() >= kFilesForDirectoryGlob &&
                      intent != PathIntent::kExec && !KeptExact(parent) &&
                      !parent.starts_with(kWorkdir);
    for (const ObservedPath& file : files) {
      Add(out, many ? fmt::format("{}/*", parent) : file.path, file);
    }
  }
  return out;
}

}  // namespace isoscope
