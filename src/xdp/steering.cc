#include "xdp/steering.h"

#include <cstring>

namespace xredir::xdp {
namespace {

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;

std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

bool prefixMatches(const std::uint8_t* addr, const xredir_filter_entry& e) {
  unsigned bits = e.prefix_len;
  if (bits > 128) return false;
  for (int i = 0; i < 16 && bits > 0; ++i) {
    auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
    if ((addr[i] & mask) != e.dst_be[i]) return false;
    bits = bits >= 8 ? bits - 8 : 0;
  }
  return true;
}

}  // namespace

std::vector<SteeringRule> steerAll() {
  std::vector<SteeringRule> rules;
  for (auto proto : {kTcp, kUdp}) {
    for (auto family : {Family::kV4, Family::kV6}) {
      SteeringRule r;
      r.proto = proto;
      r.dst.addr.family = family;
      rules.push_back(r);
    }
  }
  return rules;
}

std::optional<std::vector<xredir_filter_entry>> encodeSteering(
    const std::vector<SteeringRule>& rules) {
  if (rules.size() > XREDIR_FILTER_MAX) return std::nullopt;
  std::vector<xredir_filter_entry> out;
  out.reserve(rules.size());
  for (const auto& r : rules) {
    if ((r.proto != kTcp && r.proto != kUdp) || r.dport_lo > r.dport_hi ||
        r.dst.prefix_len > r.dst.addr.bitLength()) {
      return std::nullopt;
    }
    xredir_filter_entry e{};
    e.family = r.dst.addr.family == Family::kV4 ? XREDIR_FAMILY_V4 : XREDIR_FAMILY_V6;
    e.proto = r.proto;
    e.prefix_len = r.dst.prefix_len;
    e.dport_lo = r.dport_lo;
    e.dport_hi = r.dport_hi;
    IpAddr masked = maskAddr(r.dst.addr, r.dst.prefix_len);
    std::memcpy(e.dst_be, masked.bytes.data(), sizeof(e.dst_be));
    out.push_back(e);
  }
  return out;
}

bool filterMatches(std::span<const xredir_filter_entry> entries, const xredir_flow_key& flow) {
  std::uint16_t dport = load16(reinterpret_cast<const std::uint8_t*>(&flow.dport_be));
  for (const auto& e : entries) {
    if (e.family == 0) return false;
    if (e.family != flow.family || e.proto != flow.proto) continue;
    if (dport < e.dport_lo || dport > e.dport_hi) continue;
    if (prefixMatches(flow.dst_be, e)) return true;
  }
  return false;
}

std::optional<xredir_flow_key> flowKeyOf(std::span<const std::uint8_t> frame) {
  constexpr std::size_t kEth = 14;
  if (frame.size() < kEth) return std::nullopt;
  std::size_t off = kEth;
  std::uint16_t ethertype = load16(&frame[12]);
  for (int i = 0; i < 2 && (ethertype == 0x8100 || ethertype == 0x88a8); ++i) {
    if (frame.size() < off + 4) return std::nullopt;
    ethertype = load16(&frame[off + 2]);
    off += 4;
  }
  xredir_flow_key key{};
  std::uint8_t proto = 0;
  if (ethertype == 0x0800) {
    if (frame.size() < off + 20) return std::nullopt;
    const std::uint8_t* ip = &frame[off];
    unsigned ihl = ip[0] & 0x0f;
    if (ihl < 5) return std::nullopt;
    if (load16(ip + 6) & 0x3fff) return std::nullopt;  // fragment
    proto = ip[9];
    key.family = XREDIR_FAMILY_V4;
    std::memcpy(key.src_be, ip + 12, 4);
    std::memcpy(key.dst_be, ip + 16, 4);
    off += ihl * 4;
  } else if (ethertype == 0x86dd) {
    if (frame.size() < off + 40) return std::nullopt;
    const std::uint8_t* ip6 = &frame[off];
    proto = ip6[6];
    key.family = XREDIR_FAMILY_V6;
    std::memcpy(key.src_be, ip6 + 8, 16);
    std::memcpy(key.dst_be, ip6 + 24, 16);
    off += 40;
  } else {
    return std::nullopt;
  }
  if (proto != kTcp && proto != kUdp) return std::nullopt;
  if (frame.size() < off + 4) return std::nullopt;
  key.proto = proto;
  std::memcpy(&key.sport_be, &frame[off], 2);
  std::memcpy(&key.dport_be, &frame[off + 2], 2);
  return key;
}

xredir_flow_key flowKeyOf(std::uint8_t protocol, const Endpoint& src, const Endpoint& dst) {
  xredir_flow_key key{};
  key.family = src.addr.family == Family::kV4 ? XREDIR_FAMILY_V4 : XREDIR_FAMILY_V6;
  key.proto = protocol;
  const std::uint8_t sport[2] = {static_cast<std::uint8_t>(src.port >> 8),
                                 static_cast<std::uint8_t>(src.port)};
  const std::uint8_t dport[2] = {static_cast<std::uint8_t>(dst.port >> 8),
                                 static_cast<std::uint8_t>(dst.port)};
  std::memcpy(&key.sport_be, sport, 2);
  std::memcpy(&key.dport_be, dport, 2);
  std::memcpy(key.src_be, src.addr.bytes.data(), 16);
  std::memcpy(key.dst_be, dst.addr.bytes.data(), 16);
  return key;
}

}  // namespace xredir::xdp
