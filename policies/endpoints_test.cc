// network.connect and network.bind: the patterns, the loader's checks,
// Decide, the plan and policy diff.
#include "policies/endpoints.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "policies/decide.h"
#include "policies/loader.h"
#include "policies/plan.h"
#include "policies/policy_diff.h"
#include "policies/test_support.h"

namespace isoscope {
namespace {

using testing::MustParse;

IpEndpoint V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  IpEndpoint endpoint;
  endpoint.address = {a, b, c, d};
  endpoint.port = port;
  return endpoint;
}

IpEndpoint V6Loopback(uint16_t port) {
  std::array<uint8_t, 16> bytes{};
  bytes[15] = 1;
  return FromIpv6(bytes, port);
}

EndpointPattern Pattern(const std::string& text) {
  auto pattern = ParseEndpointPattern(text);
  EXPECT_TRUE(pattern) << text << ": "
                       << (pattern ? "" : pattern.error().message());
  return pattern ? *pattern : EndpointPattern{};
}

TEST(EndpointPatternTest, ParsesHostsAndPorts) {
  EXPECT_TRUE(
      EndpointMatches(Pattern("127.0.0.1:8080"), V4(127, 0, 0, 1, 8080)));
  EXPECT_FALSE(
      EndpointMatches(Pattern("127.0.0.1:8080"), V4(127, 0, 0, 1, 8081)));
  EXPECT_FALSE(
      EndpointMatches(Pattern("127.0.0.1:8080"), V4(127, 0, 0, 2, 8080)));
  EXPECT_TRUE(EndpointMatches(Pattern("[::1]:8080"), V6Loopback(8080)));
  EXPECT_FALSE(EndpointMatches(Pattern("[::1]:8080"), V4(127, 0, 0, 1, 8080)));
  EXPECT_TRUE(EndpointMatches(Pattern("*:53"), V6Loopback(53)));
  EXPECT_TRUE(EndpointMatches(Pattern("*:53"), V4(10, 1, 2, 3, 53)));
  EXPECT_TRUE(EndpointMatches(Pattern("127.0.0.1:*"), V4(127, 0, 0, 1, 0)));
  EXPECT_TRUE(
      EndpointMatches(Pattern("127.0.0.1:8000-8099"), V4(127, 0, 0, 1, 8099)));
  EXPECT_FALSE(
      EndpointMatches(Pattern("127.0.0.1:8000-8099"), V4(127, 0, 0, 1, 8100)));
  // An IPv4-mapped address is the IPv4 address it maps, either side.
  EXPECT_TRUE(
      EndpointMatches(Pattern("[::ffff:127.0.0.1]:80"), V4(127, 0, 0, 1, 80)));
  std::array<uint8_t, 16> mapped = {0, 0, 0,    0,    0,   0, 0, 0,
                                    0, 0, 0xff, 0xff, 127, 0, 0, 1};
  EXPECT_TRUE(EndpointMatches(Pattern("127.0.0.1:80"), FromIpv6(mapped, 80)));
  EXPECT_EQ(FormatEndpoint(FromIpv6(mapped, 80)), "127.0.0.1:80");
  EXPECT_EQ(FormatEndpoint(V6Loopback(80)), "[::1]:80");

  for (const char* bad :
       {"127.0.0.1", "localhost:80", "::1:80", "[::1]", "127.0.0.1:65536",
        "127.0.0.1:9-8", "127.1:80", "[nope]:1", "127.0.0.1:", "1.2.3.4:8a"}) {
    EXPECT_FALSE(ParseEndpointPattern(bad)) << bad;
  }
}

TEST(EndpointLoaderTest, MapFormAndErrors) {
  const Policy policy = MustParse(
      "version: 1\n"
      "network:\n"
      "  mode: loopback\n"
      "  connect: [\"127.0.0.1:8080\", \"[::1]:8080\"]\n"
      "  bind: [\"127.0.0.1:0\"]\n"
      "  errno: ECONNREFUSED\n");
  EXPECT_EQ(policy.network, NetworkMode::kLoopback);
  ASSERT_TRUE(policy.endpoints.connect);
  ASSERT_EQ(policy.endpoints.connect->size(), 2U);
  EXPECT_EQ((*policy.endpoints.connect)[1].text, "[::1]:8080");
  EXPECT_EQ((*policy.endpoints.connect)[1].line, 4);
  ASSERT_TRUE(policy.endpoints.bind);
  EXPECT_EQ(policy.endpoints.errno_value, ECONNREFUSED);
  // The scalar form is unchanged: no lists.
  EXPECT_TRUE(MustParse("version: 1\nnetwork: host\n").endpoints.empty());

  const auto error = [](const std::string& network) {
    auto parsed = ParsePolicy("version: 1\n" + network, "t.yaml",
                              {.refuse_holes = false});
    return parsed ? std::string("(loaded)") : parsed.error().message();
  };
  EXPECT_NE(error("network: {connect: []}\n").find("network.mode: required"),
            std::string::npos);
  EXPECT_NE(error("network: {mode: none, connect: [\"*:1\"]}\n")
                .find("network.connect: network mode none reaches no"),
            std::string::npos);
  EXPECT_NE(error("network: {mode: loopback, connect: [\"10.0.0.1:80\"]}\n")
                .find("t.yaml:2:"),
            std::string::npos);
  EXPECT_NE(error("network: {mode: loopback, connect: [\"10.0.0.1:80\"]}\n")
                .find("network.connect[0]: '10.0.0.1:80' is not a loopback"),
            std::string::npos);
  EXPECT_EQ(error("network: {mode: host, connect: [\"10.0.0.1:80\"]}\n"),
            "(loaded)");
  EXPECT_NE(error("network: {mode: host, bind: [\"1.2.3.4\"]}\n")
                .find("network.bind[0]: '1.2.3.4' is not HOST:PORT"),
            std::string::npos);
  EXPECT_NE(error("network: {mode: host, errno: EPERM}\n")
                .find("errno is only valid with network.connect"),
            std::string::npos);
  EXPECT_NE(error("network: {mode: host, connect: [], errno: ENOPE}\n")
                .find("unknown errno 'ENOPE'"),
            std::string::npos);
  EXPECT_NE(error("network: {mode: host, ports: []}\n").find("unknown key"),
            std::string::npos);
  EXPECT_NE(error("network: {mode: host, connect: []}\n"
                  "capabilities: [CAP_NET_RAW]\n")
                .find("CAP_NET_RAW cannot be kept with network.connect"),
            std::string::npos);
}

SyscallRequest Connect(std::optional<SocketAddress> address,
                       int number = SYS_connect) {
  SyscallRequest request;
  request.number = number;
  request.address = address;
  return request;
}

SocketAddress Ip(const IpEndpoint& endpoint) {
  return {SocketAddress::Kind::kIp, endpoint.ipv6 ? AF_INET6 : AF_INET,
          endpoint};
}

constexpr const char* kListed =
    "version: 1\n"
    "syscalls:\n"
    "  default: allow\n"
    "  rules:\n"
    "    - {id: no-udp, syscalls: [sendto], action: log}\n"
    "network:\n"
    "  mode: loopback\n"
    "  connect: [\"127.0.0.1:8080\", \"[::1]:9000-9009\"]\n"
    "  bind: [\"127.0.0.1:0\"]\n";

TEST(EndpointDecideTest, ListedEndpointsOnly) {
  const Policy policy = MustParse(kListed);
  Verdict allowed = Decide(policy, Connect(Ip(V4(127, 0, 0, 1, 8080))));
  EXPECT_EQ(allowed.action.action, Action::kAllow);
  EXPECT_NE(allowed.reason.find("matches network.connect[0]"),
            std::string::npos)
      << allowed.reason;
  EXPECT_EQ(Decide(policy, Connect(Ip(V6Loopback(9005)))).action.action,
            Action::kAllow);

  Verdict refused = Decide(policy, Connect(Ip(V4(127, 0, 0, 1, 8081))));
  EXPECT_EQ(refused.action, (ActionSpec{Action::kDeny, EACCES}));
  EXPECT_EQ(refused.rule_id, "network.connect");
  EXPECT_NE(refused.reason.find("127.0.0.1:8081 matches no entry"),
            std::string::npos)
      << refused.reason;
  // sendto and sendmsg reach endpoints as connect does; a `log` rule still
  // logs what the list allows.
  EXPECT_EQ(
      Decide(policy, Connect(Ip(V4(127, 0, 0, 1, 1)), SYS_sendto)).rule_id,
      "network.connect");
  EXPECT_EQ(Decide(policy, Connect(Ip(V4(127, 0, 0, 1, 8080)), SYS_sendto))
                .action.action,
            Action::kLog);
  EXPECT_EQ(
      Decide(policy, Connect(Ip(V4(127, 0, 0, 1, 1)), SYS_sendmsg)).rule_id,
      "network.connect");
  // bind has its own list.
  EXPECT_EQ(
      Decide(policy, Connect(Ip(V4(127, 0, 0, 1, 0)), SYS_bind)).action.action,
      Action::kAllow);
  EXPECT_EQ(
      Decide(policy, Connect(Ip(V4(127, 0, 0, 1, 8080)), SYS_bind)).rule_id,
      "network.bind");
}

TEST(EndpointDecideTest, OtherFamiliesAndMissingAddresses) {
  const Policy policy = MustParse(kListed);
  // Not decoded: fails closed.
  EXPECT_EQ(Decide(policy, Connect(std::nullopt)).rule_id, "network.connect");
  // No destination (sendto on a connected socket, a disconnect): runs.
  EXPECT_EQ(Decide(policy, Connect(SocketAddress{}, SYS_sendto)).action.action,
            Action::kLog);
  EXPECT_EQ(Decide(policy, Connect(SocketAddress{})).action.action,
            Action::kAllow);
  // AF_UNIX and AF_NETLINK are not the lists' to decide; others are refused.
  for (int family : {AF_UNIX, AF_NETLINK}) {
    EXPECT_EQ(Decide(policy, Connect(SocketAddress{
                                 SocketAddress::Kind::kOther, family, {}}))
                  .action.action,
              Action::kAllow)
        << family;
  }
  EXPECT_EQ(Decide(policy, Connect(SocketAddress{
                               SocketAddress::Kind::kOther, AF_PACKET, {}}))
                .rule_id,
            "network.connect");
  // sendmmsg is refused whatever it names.
  EXPECT_EQ(Decide(policy, Connect(SocketAddress{}, SYS_sendmmsg)).rule_id,
            "network.connect");
  // socket: SCTP and MPTCP reach addresses no call names; AF_PACKET sends
  // frames anywhere.
  SyscallRequest socket;
  socket.number = SYS_socket;
  socket.args = {AF_INET, SOCK_STREAM, 0, 0, 0, 0};
  EXPECT_EQ(Decide(policy, socket).action.action, Action::kAllow);
  socket.args[2] = IPPROTO_SCTP;
  EXPECT_EQ(Decide(policy, socket).rule_id, "network.connect");
  socket.args = {AF_PACKET, SOCK_RAW, 0, 0, 0, 0};
  EXPECT_EQ(Decide(policy, socket).rule_id, "network.connect");
  socket.args = {AF_UNIX, SOCK_STREAM, 0, 0, 0, 0};
  EXPECT_EQ(Decide(policy, socket).action.action, Action::kAllow);
  // Without lists nothing changes.
  const Policy plain = MustParse(
      "version: 1\nsyscalls: {default: allow}\n"
      "network: loopback\n");
  EXPECT_EQ(Decide(plain, Connect(std::nullopt)).action.action, Action::kAllow);
}

TEST(EndpointPlanTest, ListsMakeTheirCallsInspected) {
  auto policy = std::make_shared<const Policy>(MustParse(kListed));
  const CompiledPlan plan = CompiledPlan::Compile(policy);
  for (int number :
       {SYS_connect, SYS_bind, SYS_sendto, SYS_sendmsg, SYS_socket}) {
    EXPECT_EQ(plan.For(number).disposition, Disposition::kInspect) << number;
  }
  EXPECT_EQ(plan.For(SYS_sendmmsg),
            (SyscallPlan{Disposition::kErrno, EACCES, "network.connect"}));
  EXPECT_EQ(plan.For(SYS_recvfrom).disposition, Disposition::kAllow);

  auto plain = std::make_shared<const Policy>(
      MustParse("version: 1\nsyscalls: {default: allow}\nnetwork: loopback\n"));
  const CompiledPlan unlisted = CompiledPlan::Compile(plain);
  for (int number : {SYS_connect, SYS_bind, SYS_sendto, SYS_sendmsg,
                     SYS_sendmmsg, SYS_socket}) {
    EXPECT_EQ(unlisted.For(number).disposition, Disposition::kAllow) << number;
  }
}

// Routes around a listed address (issue 17): socket options and sendmsg
// control messages that send packets to a first hop no call names.
TEST(EndpointDecideTest, RoutingOptionsAreRefused) {
  const Policy policy = MustParse(kListed);
  SyscallRequest request;
  request.number = SYS_setsockopt;
  const auto decide = [&](uint64_t level, uint64_t option) {
    request.args = {3, level, option, 0, 0, 0};
    return Decide(policy, request);
  };
  for (auto [level, option] : std::vector<std::pair<uint64_t, uint64_t>>{
           {IPPROTO_IP, IP_OPTIONS},
           {IPPROTO_IPV6, IPV6_RTHDR},
           {IPPROTO_IPV6, IPV6_2292RTHDR},
           {IPPROTO_IPV6, IPV6_2292PKTOPTIONS},
           {IPPROTO_IPV6, 32},  // IPV6_FLOWLABEL_MGR
           // The kernel reads both as an int: upper halves do not hide them.
           {0xffffffff00000000 | IPPROTO_IP, 0x100000000 | IP_OPTIONS},
       }) {
    Verdict verdict = decide(level, option);
    EXPECT_EQ(verdict.action, (ActionSpec{Action::kDeny, EACCES}))
        << level << " " << option;
    EXPECT_EQ(verdict.rule_id, "network.connect");
    EXPECT_NE(verdict.reason.find("setsockopt IPPROTO_"), std::string::npos)
        << verdict.reason;
  }
  EXPECT_NE(decide(IPPROTO_IP, IP_OPTIONS).reason.find("source route"),
            std::string::npos);
  // Other options, and the same numbers at other levels, run.
  for (auto [level, option] : std::vector<std::pair<uint64_t, uint64_t>>{
           {IPPROTO_IP, IP_TOS},
           {IPPROTO_IPV6, IPV6_V6ONLY},
           {SOL_SOCKET, IP_OPTIONS},
           {IPPROTO_TCP, IPV6_RTHDR},
       }) {
    EXPECT_EQ(decide(level, option).action.action, Action::kAllow)
        << level << " " << option;
  }
  // Without a connect list nothing changes.
  const Policy bind_only = MustParse(
      "version: 1\nsyscalls: {default: allow}\n"
      "network: {mode: loopback, bind: [\"127.0.0.1:0\"]}\n");
  request.args = {3, IPPROTO_IP, IP_OPTIONS, 0, 0, 0};
  EXPECT_EQ(Decide(bind_only, request).action.action, Action::kAllow);
}

TEST(EndpointDecideTest, SendmsgCarriesOnlyDestinationNeutralControl) {
  const Policy policy = MustParse(kListed);
  SyscallRequest request = Connect(Ip(V4(127, 0, 0, 1, 8080)), SYS_sendmsg);
  request.control_messages = {{IPPROTO_IP, IP_TTL},
                              {IPPROTO_IP, IP_PKTINFO},
                              {IPPROTO_UDP, UDP_SEGMENT}};
  EXPECT_EQ(Decide(policy, request).action.action, Action::kAllow);
  // A source route among them refuses the call, naming it.
  request.control_messages.push_back({IPPROTO_IP, IP_RETOPTS});
  Verdict refused = Decide(policy, request);
  EXPECT_EQ(refused.action, (ActionSpec{Action::kDeny, EACCES}));
  EXPECT_EQ(refused.rule_id, "network.connect");
  EXPECT_NE(refused.reason.find("IPPROTO_IP IP_RETOPTS (level 0, type 7)"),
            std::string::npos)
      << refused.reason;
  // So do IPv6 routing headers, unknown types, and any of them on a
  // connected socket (no address) or an AF_UNIX one.
  for (ControlMessage control : std::vector<ControlMessage>{
           {IPPROTO_IPV6, IPV6_RTHDR},
           {IPPROTO_IPV6, IPV6_2292RTHDR},
           {IPPROTO_IPV6, IPV6_NEXTHOP},
           {SOL_SOCKET, 36},  // SO_MARK
           {IPPROTO_IP, 200},
       }) {
    for (const SocketAddress& address :
         {Ip(V4(127, 0, 0, 1, 8080)), SocketAddress{},
          SocketAddress{SocketAddress::Kind::kOther, AF_UNIX, {}}}) {
      SyscallRequest with = Connect(address, SYS_sendmsg);
      with.control_messages = {control};
      EXPECT_EQ(Decide(policy, with).rule_id, "network.connect")
          << control.level << " " << control.type;
    }
  }
  EXPECT_NE(Decide(policy,
                   [&] {
                     SyscallRequest unknown =
                         Connect(SocketAddress{}, SYS_sendmsg);
                     unknown.control_messages = {{IPPROTO_IP, 200}};
                     return unknown;
                   }())
                .reason.find("of level 0, type 200"),
            std::string::npos);
  // Descriptors and credentials over AF_UNIX stay.
  SyscallRequest unix_rights = Connect(SocketAddress{}, SYS_sendmsg);
  unix_rights.control_messages = {{SOL_SOCKET, SCM_RIGHTS},
                                  {SOL_SOCKET, SCM_CREDENTIALS}};
  EXPECT_EQ(Decide(policy, unix_rights).action.action, Action::kAllow);
  // An unlisted address is refused for its address first.
  SyscallRequest unlisted = Connect(Ip(V4(127, 0, 0, 1, 1)), SYS_sendmsg);
  unlisted.control_messages = {{IPPROTO_IP, IP_RETOPTS}};
  EXPECT_NE(Decide(policy, unlisted).reason.find("matches no entry"),
            std::string::npos);
  // Without lists nothing changes.
  const Policy plain =
      MustParse("version: 1\nsyscalls: {default: allow}\nnetwork: loopback\n");
  EXPECT_EQ(Decide(plain, request).action.action, Action::kAllow);
}

TEST(EndpointPlanTest, RoutingOptionsAreRefusedStatically) {
  auto policy = std::make_shared<const Policy>(MustParse(kListed));
  const CompiledPlan plan = CompiledPlan::Compile(policy);
  const SyscallPlan refused{Disposition::kErrno, EACCES, "network.connect"};
  EXPECT_EQ(plan.routing_options(), refused);
  EXPECT_EQ(plan.For(SYS_setsockopt).disposition, Disposition::kAllow);
  for (const RoutingSocketOption& option : RoutingSocketOptions()) {
    const std::array<uint64_t, 6> args = {
        3,
        static_cast<uint64_t>(option.level) | 0x500000000,
        static_cast<uint64_t>(option.option),
        0,
        0,
        0};
    EXPECT_EQ(plan.ForCall(SYS_setsockopt, args), refused) << option.name;
    SyscallRequest request;
    request.number = SYS_setsockopt;
    request.args = args;
    Verdict verdict = Decide(*policy, request);
    EXPECT_EQ(verdict.rule_id, refused.rule_id);
    EXPECT_EQ(verdict.action.errno_value, refused.errno_value);
  }
  EXPECT_EQ(plan.ForCall(SYS_setsockopt, {3, IPPROTO_IP, IP_TOS, 0, 0, 0}),
            plan.For(SYS_setsockopt));
  // A rule that refuses or inspects setsockopt keeps its own plan.
  auto denied = std::make_shared<const Policy>(MustParse(
      "version: 1\nsyscalls:\n  default: allow\n  rules:\n"
      "    - {id: no, syscalls: [setsockopt], action: deny, errno: EPERM}\n"
      "network: {mode: loopback, connect: [\"127.0.0.1:1\"]}\n"));
  const CompiledPlan denied_plan = CompiledPlan::Compile(denied);
  EXPECT_EQ(denied_plan.routing_options(), denied_plan.For(SYS_setsockopt));
  auto plain = std::make_shared<const Policy>(
      MustParse("version: 1\nsyscalls: {default: allow}\nnetwork: loopback\n"));
  const CompiledPlan unlisted = CompiledPlan::Compile(plain);
  EXPECT_EQ(unlisted.routing_options(), unlisted.For(SYS_setsockopt));
}

TEST(EndpointDiffTest, ListsByEntry) {
  const Policy a = MustParse(kListed);
  const Policy b = MustParse(
      "version: 1\nsyscalls: {default: allow}\n"
      "network: {mode: loopback, connect: [\"127.0.0.1:8080\", "
      "\"127.0.0.1:53\"]}\n");
  const auto diff = DiffPolicies(a, b, "a", "b");
  std::vector<std::string> lines;
  for (const SectionDiff& section : diff) {
    if (section.section == "network") lines = section.lines;
  }
  EXPECT_EQ(lines,
            (std::vector<std::string>{
                "connect: only in a: [::1]:9000-9009",
                "connect: only in b: 127.0.0.1:53",
                "bind: 127.0.0.1:0 in a, any endpoint the mode reaches in b"}));
}

}  // namespace
}  // namespace isoscope
