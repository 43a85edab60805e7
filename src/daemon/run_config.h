// run_config.h owns the daemon's configuration file (`xredir run --config FILE`, TOML; the
// commented example is config/xredir.toml): which interfaces to capture, the rule files, the
// injection pair and proxy addresses, conntrack size, the original-destination API socket and
// the metrics listener, and the OUTPUT hook's capture of local connections. Every key is checked:
// an unknown key, a wrong type or a bad value is an error naming the file, line and key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace xredir {

struct RunConfig {
  // [capture]
  std::vector<std::string> interfaces;  // required, at least one
  std::uint32_t queues = 0;             // 0: every RX queue of the interfaces
  std::vector<int> cpus;                // worker i pinned to cpus[i % size]
  // Established translated IPv4 TCP flows rewritten and redirected by the XDP program itself
  // (src/xdp/fast_path.h); false: every packet takes the AF_XDP path.
  bool fast_path = true;
  // [rules]
  std::string rules_v4;             // iptables-save file (required unless rules_v6 is set)
  std::string rules_v6;             // ip6tables-save file (optional)
  std::vector<std::string> ipsets;  // ipset save files
  // [injection]
  std::string inject_if = "xr0";
  std::string proxy_if = "xr1";
  std::string proxy_v4 = "169.254.77.1/30";
  std::string next_hop_v4 = "169.254.77.2";
  std::string proxy_v6 = "fd78:7265:6469::1/64";
  std::string next_hop_v6 = "fd78:7265:6469::2";
  std::uint32_t route_table = 7877;
  // [conntrack]
  std::uint32_t max_entries = 1u << 20;
  std::uint32_t shards = 16;
  // [api]
  std::string api_socket = "/run/xredir/odst.sock";
  std::vector<std::uint32_t> api_uids;  // besides root
  std::vector<std::uint32_t> api_gids;
  // Slots of the shared original-destination view (64 bytes each at most, taken as used);
  // unset: one per conntrack entry (max_entries); 0: no view, every query goes over the socket.
  std::optional<std::uint32_t> api_view_slots;
  // [output] the OUTPUT hook: the node's own connections (see config/xredir.toml)
  bool output_enabled = false;
  std::vector<std::string> output_protocols = {"tcp"};
  std::vector<std::uint32_t> output_exclude_uids;
  std::vector<std::uint32_t> output_exclude_marks;
  std::string output_source_v4;  // empty: the default route's source
  std::string output_source_v6;
  bool output_ipv6 = true;
  std::uint32_t output_route_table = 7878;
  std::uint32_t output_rule_pref = 60;
  // [metrics]
  std::string metrics_listen = "127.0.0.1:9477";  // empty: no metrics server
};

// parseRunConfig parses TOML text. `name` is used in errors ("name:line:col: reason").
std::variant<RunConfig, std::string> parseRunConfig(const std::string& text,
                                                    const std::string& name);

// loadRunConfig reads and parses a file.
std::variant<RunConfig, std::string> loadRunConfig(const std::string& path);

}  // namespace xredir
