// netns_lab.cc: namespaces, veths, addresses, routes and the server's catch-all.
#include "e2e/differential/netns_lab.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace xredir::difftest {
namespace {

constexpr const char* kPrefix = "xrd";  // namespaces are named xrd<pid>-{c,n,s}
constexpr const char* kNetnsDir = "/run/netns/";

// The run's namespace paths, kept in static storage so a signal handler can unlink them.
constexpr int kPathMax = 128;
char g_paths[3][kPathMax] = {};

void unlinkNetns(const char* path) {
  if (path[0] == '\0') return;
  umount2(path, MNT_DETACH);  // what `ip netns del` does: drop the bind mount, then the file
  unlink(path);
}

IpAddr addr(const char* text) {
  return *parseIpAddr(text);
}
Cidr cidr(const char* text) {
  return *parseCidr(text);
}

}  // namespace

CommandResult runCommand(const std::string& command, const std::string& input) {
  char in_path[] = "/tmp/xrd-diff-in-XXXXXX";
  const int in_fd = mkstemp(in_path);
  if (in_fd < 0) return {-1, "mkstemp failed"};
  if (!input.empty() &&
      write(in_fd, input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    close(in_fd);
    unlink(in_path);
    return {-1, "write failed"};
  }
  close(in_fd);
  const std::string full = "(" + command + ") <" + in_path + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) {
    unlink(in_path);
    return {-1, "popen failed"};
  }
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
  const int status = pclose(pipe);
  unlink(in_path);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

ScopedNetns::ScopedNetns(int netns_fd) {
  original_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original_fd_ < 0 || setns(netns_fd, CLONE_NEWNET) != 0) {
    throw std::runtime_error(std::string("setns into test namespace: ") + std::strerror(errno));
  }
}

ScopedNetns::~ScopedNetns() {
  // Failing to return would leave this thread in a namespace that is about to vanish: abort.
  if (setns(original_fd_, CLONE_NEWNET) != 0) std::abort();
  close(original_fd_);
}

std::unique_ptr<NetnsLab> NetnsLab::create(std::string* error) {
  std::unique_ptr<NetnsLab> lab(new NetnsLab());
  const std::string base = std::string(kPrefix) + std::to_string(getpid()) + "-";
  lab->client_ = base + "c";
  lab->node_ = base + "n";
  lab->server_ = base + "s";
  const std::string names[3] = {lab->client_, lab->node_, lab->server_};
  for (int i = 0; i < 3; ++i) {
    std::snprintf(g_paths[i], kPathMax, "%s%s", kNetnsDir, names[i].c_str());
  }
  if (!lab->build(error)) return nullptr;  // the destructor removes what was made
  return lab;
}

void NetnsLab::removeAllForSignal() {
  for (auto& path : g_paths) unlinkNetns(path);
}

void NetnsLab::removeLeftovers() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kNetnsDir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const size_t dash = name.find('-');
    if (dash == std::string::npos || dash == std::strlen(kPrefix)) continue;
    const std::string pid_text = name.substr(std::strlen(kPrefix), dash - std::strlen(kPrefix));
    if (pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
    unlinkNetns(entry.path().c_str());
  }
}

NetnsLab::~NetnsLab() {
  for (int fd : {client_fd_, node_fd_, server_fd_}) {
    if (fd >= 0) close(fd);
  }
  removeAllForSignal();
  for (auto& path : g_paths) path[0] = '\0';
}

bool NetnsLab::build(std::string* error) {
  ClientLink one;
  one.client_iface = "c1";
  one.node_iface = "eth1";
  one.client_v4 = {addr("198.18.1.1"), addr("198.18.1.5"), addr("198.18.1.77")};
  one.client_v6 = {addr("fd00:1::1"), addr("fd00:1::5")};
  one.node_v4 = addr("198.18.1.2");
  one.node_v6 = addr("fd00:1::2");
  one.subnet_v4 = cidr("198.18.1.0/24");
  one.subnet_v6 = cidr("fd00:1::/64");
  ClientLink two;
  two.client_iface = "c2";
  two.node_iface = "eth2";
  two.client_v4 = {addr("198.18.3.1")};
  two.client_v6 = {addr("fd00:3::1")};
  two.node_v4 = addr("198.18.3.2");
  two.node_v6 = addr("fd00:3::2");
  two.subnet_v4 = cidr("198.18.3.0/24");
  two.subnet_v6 = cidr("fd00:3::/64");
  links_ = {one, two};

  const std::string c = client_, n = node_, s = server_;
  std::vector<std::string> steps = {
      "ip netns add " + c,
      "ip netns add " + n,
      "ip netns add " + s,
      // No duplicate address detection: a tentative link-local address leaves IPv6 neighbour
      // discovery and routing half-working for the first second or two after link-up.
      "for ns in " + c + " " + n + " " + s +
          "; do ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0"
          " net.ipv6.conf.default.accept_dad=0 || exit 1; done",
      "ip link add eth1 netns " + n + " type veth peer name c1 netns " + c,
      "ip link add eth2 netns " + n + " type veth peer name c2 netns " + c,
      "ip link add eth0 netns " + n + " type veth peer name s0 netns " + s,
  };
  // Client: addresses, two default routes (a probe picks its link with SO_BINDTODEVICE).
  std::string client_batch =
      "link set lo up\nlink set c1 up\nlink set c2 up\n"
      "addr add 198.18.1.1/24 dev c1\naddr add 198.18.1.5/24 dev c1\n"
      "addr add 198.18.1.77/24 dev c1\naddr add 198.18.3.1/24 dev c2\n"
      "addr add fd00:1::1/64 dev c1 nodad\naddr add fd00:1::5/64 dev c1 nodad\n"
      "addr add fd00:3::1/64 dev c2 nodad\n"
      "route add default via 198.18.1.2 dev c1 metric 100\n"
      "route add default via 198.18.3.2 dev c2 metric 200\n"
      "route add default via fd00:1::2 dev c1 metric 100\n"
      "route add default via fd00:3::2 dev c2 metric 200\n";
  std::string node_batch =
      "link set lo up\nlink set eth0 up\nlink set eth1 up\nlink set eth2 up\n"
      "addr add 198.18.1.2/24 dev eth1\naddr add 198.18.3.2/24 dev eth2\n"
      "addr add 198.18.2.1/24 dev eth0\n"
      "addr add fd00:1::2/64 dev eth1 nodad\naddr add fd00:3::2/64 dev eth2 nodad\n"
      "addr add fd00:2::1/64 dev eth0 nodad\naddr add ::6/128 dev lo nodad\n"
      "route add default via 198.18.2.2 dev eth0\n"
      "route add default via fd00:2::2 dev eth0\n";
  std::string server_batch =
      "link set lo up\nlink set s0 up\n"
      "addr add 198.18.2.2/24 dev s0\naddr add fd00:2::2/64 dev s0 nodad\n"
      "route add 198.18.1.0/24 via 198.18.2.1\nroute add 198.18.3.0/24 via 198.18.2.1\n"
      "route add fd00:1::/64 via fd00:2::1\nroute add fd00:3::/64 via fd00:2::1\n"
      "route add ::6/128 via fd00:2::1\n";
  for (const std::string& step : steps) {
    const CommandResult r = runCommand(step);
    if (r.status != 0) {
      *error = step + ": " + r.output;
      return false;
    }
  }
  for (const auto& [ns, batch] : {std::pair{c, client_batch}, {n, node_batch}, {s, server_batch}}) {
    const CommandResult r = runCommand("ip -n " + ns + " -batch -", batch);
    if (r.status != 0) {
      *error = "ip -n " + ns + " -batch: " + r.output;
      return false;
    }
  }
  const std::string sysctls =
      " sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0";
  std::vector<std::string> more = {
      "ip netns exec " + n + sysctls +
          " net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0"
          " net.ipv4.conf.eth2.rp_filter=0 net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"
          " net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.eth1.keep_addr_on_down=1"
          " net.ipv6.conf.eth2.keep_addr_on_down=1",
      "ip netns exec " + c + sysctls + " net.ipv4.conf.c1.rp_filter=0 net.ipv4.conf.c2.rp_filter=0",
      "ip netns exec " + s + sysctls,
      // The server takes every TCP destination as its own and hands it to one listener, which
      // reads SO_ORIGINAL_DST: that is the destination the node let through (or translated to).
      "ip netns exec " + s + " iptables -t nat -A PREROUTING -p tcp -j REDIRECT --to-ports " +
          std::to_string(kServerCatchPort),
      "ip netns exec " + s + " ip6tables -t nat -A PREROUTING -p tcp -j REDIRECT --to-ports " +
          std::to_string(kServerCatchPort),
  };
  for (const std::string& step : more) {
    const CommandResult r = runCommand(step);
    if (r.status != 0) {
      *error = step + ": " + r.output;
      return false;
    }
  }
  // Wait (bounded, 5 s) until no address is tentative and every veth has carrier.
  bool ready = false;
  for (int attempt = 0; attempt < 100 && !ready; ++attempt) {
    ready = true;
    for (const std::string& ns : {c, n, s}) {
      const CommandResult tentative = runCommand("ip -n " + ns + " -6 addr show tentative");
      const CommandResult down =
          runCommand("ip -n " + ns + " link show | grep -c -e NO-CARRIER -e 'state DOWN'");
      if (!tentative.output.empty() || down.output != "0\n") ready = false;
    }
    if (!ready) usleep(50 * 1000);
  }
  if (!ready) {
    *error = "the namespaces' links did not come up";
    return false;
  }
  client_fd_ = open((kNetnsDir + c).c_str(), O_RDONLY | O_CLOEXEC);
  node_fd_ = open((kNetnsDir + n).c_str(), O_RDONLY | O_CLOEXEC);
  server_fd_ = open((kNetnsDir + s).c_str(), O_RDONLY | O_CLOEXEC);
  if (client_fd_ < 0 || node_fd_ < 0 || server_fd_ < 0) {
    *error = "open /run/netns: " + std::string(std::strerror(errno));
    return false;
  }
  return true;
}

std::string NetnsLab::renameClientLink(size_t index, const std::string& name) {
  ClientLink& link = links_.at(index);
  if (link.node_iface == name) return "";
  const std::string batch = "link set " + link.node_iface + " down\nlink set " + link.node_iface +
                            " name " + name + "\nlink set " + name + " up\n";
  const CommandResult r = runCommand("ip -n " + node_ + " -batch -", batch);
  if (r.status != 0) return "rename " + link.node_iface + " to " + name + ": " + r.output;
  link.node_iface = name;
  // The node's IPv4 prefix route comes back with the link; wait for carrier.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const CommandResult down = runCommand("ip -n " + node_ + " link show " + name +
                                          " | grep -c -e NO-CARRIER -e 'state DOWN'");
    if (down.output == "0\n") return "";
    usleep(50 * 1000);
  }
  return "link " + name + " did not come back up";
}

IpAddr NetnsLab::nodeUplinkV4() const {
  return addr("198.18.2.1");
}
IpAddr NetnsLab::nodeUplinkV6() const {
  return addr("fd00:2::1");
}
IpAddr NetnsLab::serverV4() const {
  return addr("198.18.2.2");
}
IpAddr NetnsLab::serverV6() const {
  return addr("fd00:2::2");
}
IpAddr NetnsLab::nodeLoopbackExtraV6() const {
  return addr("::6");
}
Cidr NetnsLab::uplinkSubnet(Family f) const {
  return f == Family::kV4 ? cidr("198.18.2.0/24") : cidr("fd00:2::/64");
}

CommandResult NetnsLab::inNode(const std::string& command, const std::string& input) const {
  return runCommand("ip netns exec " + node_ + " " + command, input);
}

CommandResult NetnsLab::inServer(const std::string& command, const std::string& input) const {
  return runCommand("ip netns exec " + server_ + " " + command, input);
}

std::string NetnsLab::loadNodeRules(Family family,
                                    const std::string& rules,
                                    const std::string& ipsets) {
  // Reset both families' tables to empty built-in chains with ACCEPT policies: the previous
  // rule set may have used other tables, user chains or the other family.
  const std::string reset =
      "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
      "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
      ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
      "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      ":POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
  for (const char* tool : {"iptables-restore", "ip6tables-restore"}) {
    const CommandResult r = inNode(tool, reset);
    if (r.status != 0) return std::string(tool) + " (reset): " + r.output;
  }
  CommandResult r = inNode("ipset destroy");
  if (r.status != 0) return "ipset destroy: " + r.output;
  if (!ipsets.empty()) {
    r = inNode("ipset restore", ipsets);
    if (r.status != 0) return "ipset restore: " + r.output;
  }
  r = inNode(family == Family::kV4 ? "iptables-restore" : "ip6tables-restore", rules);
  if (r.status != 0) return "iptables-restore: " + r.output;
  for (const std::string& ns : {node_, server_}) {
    // conntrack -F exits 1 when the table was already empty on some versions: ignore status.
    runCommand("ip netns exec " + ns + " conntrack -F -f ipv4; ip netns exec " + ns +
               " conntrack -F -f ipv6");
  }
  return "";
}

}  // namespace xredir::difftest
