#include "backends/process/fs_credentials.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

tl::unexpected<Error> Internal(std::string message) {
  return Fail(ErrorCode::kInternal, std::move(message));
}

using CapSets =
    std::array<uint32_t, 6>;  // effective, permitted, inheritable x2

int64_t CapGet(CapSets& out) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  const int64_t rc = ::syscall(SYS_capget, &header, data);
  out = {data[0].effective, data[0].permitted, data[0].inheritable,
         data[1].effective, data[1].permitted, data[1].inheritable};
  return rc;
}

// pid 0: the calling thread only.
int64_t CapSet(const CapSets& sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{{sets[0], sets[1], sets[2]},
                                 {sets[3], sets[4], sets[5]}};
  return ::syscall(SYS_capset, &header, data);
}

// setfsuid/setfsgid with an invalid id change nothing and return the
// current one.
uid_t CurrentFsuid() {
  return static_cast<uid_t>(::syscall(SYS_setfsuid, static_cast<uid_t>(-1)));
}
gid_t CurrentFsgid() {
  return static_cast<gid_t>(::syscall(SYS_setfsgid, static_cast<gid_t>(-1)));
}

Result<std::vector<gid_t>> CurrentGroups() {
  const int count = ::getgroups(0, nullptr);
  if (count < 0) return FailErrno("getgroups", errno);
  std::vector<gid_t> groups(static_cast<size_t>(count));
  const int read = ::getgroups(count, groups.data());
  if (read < 0) return FailErrno("getgroups", errno);
  groups.resize(static_cast<size_t>(read));
  return groups;
}

}  // namespace

ScopedFsCredentials::~ScopedFsCredentials() {
  // Best effort when the owner returned early; Restore reports failures.
  if (entered_) (void)Restore();
}

Status ScopedFsCredentials::Enter(uid_t uid, gid_t gid,
                                  uint64_t effective_caps) {
  if (entered_) return Internal("ScopedFsCredentials entered twice");
  if (uid == static_cast<uid_t>(-1) || gid == static_cast<gid_t>(-1)) {
    return Internal("the workload's uid or gid is -1");
  }
  if (CapGet(saved_caps_) != 0) return FailErrno("capget", errno);
  auto groups = CurrentGroups();
  if (!groups) return tl::unexpected(std::move(groups).error());
  saved_groups_ = *std::move(groups);
  saved_fsuid_ = CurrentFsuid();
  saved_fsgid_ = CurrentFsgid();
  thread_ = ::gettid();
  entered_ = true;
  // From here on every failure restores what was changed.
  auto undo = [this](Error error) -> Status {
    if (Status restored = Restore(); !restored) {
      return tl::unexpected(std::move(restored).error());
    }
    return tl::unexpected(std::move(error));
  };
  // Raw calls: glibc's setgroups would change every thread of isoscope.
  // Each credential change costs microseconds (commit_creds), so only the
  // changes that make a difference are made: with no supplementary groups,
  // or only `gid`, fsgid alone already gives group `gid`'s access.
  groups_changed_ = !(saved_groups_.empty() ||
                      (saved_groups_.size() == 1 && saved_groups_[0] == gid));
  if (groups_changed_ && ::syscall(SYS_setgroups, 1, &gid) != 0) {
    return undo(Error::FromErrno("setgroups", errno));
  }
  ::syscall(SYS_setfsgid, gid);
  if (CurrentFsgid() != gid) {
    return undo(Error::FromErrno(fmt::format("setfsgid {}", gid), EPERM));
  }
  ::syscall(SYS_setfsuid, uid);
  if (CurrentFsuid() != uid) {
    return undo(Error::FromErrno(fmt::format("setfsuid {}", uid), EPERM));
  }
  // Last, as the calls above need CAP_SETUID and CAP_SETGID: keep only the
  // workload's capabilities effective (a uid 0 workload without
  // CAP_DAC_OVERRIDE must not read a 0600 file it does not own). Permitted
  // stays, so Restore can raise them again.
  CapSets reduced = saved_caps_;
  reduced[0] = saved_caps_[1] & static_cast<uint32_t>(effective_caps);
  reduced[3] = saved_caps_[4] & static_cast<uint32_t>(effective_caps >> 32);
  CapSets now{};
  if (CapGet(now) != 0) return undo(Error::FromErrno("capget", errno));
  if (now != reduced && CapSet(reduced) != 0) {
    return undo(Error::FromErrno("capset", errno));
  }
  return {};
}

Status ScopedFsCredentials::Restore() {
  if (!entered_) return {};
  if (::gettid() != thread_) {
    return Internal("ScopedFsCredentials restored on another thread");
  }
  entered_ = false;
  bool ok = true;
  if (groups_changed_) {
    // setgroups needs CAP_SETGID effective again.
    ok = ok && CapSet(saved_caps_) == 0;
    ok = ok && ::syscall(SYS_setgroups, saved_groups_.size(),
                         saved_groups_.data()) == 0;
  }
  // Going back to isoscope's own fsuid/fsgid (normally its euid/egid) needs
  // no capability; otherwise raise them first and try again.
  ::syscall(SYS_setfsuid, saved_fsuid_);
  ::syscall(SYS_setfsgid, saved_fsgid_);
  if (CurrentFsuid() != saved_fsuid_ || CurrentFsgid() != saved_fsgid_) {
    ok = ok && CapSet(saved_caps_) == 0;
    ::syscall(SYS_setfsuid, saved_fsuid_);
    ::syscall(SYS_setfsgid, saved_fsgid_);
  }
  // Back to fsuid 0 the kernel raised the permitted filesystem
  // capabilities, which may differ from what was effective before.
  CapSets now{};
  ok = ok && CapGet(now) == 0;
  if (ok && now != saved_caps_) {
    ok = CapSet(saved_caps_) == 0 && CapGet(now) == 0;
  }
  ok = ok && now == saved_caps_ && CurrentFsuid() == saved_fsuid_ &&
       CurrentFsgid() == saved_fsgid_;
  if (ok && groups_changed_) {
    auto groups = CurrentGroups();
    ok = groups && *groups == saved_groups_;
  }
  if (!ok) {
    return Internal(fmt::format(
        "thread {}: isoscope's filesystem credentials could not be restored",
        thread_));
  }
  return {};
}

ScopedOwnFsCredentials::ScopedOwnFsCredentials() {
  // Capabilities first: CAP_SETUID and CAP_SETGID may be what the thread
  // lowered. Raising effective to permitted cannot fail.
  caps_saved_ = CapGet(saved_caps_) == 0;
  if (caps_saved_) {
    CapSets raised = saved_caps_;
    raised[0] = raised[1];
    raised[3] = raised[4];
    (void)CapSet(raised);
  }
  saved_fsuid_ = static_cast<uid_t>(::syscall(SYS_setfsuid, ::geteuid()));
  saved_fsgid_ = static_cast<gid_t>(::syscall(SYS_setfsgid, ::getegid()));
}

ScopedOwnFsCredentials::~ScopedOwnFsCredentials() {
  // The ids while the capabilities to set them are still raised.
  ::syscall(SYS_setfsgid, saved_fsgid_);
  ::syscall(SYS_setfsuid, saved_fsuid_);
  if (caps_saved_) (void)CapSet(saved_caps_);
}

}  // namespace isoscope
