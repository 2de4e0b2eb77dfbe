#include "base/temp_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>

namespace isoscope {

namespace {

constexpr std::string_view kLockSuffix = ".lock";

std::filesystem::path DefaultParent(std::filesystem::path parent) {
  if (!parent.empty()) return parent;
  const char* tmpdir = std::getenv("TMPDIR");
  return (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
}

std::filesystem::path LockPath(const std::filesystem::path& dir) {
  return dir.string() + std::string(kLockSuffix);
}

}  // namespace

Result<TempDir> TempDir::Create(std::string_view prefix,
                                std::filesystem::path parent) {
  parent = DefaultParent(std::move(parent));
  // Before the directory exists: a kill from here on leaves a dead mark,
  // which names the parent to sweep.
  std::error_code absolute_ec;
  std::filesystem::path absolute =
      std::filesystem::absolute(parent, absolute_ec);
  // An empty parent is not recorded; say it is unknown instead.
  if (absolute_ec) absolute = "?";
  LeftoverMark mark(absolute);
  std::string templ = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return FailErrno("creating temporary directory " + templ, errno);
  }
  std::filesystem::path path(templ);
  // The lock file is locked before it has a name (O_TMPFILE, then linkat),
  // so a concurrent RemoveAbandoned never finds it free.
  UniqueFd lock(::open(parent.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  std::string proc_path = "/proc/self/fd/" + std::to_string(lock.get());
  if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0 ||
      ::linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, LockPath(path).c_str(),
               AT_SYMLINK_FOLLOW) != 0) {
    int err = errno;
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    return FailErrno("locking temporary directory " + templ, err);
  }
  return TempDir(std::move(path), std::move(lock), std::move(mark));
}

int TempDir::RemoveAbandoned(std::string_view prefix,
                             std::filesystem::path parent) {
  parent = DefaultParent(std::move(parent));
  int removed = 0;
  std::error_code ec;
  std::filesystem::directory_iterator it(parent, ec);
  // increment(ec): a listing that fails half-way ends it, never throws.
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(kLockSuffix)) continue;
    UniqueFd lock(::open(entry.path().c_str(),
                         O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    // Held: its owner is alive. Only a free lock means an abandoned dir.
    if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;
    std::filesystem::path dir = entry.path().string().substr(
        0, entry.path().string().size() - kLockSuffix.size());
    // Only what this user made: in a shared /tmp anyone can plant a name
    // and a lock file. The lock file says who (the directory may belong to
    // the workload's user, who was given it as a workdir).
    struct stat lock_st {};
    struct stat dir_st {};
    // One link: not another file of ours linked here under this name.
    if (::fstat(lock.get(), &lock_st) != 0 || lock_st.st_uid != ::geteuid() ||
        lock_st.st_nlink != 1 || ::lstat(dir.c_str(), &dir_st) != 0 ||
        !S_ISDIR(dir_st.st_mode)) {
      continue;
    }
    std::error_code remove_ec;
    std::filesystem::remove_all(dir, remove_ec);
    // What could not be removed keeps its lock file, for the next sweep.
    if (remove_ec) continue;
    std::filesystem::remove(entry.path(), remove_ec);
    ++removed;
  }
  return removed;
}

TempDir::TempDir(TempDir&& other) noexcept
    : path_(std::exchange(other.path_, {})),
      lock_(std::move(other.lock_)),
      mark_(std::exchange(other.mark_, std::nullopt)) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    (void)Remove();
    path_ = std::exchange(other.path_, {});
    lock_ = std::move(other.lock_);
    mark_ = std::exchange(other.mark_, std::nullopt);
  }
  return *this;
}

TempDir::~TempDir() { (void)Remove(); }

Status TempDir::Remove() {
  if (path_.empty()) return {};
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    // Left for a sweep: the lock file stays, unlocked at once below (so a
    // sweep may try again, even one by another isoscope while this process
    // still runs: it only repeats the removal), and so does the mark until
    // this process exits (so the next start sweeps).
    if (mark_) mark_->Keep();
  } else {
    std::error_code lock_ec;
    std::filesystem::remove(LockPath(path_), lock_ec);
  }
  lock_.Reset();
  mark_.reset();
  std::filesystem::path removed = std::exchange(path_, {});
  if (ec) {
    return FailErrno("removing temporary directory " + removed.string(),
                     ec.value());
  }
  return {};
}

}  // namespace isoscope
