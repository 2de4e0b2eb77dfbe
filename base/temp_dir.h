// A temporary directory removed with everything below it on destruction.
#ifndef ISOSCOPE_BASE_TEMP_DIR_H_
#define ISOSCOPE_BASE_TEMP_DIR_H_

#include <filesystem>
#include <string_view>

#include "base/error.h"

namespace isoscope {

class TempDir {
 public:
  // Creates <parent>/<prefix>XXXXXX (parent defaults to $TMPDIR or /tmp).
  static Result<TempDir> Create(std::string_view prefix,
                                std::filesystem::path parent = {});

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }
  // Removes the directory now; a moved-from or removed TempDir does nothing.
  Status Remove();

 private:
  explicit TempDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_TEMP_DIR_H_
