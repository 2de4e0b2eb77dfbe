// A temporary directory removed with everything below it on destruction.
// A sibling lock file (<dir>.lock, outside the directory so a workload using
// it as its cwd never sees it), made first, is flock'ed for the TempDir's
// lifetime: if the owner is killed outright, a later isoscope finds the lock
// free and removes what was left (RemoveAbandoned). The directory itself is
// removed without following a symbolic link found in it or in its place. The
// process holds a LeftoverMark while it has a TempDir, so a later isoscope
// lists the parent only when a process died holding one (SweepIfAnOwnerDied).
#ifndef ISOSCOPE_BASE_TEMP_DIR_H_
#define ISOSCOPE_BASE_TEMP_DIR_H_

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/leftover_mark.h"
#include "base/unique_fd.h"

namespace isoscope {

class TempDir {
 public:
  // Creates <parent>/<prefix>XXXXXX, mode 0700 (parent defaults to $TMPDIR
  // or /tmp).
  static Result<TempDir> Create(std::string_view prefix,
                                std::filesystem::path parent = {});

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  ~TempDir();

  // Removes the directories under `parent` (default as for Create) named
  // <prefix>... whose lock file is no longer held by anyone, with their lock
  // files, and such lock files whose directory is missing. Says how many
  // were removed (a directory and its lock file count once), and whether
  // the listing and every removal it tried succeeded.
  static SweepResult RemoveAbandoned(std::string_view prefix,
                                     std::filesystem::path parent = {});

  const std::filesystem::path& path() const { return path_; }
  // Removes the directory now; a moved-from or removed TempDir does nothing.
  Status Remove();

 private:
  TempDir(std::filesystem::path path, UniqueFd lock, LeftoverMark mark)
      : path_(std::move(path)),
        lock_(std::move(lock)),
        mark_(std::move(mark)) {}
  std::filesystem::path path_;
  UniqueFd lock_;                     // flock'ed <path_>.lock
  std::optional<LeftoverMark> mark_;  // until the directory is removed
};

// Tests: the suffixes (six characters of [0-9A-Za-z]) the next names of
// TempDir::Create take, in order, before random ones.
void SetTempDirSuffixesForTesting(std::vector<std::string> suffixes);

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_TEMP_DIR_H_
