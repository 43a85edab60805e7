// frame_builder.h builds Ethernet/IPv4|IPv6/TCP|UDP test frames for the datapath tests, with
// optional VLAN tags and IPv4 fragment bits. Checksums are left zero: nothing here reads them.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "xredir/ip_addr.h"

namespace xredir::xdp::test {

struct FrameSpec {
  IpAddr src;
  IpAddr dst;
  std::uint8_t proto = 6;
  std::uint16_t sport = 40000;
  std::uint16_t dport = 443;
  int vlan_tags = 0;
  std::uint16_t ipv4_frag = 0;  // IPv4 flags+offset field (host order), e.g. 0x2000 = MF
  std::uint16_t ethertype = 0;  // 0: from the family
  std::size_t payload = 0;
};

inline std::vector<std::uint8_t> buildFrame(const FrameSpec& s) {
  std::vector<std::uint8_t> f(12, 0);
  for (int i = 0; i < 6; ++i) f[i] = 0x02, f[6 + i] = 0x04;
  auto put16 = [&f](std::uint16_t v) {
    f.push_back(static_cast<std::uint8_t>(v >> 8));
    f.push_back(static_cast<std::uint8_t>(v));
  };
  for (int i = 0; i < s.vlan_tags; ++i) {
    put16(i == 0 && s.vlan_tags == 2 ? 0x88a8 : 0x8100);
    put16(static_cast<std::uint16_t>(10 + i));
  }
  bool v4 = s.src.family == Family::kV4;
  put16(s.ethertype != 0 ? s.ethertype : (v4 ? 0x0800 : 0x86dd));
  std::size_t l4len = (s.proto == 6 ? 20 : 8) + s.payload;
  if (v4) {
    put16(0x4500);
    put16(static_cast<std::uint16_t>(20 + l4len));
    put16(0x1234);
    put16(s.ipv4_frag);
    f.push_back(64);
    f.push_back(s.proto);
    put16(0);
    f.insert(f.end(), s.src.bytes.begin(), s.src.bytes.begin() + 4);
    f.insert(f.end(), s.dst.bytes.begin(), s.dst.bytes.begin() + 4);
  } else {
    put16(0x6000);
    put16(0);
    put16(static_cast<std::uint16_t>(l4len));
    f.push_back(s.proto);
    f.push_back(64);
    f.insert(f.end(), s.src.bytes.begin(), s.src.bytes.end());
    f.insert(f.end(), s.dst.bytes.begin(), s.dst.bytes.end());
  }
  put16(s.sport);
  put16(s.dport);
  std::size_t rest = l4len - 4;
  f.insert(f.end(), rest, 0);
  if (s.proto == 6) f[f.size() - rest + 8] = 0x50;  // data offset 5
  return f;
}

inline IpAddr ip(const char* text) {
  return *parseIpAddr(text);
}

}  // namespace xredir::xdp::test
