#include "base/leftover_mark.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "base/unique_fd.h"

namespace isoscope {

namespace {

namespace fs = std::filesystem;

// Present once a whole sweep has run with the registry.
constexpr char kSwept[] = "swept";
// More marks than this (a registry nobody sweeps) are not read one by one:
// the sweep runs, as for a registry that cannot be trusted.
constexpr int kMaxMarksRead = 64;
// A mark's record of parents is read up to this much.
constexpr size_t kMaxMarkBytes = size_t{64} * 1024;

bool OwnedByUsAndPrivate(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
         st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// `name` below `dir`, made with `mode` if missing, opened without following
// a link, when it is a directory of ours that nobody else can write.
UniqueFd OpenOwnDirectory(int dir, const char* name, mode_t mode) {
  ::mkdirat(dir, name, mode);  // EEXIST is the usual answer
  UniqueFd fd(
      ::openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd || !OwnedByUsAndPrivate(fd.get())) return {};
  return fd;
}

fs::path& RegistryForTesting() {
  static auto* path = new fs::path;
  return *path;
}

// The registry, opened (every step by descriptor, so nothing can be
// swapped under a later step); invalid when there is none to trust.
UniqueFd OpenRegistry() {
  if (!RegistryForTesting().empty()) {
    const fs::path& registry = RegistryForTesting();
    const UniqueFd parent(::open(registry.parent_path().c_str(),
                                 O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent) return {};
    return OpenOwnDirectory(parent.get(), registry.filename().c_str(), 0700);
  }
  UniqueFd base;
  if (::geteuid() == 0) {
    base = UniqueFd(::open("/run", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  } else if (const char* runtime = std::getenv("XDG_RUNTIME_DIR");
             runtime != nullptr && runtime[0] == '/') {
    base = UniqueFd(
        ::open(runtime, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  // Another user's runtime directory (`su` keeps the variable) is not ours
  // to keep marks in.
  if (base && !OwnedByUsAndPrivate(base.get())) base.Reset();
  if (!base) return {};
  // The parent may be shared with the host facts cache (/run/isoscope),
  // which others read.
  const UniqueFd isoscope = OpenOwnDirectory(base.get(), "isoscope", 0755);
  if (!isoscope) return {};
  return OpenOwnDirectory(isoscope.get(), "leftovers", 0700);
}

// This process's mark while any LeftoverMark is held. `owner` is the pid
// that made the state: a forked child inherits it but makes its own.
struct MarkState {
  std::mutex mutex;
  pid_t owner = 0;
  int holders = 0;
  UniqueFd registry;
  UniqueFd mark;  // flock'ed
  std::string name;
  std::set<std::string> parents;
  off_t written = 0;
};

MarkState& State() {
  // Never destroyed: a mark may be released by a static destructor.
  static auto* state = new MarkState;
  return *state;
}

// Says that nothing can be known from the registry while this process
// lives and until a whole sweep after it: for a process that could not
// mark itself. The shared lock rides on the registry's descriptor, which is
// then kept open (close-on-exec) for the rest of this process's life, so
// that no other descriptor has to be opened (and could fail to be) here; a
// sweep trusts the registry again only when it can lock it exclusively. A
// mark this process holds is then left for the next sweep to remove. Where
// `swept` cannot be removed (a registry made read-only), a kill of this
// process goes unnoticed: nothing on disk can say otherwise.
//
// Returns 0 when a kill of this process will be noticed: the registry is
// untrusted, or there is none that anybody could use (every start then
// sweeps). Otherwise the errno that kept this process from the registry
// (it lacked a descriptor or memory: EMFILE, ENFILE, ENOMEM), or from
// untrusting it.
int Untrust(MarkState& state) {
  if (!state.registry) {
    errno = 0;
    state.registry = OpenRegistry();
  }
  if (!state.registry) return IsShortage(errno) ? errno : 0;
  int error = 0;
  if (::flock(state.registry.get(), LOCK_SH) != 0) error = errno;
  if (::unlinkat(state.registry.get(), kSwept, 0) != 0) error = errno;
  (void)state.registry.Release();  // NOLINT: kept open on purpose
  // A registry that cannot be changed (EROFS) is the case said above.
  return IsShortage(error) ? error : 0;
}

// Makes this process's mark: locked before it has a name (O_TMPFILE, then
// linkat), so a concurrent sweep never finds it free.
bool MakeMark(MarkState& state) {
  state.registry = OpenRegistry();
  if (!state.registry) return false;
  UniqueFd mark(::openat(state.registry.get(), ".",
                         O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!mark || ::flock(mark.get(), LOCK_EX | LOCK_NB) != 0) return false;
  const std::string proc_path = "/proc/self/fd/" + std::to_string(mark.get());
  const std::string pid = std::to_string(::getpid());
  // Dead processes of the same pid may have left marks: another suffix.
  for (int attempt = 0; attempt < kMaxMarksRead; ++attempt) {
    std::string name = pid + "." + std::to_string(attempt);
    if (::linkat(AT_FDCWD, proc_path.c_str(), state.registry.get(),
                 name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      state.mark = std::move(mark);
      state.name = std::move(name);
      state.written = 0;
      return true;
    }
    if (errno != EEXIST) return false;
  }
  return false;
}

bool RecordParent(MarkState& state, const fs::path& parent) {
  // A line per parent: a name with a newline cannot be recorded.
  if (!parent.is_absolute() ||
      parent.string().find('\n') != std::string::npos) {
    return false;
  }
  if (!state.parents.insert(parent.string()).second) return true;
  const std::string line = parent.string() + "\n";
  if (::pwrite(state.mark.get(), line.data(), line.size(), state.written) !=
      static_cast<ssize_t>(line.size())) {
    return false;
  }
  state.written += static_cast<off_t>(line.size());
  return true;
}

// A dead mark: its descriptor (holding its lock), what identifies its
// file, and the parents it recorded.
struct DeadMark {
  UniqueFd fd;
  std::string name;
  dev_t device = 0;
  ino_t inode = 0;
};

// Reads the parents a mark recorded: absolute paths, a line each.
void ReadParents(int fd, std::set<fs::path>& parents) {
  std::string text(kMaxMarkBytes, '\0');
  const ssize_t n = ::pread(fd, text.data(), text.size(), 0);
  if (n <= 0) return;
  text.resize(static_cast<size_t>(n));
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    if (end == std::string_view::npos) break;  // a line being written
    const std::string_view line = rest.substr(0, end);
    if (!line.empty() && line.front() == '/') parents.emplace(line);
    rest.remove_prefix(end + 1);
  }
}

}  // namespace

LeftoverMark::LeftoverMark(const fs::path& parent) : owner_(::getpid()) {
  MarkState& state = State();
  const std::lock_guard guard(state.mutex);
  if (state.owner != owner_) {
    // A forked child: what it inherited is its parent's mark; closing these
    // copies leaves the parent's lock held.
    state.registry.Reset();
    state.mark.Reset();
    state.name.clear();
    state.parents.clear();
    state.holders = 0;
    state.owner = owner_;
  }
  ++state.holders;
  const bool marked = state.mark ? true : MakeMark(state);
  if (!marked || (!parent.empty() && !RecordParent(state, parent))) {
    unrecorded_errno_ = Untrust(state);
  }
}

void LeftoverMark::Keep() { owner_ = 0; }

LeftoverMark::LeftoverMark(LeftoverMark&& other) noexcept
    : owner_(std::exchange(other.owner_, 0)),
      unrecorded_errno_(other.unrecorded_errno_) {}

LeftoverMark& LeftoverMark::operator=(LeftoverMark&& other) noexcept {
  if (this != &other) {
    LeftoverMark released(std::move(*this));
    owner_ = std::exchange(other.owner_, 0);
    unrecorded_errno_ = other.unrecorded_errno_;
  }
  return *this;
}

LeftoverMark::~LeftoverMark() {
  if (owner_ == 0 || owner_ != ::getpid()) return;
  MarkState& state = State();
  const std::lock_guard guard(state.mutex);
  if (state.owner != owner_ || state.holders == 0) return;
  if (--state.holders > 0) return;
  // Unlinked before the lock is dropped: nobody sees it free and named.
  if (state.mark) ::unlinkat(state.registry.get(), state.name.c_str(), 0);
  state.mark.Reset();
  state.name.clear();
  state.parents.clear();
}

bool SweepIfAnOwnerDied(
    const std::function<SweepResult(const std::vector<fs::path>&)>& sweep) {
  const UniqueFd registry = OpenRegistry();
  if (!registry) {
    sweep({});
    return true;
  }
  struct stat swept {};
  bool trusted =
      ::fstatat(registry.get(), kSwept, &swept, AT_SYMLINK_NOFOLLOW) == 0;
  std::vector<DeadMark> dead;
  std::set<fs::path> parents;
  DIR* listing = ::fdopendir(::dup(registry.get()));
  if (listing == nullptr) {
    trusted = false;
  } else {
    int listed = 0;
    while (const dirent* entry = ::readdir(listing)) {
      const std::string_view name = entry->d_name;
      if (name == "." || name == ".." || name == kSwept) continue;
      if (++listed > kMaxMarksRead) {
        trusted = false;
        break;
      }
      UniqueFd mark(::openat(registry.get(), entry->d_name,
                             O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
      struct stat st {};
      // Held: its process is alive. Not a regular file: not a mark.
      if (!mark || ::fstat(mark.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
          ::flock(mark.get(), LOCK_EX | LOCK_NB) != 0) {
        continue;
      }
      ReadParents(mark.get(), parents);
      dead.push_back(
          DeadMark{std::move(mark), std::string(name), st.st_dev, st.st_ino});
    }
    ::closedir(listing);
  }
  if (trusted && dead.empty()) return false;
  // What could not be looked at or removed (this process lacked a
  // descriptor, say) keeps its dead marks, for the next start.
  if (!sweep(std::vector<fs::path>(parents.begin(), parents.end())).complete) {
    return true;
  }
  // Only the files read: a name reused since by a live process (its pid
  // again) is another file.
  for (const DeadMark& mark : dead) {
    struct stat now {};
    if (::fstatat(registry.get(), mark.name.c_str(), &now,
                  AT_SYMLINK_NOFOLLOW) == 0 &&
        now.st_dev == mark.device && now.st_ino == mark.inode) {
      ::unlinkat(registry.get(), mark.name.c_str(), 0);
    }
  }
  // Not while a process that could not mark itself lives (it holds a
  // shared lock on the registry). Nor where marks cannot be made: they need
  // O_TMPFILE, tried here rather than at every start (an inode made and
  // freed, about 0.1 ms on ext4); a process that later fails to make its
  // mark untrusts the registry itself.
  const UniqueFd exclusive(
      ::openat(registry.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!trusted && exclusive &&
      ::flock(exclusive.get(), LOCK_EX | LOCK_NB) == 0 &&
      UniqueFd(::openat(registry.get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
                        0600))) {
    const UniqueFd made(::openat(registry.get(), kSwept,
                                 O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                                 0600));
  }
  return true;
}

void SetLeftoverRegistryForTesting(const fs::path& registry) {
  RegistryForTesting() = registry;
}

}  // namespace isoscope
