#include "xdp/injection_pair.h"

#include <net/if.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

namespace xredir::xdp {

std::optional<MacAddr> readMac(const std::string& ifname) {
  std::ifstream in("/sys/class/net/" + ifname + "/address");
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  MacAddr mac{};
  unsigned v[6];
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) !=
      6) {
    return std::nullopt;
  }
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<std::uint8_t>(v[i]);
  return mac;
}

std::string formatMac(const MacAddr& mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

std::optional<IpAddr> InjectionPair::proxyAddress(Family family) const {
  const std::string& text = family == Family::kV4 ? config_.proxy_v4 : config_.proxy_v6;
  if (text.empty()) return std::nullopt;
  auto slash = text.find('/');
  return parseIpAddr(text.substr(0, slash));
}

std::unique_ptr<InjectionPair> InjectionPair::create(const InjectionConfig& config, Status& err) {
  std::unique_ptr<InjectionPair> pair(new InjectionPair());
  pair->config_ = config;
  for (const auto* name : {&config.inject_if, &config.proxy_if}) {
    if (if_nametoindex(name->c_str()) != 0) {
      err = Status::error(EEXIST, "injection interface " + *name +
                                      " already exists (another xredir instance? a leftover "
                                      "is removed with: ip link del " +
                                      config.inject_if + ")");
      return nullptr;
    }
  }
  err = pair->setUp();
  if (!err.ok()) return nullptr;  // ~InjectionPair → ~NetSetup removes the partial set-up
  return pair;
}

Status InjectionPair::setUp() {
  const auto& c = config_;
  const std::string& x0 = c.inject_if;
  const std::string& x1 = c.proxy_if;
  const std::string q = std::to_string(c.queues == 0 ? 1 : c.queues);
  Status s = net_.apply({"ip", "link", "add", x0, "numtxqueues", q, "numrxqueues", q, "type",
                         "veth", "peer", "name", x1, "numtxqueues", q, "numrxqueues", q},
                        {"ip", "link", "del", x0});
  if (!s.ok()) return s;
  inject_ifindex_ = if_nametoindex(x0.c_str());
  proxy_ifindex_ = if_nametoindex(x1.c_str());
  auto m0 = readMac(x0);
  auto m1 = readMac(x1);
  if (inject_ifindex_ == 0 || proxy_ifindex_ == 0 || !m0 || !m1) {
    return Status::error(ENODEV, "read the new injection pair " + x0 + "/" + x1);
  }
  inject_mac_ = *m0;
  proxy_mac_ = *m1;
  const std::string table = std::to_string(c.table);
  const std::string pref = std::to_string(c.rule_pref);
  std::vector<std::vector<std::string>> steps;
  if (c.mtu != 0) {
    steps.push_back({"ip", "link", "set", x0, "mtu", std::to_string(c.mtu)});
    steps.push_back({"ip", "link", "set", x1, "mtu", std::to_string(c.mtu)});
  }
  steps.push_back({"ethtool", "-K", x0, "tx", "off"});
  steps.push_back({"ethtool", "-K", x1, "tx", "off"});
  if (c.proxy_gro) steps.push_back({"ethtool", "-K", x1, "gro", "on"});
  steps.push_back({"ip", "link", "set", x0, "up"});
  steps.push_back({"ip", "link", "set", x1, "up"});
  steps.push_back({"ip", "addr", "add", c.proxy_v4, "dev", x1});
  steps.push_back({"ip", "neigh", "replace", c.next_hop_v4, "lladdr", formatMac(inject_mac_), "dev",
                   x1, "nud", "permanent"});
  steps.push_back(
      {"ip", "route", "add", "default", "via", c.next_hop_v4, "dev", x1, "onlink", "table", table});
  if (!c.proxy_v6.empty()) {
    steps.push_back({"ip", "-6", "addr", "add", c.proxy_v6, "dev", x1, "nodad"});
    steps.push_back({"ip", "-6", "neigh", "replace", c.next_hop_v6, "lladdr",
                     formatMac(inject_mac_), "dev", x1, "nud", "permanent"});
    steps.push_back({"ip", "-6", "route", "add", "default", "via", c.next_hop_v6, "dev", x1,
                     "onlink", "table", table});
  }
  // Addresses, routes and neighbours on the pair go away with it: no undo recorded.
  for (const auto& step : steps) {
    s = net_.apply(step, {});
    if (!s.ok()) return s;
  }
  for (const char* family : {"-4", "-6"}) {
    if (family[1] == '6' && c.proxy_v6.empty()) continue;
    for (std::uint16_t port : c.proxy_ports) {
      for (const char* proto : {"tcp", "udp"}) {
        std::vector<std::string> rule = {"ip",      family, "rule",  "add",
                                         "ipproto", proto,  "sport", std::to_string(port),
                                         "lookup",  table,  "pref",  pref};
        std::vector<std::string> undo = rule;
        undo[3] = "del";
        s = net_.apply(rule, undo);
        if (!s.ok()) return s;
      }
    }
  }
  // Strict reverse-path filtering (1) on "all" overrides a relaxed per-interface value (the
  // kernel uses the maximum): loosen "all" to 2 only when it is strict.
  s = net_.setSysctl("net.ipv4.conf." + x1 + ".rp_filter", "0");
  if (!s.ok()) return s;
  if (NetSetup::readSysctl("net.ipv4.conf.all.rp_filter") == "1") {
    s = net_.setSysctl("net.ipv4.conf.all.rp_filter", "2");
    if (!s.ok()) return s;
  }
  spdlog::info("injection pair {} ({}) <-> {} ({}) up; proxy {} {}, replies via table {}", x0,
               formatMac(inject_mac_), x1, formatMac(proxy_mac_), c.proxy_v4, c.proxy_v6, table);
  return {};
}

}  // namespace xredir::xdp
