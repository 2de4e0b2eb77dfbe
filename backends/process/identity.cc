#include "backends/process/identity.h"

#include <sys/mount.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "backends/process/network.h"
#include "base/unique_fd.h"

namespace isoscope {
namespace {

// Who a workload without an id of its own is on the host when it runs in a
// user namespace.
constexpr uint32_t kNobody = 65534;

}  // namespace

HostIds HostIdsFor(const Identity& identity) {
  HostIds ids{identity.uid, identity.gid};
  if (identity.user_namespace) {
    ids.uid = identity.uid.value_or(kNobody);
    ids.gid = identity.gid.value_or(kNobody);
  }
  return ids;
}

Status GiveScratchWorkdir(const Workload& workload, const HostIds& ids) {
  if (!workload.scratch_workdir) return {};
  UniqueFd dir(::open(workload.workdir.c_str(),
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return FailErrno("opening " + workload.workdir, errno);
  if (::fchown(dir.get(), ids.uid.value_or(::geteuid()),
               ids.gid.value_or(::getegid())) != 0) {
    return FailErrno("giving " + workload.workdir + " to the workload's ids",
                     errno);
  }
  return {};
}

int SetProcessIds(const WorkloadIdentity& who, ChildSetup::Failure* failure) {
  // Raw syscalls: glibc's wrappers would try to signal every thread of the
  // parent, whose list this clone still holds.
  if (who.gid) {
    const gid_t groups[1] = {*who.gid};
    if (::syscall(SYS_setgroups, 1, groups) != 0) {
      return failure->Failed("setgroups", errno);
    }
    if (::syscall(SYS_setresgid, *who.gid, *who.gid, *who.gid) != 0) {
      return failure->Failed("setresgid", errno);
    }
  } else if (who.uid && ::syscall(SYS_setgroups, 0, nullptr) != 0) {
    return failure->Failed("setgroups", errno);
  }
  if (who.uid && ::syscall(SYS_setresuid, *who.uid, *who.uid, *who.uid) != 0) {
    return failure->Failed("setresuid", errno);
  }
  return 0;
}

int IdentitySetup::Run(Failure* failure) const {
  if (who_.own_proc) {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return failure->Failed("making the mount namespace private", errno);
    }
    // A root without a /proc directory (an OCI bundle's rootfs may lack
    // one) gets none: isoscope writes nothing into the workload's root.
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0 &&
        errno != ENOENT) {
      return failure->Failed("mounting /proc", errno);
    }
  }
  if (!who_.hostname.empty() &&
      ::sethostname(who_.hostname.data(), who_.hostname.size()) != 0) {
    return failure->Failed("sethostname", errno);
  }
  if (who_.loopback_up) {
    if (int result = BringLoopbackUp(); result < 0) {
      return failure->Failed("bringing lo up", -result);
    }
  }
  const char* step = "";
  if (int result = capabilities_.DropBoundingSet(&step); result < 0) {
    return failure->Failed(step, -result);
  }
  if (!ids_already_set_) {
    if (int result = SetProcessIds(who_, failure); result < 0) return result;
  }
  if (int result = capabilities_.Apply(&step); result < 0) {
    return failure->Failed(step, -result);
  }
  return 0;
}

}  // namespace isoscope
