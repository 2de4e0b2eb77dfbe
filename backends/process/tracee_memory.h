// Reading and writing the memory of a traced workload.
//
// Reads use process_vm_readv: it needs no ptrace stop, copies straight into
// our buffer, and fails cleanly (EFAULT) on memory the workload has not
// mapped or made unreadable. Writes go to a shared mapping's object (see
// SharedMappingWriter for why).
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

// Writes a workload's read-only shared mapping through the object behind
// it: /proc/<pid>/map_files/<begin>-<end>, opened for writing.
//
// Why not the workload's memory: the checked copies isoscope hands the
// kernel must be unchangeable by every thread of the workload between the
// check and the kernel's use. A read-only private page is not: writes
// through /proc/<pid>/mem (FOLL_FORCE) go through it the way a debugger
// plants a breakpoint, and the workload can open its own /proc/self/mem,
// under any name (a symlink, a second procfs, openat of "mem"). The kernel
// refuses such forced writes to a shared mapping without PROT_WRITE
// (mm/gup.c: only copy-on-write mappings take them), and process_vm_writev
// honours the protection; so the region is MAP_SHARED|MAP_ANONYMOUS and
// PROT_READ in the workload, and isoscope writes the shared object, which
// every mapping of it shows at once. Opening a map_files entry takes
// CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE) in the initial user namespace,
// which isoscope has and a workload has only if its policy keeps it.
//
// The fd holds the object, not the process: after an exec the process no
// longer maps it (writes reach nobody), and a forked child that inherited
// the mapping shares it (object() is the same).
class SharedMappingWriter {
 public:
  // Opens the map_files entry of the mapping that spans exactly
  // [begin, end) in process `pid`, O_RDWR|O_CLOEXEC. Fails (ENOENT) when no
  // mapping spans exactly that range.
  static Result<SharedMappingWriter> Open(pid_t pid, uint64_t begin,
                                          uint64_t end);

  SharedMappingWriter(SharedMappingWriter&&) noexcept = default;
  SharedMappingWriter& operator=(SharedMappingWriter&&) noexcept = default;

  // Writes all of `bytes` at `address` of the mapping (pwrite at
  // address - begin, repeated on short writes). A range outside
  // [begin, end) is a kInternal error: isoscope chose the address.
  Status Write(uint64_t address, std::span<const uint8_t> bytes);

  // The object mapped: (st_dev, st_ino) of the file behind the mapping.
  // Two processes map the same object exactly when these are equal.
  std::pair<dev_t, ino_t> object() const { return object_; }
  pid_t pid() const { return pid_; }

 private:
  SharedMappingWriter(pid_t pid, uint64_t begin, uint64_t end,
                      std::pair<dev_t, ino_t> object, UniqueFd fd)
      : pid_(pid),
        begin_(begin),
        end_(end),
        object_(object),
        fd_(std::move(fd)) {}
  pid_t pid_;
  uint64_t begin_;
  uint64_t end_;
  std::pair<dev_t, ino_t> object_;
  UniqueFd fd_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_TRACEE_MEMORY_H_
