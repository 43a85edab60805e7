// packet_description.cc: the parser behind `xredir trace PACKET` (see packet_description.h).
#include "daemon/packet_description.h"

#include <netinet/in.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <vector>

namespace xredir {
namespace {

std::vector<std::string_view> splitWords(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// parseNumber accepts decimal and 0x-prefixed hexadecimal, as iptables does for marks.
std::optional<std::uint32_t> parseNumber(std::string_view text) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::uint8_t> parseTcpFlags(std::string_view text) {
  static constexpr struct {
    std::string_view name;
    std::uint8_t bit;
  } kFlags[] = {{"FIN", 0x01}, {"SYN", 0x02}, {"RST", 0x04}, {"PSH", 0x08},
                {"ACK", 0x10}, {"URG", 0x20}, {"ECE", 0x40}, {"CWR", 0x80}};
  if (text == "NONE") return 0;
  std::uint8_t flags = 0;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    bool known = false;
    for (const auto& f : kFlags) {
      if (f.name == name) {
        flags |= f.bit;
        known = true;
      }
    }
    if (!known) return std::nullopt;
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return flags;
}

}  // namespace

PacketMeta PacketDescription::meta() const {
  PacketMeta m = packet;
  m.in_iface = in_iface;
  m.out_iface = out_iface;
  return m;
}

std::variant<PacketDescription, std::string> parsePacketDescription(std::string_view text) {
  const auto words = splitWords(text);
  if (words.size() < 4 || words[2] != "->") {
    return std::string(
        "expected `PROTO SRC:PORT -> DST:PORT [in IFACE] [out IFACE] "
        "[hook prerouting|output] [uid N] [gid N] [mark M] [flags F,..]`");
  }
  PacketDescription d;
  if (words[0] == "tcp") {
    d.packet.protocol = IPPROTO_TCP;
    d.packet.tcp_flags = 0x02;  // SYN: the packet that opens a connection
  } else if (words[0] == "udp") {
    d.packet.protocol = IPPROTO_UDP;
  } else {
    return "unknown protocol `" + std::string(words[0]) + "` (tcp or udp)";
  }
  const auto src = parseEndpoint(words[1]);
  if (!src) return "bad source `" + std::string(words[1]) + "` (ADDR:PORT or [ADDR6]:PORT)";
  const auto dst = parseEndpoint(words[3]);
  if (!dst) return "bad destination `" + std::string(words[3]) + "` (ADDR:PORT or [ADDR6]:PORT)";
  if (src->addr.family != dst->addr.family)
    return std::string("source and destination families differ");
  d.packet.family = src->addr.family;
  d.packet.src = src->addr;
  d.packet.sport = src->port;
  d.packet.dst = dst->addr;
  d.packet.dport = dst->port;

  std::optional<Hook> hook;
  for (std::size_t i = 4; i < words.size(); i += 2) {
    const std::string_view key = words[i];
    if (i + 1 >= words.size()) return "`" + std::string(key) + "` needs a value";
    const std::string_view value = words[i + 1];
    if (key == "in") {
      d.in_iface = value;
    } else if (key == "out") {
      d.out_iface = value;
    } else if (key == "hook") {
      if (value == "prerouting") {
        hook = Hook::kPrerouting;
      } else if (value == "output") {
        hook = Hook::kOutput;
      } else {
        return "unknown hook `" + std::string(value) + "` (prerouting or output)";
      }
    } else if (key == "uid" || key == "gid" || key == "mark") {
      const auto n = parseNumber(value);
      if (!n) return "bad number `" + std::string(value) + "` for " + std::string(key);
      if (key == "uid") d.packet.uid = *n;
      if (key == "gid") d.packet.gid = *n;
      if (key == "mark") d.packet.mark = *n;
    } else if (key == "flags") {
      const auto flags = parseTcpFlags(value);
      if (!flags) return "bad TCP flags `" + std::string(value) + "` (e.g. SYN or SYN,ACK)";
      d.packet.tcp_flags = *flags;
    } else {
      return "unknown word `" + std::string(key) + "`";
    }
  }
  d.hook =
      hook.value_or(!d.out_iface.empty() && d.in_iface.empty() ? Hook::kOutput : Hook::kPrerouting);
  if (d.hook == Hook::kPrerouting && (d.packet.uid || d.packet.gid)) {
    return std::string("uid/gid describe a local socket: they apply at hook output only");
  }
  if (d.hook == Hook::kPrerouting && !d.out_iface.empty()) {
    return std::string("`out` is not known at hook prerouting (the kernel routes after it)");
  }
  if (d.hook == Hook::kOutput && !d.in_iface.empty()) {
    return std::string("`in` does not exist at hook output (the packet is locally generated)");
  }
  return d;
}

}  // namespace xredir
