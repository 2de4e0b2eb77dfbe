#include "base/temp_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace isoscope {

namespace {

constexpr std::string_view kLockSuffix = ".lock";
// Random names tried before giving up (as mkdtemp does, in effect).
constexpr int kNameAttempts = 100;

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kSuffixLength = 6;

std::deque<std::string>& SuffixesForTesting() {
  static auto* suffixes = new std::deque<std::string>;
  return *suffixes;
}

// Six characters of [0-9A-Za-z], as mkdtemp's XXXXXX. Never waits for the
// kernel's entropy pool (early in a boot): the clock, the pid and a
// counter then, as glibc's mkdtemp does.
std::string RandomSuffix() {
  if (!SuffixesForTesting().empty()) {
    std::string suffix = std::move(SuffixesForTesting().front());
    SuffixesForTesting().pop_front();
    return suffix;
  }
  std::array<unsigned char, kSuffixLength> bytes{};
  if (::getrandom(bytes.data(), bytes.size(), GRND_NONBLOCK) !=
      static_cast<ssize_t>(bytes.size())) {
    static std::atomic<uint64_t> counter{0};
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    // splitmix64 of the three.
    uint64_t x = (static_cast<uint64_t>(now.tv_nsec) ^
                  (static_cast<uint64_t>(now.tv_sec) << 20)) +
                 (static_cast<uint64_t>(::getpid()) << 40) +
                 counter.fetch_add(1) * 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    for (unsigned char& byte : bytes) {
      byte = static_cast<unsigned char>(x);
      x >>= 8;
    }
  }
  std::string suffix;
  for (unsigned char byte : bytes) suffix += kAlphabet[byte % kAlphabet.size()];
  return suffix;
}

// Whether `name` is what Create names a lock file: `prefix`, six characters
// of the alphabet, ".lock". A sweep removes a lock file alone only then:
// another program's `isoscope-whatever.lock` is not ours.
bool IsCreatedLockName(std::string_view name, std::string_view prefix) {
  if (name.size() != prefix.size() + kSuffixLength + kLockSuffix.size() ||
      !name.starts_with(prefix) || !name.ends_with(kLockSuffix)) {
    return false;
  }
  const std::string_view suffix = name.substr(prefix.size(), kSuffixLength);
  return suffix.find_first_not_of(kAlphabet) == std::string_view::npos;
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
  if (mark.unrecorded_errno() != 0) {
    return FailErrno(
        "creating a temporary directory in " + parent.string() +
            ": no leftover mark could be recorded for it, so a kill of this "
            "process would leave it where no later isoscope looks",
        mark.unrecorded_errno());
  }
  // The lock file is locked before it has a name (O_TMPFILE, then linkat),
  // so a concurrent RemoveAbandoned never finds it free; and it is named
  // before the directory is made, so that a kill at any point leaves
  // nothing RemoveAbandoned cannot find: a free lock file alone, or with
  // its directory.
  UniqueFd lock;
  for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
    if (!lock) {
      // A file unlinked after its first link cannot be linked again: a
      // new one after a name whose directory was taken.
      lock = UniqueFd(
          ::open(parent.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
      // 0600 whatever the umask: the shape a sweep recognises.
      if (!lock || ::fchmod(lock.get(), 0600) != 0 ||
          ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
        return FailErrno("locking a temporary directory in " + parent.string(),
                         errno);
      }
    }
    std::filesystem::path path =
        parent / (std::string(prefix) + RandomSuffix());
    const std::filesystem::path lock_path = LockPath(path);
    const std::string proc_path = "/proc/self/fd/" + std::to_string(lock.get());
    if (::linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, lock_path.c_str(),
                 AT_SYMLINK_FOLLOW) != 0) {
      if (errno == EEXIST) continue;
      return FailErrno("locking temporary directory " + path.string(), errno);
    }
    if (::mkdir(path.c_str(), 0700) == 0) {
      return TempDir(std::move(path), std::move(lock), std::move(mark));
    }
    // Taken (by anyone: in a shared /tmp, a name can be planted between
    // the lock file's link and the mkdir): another name.
    const int err = errno;
    ::unlink(lock_path.c_str());
    lock.Reset();
    if (err != EEXIST) {
      return FailErrno("creating temporary directory " + path.string(), err);
    }
  }
  return FailErrno(fmt::format("creating a temporary directory in {}: {} "
                               "random names tried, all taken",
                               parent.string(), kNameAttempts),
                   EEXIST);
}

SweepResult TempDir::RemoveAbandoned(std::string_view prefix,
                                     std::filesystem::path parent) {
  parent = DefaultParent(std::move(parent));
  SweepResult result;
  // Only a shortage of this process makes a sweep incomplete: what fails
  // otherwise (a name gone meanwhile, a file of another user, a directory
  // the workload made unremovable) would fail at every start.
  const auto failed = [&result](int error) {
    if (IsShortage(error)) result.complete = false;
  };
  std::error_code ec;
  std::filesystem::directory_iterator it(parent, ec);
  // increment(ec): a listing that fails half-way ends it, never throws.
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(kLockSuffix)) continue;
    UniqueFd lock(::open(entry.path().c_str(),
                         O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!lock) {
      failed(errno);
      continue;
    }
    // Held: its owner is alive. Only a free lock means an abandoned dir.
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;
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
      if (errno != ENOENT) {
        failed(errno);
        continue;
      }
      // Its owner was killed before making the directory, or the directory
      // is gone (a workload may remove its own workdir): the lock file is
      // all that is left, if it is one Create made (named so, empty,
      // 0600): not another program's lock file under a similar name.
      if (IsCreatedLockName(name, prefix) && S_ISREG(lock_st.st_mode) &&
          lock_st.st_size == 0 && (lock_st.st_mode & 07777) == 0600) {
        if (::unlink(entry.path().c_str()) == 0) {
          ++result.removed;
        } else {
          failed(errno);
        }
      }
      continue;
    }
    // Something else in its place is not ours to remove.
    if (!S_ISDIR(dir_st.st_mode)) continue;
    std::error_code remove_ec;
    std::filesystem::remove_all(dir, remove_ec);
    // What could not be removed keeps its lock file, for the next sweep.
    if (remove_ec) {
      failed(remove_ec.value());
      continue;
    }
    std::filesystem::remove(entry.path(), remove_ec);
    ++result.removed;
  }
  // A parent that does not exist holds nothing to sweep.
  if (ec) failed(ec.value());
  return result;
}

void SetTempDirSuffixesForTesting(std::vector<std::string> suffixes) {
  SuffixesForTesting().assign(std::make_move_iterator(suffixes.begin()),
                              std::make_move_iterator(suffixes.end()));
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
