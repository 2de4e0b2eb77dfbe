// Taking on a workload's filesystem identity on one thread of isoscope, for
// the calls isoscope performs on the workload's behalf (checked_calls.h).
#ifndef ISOSCOPE_BACKENDS_PROCESS_FS_CREDENTIALS_H_
#define ISOSCOPE_BACKENDS_PROCESS_FS_CREDENTIALS_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <vector>

#include "base/error.h"

namespace isoscope {

// The workload's filesystem identity on the calling thread, for a scope.
//
// Raw system calls act on the calling thread only (glibc's setgroups and
// setuid family would change every thread of isoscope). Enter sets the
// supplementary groups to {gid}, fsgid, fsuid, then the effective
// capabilities to `effective_caps` & isoscope's permitted set (changing
// fsuid from 0 to another id already clears the filesystem capabilities,
// capabilities(7); uid 0 needs the explicit drop). Restore undoes it in the
// opposite order and checks that every id, group and capability set is back;
// the destructor restores if Restore was not called.
class ScopedFsCredentials {
 public:
  ScopedFsCredentials() = default;
  ScopedFsCredentials(const ScopedFsCredentials&) = delete;
  ScopedFsCredentials& operator=(const ScopedFsCredentials&) = delete;
  ~ScopedFsCredentials();

  // Fails (kSystem) without a change when isoscope lacks CAP_SETUID or
  // CAP_SETGID; called twice without Restore: kInternal.
  Status Enter(uid_t uid, gid_t gid, uint64_t effective_caps);
  // kInternal when the thread's credentials could not be put back, or when
  // called from another thread than Enter.
  Status Restore();
  bool entered() const { return entered_; }

 private:
  bool entered_ = false;
  bool groups_changed_ = false;
  pid_t thread_ = 0;
  uid_t saved_fsuid_ = 0;
  gid_t saved_fsgid_ = 0;
  std::vector<gid_t> saved_groups_;
  // struct __user_cap_data_struct[2] as capget returns it (version 3).
  std::array<uint32_t, 6> saved_caps_{};
};

// isoscope's own filesystem identity on the calling thread for a scope
// (fsuid and fsgid its effective ids, its permitted capabilities
// effective), whatever identity the thread was acting with, for a look
// isoscope makes for itself in the middle of a call it performs as the
// workload (the /proc/<tid>/ns links of the calling thread, which only a
// process with ptrace access to it may follow). The destructor puts the
// thread's identity back as it found it. Raw system calls: this thread
// only.
class ScopedOwnFsCredentials {
 public:
  ScopedOwnFsCredentials();
  ScopedOwnFsCredentials(const ScopedOwnFsCredentials&) = delete;
  ScopedOwnFsCredentials& operator=(const ScopedOwnFsCredentials&) = delete;
  ~ScopedOwnFsCredentials();

 private:
  std::array<uint32_t, 6> saved_caps_{};
  bool caps_saved_ = false;
  uid_t saved_fsuid_ = 0;
  gid_t saved_fsgid_ = 0;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_FS_CREDENTIALS_H_
