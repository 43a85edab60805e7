// host_addr_types.h owns the answer to `-m addrtype` on this host: which addresses are LOCAL
// (assigned to an interface, and all of 127.0.0.0/8 and ::1 as in Linux's local table),
// BROADCAST, MULTICAST or plain UNICAST. A snapshot is taken from getifaddrs(); the daemon
// takes a new one when it reloads.
#pragma once

#include <string>
#include <vector>

#include "xredir/rule_eval.h"

namespace xredir {

struct HostAddress {
  std::string iface;
  Cidr prefix;  // the address with its prefix length
};

// readHostAddresses lists the addresses assigned in the current network namespace.
std::vector<HostAddress> readHostAddresses();

// addrTypeOf classifies addr the way Linux's fib does for `-m addrtype`: LOCAL when assigned
// (on `iface` only, when iface is not empty), BROADCAST for 255.255.255.255 and the broadcast
// address of an assigned IPv4 prefix, MULTICAST for 224.0.0.0/4 and ff00::/8, UNSPEC for
// 0.0.0.0 and ::, else UNICAST. Returns one AddrTypeBit.
std::uint16_t addrTypeOf(const std::vector<HostAddress>& host,
                         const IpAddr& addr,
                         std::string_view iface);

// makeAddrTypeLookup binds a snapshot of host addresses into an EvalContext lookup.
AddrTypeLookup makeAddrTypeLookup(std::vector<HostAddress> host);

}  // namespace xredir
