// Decoding the socket address of connect, bind, sendto and sendmsg: what
// the bytes name as the kernel takes them, and reading them once from a
// process's memory (this test's own).
#include "backends/process/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <span>
#include <vector>

#include <gtest/gtest.h>

namespace isoscope {
namespace {

template <typename T>
std::vector<uint8_t> Bytes(const T& value, size_t length = sizeof(T)) {
  std::vector<uint8_t> bytes(length);
  std::memcpy(bytes.data(), &value, std::min(length, sizeof(T)));
  return bytes;
}

sockaddr_in In(const char* address, uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  ::inet_pton(AF_INET, address, &in.sin_addr);
  return in;
}

sockaddr_in6 In6(const char* address, uint16_t port) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  ::inet_pton(AF_INET6, address, &in6.sin6_addr);
  return in6;
}

int ErrnoOf(const Result<SocketAddress>& parsed) {
  return parsed ? 0 : parsed.error().sys_errno();
}

TEST(ParseSocketAddressTest, FamiliesAsTheKernelTakesThem) {
  auto v4 = ParseSocketAddress(SYS_connect, Bytes(In("127.0.0.1", 8080)));
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->kind, SocketAddress::Kind::kIp);
  EXPECT_EQ(FormatEndpoint(v4->ip), "127.0.0.1:8080");

  auto v6 = ParseSocketAddress(SYS_sendto, Bytes(In6("::1", 53)));
  ASSERT_TRUE(v6);
  EXPECT_EQ(FormatEndpoint(v6->ip), "[::1]:53");
  // An IPv4-mapped address is the IPv4 endpoint it reaches.
  auto mapped =
      ParseSocketAddress(SYS_connect, Bytes(In6("::ffff:127.0.0.1", 80)));
  ASSERT_TRUE(mapped);
  EXPECT_EQ(FormatEndpoint(mapped->ip), "127.0.0.1:80");

  // Too short for the family: the kernel's EINVAL.
  EXPECT_EQ(
      ErrnoOf(ParseSocketAddress(SYS_connect, Bytes(In("127.0.0.1", 1), 15))),
      EINVAL);
  EXPECT_EQ(ErrnoOf(ParseSocketAddress(SYS_bind, Bytes(In6("::1", 1), 23))),
            EINVAL);
  EXPECT_EQ(ErrnoOf(ParseSocketAddress(SYS_connect, {})), EINVAL);

  // AF_UNSPEC: a disconnect for connect; an IPv4 address elsewhere.
  sockaddr_in unspec = In("10.1.2.3", 99);
  unspec.sin_family = AF_UNSPEC;
  auto disconnect = ParseSocketAddress(SYS_connect, Bytes(unspec));
  ASSERT_TRUE(disconnect);
  EXPECT_EQ(disconnect->kind, SocketAddress::Kind::kNone);
  auto as_v4 = ParseSocketAddress(SYS_sendto, Bytes(unspec));
  ASSERT_TRUE(as_v4);
  EXPECT_EQ(FormatEndpoint(as_v4->ip), "10.1.2.3:99");

  // No address for a send: none.
  auto none = ParseSocketAddress(SYS_sendmsg, {});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->kind, SocketAddress::Kind::kNone);

  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  auto unix_address = ParseSocketAddress(SYS_connect, Bytes(un));
  ASSERT_TRUE(unix_address);
  EXPECT_EQ(unix_address->kind, SocketAddress::Kind::kOther);
  EXPECT_EQ(unix_address->family, AF_UNIX);
}

TEST(DecodeSocketAddressTest, ReadsOnceFromTheProcess) {
  const pid_t self = ::getpid();
  sockaddr_in in = In("127.0.0.1", 8080);
  const auto pointer = reinterpret_cast<uint64_t>(&in);
  auto connect =
      DecodeSocketAddress(self, SYS_connect, {3, pointer, sizeof(in), 0, 0, 0});
  ASSERT_TRUE(connect) << connect.error().message();
  EXPECT_EQ(FormatEndpoint(connect->address.ip), "127.0.0.1:8080");
  EXPECT_EQ(connect->bytes, Bytes(in));

  // sendto's address is args 4-5; NULL names none.
  auto sendto =
      DecodeSocketAddress(self, SYS_sendto, {3, 0, 0, 0, pointer, sizeof(in)});
  ASSERT_TRUE(sendto);
  EXPECT_EQ(sendto->address.kind, SocketAddress::Kind::kIp);
  auto no_address =
      DecodeSocketAddress(self, SYS_sendto, {3, pointer, 1, 0, 0, 16});
  ASSERT_TRUE(no_address);
  EXPECT_EQ(no_address->address.kind, SocketAddress::Kind::kNone);
  EXPECT_TRUE(no_address->bytes.empty());

  // sendmsg: the msghdr is read with its name; a longer msg_namelen is cut
  // to a sockaddr_storage, as the kernel does.
  msghdr message{};
  message.msg_name = &in;
  message.msg_namelen = sizeof(in);
  auto sendmsg = DecodeSocketAddress(
      self, SYS_sendmsg, {3, reinterpret_cast<uint64_t>(&message), 0, 0, 0, 0});
  ASSERT_TRUE(sendmsg);
  ASSERT_TRUE(sendmsg->header);
  EXPECT_EQ(sendmsg->header->msg_name, &in);
  EXPECT_EQ(FormatEndpoint(sendmsg->address.ip), "127.0.0.1:8080");

  // What the kernel refuses: an unreadable address, a length out of range.
  auto unreadable =
      DecodeSocketAddress(self, SYS_connect, {3, 8, sizeof(in), 0, 0, 0});
  ASSERT_FALSE(unreadable);
  EXPECT_EQ(unreadable.error().sys_errno(), EFAULT);
  auto too_long =
      DecodeSocketAddress(self, SYS_bind, {3, pointer, 129, 0, 0, 0});
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().sys_errno(), EINVAL);
  auto negative =
      DecodeSocketAddress(self, SYS_bind, {3, pointer, 0xffffffff, 0, 0, 0});
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().sys_errno(), EINVAL);
}

// Control messages as the kernel walks them (for_each_cmsghdr, CMSG_OK):
// aligned headers in order, trailing bytes too few for a header ignored,
// a length that does not fit refused.
TEST(ParseControlMessagesTest, WalksAsTheKernel) {
  alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(sizeof(int)) +
                                           CMSG_SPACE(sizeof(in_pktinfo)) + 8>
      buffer{};
  msghdr message{};
  message.msg_control = buffer.data();
  message.msg_controllen =
      CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(in_pktinfo));
  cmsghdr* first = CMSG_FIRSTHDR(&message);
  first->cmsg_level = IPPROTO_IP;
  first->cmsg_type = IP_TTL;
  first->cmsg_len = CMSG_LEN(sizeof(int));  // 20: aligned to 24
  cmsghdr* second = CMSG_NXTHDR(&message, first);
  ASSERT_NE(second, nullptr);
  second->cmsg_level = IPPROTO_IP;
  second->cmsg_type = IP_PKTINFO;
  second->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
  const std::span<const uint8_t> control(buffer.data(), message.msg_controllen);
  auto parsed = ParseControlMessages(control);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, (std::vector<ControlMessage>{{IPPROTO_IP, IP_TTL},
                                                  {IPPROTO_IP, IP_PKTINFO}}));
  // Fewer bytes than a header after the last: ignored (8 more here).
  auto trailing = ParseControlMessages(std::span<const uint8_t>(buffer));
  ASSERT_TRUE(trailing);
  EXPECT_EQ(trailing->size(), 2U);
  // Fewer than one header: none.
  auto none = ParseControlMessages(control.first(sizeof(cmsghdr) - 1));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  // A length beyond what is left, or below a header: EINVAL.
  second->cmsg_len = CMSG_LEN(sizeof(in_pktinfo)) + 8;
  auto beyond = ParseControlMessages(control);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().sys_errno(), EINVAL);
  second->cmsg_len = sizeof(cmsghdr) - 1;
  auto short_header = ParseControlMessages(control);
  ASSERT_FALSE(short_header);
  EXPECT_EQ(short_header.error().sys_errno(), EINVAL);
  first->cmsg_len = ~size_t{0};  // would wrap CMSG_ALIGN
  auto huge = ParseControlMessages(control);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().sys_errno(), EINVAL);
}

// sendmsg's control is read with its msghdr, once: the bytes and the
// messages in them; a longer one than isoscope copies fails ENOBUFS, an
// unreadable one EFAULT.
TEST(DecodeSocketAddressTest, ReadsSendmsgControl) {
  const pid_t self = ::getpid();
  sockaddr_in in = In("127.0.0.1", 8080);
  alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(sizeof(int))> buffer{};
  msghdr message{};
  message.msg_name = &in;
  message.msg_namelen = sizeof(in);
  message.msg_control = buffer.data();
  message.msg_controllen = buffer.size();
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = IPPROTO_IP;
  header->cmsg_type = IP_RETOPTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  const std::array<uint64_t, 6> args = {
      3, reinterpret_cast<uint64_t>(&message), 0, 0, 0, 0};
  auto decoded = DecodeSocketAddress(self, SYS_sendmsg, args);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded->control,
            std::vector<uint8_t>(buffer.begin(), buffer.end()));
  EXPECT_EQ(decoded->control_messages,
            (std::vector<ControlMessage>{{IPPROTO_IP, IP_RETOPTS}}));

  message.msg_controllen = kMaxControlBytes + 1;
  auto too_long = DecodeSocketAddress(self, SYS_sendmsg, args);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().sys_errno(), ENOBUFS);
  message.msg_control = nullptr;
  message.msg_controllen = buffer.size();
  auto unreadable = DecodeSocketAddress(self, SYS_sendmsg, args);
  ASSERT_FALSE(unreadable);
  EXPECT_EQ(unreadable.error().sys_errno(), EFAULT);
  message.msg_controllen = 0;
  auto without = DecodeSocketAddress(self, SYS_sendmsg, args);
  ASSERT_TRUE(without);
  EXPECT_TRUE(without->control.empty());
  EXPECT_TRUE(without->control_messages.empty());
}

}  // namespace
}  // namespace isoscope
