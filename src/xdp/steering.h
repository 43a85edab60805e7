// steering.h owns the user-space side of the XDP program's candidate selection: the steering
// filter entries (a conservative superset of what the rule set can translate, derived by the
// caller from the compiled rules) and the flow key of a frame, computed exactly as the XDP
// program computes it so that pass-through entries match what the program looks up.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "xdp/abi.h"
#include "xredir/ip_addr.h"

namespace xredir::xdp {

// SteeringRule says "frames of proto to dst/prefix with dport in [lo, hi] are candidates".
struct SteeringRule {
  std::uint8_t proto = 6;  // IPPROTO_TCP or IPPROTO_UDP
  Cidr dst;                // family taken from here; /0 matches every destination
  std::uint16_t dport_lo = 0;
  std::uint16_t dport_hi = 65535;
};

// steerAll returns rules that make every TCP and UDP frame of both families a candidate: the
// safe superset when the caller has nothing finer.
std::vector<SteeringRule> steerAll();

// encodeSteering turns rules into the XDP filter array's entries. Returns nullopt when there
// are more than XREDIR_FILTER_MAX rules or a rule is malformed (proto not TCP/UDP, lo > hi);
// the caller then widens the rules (e.g. steerAll()) rather than steering too little.
std::optional<std::vector<xredir_filter_entry>> encodeSteering(
    const std::vector<SteeringRule>& rules);

// filterMatches evaluates encoded entries against a flow as the XDP program does (first unused
// entry ends the list). Used by tests to pin the program's semantics.
bool filterMatches(std::span<const xredir_filter_entry> entries, const xredir_flow_key& flow);

// flowKeyOf computes the XDP program's flow key for an Ethernet frame, or nullopt where the
// program would not steer it (not TCP/UDP over IPv4/IPv6, fragments, IPv6 extension headers,
// truncated). Up to two VLAN tags, like the program.
std::optional<xredir_flow_key> flowKeyOf(std::span<const std::uint8_t> frame);

// flowKeyOf builds the same key from already-parsed fields (protocol, addresses, ports).
xredir_flow_key flowKeyOf(std::uint8_t protocol, const Endpoint& src, const Endpoint& dst);

}  // namespace xredir::xdp
