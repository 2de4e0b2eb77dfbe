#include "backends/process/socket_address.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/process/tracee_memory.h"

namespace isoscope {
namespace {

tl::unexpected<Error> WorkloadFails(int sys_errno, std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message), sys_errno);
}

// The kernel's move_addr_to_kernel: at most a sockaddr_storage.
constexpr uint64_t kMaxAddressLength = sizeof(sockaddr_storage);

SocketAddress Ipv4(std::span<const uint8_t> bytes) {
  sockaddr_in in{};
  std::memcpy(&in, bytes.data(), sizeof(in));
  SocketAddress address;
  address.kind = SocketAddress::Kind::kIp;
  address.family = AF_INET;
  std::memcpy(address.ip.address.data(), &in.sin_addr, 4);
  address.ip.port = ntohs(in.sin_port);
  return address;
}

// Reads `length` bytes of the sockaddr at `pointer` (the length as the
// kernel takes it: an int, at most a sockaddr_storage).
Result<std::vector<uint8_t>> ReadAddressBytes(pid_t tid, uint64_t pointer,
                                              int64_t length) {
  if (length < 0 || static_cast<uint64_t>(length) > kMaxAddressLength) {
    return WorkloadFails(EINVAL, fmt::format("socket address length {} is "
                                             "not 0 to {}",
                                             length, kMaxAddressLength));
  }
  return ReadTraceeBytes(tid, pointer, static_cast<size_t>(length));
}

// Reads sendmsg's control, as the kernel's ____sys_sendmsg copies it: no
// bytes for a zero length, msg_controllen bytes otherwise (EFAULT if they
// cannot be read, whatever msg_control says).
Result<std::vector<uint8_t>> ReadControlBytes(pid_t tid,
                                              const msghdr& message) {
  if (message.msg_controllen == 0) return std::vector<uint8_t>{};
  if (message.msg_controllen > kMaxControlBytes) {
    return WorkloadFails(
        ENOBUFS, fmt::format("sendmsg's control of {} bytes is longer than "
                             "the {} isoscope copies",
                             message.msg_controllen, kMaxControlBytes));
  }
  return ReadTraceeBytes(tid, reinterpret_cast<uint64_t>(message.msg_control),
                         message.msg_controllen);
}

}  // namespace

bool NamesSocketAddress(int number) {
  return number == SYS_connect || number == SYS_bind || number == SYS_sendto ||
         number == SYS_sendmsg || number == SYS_sendmmsg;
}

Result<SocketAddress> ParseSocketAddress(int number,
                                         std::span<const uint8_t> bytes) {
  const bool sends =
      number == SYS_sendto || number == SYS_sendmsg || number == SYS_sendmmsg;
  if (bytes.empty() && sends) return SocketAddress{};
  if (bytes.size() < sizeof(sa_family_t)) {
    return WorkloadFails(EINVAL, fmt::format("a socket address of {} bytes "
                                             "has no family",
                                             bytes.size()));
  }
  sa_family_t family = 0;
  std::memcpy(&family, bytes.data(), sizeof(family));
  SocketAddress address;
  address.family = family;
  switch (family) {
    case AF_INET:
      if (bytes.size() < sizeof(sockaddr_in)) break;
      return Ipv4(bytes);
    case AF_INET6: {
      if (bytes.size() < sizeof(sockaddr_in6)) break;
      sockaddr_in6 in6{};
      std::memcpy(&in6, bytes.data(), sizeof(in6));
      std::array<uint8_t, 16> raw{};
      std::memcpy(raw.data(), &in6.sin6_addr, raw.size());
      address.kind = SocketAddress::Kind::kIp;
      address.ip = FromIpv6(raw, ntohs(in6.sin6_port));
      return address;
    }
    case AF_UNSPEC:
      // connect: a disconnect. Otherwise an IPv4 socket reads it as
      // AF_INET (and fails a shorter one); an IPv6 socket ignores it.
      if (number == SYS_connect || bytes.size() < sizeof(sockaddr_in)) {
        return address;
      }
      return Ipv4(bytes);
    default:
      address.kind = SocketAddress::Kind::kOther;
      return address;
  }
  return WorkloadFails(EINVAL,
                       fmt::format("a socket address of family {} needs more "
                                   "than {} bytes",
                                   family, bytes.size()));
}

Result<std::vector<ControlMessage>> ParseControlMessages(
    std::span<const uint8_t> control) {
  std::vector<ControlMessage> messages;
  size_t offset = 0;
  // CMSG_FIRSTHDR, then __cmsg_nxthdr: a header starts only where a whole
  // struct cmsghdr fits.
  while (control.size() - offset >= sizeof(cmsghdr)) {
    cmsghdr header{};
    std::memcpy(&header, control.data() + offset, sizeof(header));
    // CMSG_OK: at least a header, at most what is left.
    if (header.cmsg_len < sizeof(cmsghdr) ||
        header.cmsg_len > control.size() - offset) {
      return WorkloadFails(
          EINVAL,
          fmt::format("a control message at byte {} says it has {} "
                      "bytes; {} are left",
                      offset, header.cmsg_len, control.size() - offset));
    }
    messages.push_back(ControlMessage{header.cmsg_level, header.cmsg_type});
    // CMSG_ALIGN (to a long); cmsg_len is at most the control's size, so
    // this cannot overflow.
    constexpr size_t kAlignment = 8;
    const size_t next = (header.cmsg_len + kAlignment - 1) & ~(kAlignment - 1);
    if (next >= control.size() - offset) break;
    offset += next;
  }
  return messages;
}

Result<DecodedSocketAddress> DecodeSocketAddress(
    pid_t tid, int number, const std::array<uint64_t, 6>& args) {
  DecodedSocketAddress decoded;
  uint64_t pointer = 0;
  int64_t length = 0;
  switch (number) {
    case SYS_connect:
    case SYS_bind:
      pointer = args[1];
      length = static_cast<int32_t>(args[2]);
      break;
    case SYS_sendto:
      pointer = args[4];
      length = pointer == 0 ? 0 : static_cast<int32_t>(args[5]);
      break;
    case SYS_sendmsg: {
      auto header = ReadTraceeBytes(tid, args[1], sizeof(msghdr));
      if (!header) return tl::unexpected(header.error());
      msghdr message{};
      std::memcpy(&message, header->data(), sizeof(message));
      decoded.header = message;
      pointer = reinterpret_cast<uint64_t>(message.msg_name);
      // As the kernel's __copy_msghdr: no name, no length; a longer one is
      // cut to a sockaddr_storage.
      length = pointer == 0 ? 0 : static_cast<int32_t>(message.msg_namelen);
      if (length > static_cast<int64_t>(kMaxAddressLength)) {
        length = kMaxAddressLength;
      }
      auto control = ReadControlBytes(tid, message);
      if (!control) return tl::unexpected(control.error());
      auto messages = ParseControlMessages(*control);
      if (!messages) return tl::unexpected(messages.error());
      decoded.control = std::move(*control);
      decoded.control_messages = std::move(*messages);
      break;
    }
    default:
      return Fail(ErrorCode::kInternal,
                  fmt::format("syscall {} names no socket address isoscope "
                              "decodes",
                              number));
  }
  auto bytes = ReadAddressBytes(tid, pointer, length);
  if (!bytes) return tl::unexpected(bytes.error());
  auto address = ParseSocketAddress(number, *bytes);
  if (!address) return tl::unexpected(address.error());
  decoded.address = *address;
  decoded.bytes = std::move(*bytes);
  return decoded;
}

std::optional<IpEndpoint> ReadObservedEndpoint(
    pid_t tid, int number, const std::array<uint64_t, 6>& args) {
  if (number == SYS_sendmmsg) {
    // The array starts with the first message's msghdr.
    return ReadObservedEndpoint(tid, SYS_sendmsg, args);
  }
  if (!NamesSocketAddress(number)) return std::nullopt;
  auto decoded = DecodeSocketAddress(tid, number, args);
  if (!decoded || decoded->address.kind != SocketAddress::Kind::kIp) {
    return std::nullopt;
  }
  return decoded->address.ip;
}

}  // namespace isoscope
