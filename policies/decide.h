// The policy engine's decision function: pure and deterministic, the same on
// every backend. The supervisor's loop is its only caller at run time.
#ifndef ISOSCOPE_POLICIES_DECIDE_H_
#define ISOSCOPE_POLICIES_DECIDE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policies/policy.h"
#include "policies/syscalls.h"

namespace isoscope {

enum class Abi { kX86_64, kI386, kX32 };
std::string_view AbiName(Abi abi);

// A path argument as the backend read it once from the workload, made
// absolute (against the dirfd or cwd) by the backend.
struct PathArgument {
  int arg_index = 0;
  std::string path;
  bool operator==(const PathArgument&) const = default;
};

// The socket address a connect, bind, sendto, sendmsg or sendmmsg names, as
// the backend read it once from the workload (backends/process/
// socket_address.h).
struct SocketAddress {
  enum class Kind {
    kNone,   // no destination (sendto's NULL, connect's AF_UNSPEC)
    kIp,     // an IPv4 or IPv6 endpoint (`ip`)
    kOther,  // another family (`family`): AF_UNIX, AF_NETLINK, ...
  };
  Kind kind = Kind::kNone;
  int family = 0;  // sa_family as given
  IpEndpoint ip;
  bool operator==(const SocketAddress&) const = default;
};

// A control message of sendmsg (struct cmsghdr), as the backend read it
// once with the address: its level and type (the data stays with the
// backend, which hands the kernel the bytes it read).
struct ControlMessage {
  int level = 0;
  int type = 0;
  bool operator==(const ControlMessage&) const = default;
};

struct SyscallRequest {
  Abi abi = Abi::kX86_64;
  int number = 0;  // for kX32, without the x32 bit
  std::array<uint64_t, 6> args{};
  std::vector<PathArgument> paths;     // decoded path arguments
  std::optional<uint64_t> open_flags;  // openat2's how.flags, decoded
  // The socket address, decoded; nullopt when the backend did not read it
  // (a call the policy's endpoint lists decide then fails closed).
  std::optional<SocketAddress> address;
  // sendmsg's control messages, decoded with `address`, in order.
  std::vector<ControlMessage> control_messages;
  bool operator==(const SyscallRequest&) const = default;
};

struct FaultRequest {
  FaultKind kind = FaultKind::kPrivilegedInstruction;
};

// A decision with its provenance.
struct Verdict {
  ActionSpec action;
  // The deciding rule: its id, "<id>.else" for its else branch,
  // "syscalls.default", "syscalls.abi.i386", "syscalls.abi.x32", or
  // "faults.<kind>".
  std::string rule_id;
  // One line saying why, for `policy explain` and reports.
  std::string reason;
  bool operator==(const Verdict&) const = default;
};

// Decides by the policy's rules, then holds namespace creation to the
// policy's word on unshare (see policies/README.md, "Namespaces"):
// - clone whose flags (arg 0) hold a CLONE_NEW* flag and that would run is
//   decided as unshare with those flags would be, when that refuses or logs
//   it (the verdict names the rule that decided unshare);
// - clone3, whose flags are in memory no seccomp filter can read, fails
//   with ENOSYS (rule "<unshare rule>.clone3") when it would run and some
//   namespace is not plainly allowed to unshare, so libc falls back to
//   clone.
//
// Then, for a call that would run, holds it to the policy's endpoint lists
// (NetworkEndpoints), when the list that applies is present:
// - connect, sendto, sendmsg (network.connect) and bind (network.bind):
//   an IPv4/IPv6 address must match a pattern of the list; AF_UNIX
//   (socket files, see Holes) and AF_NETLINK (the kernel and netlink
//   sockets of the workload's network namespace) are not the lists' to
//   decide; any other family is refused; a call whose
//   address was not decoded is refused (fails closed); no address at all
//   (sendto to a connected socket, a disconnect) runs.
// - sendmmsg (network.connect): refused. Its destinations are in an array
//   the kernel writes back into (msg_len), so no backend can hand the
//   kernel a read-only checked copy of them.
// - sendmsg (network.connect): every control message must be one that
//   leaves the destination alone (IsDestinationNeutral); an IP_RETOPTS
//   source route or an IPv6 routing header is refused.
// - setsockopt (network.connect) of a routing option
//   (RoutingSocketOptions: IP_OPTIONS, IPV6_RTHDR, ...): refused.
// - socket (either list): only AF_UNIX, AF_NETLINK, and AF_INET/AF_INET6
//   with protocol 0, TCP, UDP, UDP-Lite, ICMP or ICMPv6 (SCTP and MPTCP
//   reach addresses through setsockopt and their own path managers).
// Refusals deny with the lists' errno under rule "network.connect" (or
// "network.bind" for bind, and for socket when only bind is listed).
Verdict Decide(const Policy& policy, const SyscallRequest& request);

// Whether Decide holds call `number` (x86-64) to the policy's endpoint
// lists: connect, bind, sendto, sendmsg, sendmmsg, setsockopt and socket,
// when the list that applies is present.
bool EndpointListsApply(const Policy& policy, int number);

// The socket options that send a socket's packets through hosts no socket
// call names: a source route or a routing header, set once and applied to
// every later send (policies/README.md, `network`). Level and option are
// setsockopt's arguments 1 and 2, registers: a seccomp filter compares
// them (the kernel takes both as an int, so only their low 32 bits count).
struct RoutingSocketOption {
  int level;
  int option;
  std::string_view name;  // "IPPROTO_IP IP_OPTIONS"
  std::string_view why;   // what it does to where packets go
};
std::span<const RoutingSocketOption> RoutingSocketOptions();
// The entry for setsockopt's `level` and `option` registers; nullptr when
// they name none.
const RoutingSocketOption* FindRoutingSocketOption(uint64_t level,
                                                   uint64_t option);

// Whether a sendmsg control message of `level` and `type` leaves where the
// packet goes as the call's address says: SCM_RIGHTS, SCM_CREDENTIALS,
// SO_TIMESTAMPING, SCM_TXTIME; IP_TOS, IP_TTL, IP_PKTINFO; IPV6_PKTINFO,
// IPV6_HOPLIMIT, IPV6_TCLASS, IPV6_DONTFRAG (and their RFC 2292 forms);
// UDP_SEGMENT. The PKTINFO ones choose the source address and interface
// only.
bool IsDestinationNeutral(int level, int type);
Verdict DecideFault(const Policy& policy, const FaultRequest& request);

// The CLONE_NEW* flags clone takes in its flags (arg 0): mount, cgroup, UTS,
// IPC, user, PID and network namespaces. CLONE_NEWTIME (0x80) shares its bit
// with clone's exit signal, so only unshare and clone3 take it.
inline constexpr uint64_t kCloneNamespaceFlags = 0x7e020000;
inline constexpr uint64_t kCloneNewTime = 0x80;

// The intent of a path argument of `request`: read or write from the open
// flags for open, openat, openat2 (nullopt when its flags were not decoded)
// and creat, the call's own otherwise (syscalls.h).
std::optional<PathIntent> PathIntentOf(const SyscallRequest& request,
                                       const PathArgSpec& spec);

// Lexically normalises an absolute path ("/a/./b/../c" -> "/a/c"); relative
// input is returned unchanged.
std::string NormalizePath(const std::string& path);
// Glob match as documented on PathGlobs.
bool GlobMatch(std::string_view glob, std::string_view path);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_DECIDE_H_
