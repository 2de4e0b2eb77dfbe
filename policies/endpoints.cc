#include "policies/endpoints.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace isoscope {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0,    0,
                                                     0, 0, 0, 0, 0xff, 0xff};

Result<uint16_t> ParsePort(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value > 65535) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("'{}': port '{}' is not a number from 0 to 65535",
                            whole, text));
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

IpEndpoint FromIpv6(const std::array<uint8_t, 16>& address, uint16_t port) {
  IpEndpoint endpoint;
  endpoint.port = port;
  if (std::memcmp(address.data(), kV4MappedPrefix.data(),
                  kV4MappedPrefix.size()) == 0) {
    std::memcpy(endpoint.address.data(), address.data() + 12, 4);
    return endpoint;
  }
  endpoint.ipv6 = true;
  endpoint.address = address;
  return endpoint;
}

std::string FormatAddress(const IpEndpoint& endpoint) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(endpoint.ipv6 ? AF_INET6 : AF_INET, endpoint.address.data(), text,
              sizeof(text));
  return text;
}

std::string FormatEndpoint(const IpEndpoint& endpoint) {
  return endpoint.ipv6
             ? fmt::format("[{}]:{}", FormatAddress(endpoint), endpoint.port)
             : fmt::format("{}:{}", FormatAddress(endpoint), endpoint.port);
}

bool IsLoopback(const IpEndpoint& endpoint) {
  if (!endpoint.ipv6) return endpoint.address[0] == 127;
  static constexpr std::array<uint8_t, 16> kLoopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 0, 0, 0, 0, 0, 0, 1};
  return endpoint.address == kLoopback;
}

bool IsUnspecified(const IpEndpoint& endpoint) {
  const size_t size = endpoint.ipv6 ? 16 : 4;
  for (size_t i = 0; i < size; ++i) {
    if (endpoint.address[i] != 0) return false;
  }
  return true;
}

Result<EndpointPattern> ParseEndpointPattern(std::string_view text) {
  EndpointPattern pattern;
  pattern.text = std::string(text);
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("'{}' is not HOST:PORT (examples: "
                            "\"127.0.0.1:8080\", \"[::1]:8000-8099\", "
                            "\"*:53\")",
                            text));
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host == "*") {
    pattern.any_host = true;
  } else if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string inner(host.substr(1, host.size() - 2));
    std::array<uint8_t, 16> bytes{};
    if (::inet_pton(AF_INET6, inner.c_str(), bytes.data()) != 1) {
      return Fail(
          ErrorCode::kPolicy,
          fmt::format("'{}': '{}' is not an IPv6 address", text, inner));
    }
    pattern.host = FromIpv6(bytes, 0);
  } else {
    const std::string inner(host);
    if (inner.find(':') != std::string::npos) {
      return Fail(ErrorCode::kPolicy,
                  fmt::format("'{}': an IPv6 address goes in brackets, as in "
                              "\"[::1]:8080\"",
                              text));
    }
    if (::inet_pton(AF_INET, inner.c_str(), pattern.host.address.data()) != 1) {
      return Fail(ErrorCode::kPolicy,
                  fmt::format("'{}': '{}' is not an IPv4 address (a.b.c.d), "
                              "an IPv6 address in brackets or *; host names "
                              "are not resolved",
                              text, inner));
    }
  }
  if (port == "*") {
    pattern.port_low = 0;
    pattern.port_high = 65535;
    return pattern;
  }
  const size_t dash = port.find('-');
  auto low = ParsePort(port.substr(0, dash), text);
  if (!low) return tl::unexpected(low.error());
  pattern.port_low = pattern.port_high = *low;
  if (dash != std::string_view::npos) {
    auto high = ParsePort(port.substr(dash + 1), text);
    if (!high) return tl::unexpected(high.error());
    if (*high < *low) {
      return Fail(
          ErrorCode::kPolicy,
          fmt::format("'{}': port range {}-{} is empty", text, *low, *high));
    }
    pattern.port_high = *high;
  }
  return pattern;
}

bool EndpointMatches(const EndpointPattern& pattern,
                     const IpEndpoint& endpoint) {
  if (endpoint.port < pattern.port_low || endpoint.port > pattern.port_high) {
    return false;
  }
  if (pattern.any_host) return true;
  return pattern.host.ipv6 == endpoint.ipv6 &&
         pattern.host.address == endpoint.address;
}

}  // namespace isoscope
