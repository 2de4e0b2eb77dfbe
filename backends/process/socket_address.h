// Decoding the socket address of connect, bind, sendto and sendmsg, once,
// from the (hostile) workload's memory, into what the policy decides on
// (SocketAddress) and the bytes the backend hands the kernel instead of the
// workload's: the ptrace backend copies them into its read-only scratch
// region, the container backend performs the call with them itself. Read
// once and copied for the same reason as paths (syscall_paths.h): another
// thread can rewrite the address between isoscope's read and the kernel's.
//
// What the bytes name, as the kernel takes them:
// - AF_INET (at least 16 bytes) and AF_INET6 (at least 24; an IPv4-mapped
//   address is that IPv4 address) are IP endpoints.
// - AF_UNSPEC is a disconnect for connect (no endpoint); for bind, sendto
//   and sendmsg an IPv4 socket takes it as AF_INET (bind only with
//   INADDR_ANY), so 16 bytes or more are decoded as an IPv4 endpoint, fewer
//   name none (an IPv6 socket takes AF_UNSPEC as no destination).
// - Any other family is kOther: not decoded further.
// - No address: sendto with a NULL pointer or a zero length, sendmsg with a
//   NULL msg_name or a zero msg_namelen.
//
// sendmsg's control messages (msg_control, msg_controllen) are read with
// the address, once, for the same reason: a source route or routing header
// in them sends the packet elsewhere (Decide holds them to
// IsDestinationNeutral), and the backend hands the kernel the bytes read
// here. At most kMaxControlBytes: a longer control fails with ENOBUFS, as
// one longer than the kernel's optmem_max does (SCM_RIGHTS' 253 descriptors
// take about 1 KiB).
//
// Errors, as for paths: kInvalidArgument with sys_errno() the errno the
// kernel would give before doing anything (EFAULT: unreadable; EINVAL: a
// length below 0 or above 128 (sockaddr_storage) where the kernel refuses
// it, fewer than 2 bytes, or fewer than the family needs); the backend
// fails the call with it. Anything else (kSystem): isoscope could not look.
#ifndef ISOSCOPE_BACKENDS_PROCESS_SOCKET_ADDRESS_H_
#define ISOSCOPE_BACKENDS_PROCESS_SOCKET_ADDRESS_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/error.h"
#include "policies/decide.h"

namespace isoscope {

// connect, bind, sendto, sendmsg (and sendmmsg, which Decide refuses when
// a list applies and DecodeSocketAddress does not read).
bool NamesSocketAddress(int number);

// The longest sendmsg control isoscope copies: two pages, what the ptrace
// backend's scratch slot has beside the msghdr and the address.
inline constexpr size_t kMaxControlBytes = 8192;

struct DecodedSocketAddress {
  SocketAddress address;
  // The sockaddr exactly as read (its length is the one the kernel uses);
  // empty when the call names no address.
  std::vector<uint8_t> bytes;
  // sendmsg: the struct msghdr as read, whose msg_name the backend points at
  // its copy of `bytes` (msg_namelen = bytes.size()) and msg_control at its
  // copy of `control` (msg_controllen = control.size()).
  std::optional<msghdr> header;
  // sendmsg: msg_controllen bytes of msg_control as read, and the control
  // messages in them as the kernel walks them.
  std::vector<uint8_t> control;
  std::vector<ControlMessage> control_messages;
};

// What `bytes` (a sockaddr of call `number`, as long as the workload said)
// names. Pure: for decoders that read the bytes themselves and for tests.
Result<SocketAddress> ParseSocketAddress(int number,
                                         std::span<const uint8_t> bytes);

// The control messages in `control` (a sendmsg's msg_control) in the
// kernel's order (for_each_cmsghdr, each checked as CMSG_OK does): a
// header that does not fit what is left fails with EINVAL, as the kernel
// fails the call; bytes too few for another header are ignored, as there.
// Pure, for tests.
Result<std::vector<ControlMessage>> ParseControlMessages(
    std::span<const uint8_t> control);

// Reads and parses the address of call `number` with `args`, stopped in
// thread `tid` (connect, bind: args 1-2; sendto: args 4-5; sendmsg: the
// msghdr at arg 1).
Result<DecodedSocketAddress> DecodeSocketAddress(
    pid_t tid, int number, const std::array<uint64_t, 6>& args);

// The endpoint an observed call named, for `learn`: read as above, without
// errors (nullopt when the call names no IP endpoint or it cannot be read).
// sendmmsg's first message is read too. Observing only: nothing is decided
// on it.
std::optional<IpEndpoint> ReadObservedEndpoint(
    pid_t tid, int number, const std::array<uint64_t, 6>& args);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_SOCKET_ADDRESS_H_
