// random_rule_set.cc: random iptables-restore text the kernel accepts.
#include "e2e/differential/random_rule_set.h"

#include <string>
#include <vector>

namespace xredir::difftest {
namespace {

template <typename T>
const T& pick(const std::vector<T>& v, std::mt19937& rng) {
  return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

bool chance(std::mt19937& rng, double p) {
  return std::uniform_real_distribution<>(0, 1)(rng) < p;
}

int between(std::mt19937& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

std::string bang(std::mt19937& rng, double p) {
  return chance(rng, p) ? "! " : "";
}

enum class Group { kPre, kOut };

class Generator {
 public:
  Generator(Family f, std::mt19937& rng) : v4_(f == Family::kV4), rng_(rng) {}

  std::string text() {
    std::string s;
    if (chance(rng_, 0.3)) s += mangleTable();
    if (chance(rng_, 0.2)) s += filterTable();
    s += natTable();
    return s;
  }

 private:
  std::string cidr() {
    static const std::vector<std::string> v4{
        "198.18.1.2", "198.18.3.2", "198.18.2.1",  "198.18.2.2",    "198.18.1.1",
        "198.18.1.5", "198.18.3.1", "203.0.113.7", "93.184.216.34", "10.1.2.3",
        "127.0.0.1",  "127.0.0.6",  "1.1.1.1"};
    static const std::vector<std::string> v6{"fd00:1::2", "fd00:3::2", "fd00:2::1", "fd00:2::2",
                                             "fd00:1::1", "fd00:1::5", "fd00:3::1", "2001:db8::7",
                                             "::1",       "::6"};
    static const std::vector<int> len4{32, 32, 32, 24, 16, 8};
    static const std::vector<int> len6{128, 128, 128, 64, 48, 32, 16};
    return pick(v4_ ? v4 : v6, rng_) + "/" + std::to_string(pick(v4_ ? len4 : len6, rng_));
  }

  // sourceCidr favours the sources probes of the group really have: client addresses for
  // PREROUTING, the node's own and loopback addresses for OUTPUT.
  std::string sourceCidr(Group g) {
    if (chance(rng_, 0.3)) return cidr();
    static const std::vector<std::string> pre4{"198.18.1.1/32", "198.18.1.5/32", "198.18.1.0/24",
                                               "198.18.3.1/32", "198.18.0.0/16"};
    static const std::vector<std::string> out4{"127.0.0.6/32", "127.0.0.1/32", "127.0.0.0/8",
                                               "198.18.2.1/32", "198.18.1.2/32"};
    static const std::vector<std::string> pre6{"fd00:1::1/128", "fd00:1::5/128", "fd00:1::/64",
                                               "fd00:3::1/128", "fd00::/16"};
    static const std::vector<std::string> out6{"::6/128", "::1/128", "fd00:2::1/128",
                                               "fd00:1::2/128"};
    if (g == Group::kPre) return pick(v4_ ? pre4 : pre6, rng_);
    return pick(v4_ ? out4 : out6, rng_);
  }

  std::string portSpec() {
    static const std::vector<std::string> ports{"80",        "443",         "8080",     "15001",
                                                "15006",     "15008",       "22",       "53",
                                                "1000:2000", "15000:15010", "8000:9000"};
    return pick(ports, rng_);
  }

  std::string dnatTarget() {
    static const std::vector<std::string> v4{"203.0.113.50", "198.51.100.9", "198.18.2.2",
                                             "198.18.2.1"};
    static const std::vector<std::string> v6{"2001:db8::50", "fd00:2::2", "fd00:2::1"};
    static const std::vector<std::string> ports{"8080", "15001", "443"};
    const std::string a = pick(v4_ ? v4 : v6, rng_);
    if (chance(rng_, 0.3)) return a;  // keep the original port
    return (v4_ ? a : "[" + a + "]") + ":" + pick(ports, rng_);
  }

  std::string owner() {
    static const std::vector<std::string> ids{"0", "1337", "1500", "5678", "1000-1400"};
    std::string s = " -m owner";
    const int which = between(rng_, 0, 2);
    if (which != 1) s += " " + bang(rng_, 0.3) + "--uid-owner " + pick(ids, rng_);
    if (which != 0) s += " " + bang(rng_, 0.3) + "--gid-owner " + pick(ids, rng_);
    return s;
  }

  // natRule writes one nat rule; `later` are the chains it may jump to.
  std::string natRule(const std::string& chain, Group g, const std::vector<std::string>& later) {
    std::string matches;
    std::string target;
    bool need_tcp = false;
    const int t = between(rng_, 0, 99);
    if (t < 22 && !later.empty()) {
      target = (chance(rng_, 0.2) ? "-g " : "-j ") + pick(later, rng_);
    } else if (t < 36) {
      target = "-j RETURN";
    } else if (t < 46) {
      target = "-j ACCEPT";
    } else if (t < 68) {
      target = "-j REDIRECT";
      if (chance(rng_, 0.85)) {
        static const std::vector<std::string> to{"15001", "15006", "15010", "15020-15022"};
        target += " --to-ports " + pick(to, rng_);
        need_tcp = true;
      }
    } else if (t < 84) {
      const std::string to = dnatTarget();
      need_tcp = to.find(']') != std::string::npos || (v4_ && to.find(':') != std::string::npos);
      target = "-j DNAT --to-destination " + to;
    } else if (t < 94) {
      target = "-j MARK --set-xmark 0x1/0xff";
    } else {
      target = "";  // no target: counts only, traversal continues
    }

    if (chance(rng_, 0.2)) matches += " " + bang(rng_, 0.25) + "-s " + sourceCidr(g);
    if (chance(rng_, 0.3)) matches += " " + bang(rng_, 0.25) + "-d " + cidr();
    if (g == Group::kPre && chance(rng_, 0.2)) {
      static const std::vector<std::string> ifs{"eth1", "eth2", "eth+", "eth0"};
      matches += " " + bang(rng_, 0.25) + "-i " + pick(ifs, rng_);
    }
    if (g == Group::kOut && chance(rng_, 0.3)) {
      static const std::vector<std::string> ofs{"lo", "eth0", "eth+", "eth1"};
      matches += " " + bang(rng_, 0.25) + "-o " + pick(ofs, rng_);
    }
    std::string proto;
    std::string tcp_matches;
    if (chance(rng_, 0.25)) {
      tcp_matches += " -m tcp " + bang(rng_, 0.2) + "--dport " + portSpec();
      need_tcp = true;
    }
    // One destination-port match per rule: the model keeps one (the loader refuses a second).
    if (tcp_matches.empty() && chance(rng_, 0.2)) {
      std::string list = portSpec();
      for (int i = between(rng_, 0, 2); i > 0; --i) list += "," + portSpec();
      tcp_matches += " -m multiport " + bang(rng_, 0.2) + "--dports " + list;
      need_tcp = true;
    }
    if (need_tcp || chance(rng_, 0.5)) {
      proto = " -p tcp";
    } else if (chance(rng_, 0.15)) {
      proto = " -p udp";  // never matches a TCP probe: must not decide anything
    }
    matches = proto + matches + tcp_matches;
    if (g == Group::kOut && chance(rng_, 0.25)) matches += owner();
    if (chance(rng_, 0.1)) {
      static const std::vector<std::string> marks{"0x1/0xff", "0x2/0x2", "0x4/0xff", "0x0/0xff"};
      matches += " -m mark " + bang(rng_, 0.3) + "--mark " + pick(marks, rng_);
    }
    if (chance(rng_, 0.08)) {
      matches += std::string(" -m addrtype ") + bang(rng_, 0.3) +
                 (chance(rng_, 0.7) ? "--dst-type LOCAL" : "--src-type LOCAL");
    }
    std::string line = "-A " + chain + matches;
    if (!target.empty()) line += " " + target;
    return line + "\n";
  }

  std::string natTable() {
    const std::vector<std::string> pre{"PRE_A", "PRE_B", "PRE_C"};
    const std::vector<std::string> out{"OUT_A", "OUT_B", "OUT_C"};
    std::string s =
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n";
    for (const auto& c : pre) s += ":" + c + " - [0:0]\n";
    for (const auto& c : out) s += ":" + c + " - [0:0]\n";
    struct Hooked {
      std::string builtin;
      Group group;
      const std::vector<std::string>& users;
    };
    for (const Hooked& h :
         {Hooked{"PREROUTING", Group::kPre, pre}, Hooked{"OUTPUT", Group::kOut, out}}) {
      const std::string& builtin = h.builtin;
      const Group group = h.group;
      const std::vector<std::string>& users = h.users;
      for (int i = between(rng_, 2, 6); i > 0; --i) s += natRule(builtin, group, users);
      for (size_t k = 0; k < users.size(); ++k) {
        const std::vector<std::string> later(users.begin() + static_cast<long>(k) + 1, users.end());
        for (int i = between(rng_, 1, 5); i > 0; --i) s += natRule(users[k], group, later);
      }
    }
    return s + "COMMIT\n";
  }

  // mangleTable marks or drops some incoming packets before nat sees them. Its PREROUTING rules
  // name a client-facing interface: loopback packets of OUTPUT probes also cross PREROUTING,
  // which the engine (asked about one hook) rightly does not model.
  std::string mangleTable() {
    std::string s =
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
        ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n";
    for (int i = between(rng_, 1, 3); i > 0; --i) {
      std::string line = std::string("-A PREROUTING -i ") + (chance(rng_, 0.6) ? "eth1" : "eth2");
      if (chance(rng_, 0.4)) line += " -d " + cidr();
      line += " -p tcp";
      if (chance(rng_, 0.6)) line += " -m tcp --dport " + portSpec();
      line += chance(rng_, 0.3) ? " -j DROP" : " -j MARK --set-xmark 0x2/0x2";
      s += line + "\n";
    }
    // OUTPUT marks only sockets with an owner: the node's SYN-ACKs (no socket file) pass.
    for (int i = between(rng_, 0, 2); i > 0; --i) {
      s += "-A OUTPUT -p tcp" + owner() + " -j MARK --set-xmark 0x4/0xff\n";
    }
    return s + "COMMIT\n";
  }

  // filterTable drops some locally generated connections, after nat has translated them.
  std::string filterTable() {
    std::string s = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";
    static const std::vector<std::string> ids{"0", "1337", "1500", "5678"};
    for (int i = between(rng_, 1, 2); i > 0; --i) {
      std::string line = "-A OUTPUT";
      if (chance(rng_, 0.4)) line += " -d " + cidr();
      line += " -p tcp";
      if (chance(rng_, 0.4)) line += " -m tcp --dport " + portSpec();
      line += " -m owner --uid-owner " + pick(ids, rng_) + " -j DROP";
      s += line + "\n";
    }
    return s + "COMMIT\n";
  }

  bool v4_;
  std::mt19937& rng_;
};

}  // namespace

std::string randomRuleSetText(Family family, std::mt19937& rng) {
  return Generator(family, rng).text();
}

}  // namespace xredir::difftest
