// kernel_prober.h owns asking the kernel: it makes the real TCP connections of a batch of probes
// (PREROUTING probes from the client namespace over a chosen link, OUTPUT probes from a socket
// created inside the node namespace under a chosen fsuid/fsgid, which is what xt_owner reads)
// and reports, per probe, which listener accepted and the SO_ORIGINAL_DST it read, or that
// the connection was refused or never answered.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "e2e/differential/netns_lab.h"
#include "xredir/ip_addr.h"
#include "xredir/rule_model.h"

namespace xredir::difftest {

// Probe is one TCP connection attempt: the packet the engine is asked about.
struct Probe {
  Hook hook = Hook::kPrerouting;  // kPrerouting or kOutput
  Family family = Family::kV4;
  IpAddr src;
  std::uint16_t sport = 0;  // unique per probe: it names the connection at every listener
  IpAddr dst;
  std::uint16_t dport = 0;
  std::string client_iface;  // PREROUTING: the client interface it leaves by
  std::string in_iface;      // PREROUTING: the node interface it arrives on
  std::string out_iface;     // OUTPUT: the node interface the route picks
  std::uint32_t uid = 0;     // OUTPUT: the socket's owner
  std::uint32_t gid = 0;
};

// describeProbe prints a probe the way `xredir trace` takes it (for failure messages).
std::string describeProbe(const Probe& p);

enum class OutcomeKind : std::uint8_t {
  kHarnessError = 1,  // the probe could not be made (bind, socket...): a bug of the test
  kNoConnection,      // no answer within the timeout, or the local stack refused to send (EPERM)
  kRefused,           // RST: nothing listens where the packet was delivered
  kNodeListener,      // accepted in the node (REDIRECT, or a local destination)
  kServer,            // forwarded to the server, which saw `original_dst`
};

const char* outcomeKindName(OutcomeKind k);

struct Outcome {
  OutcomeKind kind = OutcomeKind::kHarnessError;
  std::uint16_t listener_port = 0;       // kNodeListener: the port that accepted
  std::optional<IpAddr> local_addr;      // kNodeListener: getsockname of the accepted socket
  std::optional<Endpoint> original_dst;  // kNodeListener / kServer: SO_ORIGINAL_DST
  std::string detail;                    // errors

  // matches compares what both sides can know: kind, port, original destination, and the local
  // address only when `this` (the expectation) names one.
  bool matches(const Outcome& actual) const;
};

std::string describeOutcome(const Outcome& o);

// KernelProber keeps the listeners (the server's catch-all, the node's per-port listeners) and
// runs batches of probes.
class KernelProber {
 public:
  // KernelProber opens the server's catch-all listeners (IPv4 and IPv6). Throws on failure.
  explicit KernelProber(const NetnsLab& lab);
  ~KernelProber();
  KernelProber(const KernelProber&) = delete;
  KernelProber& operator=(const KernelProber&) = delete;

  // setNodeListeners closes the node's listeners and opens one IPv4 and one IPv6 listener on
  // each port (on 0.0.0.0 and ::). Returns "" or the error.
  std::string setNodeListeners(const std::vector<std::uint16_t>& ports);

  // run makes every probe's connection at once, waits up to `timeout_ms` for them to complete,
  // collects what each listener accepted, and returns one Outcome per probe, in order.
  std::vector<Outcome> run(const std::vector<Probe>& probes, int timeout_ms);

 private:
  struct Listener {
    int fd = -1;
    std::uint16_t port = 0;
    bool server = false;
    Family family = Family::kV4;
  };
  const NetnsLab& lab_;
  std::vector<Listener> server_listeners_;
  std::vector<Listener> node_listeners_;
};

}  // namespace xredir::difftest
