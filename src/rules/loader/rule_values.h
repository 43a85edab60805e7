// rule_values.h owns the value vocabulary of iptables options, shared by the parser and the
// printer so the two cannot drift apart: protocol names, TCP flag names, address types,
// conntrack states, syslog levels, and the number formats iptables accepts (strtoul base 0
// for marks, decimal ports, `a:b` and `a-b` ranges).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "xredir/rule_model.h"

namespace xredir::loader {

// ProtocolSpec is the result of parsing `-p`: `all`/`0` gives any == true.
struct ProtocolSpec {
  bool any = false;
  std::uint8_t number = 0;
};

// parseProtocol accepts a name (tcp, udp, icmp, icmpv6/ipv6-icmp, sctp, udplite, dccp, esp,
// ah, gre, all, ...; case-insensitive, as iptables lowercases it) or a number 0..255.
std::optional<ProtocolSpec> parseProtocol(std::string_view text);
// protocolName returns the name iptables-save prints for a protocol number, or the number.
std::string protocolName(std::uint8_t number);
// carriesPorts reports whether the protocol has the port fields that tcp/udp/multiport
// matches and REDIRECT/DNAT port ranges need (Linux: TCP, UDP, UDP-Lite, SCTP, DCCP).
bool carriesPorts(std::uint8_t number);

// parseUnsigned parses a whole string as an unsigned number no larger than max. base 0 takes
// 0x hex and leading-0 octal like strtoul; base 10 is plain decimal.
std::optional<std::uint32_t> parseUnsigned(std::string_view text, int base, std::uint32_t max);

// parsePort parses a port number or a service name (getservbyname, for protocol when given).
std::optional<std::uint16_t> parsePort(std::string_view text, std::optional<std::uint8_t> protocol);
// parsePortRange parses `p`, `a:b`, `a:` (to 65535) or `:b` (from 0) with separator sep
// (':' for matches, '-' for NAT targets). Fails when a > b.
std::optional<PortRange> parsePortRange(std::string_view text,
                                        char sep,
                                        std::optional<std::uint8_t> protocol);

// parseMarkMask parses `value[/mask]` (base 0 numbers); the mask defaults to 0xffffffff.
struct MarkMask {
  std::uint32_t value = 0;
  std::uint32_t mask = 0xffffffff;
};
std::optional<MarkMask> parseMarkMask(std::string_view text);
// formatHex prints 0x%x.
std::string formatHex(std::uint32_t v);

// TCP flags as iptables names them (FIN SYN RST PSH ACK URG, ALL, NONE), comma-separated.
std::optional<std::uint8_t> parseTcpFlags(std::string_view text);
std::string formatTcpFlags(std::uint8_t flags);
inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpAck = 0x10;

// Address types (UNICAST,LOCAL,...), comma-separated, case-insensitive.
std::optional<std::uint16_t> parseAddrTypes(std::string_view text);
std::string formatAddrTypes(std::uint16_t types);

// Conntrack states. The state match knows INVALID, NEW, ESTABLISHED, RELATED, UNTRACKED;
// conntrack's --ctstate adds SNAT and DNAT.
std::optional<std::uint8_t> parseCtStates(std::string_view text, bool allow_nat_states);
std::string formatCtStates(std::uint8_t states);

// parseLogLevel accepts 0..7 or a syslog level name (emerg ... debug, panic, error, warning).
std::optional<int> parseLogLevel(std::string_view text);
inline constexpr int kDefaultLogLevel = 4;  // LOG_WARNING, xt_LOG's default

// quoteForSave quotes a string as xtables_save_string does: bare when it is only
// [A-Za-z0-9_-], otherwise in double quotes with `"`, `\` and `'` backslash-escaped.
std::string quoteForSave(std::string_view value);

}  // namespace xredir::loader
