#include "base/temp_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace isoscope {

namespace {

constexpr std::string_view kLockSuffix = ".lock";
// Random names tried before giving up (as mkdtemp does, in effect).
constexpr int kNameAttempts = 100;

// Six characters of [0-9A-Za-z], as mkdtemp's XXXXXX.
Result<std::string> RandomSuffix() {
  static constexpr std::string_view kAlphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::array<unsigned char, 6> bytes{};
  if (::getrandom(bytes.data(), bytes.size(), 0) !=
      static_cast<ssize_t>(bytes.size())) {
    return FailErrno("getrandom for a temporary directory's name", errno);
  }
  std::string suffix;
  for (unsigned char byte : bytes) suffix += kAlphabet[byte % kAlphabet.size()];
  return suffix;
}

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
  // Before anything exists: a kill from here on leaves a dead mark, which
  // names the parent to sweep.
  std::error_code absolute_ec;
  std::filesystem::path absolute =
      std::filesystem::absolute(parent, absolute_ec);
  // An empty parent is not recorded; say it is unknown instead.
  if (absolute_ec) absolute = "?";
  LeftoverMark mark(absolute);
  // The lock file is locked before it has a name (O_TMPFILE, then linkat),
  // so a concurrent RemoveAbandoned never finds it free; and it is named
  // before the directory is made, so that a kill at any point leaves
  // nothing RemoveAbandoned cannot find: a free lock file alone, or with
  // its directory.
  UniqueFd lock(::open(parent.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return FailErrno("locking a temporary directory in " + parent.string(),
                     errno);
  }
  const std::string proc_path = "/proc/self/fd/" + std::to_string(lock.get());
  for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
    auto suffix = RandomSuffix();
    if (!suffix) return tl::unexpected(suffix.error());
    std::filesystem::path path = parent / (std::string(prefix) + *suffix);
    const std::filesystem::path lock_path = LockPath(path);
    if (::linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, lock_path.c_str(),
                 AT_SYMLINK_FOLLOW) != 0) {
      if (errno == EEXIST) continue;
      return FailErrno("locking temporary directory " + path.string(), errno);
    }
    if (::mkdir(path.c_str(), 0700) == 0) {
      return TempDir(std::move(path), std::move(lock), std::move(mark));
    }
    const int err = errno;
    ::unlink(lock_path.c_str());
    if (err != EEXIST) {
      return FailErrno("creating temporary directory " + path.string(), err);
    }
  }
  return FailErrno(fmt::format("creating a temporary directory in {}: {} "
                               "random names tried, all taken",
                               parent.string(), kNameAttempts),
                   EEXIST);
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
        lock_st.st_nlink != 1) {
      continue;
    }
    if (::lstat(dir.c_str(), &dir_st) != 0) {
      // Its owner was killed before making the directory, or the directory
      // is gone (a workload may remove its own workdir): the lock file is
      // all that is left.
      if (errno == ENOENT && ::unlink(entry.path().c_str()) == 0) ++removed;
      continue;
    }
    // Something else in its place is not ours to remove.
    if (!S_ISDIR(dir_st.st_mode)) continue;
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
