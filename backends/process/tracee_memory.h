// Reading and writing the memory of a traced workload.
//
// Reads use process_vm_readv: it needs no ptrace stop, copies straight into
// our buffer, and fails cleanly (EFAULT) on memory the workload has not
// mapped or made unreadable. Writes use /proc/<pid>/mem (see
// TraceeMemoryWriter for why).
//
// The workload is hostile: every address comes from its registers. A read
// the workload made impossible (an unmapped or PROT_NONE address, a string
// running off the end of the address space, no NUL in time) is the
// workload's fault, not isoscope's: such errors have ErrorCode
// kInvalidArgument and carry in sys_errno() the errno the kernel itself
// would have given the workload for the same argument (EFAULT,
// ENAMETOOLONG), so the tracer can fail the system call with it without
// running it. Any other failure (the tracee is gone: ESRCH; no permission:
// EPERM) is kSystem: isoscope could not do its job.
#ifndef ISOSCOPE_BACKENDS_PROCESS_TRACEE_MEMORY_H_
#define ISOSCOPE_BACKENDS_PROCESS_TRACEE_MEMORY_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace isoscope {

// Reads the NUL-terminated string at `address` in thread `tid`'s address
// space, without the NUL. At most `max_length` bytes are read, the NUL
// included; the string is read one page at a time, so a string that ends
// just before an unmapped page reads fine, as it does for the kernel.
// Errors (kInvalidArgument): EFAULT for address 0, an unreadable byte before
// the NUL, or a string that would run past the top of the address space;
// ENAMETOOLONG when no NUL is among the first `max_length` bytes.
Result<std::string> ReadTraceeString(pid_t tid, uint64_t address,
                                     size_t max_length);

// Reads exactly `length` bytes at `address`: all of them, or EFAULT
// (kInvalidArgument) if any is unreadable or the range wraps around the top
// of the address space. A zero length reads nothing and succeeds.
Result<std::vector<uint8_t>> ReadTraceeBytes(pid_t tid, uint64_t address,
                                             size_t length);

// Writes into a workload's memory through /proc/<pid>/mem.
//
// Why not process_vm_writev: it honours page protection, and the scratch
// region the checked copies go to is PROT_READ so that no workload thread
// can change a copy between the check and the kernel's use. Writes to
// /proc/<pid>/mem go through read-only private mappings the way a debugger
// plants breakpoints in read-only text (FOLL_FORCE: the page is copied on
// write into the workload's private copy; shared file mappings that are not
// writable stay refused, which isoscope does not need).
//
// The fd is bound to the address space (mm) the process had when it was
// opened, not to the pid: it serves every thread of that process, but after
// the workload execs it still refers to the old, discarded mm, and every
// Write fails (EIO); a forked child has an mm of its own that this fd never
// reaches. The caller opens a new writer after each exec event and for each
// new process.
class TraceeMemoryWriter {
 public:
  // Opens /proc/<pid>/mem O_RDWR|O_CLOEXEC. Needs ptrace access to the
  // process (the tracer has it; so does root).
  static Result<TraceeMemoryWriter> Open(pid_t pid);

  TraceeMemoryWriter(TraceeMemoryWriter&&) noexcept = default;
  TraceeMemoryWriter& operator=(TraceeMemoryWriter&&) noexcept = default;

  // Writes all of `bytes` at `address` (pwrite, repeated on short writes).
  // An address isoscope cannot write (unmapped; at or above 2^63, which no
  // file offset reaches) is a kSystem error: isoscope chose the address.
  Status Write(uint64_t address, std::span<const uint8_t> bytes);

  pid_t pid() const { return pid_; }

 private:
  TraceeMemoryWriter(pid_t pid, UniqueFd fd) : pid_(pid), fd_(std::move(fd)) {}
  pid_t pid_;
  UniqueFd fd_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_TRACEE_MEMORY_H_
