#include "xdp/output_capture.h"

#include <net/if.h>
#include <spdlog/spdlog.h>

#include <cerrno>

namespace xredir::xdp {
namespace {

// jsonString returns the value of the first `"key":"value"` in `ip -j` output (the fields read
// here are plain strings without escapes).
std::optional<std::string> jsonString(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  const auto at = json.find(needle);
  if (at == std::string::npos) return std::nullopt;
  const auto begin = at + needle.size();
  const auto end = json.find('"', begin);
  if (end == std::string::npos) return std::nullopt;
  return json.substr(begin, end - begin);
}

const char* familyFlag(Family family) {
  return family == Family::kV4 ? "-4" : "-6";
}

}  // namespace

std::optional<IpAddr> defaultSource(Family family) {
  std::string out;
  if (!NetSetup::run({"ip", "-j", familyFlag(family), "route", "show", "default", "table", "main"},
                     &out)
           .ok()) {
    return std::nullopt;
  }
  if (auto src = jsonString(out, "prefsrc")) return parseIpAddr(*src);
  auto gateway = jsonString(out, "gateway");
  if (!gateway) return std::nullopt;
  if (!NetSetup::run({"ip", "-j", familyFlag(family), "route", "get", *gateway}, &out).ok()) {
    return std::nullopt;
  }
  auto src = jsonString(out, "prefsrc");
  return src ? parseIpAddr(*src) : std::nullopt;
}

std::unique_ptr<OutputCapture> OutputCapture::create(const OutputConfig& config,
                                                     const InjectionPair& pair,
                                                     Status& err) {
  std::unique_ptr<OutputCapture> capture(new OutputCapture());
  capture->config_ = config;
  err = capture->setUp(pair);
  if (!err.ok()) return nullptr;  // ~OutputCapture removes the partial set-up
  return capture;
}

OutputCapture::~OutputCapture() {
  probe_.reset();
  net_.undoAll();
}

std::string_view OutputCapture::interfaceName(std::uint32_t ifindex) const {
  for (const auto& [index, name] : names_) {
    if (index == ifindex) return name;
  }
  return {};
}

Status OutputCapture::setUp(const InjectionPair& pair) {
  const InjectionConfig& inj = pair.config();
  inject_if_ = inj.inject_if;
  proxy_if_ = inj.proxy_if;
  for (const auto& p : config_.protocols) {
    if (p != "tcp" && p != "udp") return Status::error(EINVAL, "output protocol " + p);
  }
  if (struct if_nameindex* list = if_nameindex()) {
    for (struct if_nameindex* i = list; i->if_index != 0; ++i)
      names_.emplace_back(i->if_index, i->if_name);
    if_freenameindex(list);
  }

  // Sources first: once the capture rules exist, `ip route get` answers through them.
  auto pick = [](const std::string& configured, Family family) -> std::optional<IpAddr> {
    if (!configured.empty()) return parseIpAddr(configured);
    return defaultSource(family);
  };
  source_v4_ = pick(config_.source_v4, Family::kV4);
  if (config_.ipv6 && !inj.proxy_v6.empty()) source_v6_ = pick(config_.source_v6, Family::kV6);
  if (!config_.source_v4.empty() && !source_v4_) {
    return Status::error(EINVAL, "output.source_v4 is not an IPv4 address: " + config_.source_v4);
  }
  if (!config_.source_v6.empty() && config_.ipv6 && !source_v6_) {
    return Status::error(EINVAL, "output.source_v6 is not an IPv6 address: " + config_.source_v6);
  }
  next_hop_v4_ = parseIpAddr(inj.next_hop_v4);
  next_hop_v6_ = parseIpAddr(inj.next_hop_v6);
  if (!next_hop_v4_) source_v4_.reset();
  if (!next_hop_v6_) source_v6_.reset();
  if (!source_v4_ && !source_v6_) {
    return Status::error(EADDRNOTAVAIL,
                         "OUTPUT capture: no default route to take a source address from; set "
                         "output.source_v4 / output.source_v6");
  }

  // Not-translated connections are forwarded by the kernel from xr0, with their local source.
  Status s = net_.setSysctl("net.ipv4.conf." + inject_if_ + ".rp_filter", "0");
  if (!s.ok()) return s;
  s = net_.setSysctl("net.ipv4.conf." + inject_if_ + ".accept_local", "1");
  if (!s.ok()) return s;

  auto probe_ifindex = if_nametoindex(proxy_if_.c_str());
  if (probe_ifindex == 0) return Status::error(ENODEV, "injection interface " + proxy_if_);
  probe_ = OutputSockCtx::attach(probe_ifindex, s);
  if (!probe_) return s;

  for (Family family : {Family::kV4, Family::kV6}) {
    const auto& source = family == Family::kV4 ? source_v4_ : source_v6_;
    if (!source) {
      spdlog::warn("OUTPUT capture: IPv{} not captured (no source address)",
                   family == Family::kV4 ? 4 : 6);
      continue;
    }
    s = setUpFamily(family, formatIpAddr(*source));
    if (!s.ok()) return s;
  }
  spdlog::info(
      "OUTPUT capture: local {} connections via table {} (source {} / {}), excluded "
      "uids {}, marks {}",
      config_.protocols.size() == 2 ? "TCP+UDP" : config_.protocols[0], config_.table,
      source_v4_ ? formatIpAddr(*source_v4_) : "-", source_v6_ ? formatIpAddr(*source_v6_) : "-",
      config_.exclude_uids.size(), config_.exclude_marks.size());
  return {};
}

Status OutputCapture::setUpFamily(Family family, const std::string& source) {
  const char* f = familyFlag(family);
  const std::string table = std::to_string(config_.table);
  const std::string next_hop = formatIpAddr(family == Family::kV4 ? *next_hop_v4_ : *next_hop_v6_);
  Status s;
  if (family == Family::kV4) {
    s = net_.setSysctl("net.ipv4.ip_forward", "1");
  } else {
    // Note: with forwarding on, the kernel ignores router advertisements on interfaces whose
    // accept_ra is 1 (2 keeps them); a node configured by SLAAC should set accept_ra=2.
    s = net_.setSysctl("net.ipv6.conf.all.forwarding", "1");
  }
  if (!s.ok()) return s;
  // The route goes away with xr1; the rules are removed explicitly.
  s = net_.apply({"ip", f, "route", "add", "default", "via", next_hop, "dev", proxy_if_, "onlink",
                  "src", source, "table", table},
                 {"ip", f, "route", "del", "default", "table", table});
  if (!s.ok()) return s;
  auto rule = [&](std::vector<std::string> selector, const std::string& pref,
                  const std::string& lookup) {
    std::vector<std::string> add = {"ip", f, "rule", "add", "pref", pref, "iif", "lo"};
    add.insert(add.end(), selector.begin(), selector.end());
    add.insert(add.end(), {"lookup", lookup});
    std::vector<std::string> del = add;
    del[3] = "del";
    return net_.apply(add, del);
  };
  const std::string exclude_pref = std::to_string(config_.rule_pref);
  const std::string capture_pref = std::to_string(config_.rule_pref + 1);
  for (std::uint32_t mark : config_.exclude_marks) {
    const std::string m = std::to_string(mark);
    s = rule({"fwmark", m + "/" + m}, exclude_pref, "main");
    if (!s.ok()) return s;
  }
  for (std::uint32_t uid : config_.exclude_uids) {
    const std::string u = std::to_string(uid);
    s = rule({"uidrange", u + "-" + u}, exclude_pref, "main");
    if (!s.ok()) return s;
  }
  for (const auto& proto : config_.protocols) {
    s = rule({"ipproto", proto}, capture_pref, table);
    if (!s.ok()) return s;
  }
  return {};
}

}  // namespace xredir::xdp
