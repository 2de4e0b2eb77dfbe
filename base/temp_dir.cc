#include "base/temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>

namespace isoscope {

Result<TempDir> TempDir::Create(std::string_view prefix,
                                std::filesystem::path parent) {
  if (parent.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    parent = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  }
  std::string templ = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return FailErrno("creating temporary directory " + templ, errno);
  }
  return TempDir(std::filesystem::path(templ));
}

TempDir::TempDir(TempDir&& other) noexcept
    : path_(std::exchange(other.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    (void)Remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

TempDir::~TempDir() { (void)Remove(); }

Status TempDir::Remove() {
  if (path_.empty()) return {};
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  std::filesystem::path removed = std::exchange(path_, {});
  if (ec) {
    return FailErrno("removing temporary directory " + removed.string(),
                     ec.value());
  }
  return {};
}

}  // namespace isoscope
