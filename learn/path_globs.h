// Paths a workload reached, generalised into the globs a person would write
// for them (see learned_policy.h for the rules), with what each glob stands
// for so the policy can say it.
#ifndef ISOSCOPE_LEARN_PATH_GLOBS_H_
#define ISOSCOPE_LEARN_PATH_GLOBS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "policies/policy.h"

namespace isoscope {

struct ObservedPath {
  std::string path;  // normalised; "{workdir}/..." under the workdir
  uint64_t calls = 0;
};

struct GlobUse {
  uint64_t paths = 0;
  uint64_t calls = 0;
  std::string example;  // the first path it stands for
};

struct GeneralisedPaths {
  std::map<std::string, GlobUse> globs;
  std::vector<std::string> notes;  // paths left out, and why
};

// A directory with at least this many files reached with one intent (not
// exec, and not in a tree kept exact: /etc, homes, /proc, /sys, /dev, a bin
// directory) becomes "dir/*".
inline constexpr size_t kFilesForDirectoryGlob = 8;

GeneralisedPaths GeneralisePaths(PathIntent intent,
                                 const std::vector<ObservedPath>& paths);

}  // namespace isoscope

#endif  // ISOSCOPE_LEARN_PATH_GLOBS_H_
