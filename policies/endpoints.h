// IPv4 and IPv6 endpoints, and the patterns of the policy's
// `network.connect` and `network.bind` lists (policies/README.md).
//
// A pattern is HOST:PORT. HOST is a dotted IPv4 address, an IPv6 address in
// brackets, or `*` (any address the network mode reaches); PORT is a
// number, a range LOW-HIGH, or `*`. An IPv4-mapped IPv6 address
// ("[::ffff:127.0.0.1]") is the IPv4 address it maps, in patterns and in
// endpoints alike: the kernel sends to that IPv4 address.
#ifndef ISOSCOPE_POLICIES_ENDPOINTS_H_
#define ISOSCOPE_POLICIES_ENDPOINTS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace isoscope {

struct IpEndpoint {
  bool ipv6 = false;                  // false: IPv4 in address[0..3]
  std::array<uint8_t, 16> address{};  // network byte order
  uint16_t port = 0;                  // host byte order
  auto operator<=>(const IpEndpoint&) const = default;
};

// "127.0.0.1:8080", "[::1]:8080".
std::string FormatEndpoint(const IpEndpoint& endpoint);
// The address alone: "127.0.0.1", "::1".
std::string FormatAddress(const IpEndpoint& endpoint);

// An endpoint from an IPv6 address: an IPv4-mapped one becomes IPv4.
IpEndpoint FromIpv6(const std::array<uint8_t, 16>& address, uint16_t port);

// 127.0.0.0/8 or ::1.
bool IsLoopback(const IpEndpoint& endpoint);
// 0.0.0.0 or :: (bind: every local address; connect: this host).
bool IsUnspecified(const IpEndpoint& endpoint);

struct EndpointPattern {
  bool any_host = false;  // `*`
  IpEndpoint host;        // when !any_host (its port unused)
  uint16_t port_low = 0;
  uint16_t port_high = 0;
  std::string text;  // as written
  int line = 0;      // 1-based position in the policy; 0: built in code
  int column = 0;
  bool operator==(const EndpointPattern&) const = default;
};

// Parses HOST:PORT as described above; kPolicy errors say what is wrong
// with `text` (the loader adds the position).
Result<EndpointPattern> ParseEndpointPattern(std::string_view text);

bool EndpointMatches(const EndpointPattern& pattern,
                     const IpEndpoint& endpoint);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_ENDPOINTS_H_
