#include "xdp/fast_path.h"

#include <arpa/inet.h>

#include <cstring>

#include "xdp/steering.h"
#include "xredir/conntrack_state.h"

namespace xredir::xdp {
namespace {

xredir_flow_key keyOf(const FlowTuple& t) {
  return flowKeyOf(t.protocol, t.src(), t.dst());
}

// rewriteTo fills the address/port part of an entry: the packet leaves carrying `target`.
void rewriteTo(xredir_fast_entry& e, const FlowTuple& target) {
  std::memcpy(e.src_be, target.src_addr.data(), sizeof(e.src_be));
  std::memcpy(e.dst_be, target.dst_addr.data(), sizeof(e.dst_be));
  e.sport_be = htons(target.src_port);
  e.dport_be = htons(target.dst_port);
}

}  // namespace

std::optional<FastPathPair> fastPathEntries(const ConnectionView& conn,
                                            const FastPathLinks& links) {
  if (conn.original.protocol != kIpProtoTcp || conn.original.family != Family::kV4 ||
      conn.tcp_state != TcpState::kEstablished || !conn.dst_translated || conn.src_translated ||
      conn.reply_path.ifindex == 0 || links.inject_ifindex == 0) {
    return std::nullopt;
  }
  FastPathPair p;
  // Original direction: arrives as `original`, leaves as the inverse of the reply tuple (what
  // the proxy expects to receive), out the injection veth towards the proxy.
  p.original.key = keyOf(conn.original);
  rewriteTo(p.original.value, conn.reply.inverted());
  p.original.value.ifindex = links.inject_ifindex;
  std::memcpy(p.original.value.src_mac, links.inject_mac.data(), 6);
  std::memcpy(p.original.value.dst_mac, links.proxy_mac.data(), 6);
  // Reply direction: arrives as `reply` from the proxy, leaves as the inverse of the original
  // tuple (what the client expects), out the capture interface with the MACs seen there.
  p.reply.key = keyOf(conn.reply);
  rewriteTo(p.reply.value, conn.original.inverted());
  p.reply.value.ifindex = conn.reply_path.ifindex;
  std::memcpy(p.reply.value.src_mac, conn.reply_path.own_mac.data(), 6);
  std::memcpy(p.reply.value.dst_mac, conn.reply_path.peer_mac.data(), 6);
  return p;
}

std::pair<xredir_flow_key, xredir_flow_key> fastPathKeys(const FlowTuple& arrived,
                                                         const FlowTuple& translated) {
  return {keyOf(arrived), keyOf(translated.inverted())};
}

FlowTuple tupleOfKey(const xredir_flow_key& key) {
  FlowTuple t;
  t.family = key.family == XREDIR_FAMILY_V4 ? Family::kV4 : Family::kV6;
  t.protocol = key.proto;
  std::memcpy(t.src_addr.data(), key.src_be, 16);
  std::memcpy(t.dst_addr.data(), key.dst_be, 16);
  t.src_port = ntohs(key.sport_be);
  t.dst_port = ntohs(key.dport_be);
  return t;
}

}  // namespace xredir::xdp
