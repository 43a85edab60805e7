// netns_lab.h owns the three network namespaces the differential tests run in, their wiring and
// their removal: a client `c` that originates PREROUTING probes, the node `n` that holds the rule
// set under test (iptables, ip6tables, ipset), and a server `s` that accepts every TCP connection
// routed to it and reports the destination it saw. Also the thread-scoped namespace switch that
// sockets are created under, and the command runner the lab drives `ip`/`iptables` with.
//
//   client c1 198.18.1.1,.5,.77/24 fd00:1::1,::5/64 ─── eth1 198.18.1.2 fd00:1::2 ┐
//   client c2 198.18.3.1/24        fd00:3::1/64     ─── eth2 198.18.3.2 fd00:3::2 ├ node
//                                                   server s0 198.18.2.2 fd00:2::2 ─── eth0
//                                                   198.18.2.1 fd00:2::1 ┘
//
// The node's veths are named eth0/eth1/eth2 because the rule sets under test name those; each
// namespace has its own interface names, so nothing clashes with the host.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "xredir/ip_addr.h"

namespace xredir::difftest {

// kServerCatchPort is where the server's catch-all REDIRECT delivers every TCP connection.
inline constexpr std::uint16_t kServerCatchPort = 9999;

// CommandResult is the exit status and combined stdout+stderr of a command.
struct CommandResult {
  int status = -1;  // exit code; -1 when it did not exit normally
  std::string output;
};

// runCommand runs `command` with /bin/sh, feeding `input` on stdin.
CommandResult runCommand(const std::string& command, const std::string& input = "");

// ScopedNetns switches the calling thread into a network namespace (setns is per thread) and
// back on destruction. Sockets created meanwhile stay in that namespace for their lifetime.
class ScopedNetns {
 public:
  explicit ScopedNetns(int netns_fd);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

 private:
  int original_fd_ = -1;
};

// A client-side link: the client interface, the node interface it faces and the addresses.
struct ClientLink {
  std::string client_iface;  // in the client namespace
  std::string node_iface;    // its peer in the node namespace
  std::vector<IpAddr> client_v4;
  std::vector<IpAddr> client_v6;
  IpAddr node_v4;
  IpAddr node_v6;
  Cidr subnet_v4;
  Cidr subnet_v6;
};

// NetnsLab creates the namespaces on create() and removes them (and with them every veth,
// ipset and rule inside) on destruction.
class NetnsLab {
 public:
  // create builds the topology above with per-run names `xrd<pid>-{c,n,s}`. Returns nullptr and
  // fills *error when any step fails (whatever was made is removed).
  static std::unique_ptr<NetnsLab> create(std::string* error);
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // removeLeftovers deletes namespaces named by earlier runs whose process is gone (a crashed
  // or killed run cannot clean up after itself).
  static void removeLeftovers();
  // removeAllForSignal unlinks this run's namespaces with async-signal-safe calls only.
  static void removeAllForSignal();

  const std::string& clientName() const { return client_; }
  const std::string& nodeName() const { return node_; }
  const std::string& serverName() const { return server_; }
  int clientFd() const { return client_fd_; }
  int nodeFd() const { return node_fd_; }
  int serverFd() const { return server_fd_; }

  const std::vector<ClientLink>& clientLinks() const { return links_; }
  const std::string& nodeUplink() const { return uplink_; }  // "eth0"
  IpAddr nodeUplinkV4() const;
  IpAddr nodeUplinkV6() const;
  IpAddr serverV4() const;
  IpAddr serverV6() const;
  Cidr uplinkSubnet(Family f) const;
  // nodeLoopbackExtraV6 is ::6, assigned on the node's lo so that `-s ::6` rules can be probed.
  IpAddr nodeLoopbackExtraV6() const;

  // inNode runs a command inside the node namespace.
  CommandResult inNode(const std::string& command, const std::string& input = "") const;
  CommandResult inServer(const std::string& command, const std::string& input = "") const;

  // renameClientLink gives the node side of client link `index` a new name, for rule sets that
  // name their capture interface (`-i n0`, `-i fake1s0f0`). Addresses and routes survive (IPv6
  // addresses are kept over the down/up). Returns "" or the error.
  std::string renameClientLink(size_t index, const std::string& name);

  // loadNodeRules replaces all iptables/ip6tables tables and ipsets of the node with the given
  // iptables-restore text (for `family`) and `ipset restore` text, and flushes conntrack in the
  // node and the server, so that every NAT decision after it is fresh. Returns "" or the error.
  std::string loadNodeRules(Family family, const std::string& rules, const std::string& ipsets);

 private:
  NetnsLab() = default;
  bool build(std::string* error);

  std::string client_, node_, server_;
  int client_fd_ = -1, node_fd_ = -1, server_fd_ = -1;
  std::vector<ClientLink> links_;
  std::string uplink_ = "eth0";
};

}  // namespace xredir::difftest
