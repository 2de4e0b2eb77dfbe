// The catalog of isoscope's built-in workloads: the freestanding benchmark
// and probe programs built under workloads/, found at run time.
#ifndef ISOSCOPE_WORKLOADS_CATALOG_H_
#define ISOSCOPE_WORKLOADS_CATALOG_H_

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isoscope {

struct BuiltinWorkload {
  std::string name;         // "hello", "syscall-storm", "probes/int80"
  std::string description;  // one line, for `isoscope workloads`
  std::filesystem::path path;
  // What it measures or attacks: "bench", "filter bypass", "magic links",
  // "identity", ... (the groups of workloads/README.md).
  std::string category;
};

// The built-in workloads whose program exists in one of the search
// directories (see FindBuiltinWorkload), in catalog order.
std::vector<BuiltinWorkload> ListBuiltinWorkloads();

// The program of the built-in workload `name`, or nullopt if the name is not
// in the catalog or its program is not found. Searched, first hit wins:
// $ISOSCOPE_WORKLOADS_DIR, <dir of /proc/self/exe>/workloads,
// <dir of /proc/self/exe>/../libexec/isoscope/workloads.
std::optional<std::filesystem::path> FindBuiltinWorkload(std::string_view name);

// Whether `program` is the program of a built-in workload (as found by
// FindBuiltinWorkload; compared after resolving symlinks). Only the entries
// named as `program` or the file it resolves to are looked up.
bool IsBuiltinWorkloadProgram(const std::filesystem::path& program);

}  // namespace isoscope

#endif  // ISOSCOPE_WORKLOADS_CATALOG_H_
