// Which process a pid names, robustly against pid reuse and reboots: its
// start time (clock ticks after boot, /proc/<pid>/stat field 22), the boot it
// belongs to and its pid namespace. Used to tell whether the isoscope that
// left something behind (a cgroup, a run row) is still alive.
#ifndef ISOSCOPE_BASE_PROCESS_IDENTITY_H_
#define ISOSCOPE_BASE_PROCESS_IDENTITY_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "base/error.h"

namespace isoscope {

// Field 22 of <proc_root>/<pid>/stat. kNotFound when there is no such
// process, kSystem for another failure or an unreadable format.
Result<uint64_t> ProcessStartTime(
    pid_t pid, const std::filesystem::path& proc_root = "/proc");

// One process, named so that a reused pid, another boot or another pid
// namespace never passes for it.
struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;     // ProcessStartTime
  std::string boot_id;         // /proc/sys/kernel/random/boot_id
  uint64_t pid_namespace = 0;  // inode of /proc/self/ns/pid
  bool operator==(const ProcessIdentity&) const = default;

  // The calling process.
  static Result<ProcessIdentity> Self();
};

// The inode of /proc/self/ns/pid: which pid namespace this process's pids
// are numbers of.
Result<uint64_t> OwnPidNamespace();

enum class Liveness {
  kAlive,    // that very process still runs
  kGone,     // it ended (or the machine rebooted since)
  kUnknown,  // it lives in another pid namespace: its pid says nothing here
};
// Whether `process` still runs, as far as this process can tell.
Liveness LivenessOf(const ProcessIdentity& process);

// Whether the process `pid` that started at `start_time` (ProcessStartTime)
// still runs, by <proc_root>/<pid>/stat: kGone when no process has the pid,
// another one has it, or it has ended and only waits to be reaped (a zombie
// runs nothing and holds no descriptor or lock); kUnknown when its stat
// cannot be read or understood, or its leader is a zombie while other
// threads still count (running on after a pthread_exit, or ended and held
// by a tracer that has not reaped them).
Liveness LivenessOfPid(pid_t pid, uint64_t start_time,
                       const std::filesystem::path& proc_root = "/proc");

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_PROCESS_IDENTITY_H_
