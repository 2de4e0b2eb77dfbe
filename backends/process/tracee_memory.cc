#include "backends/process/tracee_memory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

uint64_t PageSize() {
  static const uint64_t kSize = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return kSize;
}

tl::unexpected<Error> Unreadable(pid_t tid, uint64_t address) {
  return Fail(
      ErrorCode::kInvalidArgument,
      fmt::format("address {:#x} of thread {} is not readable", address, tid),
      EFAULT);
}

// Reads exactly `length` bytes at `address` into `out`. Stops at the first
// byte the kernel cannot read: a short count from process_vm_readv means the
// next byte faulted, and a retry from there reports EFAULT.
Status ReadExactly(pid_t tid, uint64_t address, uint8_t* out, size_t length) {
  size_t done = 0;
  while (done < length) {
    const uint64_t at = address + done;
    iovec local{out + done, length - done};
    // The remote address is only a number to the kernel; it is never
    // dereferenced here.
    iovec remote{reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
                     static_cast<uintptr_t>(at)),
                 length - done};
    const ssize_t n = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EFAULT) return Unreadable(tid, at);
      return FailErrno(
          fmt::format("process_vm_readv of thread {} at {:#x}", tid, at),
          errno);
    }
    // Zero bytes without an error would loop forever; the kernel only does
    // it for memory it cannot copy, which is a fault to the workload.
    if (n == 0) return Unreadable(tid, at);
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<std::string> ReadTraceeString(pid_t tid, uint64_t address,
                                     size_t max_length) {
  // The kernel faults on NULL like on any unmapped address; saying so here
  // keeps a NULL pointer from ever becoming a read.
  if (address == 0) return Unreadable(tid, address);
  std::string out;
  uint64_t at = address;
  size_t remaining = max_length;
  while (remaining > 0) {
    // Never read past the end of the current page unless the string goes
    // on: the next page may be unmapped although the string ended before it,
    // and the kernel's own copy (strncpy_from_user) would not fault there.
    const uint64_t to_page_end = PageSize() - at % PageSize();
    const size_t chunk =
        static_cast<size_t>(std::min<uint64_t>(remaining, to_page_end));
    const size_t old_size = out.size();
    out.resize(old_size + chunk);
    auto* bytes = reinterpret_cast<uint8_t*>(out.data()) + old_size;
    if (Status read = ReadExactly(tid, at, bytes, chunk); !read) {
      return tl::unexpected(std::move(read).error());
    }
    if (const void* nul = std::memchr(bytes, 0, chunk)) {
      out.resize(old_size +
                 static_cast<size_t>(static_cast<const uint8_t*>(nul) - bytes));
      return out;
    }
    remaining -= chunk;
    // The string goes on past the last page of the address space: no NUL
    // can follow, and wrapping to address 0 would read the wrong memory.
    if (remaining > 0 && __builtin_add_overflow(at, chunk, &at)) {
      return Unreadable(tid, 0);
    }
  }
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("string at {:#x} of thread {} has no NUL within {} "
                          "bytes",
                          address, tid, max_length),
              ENAMETOOLONG);
}

Result<std::vector<uint8_t>> ReadTraceeBytes(pid_t tid, uint64_t address,
                                             size_t length) {
  std::vector<uint8_t> out(length);
  if (length == 0) return out;
  // [address, address + length) must not wrap past 2^64: the kernel's
  // access_ok refuses such a range, and process_vm_readv would read the
  // bottom of the address space instead.
  if (length - 1 > std::numeric_limits<uint64_t>::max() - address) {
    return Unreadable(tid, address);
  }
  if (Status read = ReadExactly(tid, address, out.data(), length); !read) {
    return tl::unexpected(std::move(read).error());
  }
  return out;
}

Result<SharedMappingWriter> SharedMappingWriter::Open(pid_t pid, uint64_t begin,
                                                      uint64_t end) {
  const std::string path =
      fmt::format("/proc/{}/map_files/{:x}-{:x}", pid, begin, end);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return FailErrno(fmt::format("open {}", path), errno);
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) {
    return FailErrno(fmt::format("fstat {}", path), errno);
  }
  return SharedMappingWriter(pid, begin, end, {status.st_dev, status.st_ino},
                             std::move(fd));
}

Status SharedMappingWriter::Write(uint64_t address,
                                  std::span<const uint8_t> bytes) {
  if (address < begin_ || address > end_ || bytes.size() > end_ - address) {
    return Fail(ErrorCode::kInternal,
                fmt::format("{} bytes at {:#x} are outside the mapping "
                            "[{:#x}, {:#x}) of process {}",
                            bytes.size(), address, begin_, end_, pid_));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd_.get(), bytes.data() + done, bytes.size() - done,
                 static_cast<off_t>(address - begin_ + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(fmt::format("write to the mapping at {:#x} of process "
                                   "{}",
                                   address + done, pid_),
                       errno);
    }
    if (n == 0) {
      return Fail(ErrorCode::kSystem,
                  fmt::format("write to the mapping at {:#x} of process {} "
                              "wrote nothing",
                              address + done, pid_),
                  EIO);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace isoscope
