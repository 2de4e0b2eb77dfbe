// argv/envp arrays for execve.
#ifndef ISOSCOPE_BASE_EXEC_ARGS_H_
#define ISOSCOPE_BASE_EXEC_ARGS_H_

#include <string>
#include <vector>

namespace isoscope {

// Pointers into `strings` followed by nullptr, as execve wants them. Built
// before fork (the child must not allocate); `strings` must outlive it.
inline std::vector<char*> ExecArgs(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_EXEC_ARGS_H_
