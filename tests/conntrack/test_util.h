// test_util.h: small helpers shared by the conntrack tests (tuples and endpoints from text).
#pragma once

#include <string_view>

#include "xredir/conntrack.h"
#include "xredir/ip_addr.h"
#include "xredir/packet.h"

namespace xredir::cttest {

inline Endpoint ep(std::string_view text) {
  return *parseEndpoint(text);
}

inline FlowTuple tuple(std::uint8_t proto, std::string_view src, std::string_view dst) {
  return FlowTuple::fromEndpoints(proto, ep(src), ep(dst));
}

inline NewConnection noop(const FlowTuple& orig, std::uint8_t flags = kTcpSyn) {
  NewConnection nc;
  nc.original = orig;
  nc.tcp_flags = flags;
  return nc;
}

inline NewConnection redirect(const FlowTuple& orig,
                              std::string_view proxy_addr,
                              std::uint16_t first,
                              std::uint16_t last,
                              std::uint8_t flags = kTcpSyn) {
  NewConnection nc;
  nc.original = orig;
  nc.tcp_flags = flags;
  nc.translate_dst = true;
  nc.to_addr = parseIpAddr(proxy_addr)->bytes;
  nc.to_port_first = first;
  nc.to_port_last = last;
  return nc;
}

inline ConntrackConfig smallConfig(std::uint32_t max_entries, std::uint32_t shards) {
  ConntrackConfig c;
  c.max_entries = max_entries;
  c.shard_count = shards;
  c.hash_seed = 42;
  return c;
}

}  // namespace xredir::cttest
