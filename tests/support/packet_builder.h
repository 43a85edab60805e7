// packet_builder.h owns the test frames: valid Ethernet + IPv4/IPv6 + TCP/UDP/ICMP frames with
// correct checksums, described by a PacketSpec with designated initializers (Katran's test
// style), optionally with VLAN tags, IPv4 options, IPv6 extension headers and Ethernet padding.
// Malformed frames are made by building a valid one and then breaking the field under test.
//
// The checksums here are computed by a deliberately naive reference (concatenate the
// pseudo-header and the segment, add 16-bit words) that shares no code with src/packet, so the
// builder can serve as an oracle for the library's checksum code. Header-only: any test binary
// can include it without a link dependency beyond packet_dep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "xredir/ip_addr.h"
#include "xredir/packet.h"

namespace xredir::testing {

struct VlanTag {
  std::uint16_t tpid = kEtherTypeVlan;
  std::uint16_t tci = 0;
};

// Ipv6Extension is one extension header. `body` is everything after its first two bytes (next
// header and length; for a Fragment header, next header and reserved). The builder pads bodies
// with zero bytes (Pad1 options) to the header's 8-byte unit; a Fragment body must be 6 bytes
// (offset/flags, identification).
struct Ipv6Extension {
  std::uint8_t type = kIpProtoDestOpts;
  std::vector<std::uint8_t> body{};
};

struct PacketSpec {
  MacAddr dst_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  MacAddr src_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  std::vector<VlanTag> vlans{};
  // The family of the frame is src.addr.family; dst must have the same.
  Endpoint src{IpAddr::fromV4(0x0a000001), 40000};
  Endpoint dst{IpAddr::fromV4(0x0a000002), 80};
  std::uint8_t protocol = kIpProtoTcp;
  std::uint8_t ttl = 64;
  // IPv4 only.
  std::uint16_t ipv4_id = 1;
  std::uint16_t ipv4_flags_fragment = 0x4000;  // the raw flags + offset field; DF by default
  std::vector<std::uint8_t> ipv4_options{};    // zero-padded (EOL) to a multiple of 4
  // IPv6 only, in order.
  std::vector<Ipv6Extension> ipv6_extensions{};
  // TCP.
  std::uint8_t tcp_flags = kTcpSyn;
  std::uint32_t seq = 1000;
  std::uint32_t ack = 0;
  std::uint16_t window = 65535;
  std::vector<std::uint8_t> tcp_options{};  // zero-padded (EOL) to a multiple of 4
  // UDP: send checksum 0 ("no checksum").
  bool udp_no_checksum = false;
  // ICMP / ICMPv6 (protocol 1 or 58): type, code, and the 4 rest-of-header bytes.
  std::uint8_t icmp_type = 8;
  std::uint8_t icmp_code = 0;
  std::uint32_t icmp_rest = 0x12340001;
  std::vector<std::uint8_t> payload{};
  // Pad the frame with zero bytes after the IP datagram up to this size (Ethernet minimum 60).
  std::size_t min_frame_size = 0;
};

// BuiltPacket is a frame and where the builder put its layers.
struct BuiltPacket {
  std::vector<std::uint8_t> bytes{};
  std::size_t l3_offset = 0;
  std::size_t l4_offset = 0;
  std::size_t payload_offset = 0;
  std::size_t l3_end = 0;
};

namespace builder_detail {

inline void put8(std::vector<std::uint8_t>& out, std::uint8_t v) {
  out.push_back(v);
}
inline void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}
inline void set16(std::vector<std::uint8_t>& out, std::size_t at, std::uint16_t v) {
  out[at] = static_cast<std::uint8_t>(v >> 8);
  out[at + 1] = static_cast<std::uint8_t>(v);
}

// referenceChecksum: RFC 1071 in its plainest form.
inline std::uint16_t referenceChecksum(std::vector<std::uint8_t> data) {
  if (data.size() % 2 != 0) data.push_back(0);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < data.size(); i += 2) {
    sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

inline std::vector<std::uint8_t> pseudoHeader(const PacketSpec& spec, std::size_t l4_len) {
  std::vector<std::uint8_t> ph{};
  const std::size_t n = spec.src.addr.family == Family::kV4 ? 4 : 16;
  ph.insert(ph.end(), spec.src.addr.bytes.begin(), spec.src.addr.bytes.begin() + n);
  ph.insert(ph.end(), spec.dst.addr.bytes.begin(), spec.dst.addr.bytes.begin() + n);
  if (n == 4) {
    put8(ph, 0);
    put8(ph, spec.protocol);
    put16(ph, static_cast<std::uint16_t>(l4_len));
  } else {
    put32(ph, static_cast<std::uint32_t>(l4_len));
    put16(ph, 0);
    put8(ph, 0);
    put8(ph, spec.protocol);
  }
  return ph;
}

inline void padTo(std::vector<std::uint8_t>& v, std::size_t unit) {
  while (v.size() % unit != 0) v.push_back(0);
}

}  // namespace builder_detail

// buildPacket makes the frame `spec` describes, with correct IPv4 header and transport
// checksums (for fragments the transport checksum covers only this fragment's bytes).
inline BuiltPacket buildPacket(const PacketSpec& spec) {
  using namespace builder_detail;
  const bool v4 = spec.src.addr.family == Family::kV4;

  // Transport segment.
  std::vector<std::uint8_t> l4{};
  std::size_t checksum_at = 0;
  bool has_checksum = true;
  bool pseudo = true;
  std::size_t header_len = 0;
  if (spec.protocol == kIpProtoTcp) {
    std::vector<std::uint8_t> options = spec.tcp_options;
    padTo(options, 4);
    put16(l4, spec.src.port);
    put16(l4, spec.dst.port);
    put32(l4, spec.seq);
    put32(l4, spec.ack);
    put8(l4, static_cast<std::uint8_t>(((20 + options.size()) / 4) << 4));
    put8(l4, spec.tcp_flags);
    put16(l4, spec.window);
    put16(l4, 0);  // checksum
    put16(l4, 0);  // urgent pointer
    l4.insert(l4.end(), options.begin(), options.end());
    checksum_at = 16;
  } else if (spec.protocol == kIpProtoUdp) {
    put16(l4, spec.src.port);
    put16(l4, spec.dst.port);
    put16(l4, static_cast<std::uint16_t>(8 + spec.payload.size()));
    put16(l4, 0);
    checksum_at = 6;
    has_checksum = !spec.udp_no_checksum;
  } else if ((v4 && spec.protocol == kIpProtoIcmp) || (!v4 && spec.protocol == kIpProtoIcmpv6)) {
    put8(l4, spec.icmp_type);
    put8(l4, spec.icmp_code);
    put16(l4, 0);
    put32(l4, spec.icmp_rest);
    checksum_at = 2;
    pseudo = !v4;  // ICMPv4 has no pseudo-header
  } else {
    has_checksum = false;
  }
  header_len = l4.size();
  l4.insert(l4.end(), spec.payload.begin(), spec.payload.end());
  if (has_checksum) {
    std::vector<std::uint8_t> summed =
        pseudo ? pseudoHeader(spec, l4.size()) : std::vector<std::uint8_t>{};
    summed.insert(summed.end(), l4.begin(), l4.end());
    std::uint16_t sum = referenceChecksum(summed);
    if (spec.protocol == kIpProtoUdp && sum == 0) sum = 0xffff;
    set16(l4, checksum_at, sum);
  }

  BuiltPacket out;
  std::vector<std::uint8_t>& f = out.bytes;
  f.insert(f.end(), spec.dst_mac.begin(), spec.dst_mac.end());
  f.insert(f.end(), spec.src_mac.begin(), spec.src_mac.end());
  for (const VlanTag& tag : spec.vlans) {
    put16(f, tag.tpid);
    put16(f, tag.tci);
  }
  put16(f, v4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
  out.l3_offset = f.size();
  if (v4) {
    std::vector<std::uint8_t> options = spec.ipv4_options;
    padTo(options, 4);
    const std::size_t ihl = 20 + options.size();
    put8(f, static_cast<std::uint8_t>(0x40 | (ihl / 4)));
    put8(f, 0);
    put16(f, static_cast<std::uint16_t>(ihl + l4.size()));
    put16(f, spec.ipv4_id);
    put16(f, spec.ipv4_flags_fragment);
    put8(f, spec.ttl);
    put8(f, spec.protocol);
    put16(f, 0);
    f.insert(f.end(), spec.src.addr.bytes.begin(), spec.src.addr.bytes.begin() + 4);
    f.insert(f.end(), spec.dst.addr.bytes.begin(), spec.dst.addr.bytes.begin() + 4);
    f.insert(f.end(), options.begin(), options.end());
    const std::vector<std::uint8_t> header(f.begin() + static_cast<std::ptrdiff_t>(out.l3_offset),
                                           f.end());
    set16(f, out.l3_offset + 10, referenceChecksum(header));
  } else {
    std::vector<std::uint8_t> ext;
    for (std::size_t i = 0; i < spec.ipv6_extensions.size(); ++i) {
      const Ipv6Extension& e = spec.ipv6_extensions[i];
      const std::uint8_t next =
          i + 1 < spec.ipv6_extensions.size() ? spec.ipv6_extensions[i + 1].type : spec.protocol;
      std::vector<std::uint8_t> h{next, 0};
      h.insert(h.end(), e.body.begin(), e.body.end());
      if (e.type == kIpProtoAh) {
        padTo(h, 8);
        h[1] = static_cast<std::uint8_t>(h.size() / 4 - 2);
      } else if (e.type != kIpProtoFragment) {
        padTo(h, 8);
        h[1] = static_cast<std::uint8_t>(h.size() / 8 - 1);
      }
      ext.insert(ext.end(), h.begin(), h.end());
    }
    const std::uint8_t first =
        spec.ipv6_extensions.empty() ? spec.protocol : spec.ipv6_extensions[0].type;
    put32(f, 0x60000000);
    put16(f, static_cast<std::uint16_t>(ext.size() + l4.size()));
    put8(f, first);
    put8(f, spec.ttl);
    f.insert(f.end(), spec.src.addr.bytes.begin(), spec.src.addr.bytes.end());
    f.insert(f.end(), spec.dst.addr.bytes.begin(), spec.dst.addr.bytes.end());
    f.insert(f.end(), ext.begin(), ext.end());
  }
  out.l4_offset = f.size();
  out.payload_offset = out.l4_offset + header_len;
  f.insert(f.end(), l4.begin(), l4.end());
  out.l3_end = f.size();
  while (f.size() < spec.min_frame_size) f.push_back(0);
  return out;
}

// v6 parses an IPv6 literal for specs; it aborts the test binary on a typo.
inline IpAddr v6(const char* text) {
  auto addr = parseIpAddr(text);
  if (!addr) __builtin_trap();
  return *addr;
}

// v4 parses an IPv4 literal for specs.
inline IpAddr v4(const char* text) {
  auto addr = parseIpAddr(text);
  if (!addr || addr->family != Family::kV4) __builtin_trap();
  return *addr;
}

}  // namespace xredir::testing
