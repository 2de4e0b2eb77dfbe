#include "base/leftover_mark.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>

#include "base/unique_fd.h"

namespace isoscope {

namespace {

namespace fs = std::filesystem;

// This process's mark: the file and its flock'ed descriptor while any
// LeftoverMark is held. `owner` is the pid that made it: a forked child
// inherits the state but must not remove its parent's mark.
struct MarkState {
  std::mutex mutex;
  int holders = 0;
  pid_t owner = 0;
  UniqueFd lock;
  fs::path path;
};

MarkState& State() {
  // Never destroyed: a mark may be released by a static destructor.
  static auto* state = new MarkState;
  return *state;
}

// The registry, made if missing (private to this user), when it can be
// trusted: a directory of ours that nobody else can write.
std::optional<fs::path> UsableRegistry() {
  std::optional<fs::path> dir = LeftoverRegistry();
  if (!dir) return std::nullopt;
  // The parent may be shared with the host facts cache (/run/isoscope),
  // which others read.
  ::mkdir(dir->parent_path().c_str(), 0755);
  ::mkdir(dir->c_str(), 0700);
  struct stat st {};
  if (::lstat(dir->c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return std::nullopt;
  }
  return dir;
}

// Makes this process's mark: locked before it has a name (O_TMPFILE, then
// linkat), so a concurrent FindDeadLeftoverMarks never finds it free.
void MakeMark(MarkState& state) {
  const std::optional<fs::path> dir = UsableRegistry();
  if (!dir) return;
  UniqueFd lock(::open(dir->c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) return;
  const std::string proc_path = "/proc/self/fd/" + std::to_string(lock.get());
  const pid_t pid = ::getpid();
  // A dead process of the same pid may have left its mark: another suffix.
  for (int attempt = 0; attempt < 16; ++attempt) {
    fs::path path =
        *dir / (std::to_string(pid) + "." + std::to_string(attempt));
    if (::linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, path.c_str(),
                 AT_SYMLINK_FOLLOW) == 0) {
      state.lock = std::move(lock);
      state.path = std::move(path);
      return;
    }
    if (errno != EEXIST) return;
  }
}

}  // namespace

std::optional<fs::path> LeftoverRegistry() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && runtime[0] == '/') {
    return fs::path(runtime) / "isoscope" / "leftovers";
  }
  if (::geteuid() == 0) return fs::path("/run/isoscope/leftovers");
  return std::nullopt;
}

LeftoverMark::LeftoverMark() {
  MarkState& state = State();
  const std::lock_guard guard(state.mutex);
  const pid_t pid = ::getpid();
  if (state.owner != pid) {
    // First mark of this process (or of a forked child, whose inherited
    // state is its parent's): the child makes its own.
    state.holders = 0;
    (void)state.lock.Release();  // the parent's descriptor, not ours to close
    state.path.clear();
    state.owner = pid;
  }
  if (state.holders++ == 0) MakeMark(state);
}

LeftoverMark::LeftoverMark(LeftoverMark&& other) noexcept
    : held_(std::exchange(other.held_, false)) {}

LeftoverMark& LeftoverMark::operator=(LeftoverMark&& other) noexcept {
  if (this != &other) {
    LeftoverMark released(std::move(*this));
    held_ = std::exchange(other.held_, false);
  }
  return *this;
}

LeftoverMark::~LeftoverMark() {
  if (!held_) return;
  MarkState& state = State();
  const std::lock_guard guard(state.mutex);
  if (state.owner != ::getpid() || state.holders == 0) return;
  if (--state.holders > 0) return;
  // Unlinked before the lock is dropped: nobody sees it free and named.
  if (!state.path.empty()) ::unlink(state.path.c_str());
  state.path.clear();
  state.lock.Reset();
}

std::optional<std::vector<fs::path>> FindDeadLeftoverMarks() {
  const std::optional<fs::path> dir = UsableRegistry();
  if (!dir) return std::nullopt;
  DIR* listing = ::opendir(dir->c_str());
  if (listing == nullptr) return std::nullopt;
  std::vector<fs::path> dead;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    const fs::path path = *dir / name;
    const UniqueFd mark(
        ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    // Held: its process is alive. Unopenable: not a mark of ours, ignored.
    if (mark && ::flock(mark.get(), LOCK_EX | LOCK_NB) == 0) {
      dead.push_back(path);
    }
  }
  ::closedir(listing);
  return dead;
}

void ForgetLeftoverMarks(const std::vector<fs::path>& marks) {
  for (const fs::path& mark : marks) ::unlink(mark.c_str());
}

}  // namespace isoscope
