#include "policies/decide.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "policies/syscalls.h"

namespace isoscope {
namespace {

static_assert(kCloneNamespaceFlags ==
              (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
               CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET));
static_assert(kCloneNewTime == CLONE_NEWTIME);

struct NamespaceFlag {
  uint64_t flag;
  std::string_view name;
};
constexpr std::array<NamespaceFlag, 8> kNamespaceFlags = {{
    {CLONE_NEWNS, "CLONE_NEWNS"},
    {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
    {CLONE_NEWUTS, "CLONE_NEWUTS"},
    {CLONE_NEWIPC, "CLONE_NEWIPC"},
    {CLONE_NEWUSER, "CLONE_NEWUSER"},
    {CLONE_NEWPID, "CLONE_NEWPID"},
    {CLONE_NEWNET, "CLONE_NEWNET"},
    {CLONE_NEWTIME, "CLONE_NEWTIME"},
}};

std::string DisplayName(int number) {
  std::string name = SyscallName(number);
  if (name.empty()) return fmt::format("syscall {}", number);
  return name;
}

bool Holds(const ArgCondition& condition, uint64_t arg) {
  switch (condition.op) {
    case CompareOp::kEq:
      return arg == condition.value;
    case CompareOp::kNe:
      return arg != condition.value;
    case CompareOp::kLt:
      return arg < condition.value;
    case CompareOp::kLe:
      return arg <= condition.value;
    case CompareOp::kGt:
      return arg > condition.value;
    case CompareOp::kGe:
      return arg >= condition.value;
    case CompareOp::kMaskedEq:
      return (arg & condition.mask) == condition.value;
  }
  return false;
}

bool IsWriteOpen(uint64_t flags) {
  return (flags & O_ACCMODE) != O_RDONLY ||
         (flags & (O_CREAT | O_TRUNC | O_APPEND)) != 0;
}

}  // namespace

std::optional<PathIntent> PathIntentOf(const SyscallRequest& request,
                                       const PathArgSpec& spec) {
  if (spec.flags_index >= 0 && spec.flags_index <= 5) {
    return IsWriteOpen(request.args[static_cast<size_t>(spec.flags_index)])
               ? PathIntent::kWrite
               : PathIntent::kRead;
  }
  if (SyscallName(request.number) == "openat2") {
    if (!request.open_flags) return std::nullopt;
    return IsWriteOpen(*request.open_flags) ? PathIntent::kWrite
                                            : PathIntent::kRead;
  }
  return spec.intent;
}

namespace {

const std::vector<std::string>& GlobsFor(const PathGlobs& globs,
                                         PathIntent intent) {
  switch (intent) {
    case PathIntent::kRead:
      return globs.read;
    case PathIntent::kWrite:
      return globs.write;
    case PathIntent::kExec:
      return globs.exec;
  }
  return globs.read;
}

// Why a rule's conditions did not hold; nullopt when they all did.
std::optional<std::string> CheckConditions(const Rule& rule,
                                           const SyscallRequest& request,
                                           std::string* matched_detail) {
  const std::string name = DisplayName(request.number);
  for (const ArgCondition& condition : rule.args) {
    if (condition.index < 0 || condition.index > 5) {
      return fmt::format("{} has no arg{}", name, condition.index);
    }
    uint64_t arg = request.args[static_cast<size_t>(condition.index)];
    if (!Holds(condition, arg)) {
      if (condition.op == CompareOp::kMaskedEq) {
        return fmt::format("{} arg{} = {:#x} fails masked_eq {:#x}/{:#x}", name,
                           condition.index, arg, condition.mask,
                           condition.value);
      }
      return fmt::format("{} arg{} = {:#x} fails {} {:#x}", name,
                         condition.index, arg, CompareOpName(condition.op),
                         condition.value);
    }
  }
  if (!rule.paths) return std::nullopt;
  for (const PathArgSpec& spec : PathArguments(request.number)) {
    const std::optional<PathIntent> decoded = PathIntentOf(request, spec);
    if (!decoded) {
      // The flags live in the workload's memory; without them the intent is
      // unknown, so the condition fails (closed) rather than guessing.
      return fmt::format("{} flags were not decoded (fails closed)", name);
    }
    const PathIntent intent = *decoded;
    const PathArgument* argument = nullptr;
    for (const PathArgument& candidate : request.paths) {
      if (candidate.arg_index == spec.path_index) {
        argument = &candidate;
        break;
      }
    }
    if (argument == nullptr) {
      return fmt::format(
          "{} path argument {} was not decoded (fails closed) for rule '{}'",
          name, spec.path_index, rule.id);
    }
    std::string path = NormalizePath(argument->path);
    bool matched = false;
    for (const std::string& glob : GlobsFor(*rule.paths, intent)) {
      if (GlobMatch(glob, path)) {
        matched = true;
        break;
      }
    }
    if (!matched) {
      return fmt::format("{} path '{}' ({}) matches no {} glob of rule '{}'",
                         name, path, PathIntentName(intent),
                         PathIntentName(intent), rule.id);
    }
    if (!matched_detail->empty()) matched_detail->append(", ");
    matched_detail->append(
        fmt::format("path '{}' ({})", path, PathIntentName(intent)));
  }
  return std::nullopt;
}

bool RuleNames(const Rule& rule, int number) {
  for (int named : rule.syscalls) {
    if (named == number) return true;
  }
  return false;
}

// Matches one glob component (no '/') against one path component.
bool ComponentMatch(std::string_view glob, std::string_view text) {
  size_t g = 0;
  size_t t = 0;
  size_t star_g = std::string_view::npos;
  size_t star_t = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star_g = g++;
      star_t = t;
    } else if (star_g != std::string_view::npos) {
      g = star_g + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

std::vector<std::string_view> Components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

bool MatchComponents(const std::vector<std::string_view>& glob, size_t gi,
                     const std::vector<std::string_view>& path, size_t pi) {
  while (gi < glob.size()) {
    if (glob[gi] == "**") {
      // Collapse runs of "**" so the recursion stays linear per "**".
      while (gi + 1 < glob.size() && glob[gi + 1] == "**") ++gi;
      if (gi + 1 == glob.size()) return true;
      for (size_t skip = pi; skip <= path.size(); ++skip) {
        if (MatchComponents(glob, gi + 1, path, skip)) return true;
      }
      return false;
    }
    if (pi >= path.size() || !ComponentMatch(glob[gi], path[pi])) return false;
    ++gi;
    ++pi;
  }
  return pi == path.size();
}

Verdict Make(const ActionSpec& action, std::string rule_id,
             std::string reason) {
  return Verdict{action, std::move(rule_id), std::move(reason)};
}

// The first rule that applies to an x86-64 call, or the default.
Verdict DecideByRules(const Policy& policy, const SyscallRequest& request) {
  const SyscallPolicy& syscalls = policy.syscalls;
  const std::string name = DisplayName(request.number);
  std::string fell_through;  // the last rule that named it but did not apply
  for (const Rule& rule : syscalls.rules) {
    if (!RuleNames(rule, request.number)) continue;
    std::string matched_detail;
    std::optional<std::string> failure =
        CheckConditions(rule, request, &matched_detail);
    if (!failure) {
      std::string reason =
          matched_detail.empty()
              ? fmt::format("{} matches rule '{}': {}", name, rule.id,
                            DescribeAction(rule.action))
              : fmt::format("{} {} matches rule '{}': {}", name, matched_detail,
                            rule.id, DescribeAction(rule.action));
      return Make(rule.action, rule.id, std::move(reason));
    }
    if (rule.otherwise) {
      // Reasons about paths already name the rule; arg reasons do not.
      std::string where =
          failure->find(fmt::format("rule '{}'", rule.id)) == std::string::npos
              ? fmt::format(" in rule '{}'", rule.id)
              : "";
      return Make(*rule.otherwise, rule.id + ".else",
                  fmt::format("{}{}; else branch: {}", *failure, where,
                              DescribeAction(*rule.otherwise)));
    }
    fell_through = rule.id;
  }
  std::string reason =
      fell_through.empty()
          ? fmt::format("{}: no rule names it; syscalls.default: {}", name,
                        DescribeAction(syscalls.default_action))
          : fmt::format(
                "{}: no rule applies (last tried '{}'); "
                "syscalls.default: {}",
                name, fell_through, DescribeAction(syscalls.default_action));
  return Make(syscalls.default_action, "syscalls.default", std::move(reason));
}

bool Runs(const Verdict& verdict) {
  return verdict.action.action == Action::kAllow ||
         verdict.action.action == Action::kLog;
}

std::string NamespaceNames(uint64_t flags) {
  std::string out;
  for (const NamespaceFlag& entry : kNamespaceFlags) {
    if ((flags & entry.flag) == 0) continue;
    if (!out.empty()) out += '|';
    out += entry.name;
  }
  return out;
}

// What unshare(flags) gets from the rules.
Verdict AsUnshare(const Policy& policy, uint64_t flags) {
  SyscallRequest request;
  request.number = SYS_unshare;
  request.args[0] = flags;
  return DecideByRules(policy, request);
}

// clone with CLONE_NEW* flags creates namespaces as unshare does; where the
// policy refuses or logs that, the clone gets the same.
Verdict DecideCloneWithNamespaces(const Policy& policy,
                                  const SyscallRequest& request) {
  Verdict own = DecideByRules(policy, request);
  // A clone that does not run creates nothing.
  if (!Runs(own)) return own;
  const uint64_t flags = request.args[0] & kCloneNamespaceFlags;
  Verdict as_unshare = AsUnshare(policy, flags);
  if (as_unshare.action.action == Action::kAllow) return own;
  if (as_unshare.action.action == Action::kLog &&
      own.action.action == Action::kLog) {
    return own;
  }
  ActionSpec action = as_unshare.action;
  std::string note;
  if (action.action == Action::kEmulate) {
    // Making up a clone's result would tell the caller it is a child (0) or
    // has one: refuse instead.
    action = ActionSpec{Action::kDeny, EPERM};
    note = "; a clone cannot be emulated, so it is denied EPERM";
  }
  return Make(action, as_unshare.rule_id,
              fmt::format("clone with {} creates namespaces, decided as "
                          "unshare: {}{}",
                          NamespaceNames(flags), as_unshare.reason, note));
}

// The first set of namespace flags that unshare is not plainly allowed to
// create (single flags first, so the reason names the simplest case).
std::optional<std::pair<uint64_t, Verdict>> FirstRefusedNamespaces(
    const Policy& policy) {
  for (const NamespaceFlag& entry : kNamespaceFlags) {
    Verdict verdict = AsUnshare(policy, entry.flag);
    if (verdict.action.action != Action::kAllow) {
      return std::make_pair(entry.flag, std::move(verdict));
    }
  }
  for (uint32_t subset = 1; subset < (1U << kNamespaceFlags.size()); ++subset) {
    uint64_t flags = 0;
    for (size_t bit = 0; bit < kNamespaceFlags.size(); ++bit) {
      if ((subset & (1U << bit)) != 0) flags |= kNamespaceFlags[bit].flag;
    }
    Verdict verdict = AsUnshare(policy, flags);
    if (verdict.action.action != Action::kAllow) {
      return std::make_pair(flags, std::move(verdict));
    }
  }
  return std::nullopt;
}

// clone3's flags live in a struct in the workload's memory: no seccomp
// filter can read them, and a supervisor that read them could be raced.
// Where namespaces are not plainly allowed, clone3 fails as on a kernel
// without it and libc falls back to clone, whose flags are checked.
Verdict DecideClone3(const Policy& policy, const SyscallRequest& request) {
  Verdict own = DecideByRules(policy, request);
  if (!Runs(own)) return own;
  auto refused = FirstRefusedNamespaces(policy);
  if (!refused) return own;
  const auto& [flags, as_unshare] = *refused;
  return Make(ActionSpec{Action::kDeny, ENOSYS}, as_unshare.rule_id + ".clone3",
              fmt::format("clone3's flags are in memory no filter can read, "
                          "and unshare with {} is not allowed ({}); clone3 "
                          "fails with ENOSYS so libc falls back to clone, "
                          "whose flags are checked",
                          NamespaceNames(flags), as_unshare.reason));
}

// The list that holds call `number`, with its rule id; nullptr when none
// applies.
const std::vector<EndpointPattern>* ListFor(const Policy& policy, int number,
                                            std::string_view* rule_id) {
  const NetworkEndpoints& endpoints = policy.endpoints;
  switch (number) {
    case SYS_connect:
    case SYS_sendto:
    case SYS_sendmsg:
    case SYS_sendmmsg:
    case SYS_setsockopt:
      *rule_id = "network.connect";
      return endpoints.connect ? &*endpoints.connect : nullptr;
    case SYS_bind:
      *rule_id = "network.bind";
      return endpoints.bind ? &*endpoints.bind : nullptr;
    case SYS_socket:
      *rule_id = endpoints.connect ? "network.connect" : "network.bind";
      if (endpoints.connect) return &*endpoints.connect;
      return endpoints.bind ? &*endpoints.bind : nullptr;
    default:
      return nullptr;
  }
}

std::string FamilyName(int family) {
  switch (family) {
    case AF_UNSPEC:
      return "AF_UNSPEC";
    case AF_UNIX:
      return "AF_UNIX";
    case AF_INET:
      return "AF_INET";
    case AF_INET6:
      return "AF_INET6";
    case AF_NETLINK:
      return "AF_NETLINK";
    case AF_PACKET:
      return "AF_PACKET";
    default:
      return fmt::format("family {}", family);
  }
}

bool SocketAllowedWithLists(uint64_t domain, uint64_t protocol) {
  switch (domain) {
    case AF_UNIX:
    case AF_NETLINK:
      return true;
    case AF_INET:
    case AF_INET6:
      return protocol == 0 || protocol == IPPROTO_TCP ||
             protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE ||
             protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6;
    default:
      return false;
  }
}

std::string PatternTexts(const std::vector<EndpointPattern>& list) {
  if (list.empty()) return "none listed";
  std::string out;
  for (size_t i = 0; i < list.size() && i < 4; ++i) {
    if (!out.empty()) out += ", ";
    out += list[i].text;
  }
  if (list.size() > 4) out += fmt::format(", and {} more", list.size() - 4);
  return out;
}

// Linux's IPV6_FLOWLABEL_MGR (linux/in6.h; glibc lacks it).
constexpr int kIpv6FlowLabelManager = 32;

constexpr std::array<RoutingSocketOption, 5> kRoutingSocketOptions = {{
    {IPPROTO_IP, IP_OPTIONS, "IPPROTO_IP IP_OPTIONS",
     "a loose or strict source route (LSRR, SSRR) among the IP options "
     "sends every later packet to the first hop it names, whatever "
     "address the call gives"},
    {IPPROTO_IPV6, IPV6_RTHDR, "IPPROTO_IPV6 IPV6_RTHDR",
     "a routing header sends every later packet to the first address it "
     "lists, whatever address the call gives"},
    {IPPROTO_IPV6, IPV6_2292RTHDR, "IPPROTO_IPV6 IPV6_2292RTHDR",
     "a routing header sends every later packet to the first address it "
     "lists, whatever address the call gives"},
    {IPPROTO_IPV6, IPV6_2292PKTOPTIONS, "IPPROTO_IPV6 IPV6_2292PKTOPTIONS",
     "it sets sticky options from control messages, a routing header "
     "among them"},
    {IPPROTO_IPV6, kIpv6FlowLabelManager, "IPPROTO_IPV6 IPV6_FLOWLABEL_MGR",
     "a flow label it attaches can carry options, a routing header among "
     "them, that every send with that label takes"},
}};

struct ControlMessageName {
  int level;
  int type;
  std::string_view name;
  bool neutral;  // IsDestinationNeutral
};

// Linux's SO_TIMESTAMPING_OLD, SO_TIMESTAMPING_NEW and SCM_TXTIME
// (asm-generic/socket.h): send timestamps and a launch time.
constexpr int kTimestampingOld = 37;
constexpr int kTimestampingNew = 65;
constexpr int kTxTime = 61;
constexpr int kMark = 36;  // SO_MARK: a mark policy routing can match

// What the kernel does with each (ip_cmsg_send, ip6_datagram_send_ctl,
// __sock_cmsg_send, __scm_send, udp_cmsg_send): PKTINFO picks the source
// address and the outgoing interface, the rest mark or time the packet.
// Refused, named for the record: the source route of IP_RETOPTS, the IPv6
// routing header, next hop and extension headers, and SO_MARK.
constexpr std::array<ControlMessageName, 25> kControlMessages = {{
    {SOL_SOCKET, SCM_RIGHTS, "SOL_SOCKET SCM_RIGHTS", true},
    {SOL_SOCKET, SCM_CREDENTIALS, "SOL_SOCKET SCM_CREDENTIALS", true},
    {SOL_SOCKET, kTimestampingOld, "SOL_SOCKET SO_TIMESTAMPING_OLD", true},
    {SOL_SOCKET, kTimestampingNew, "SOL_SOCKET SO_TIMESTAMPING_NEW", true},
    {SOL_SOCKET, kTxTime, "SOL_SOCKET SCM_TXTIME", true},
    {IPPROTO_IP, IP_TOS, "IPPROTO_IP IP_TOS", true},
    {IPPROTO_IP, IP_TTL, "IPPROTO_IP IP_TTL", true},
    {IPPROTO_IP, IP_PKTINFO, "IPPROTO_IP IP_PKTINFO", true},
    {IPPROTO_IPV6, IPV6_PKTINFO, "IPPROTO_IPV6 IPV6_PKTINFO", true},
    {IPPROTO_IPV6, IPV6_2292PKTINFO, "IPPROTO_IPV6 IPV6_2292PKTINFO", true},
    {IPPROTO_IPV6, IPV6_HOPLIMIT, "IPPROTO_IPV6 IPV6_HOPLIMIT", true},
    {IPPROTO_IPV6, IPV6_2292HOPLIMIT, "IPPROTO_IPV6 IPV6_2292HOPLIMIT", true},
    {IPPROTO_IPV6, IPV6_TCLASS, "IPPROTO_IPV6 IPV6_TCLASS", true},
    {IPPROTO_IPV6, IPV6_DONTFRAG, "IPPROTO_IPV6 IPV6_DONTFRAG", true},
    {IPPROTO_UDP, UDP_SEGMENT, "IPPROTO_UDP UDP_SEGMENT", true},
    {SOL_SOCKET, kMark, "SOL_SOCKET SO_MARK", false},
    {IPPROTO_IP, IP_RETOPTS, "IPPROTO_IP IP_RETOPTS", false},
    {IPPROTO_IPV6, IPV6_RTHDR, "IPPROTO_IPV6 IPV6_RTHDR", false},
    {IPPROTO_IPV6, IPV6_2292RTHDR, "IPPROTO_IPV6 IPV6_2292RTHDR", false},
    {IPPROTO_IPV6, IPV6_NEXTHOP, "IPPROTO_IPV6 IPV6_NEXTHOP", false},
    {IPPROTO_IPV6, IPV6_HOPOPTS, "IPPROTO_IPV6 IPV6_HOPOPTS", false},
    {IPPROTO_IPV6, IPV6_DSTOPTS, "IPPROTO_IPV6 IPV6_DSTOPTS", false},
    {IPPROTO_IPV6, IPV6_RTHDRDSTOPTS, "IPPROTO_IPV6 IPV6_RTHDRDSTOPTS", false},
    {IPPROTO_IPV6, IPV6_2292HOPOPTS, "IPPROTO_IPV6 IPV6_2292HOPOPTS", false},
    {IPPROTO_IPV6, IPV6_2292DSTOPTS, "IPPROTO_IPV6 IPV6_2292DSTOPTS", false},
}};

const ControlMessageName* FindControlMessage(int level, int type) {
  for (const ControlMessageName& entry : kControlMessages) {
    if (entry.level == level && entry.type == type) return &entry;
  }
  return nullptr;
}

std::string ControlMessageText(const ControlMessage& message) {
  const ControlMessageName* entry =
      FindControlMessage(message.level, message.type);
  if (entry != nullptr) {
    return fmt::format("{} (level {}, type {})", entry->name, message.level,
                       message.type);
  }
  return fmt::format("of level {}, type {}", message.level, message.type);
}

// The first of sendmsg's control messages that may change where its
// packet goes; nullptr when there is none.
const ControlMessage* FirstRoutingControl(const SyscallRequest& request) {
  for (const ControlMessage& message : request.control_messages) {
    if (!IsDestinationNeutral(message.level, message.type)) return &message;
  }
  return nullptr;
}

// A call the rules let run, held to the endpoint list that applies to it.
Verdict DecideEndpoints(const Policy& policy, const SyscallRequest& request,
                        Verdict own) {
  if (!Runs(own)) return own;
  std::string_view rule_id;
  const std::vector<EndpointPattern>* list =
      ListFor(policy, request.number, &rule_id);
  if (list == nullptr) return own;
  const std::string name = DisplayName(request.number);
  const ActionSpec refuse{Action::kDeny, policy.endpoints.errno_value};
  const auto refused = [&](std::string why) {
    return Make(
        refuse, std::string(rule_id),
        fmt::format("{}; {}: {}", why, rule_id, DescribeAction(refuse)));
  };
  if (request.number == SYS_socket) {
    if (SocketAllowedWithLists(request.args[0], request.args[2])) return own;
    return refused(fmt::format(
        "socket of {} with protocol {}: with endpoint lists only AF_UNIX, "
        "AF_NETLINK, and AF_INET/AF_INET6 with TCP, UDP, UDP-Lite or ICMP "
        "sockets are made",
        FamilyName(static_cast<int>(request.args[0] & 0xffffffff)),
        request.args[2] & 0xffffffff));
  }
  if (request.number == SYS_setsockopt) {
    const RoutingSocketOption* option =
        FindRoutingSocketOption(request.args[1], request.args[2]);
    if (option == nullptr) return own;
    return refused(fmt::format("setsockopt {}: {}", option->name, option->why));
  }
  if (request.number == SYS_sendmmsg) {
    return refused(
        "sendmmsg's destinations are in an array the kernel writes back "
        "into, so isoscope cannot hand the kernel a checked copy of them");
  }
  if (!request.address) {
    return refused(fmt::format(
        "{}'s socket address was not decoded (fails closed)", name));
  }
  const SocketAddress& address = *request.address;
  std::string matched;
  switch (address.kind) {
    case SocketAddress::Kind::kNone:
      break;
    case SocketAddress::Kind::kOther:
      if (address.family == AF_UNIX || address.family == AF_NETLINK) break;
      return refused(
          fmt::format("{} to an address of {}: only IPv4 and IPv6 "
                      "endpoints can be listed",
                      name, FamilyName(address.family)));
    case SocketAddress::Kind::kIp: {
      size_t i = 0;
      while (i < list->size() && !EndpointMatches((*list)[i], address.ip)) ++i;
      if (i == list->size()) {
        return refused(fmt::format("{} {} matches no entry of {} ({})", name,
                                   FormatEndpoint(address.ip), rule_id,
                                   PatternTexts(*list)));
      }
      matched =
          fmt::format("; {} matches {}[{}] '{}'", FormatEndpoint(address.ip),
                      rule_id, i, (*list)[i].text);
      break;
    }
  }
  if (const ControlMessage* control = FirstRoutingControl(request)) {
    return refused(fmt::format(
        "{} carries the control message {}, which can send the packet "
        "elsewhere than its address: with a {} list only control messages "
        "that leave the destination alone are sent (SCM_RIGHTS, "
        "SCM_CREDENTIALS, SO_TIMESTAMPING, SCM_TXTIME, IP_TOS, IP_TTL, "
        "IP_PKTINFO, IPV6_PKTINFO, IPV6_HOPLIMIT, IPV6_TCLASS, "
        "IPV6_DONTFRAG, UDP_SEGMENT)",
        name, ControlMessageText(*control), rule_id));
  }
  own.reason += matched;
  return own;
}

}  // namespace

bool EndpointListsApply(const Policy& policy, int number) {
  std::string_view rule_id;
  return ListFor(policy, number, &rule_id) != nullptr;
}

std::span<const RoutingSocketOption> RoutingSocketOptions() {
  return kRoutingSocketOptions;
}

const RoutingSocketOption* FindRoutingSocketOption(uint64_t level,
                                                   uint64_t option) {
  // setsockopt takes both as an int: the upper halves of the registers
  // are ignored.
  const auto level32 = static_cast<int32_t>(level & 0xffffffff);
  const auto option32 = static_cast<int32_t>(option & 0xffffffff);
  for (const RoutingSocketOption& entry : kRoutingSocketOptions) {
    if (entry.level == level32 && entry.option == option32) return &entry;
  }
  return nullptr;
}

bool IsDestinationNeutral(int level, int type) {
  const ControlMessageName* entry = FindControlMessage(level, type);
  return entry != nullptr && entry->neutral;
}

std::string_view AbiName(Abi abi) {
  switch (abi) {
    case Abi::kX86_64:
      return "x86_64";
    case Abi::kI386:
      return "i386";
    case Abi::kX32:
      return "x32";
  }
  return "unknown";
}

Verdict Decide(const Policy& policy, const SyscallRequest& request) {
  const SyscallPolicy& syscalls = policy.syscalls;
  if (request.abi == Abi::kI386 || request.abi == Abi::kX32) {
    const bool i386 = request.abi == Abi::kI386;
    const ActionSpec& action = i386 ? syscalls.abi.i386 : syscalls.abi.x32;
    std::string rule_id = fmt::format("syscalls.abi.{}", AbiName(request.abi));
    std::string reason =
        fmt::format("{} syscall {} (non-native ABI): {}", AbiName(request.abi),
                    request.number, DescribeAction(action));
    return Make(action, std::move(rule_id), std::move(reason));
  }
  if (request.number == SYS_clone &&
      (request.args[0] & kCloneNamespaceFlags) != 0) {
    return DecideCloneWithNamespaces(policy, request);
  }
  if (request.number == SYS_clone3) return DecideClone3(policy, request);
  Verdict own = DecideByRules(policy, request);
  if (policy.endpoints.empty()) return own;
  return DecideEndpoints(policy, request, std::move(own));
}

Verdict DecideFault(const Policy& policy, const FaultRequest& request) {
  Action action = policy.faults.For(request.kind);
  std::string rule_id = fmt::format("faults.{}", FaultKindName(request.kind));
  std::string reason =
      fmt::format("{} fault: {} is {}", FaultKindName(request.kind), rule_id,
                  ActionName(action));
  return Make(ActionSpec{action}, std::move(rule_id), std::move(reason));
}

std::string NormalizePath(const std::string& path) {
  if (path.empty() || path.front() != '/') return path;
  std::vector<std::string_view> parts;
  for (std::string_view part : Components(path)) {
    if (part == ".") continue;
    if (part == "..") {
      // ".." at the root stays at the root, as the kernel resolves it.
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  if (parts.empty()) return "/";
  std::string out;
  for (std::string_view part : parts) {
    out.push_back('/');
    out.append(part);
  }
  return out;
}

bool GlobMatch(std::string_view glob, std::string_view path) {
  const bool glob_absolute = !glob.empty() && glob.front() == '/';
  const bool path_absolute = !path.empty() && path.front() == '/';
  if (glob_absolute != path_absolute) return false;
  return MatchComponents(Components(glob), 0, Components(path), 0);
}

}  // namespace isoscope
