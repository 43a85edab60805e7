// rule_values.cc: the value vocabulary of iptables options (see rule_values.h).
#include "rules/loader/rule_values.h"

#include <netdb.h>

#include <array>
#include <cctype>
#include <charconv>

namespace xredir::loader {
namespace {

struct NamedValue {
  const char* name;
  std::uint32_t value;
};

// The protocols iptables knows without /etc/protocols (xtables_chain_protos) plus the common
// IP protocols, so the result does not depend on the host's /etc/protocols.
constexpr std::array<NamedValue, 14> kProtocols{{
    {"tcp", 6},
    {"udp", 17},
    {"icmp", 1},
    {"ipv6-icmp", 58},
    {"icmpv6", 58},
    {"sctp", 132},
    {"udplite", 136},
    {"dccp", 33},
    {"esp", 50},
    {"ah", 51},
    {"gre", 47},
    {"ipv6-mh", 135},
    {"mh", 135},
    {"igmp", 2},
}};

// libxt_tcp's tcp_flag_names, in its print order.
constexpr std::array<NamedValue, 8> kTcpFlagNames{{
    {"FIN", 0x01},
    {"SYN", 0x02},
    {"RST", 0x04},
    {"PSH", 0x08},
    {"ACK", 0x10},
    {"URG", 0x20},
    {"ALL", 0x3f},
    {"NONE", 0},
}};

// libxt_addrtype's rtn_names: bit n is RTN type n.
constexpr std::array<const char*, 12> kAddrTypeNames{
    "UNSPEC",    "UNICAST",     "LOCAL",    "BROADCAST", "ANYCAST", "MULTICAST",
    "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW",     "NAT",     "XRESOLVE",
};

// libxt_conntrack's print order.
constexpr std::array<NamedValue, 7> kCtStateNames{{
    {"INVALID", kCtInvalid},
    {"NEW", kCtNew},
    {"RELATED", kCtRelated},
    {"ESTABLISHED", kCtEstablished},
    {"UNTRACKED", kCtUntracked},
    {"SNAT", kCtSnat},
    {"DNAT", kCtDnat},
}};

// libxt_LOG's log_names.
constexpr std::array<NamedValue, 9> kLogLevels{{
    {"alert", 1},
    {"crit", 2},
    {"debug", 7},
    {"emerg", 0},
    {"error", 3},
    {"info", 6},
    {"notice", 5},
    {"panic", 0},
    {"warning", 4},
}};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// forEachListItem calls f on each comma-separated item; stops and fails on an empty item.
template <typename F>
bool forEachListItem(std::string_view text, F&& f) {
  if (text.empty()) return false;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    if (item.empty() || !f(item)) return false;
    if (comma == std::string_view::npos) return true;
    text.remove_prefix(comma + 1);
  }
}

}  // namespace

std::optional<ProtocolSpec> parseProtocol(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (equalsIgnoreCase(text, "all")) return ProtocolSpec{true, 0};
  if (auto n = parseUnsigned(text, 10, 255)) {
    if (*n == 0) return ProtocolSpec{true, 0};
    return ProtocolSpec{false, static_cast<std::uint8_t>(*n)};
  }
  for (const auto& p : kProtocols) {
    if (equalsIgnoreCase(text, p.name)) {
      return ProtocolSpec{false, static_cast<std::uint8_t>(p.value)};
    }
  }
  return std::nullopt;
}

std::string protocolName(std::uint8_t number) {
  if (number == 58) return "ipv6-icmp";  // the name iptables-save prints, not icmpv6
  for (const auto& p : kProtocols) {
    if (p.value == number) return p.name;
  }
  return std::to_string(number);
}

bool carriesPorts(std::uint8_t number) {
  return number == 6 || number == 17 || number == 136 || number == 132 || number == 33;
}

std::optional<std::uint32_t> parseUnsigned(std::string_view text, int base, std::uint32_t max) {
  if (text.empty()) return std::nullopt;
  int radix = 10;
  if (base == 0) {
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
      radix = 16;
      text.remove_prefix(2);
    } else if (text.size() > 1 && text[0] == '0') {
      radix = 8;
      text.remove_prefix(1);
    }
  }
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, radix);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

std::optional<std::uint16_t> parsePort(std::string_view text,
                                       std::optional<std::uint8_t> protocol) {
  if (auto n = parseUnsigned(text, 10, 65535)) return static_cast<std::uint16_t>(*n);
  // Service names, as xtables_parse_port resolves them; only plausible names reach libc.
  if (text.empty() || text.size() > 32) return std::nullopt;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return std::nullopt;
  }
  const std::string name(text);
  const char* proto = nullptr;
  if (protocol == 6) proto = "tcp";
  if (protocol == 17) proto = "udp";
  const servent* s = getservbyname(name.c_str(), proto);
  if (s == nullptr) return std::nullopt;
  return static_cast<std::uint16_t>(ntohs(static_cast<std::uint16_t>(s->s_port)));
}

std::optional<PortRange> parsePortRange(std::string_view text,
                                        char sep,
                                        std::optional<std::uint8_t> protocol) {
  const auto pos = text.find(sep);
  if (pos == std::string_view::npos) {
    auto p = parsePort(text, protocol);
    if (!p) return std::nullopt;
    return PortRange{*p, *p};
  }
  const std::string_view lo = text.substr(0, pos);
  const std::string_view hi = text.substr(pos + 1);
  if (lo.empty() && hi.empty()) return std::nullopt;
  PortRange r{0, 65535};
  if (!lo.empty()) {
    auto p = parsePort(lo, protocol);
    if (!p) return std::nullopt;
    r.first = *p;
  }
  if (!hi.empty()) {
    auto p = parsePort(hi, protocol);
    if (!p) return std::nullopt;
    r.last = *p;
  }
  if (r.first > r.last) return std::nullopt;
  return r;
}

std::optional<MarkMask> parseMarkMask(std::string_view text) {
  MarkMask mm;
  const auto slash = text.find('/');
  auto v = parseUnsigned(text.substr(0, slash), 0, 0xffffffff);
  if (!v) return std::nullopt;
  mm.value = *v;
  if (slash != std::string_view::npos) {
    auto m = parseUnsigned(text.substr(slash + 1), 0, 0xffffffff);
    if (!m) return std::nullopt;
    mm.mask = *m;
  }
  return mm;
}

std::string formatHex(std::uint32_t v) {
  char buf[16];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, 16);
  (void)ec;
  return "0x" + std::string(buf, end);
}

std::optional<std::uint8_t> parseTcpFlags(std::string_view text) {
  std::uint8_t flags = 0;
  const bool ok = forEachListItem(text, [&](std::string_view item) {
    for (const auto& f : kTcpFlagNames) {
      if (equalsIgnoreCase(item, f.name)) {
        flags |= static_cast<std::uint8_t>(f.value);
        return true;
      }
    }
    return false;
  });
  if (!ok) return std::nullopt;
  return flags;
}

std::string formatTcpFlags(std::uint8_t flags) {
  std::string out;
  for (int i = 0; i < 6; ++i) {
    if (flags & kTcpFlagNames[i].value) {
      if (!out.empty()) out += ',';
      out += kTcpFlagNames[i].name;
    }
  }
  return out.empty() ? "NONE" : out;
}

std::optional<std::uint16_t> parseAddrTypes(std::string_view text) {
  std::uint16_t types = 0;
  const bool ok = forEachListItem(text, [&](std::string_view item) {
    for (std::size_t i = 0; i < kAddrTypeNames.size(); ++i) {
      if (equalsIgnoreCase(item, kAddrTypeNames[i])) {
        types |= static_cast<std::uint16_t>(1u << i);
        return true;
      }
    }
    return false;
  });
  if (!ok) return std::nullopt;
  return types;
}

std::string formatAddrTypes(std::uint16_t types) {
  std::string out;
  for (std::size_t i = 0; i < kAddrTypeNames.size(); ++i) {
    if (types & (1u << i)) {
      if (!out.empty()) out += ',';
      out += kAddrTypeNames[i];
    }
  }
  return out;
}

std::optional<std::uint8_t> parseCtStates(std::string_view text, bool allow_nat_states) {
  std::uint8_t states = 0;
  const bool ok = forEachListItem(text, [&](std::string_view item) {
    for (const auto& s : kCtStateNames) {
      if (equalsIgnoreCase(item, s.name)) {
        if (!allow_nat_states && (s.value == kCtSnat || s.value == kCtDnat)) return false;
        states |= static_cast<std::uint8_t>(s.value);
        return true;
      }
    }
    return false;
  });
  if (!ok) return std::nullopt;
  return states;
}

std::string formatCtStates(std::uint8_t states) {
  std::string out;
  for (const auto& s : kCtStateNames) {
    if (states & s.value) {
      if (!out.empty()) out += ',';
      out += s.name;
    }
  }
  return out;
}

std::optional<int> parseLogLevel(std::string_view text) {
  if (auto n = parseUnsigned(text, 10, 7)) return static_cast<int>(*n);
  for (const auto& l : kLogLevels) {
    if (equalsIgnoreCase(text, l.name)) return static_cast<int>(l.value);
  }
  return std::nullopt;
}

std::string quoteForSave(std::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') plain = false;
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace xredir::loader
