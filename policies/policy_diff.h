// `isoscope policy diff A B`: what one policy allows that the other does
// not, section by section, so a user can see what a learned or imported
// policy adds to a preset, or review a widened one.
#ifndef ISOSCOPE_POLICIES_POLICY_DIFF_H_
#define ISOSCOPE_POLICIES_POLICY_DIFF_H_

#include <string>
#include <vector>

#include "policies/policy.h"

namespace isoscope {

// One section's differences, one line each, in words naming both policies
// (by `a_name` and `b_name`). A section that does not differ is absent.
struct SectionDiff {
  std::string section;  // "syscalls", "faults", "resources", ...
  std::vector<std::string> lines;
  bool operator==(const SectionDiff&) const = default;
};

// Syscalls are compared by what each policy's compiled plan does with each
// x86-64 syscall (allowed, denied with an errno, killed, or decided per
// call by named rules), grouped by the pair of outcomes; every other
// section field by field. Empty when the policies contain the same.
std::vector<SectionDiff> DiffPolicies(const Policy& a, const Policy& b,
                                      const std::string& a_name,
                                      const std::string& b_name);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_POLICY_DIFF_H_
