// bpf_program.h owns the loaded XDP object: the program embedded in the library at build time
// (bpftool skeleton of xredir.bpf.c, so the binary is self-contained), its maps, and the typed
// operations user space performs on them. It does not attach anything (xdp_attachment.h does).
// Move-only; destroying it closes the program and maps (attached copies stay until detached).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "xdp/abi.h"
#include "xredir/os_status.h"

struct xredir_bpf;

namespace xredir::xdp {

struct FastMapEntry {
  xredir_flow_key key;
  xredir_fast_entry value;
};

class BpfProgram {
 public:
  // load opens and loads the embedded object (verifier included). On failure returns nullptr
  // and sets err.
  static std::unique_ptr<BpfProgram> load(Status& err);
  ~BpfProgram();
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;

  int mainProgramFd() const;
  int reinjectProgramFd() const;
  int xsksMapFd() const;
  int passMapFd() const;
  int fastMapFd() const;   // shared with the proxy side's tc fast path (reply_fast_path.h)
  int statsMapFd() const;  // likewise

  // setIface registers an interface with its XSKMAP slot and role. Before this the program
  // passes everything from it (fail-open).
  Status setIface(std::uint32_t ifindex, std::uint32_t slot, xredir_iface_role role);
  Status removeIface(std::uint32_t ifindex);
  // setFilter replaces the steering filter. Entries beyond the new list are cleared first
  // (terminator first, so a concurrent XDP run sees the old prefix or the new one, never a mix
  // that steers less than both: it briefly steers the union, which is safe).
  Status setFilter(std::span<const xredir_filter_entry> entries);
  // setXsk inserts a socket fd at an XSKMAP key (slot * XREDIR_MAX_QUEUES + queue).
  Status setXsk(std::uint32_t key, int xsk_fd);
  Status clearXsk(std::uint32_t key);
  // markPassThrough records a flow that stays in the kernel. One syscall; called once per
  // untranslated flow, never per packet of it.
  Status markPassThrough(const xredir_flow_key& flow);
  bool isPassThrough(const xredir_flow_key& flow) const;
  // markTranslated records a translated flow (its original-direction key) so that it stays
  // steered after the filter narrows. One syscall per new translated flow.
  Status markTranslated(const xredir_flow_key& flow);
  // installFast writes a fast-path entry (xredir_fast_entry, fast_path.h); E2BIG when the map
  // is full (the connection then simply stays on the AF_XDP path).
  Status installFast(const xredir_flow_key& key, const xredir_fast_entry& value);
  // removeFast deletes a fast-path entry; a missing one is not an error.
  Status removeFast(const xredir_flow_key& key);
  // fastEntries snapshots the fast-path map (keys first, then one lookup each; entries added
  // or removed meanwhile may be seen or not). A few syscalls per entry and an allocation: for
  // a periodic sweep, never per packet.
  std::vector<FastMapEntry> fastEntries() const;
  // reinject hands a frame to the kernel as received on ifindex/queue: BPF_PROG_TEST_RUN of the
  // XDP_PASS program in live-frame mode, which builds an skb and runs that interface's receive
  // path (the attached XDP program is not run again, so there is no loop).
  Status reinject(std::span<const std::uint8_t> frame,
                  std::uint32_t ifindex,
                  std::uint32_t queue) const;
  // readStats sums the per-CPU counters, indexed by xredir_stat.
  std::array<std::uint64_t, XREDIR_STAT_COUNT> readStats() const;

 private:
  explicit BpfProgram(xredir_bpf* skel) : skel_(skel) {}
  xredir_bpf* skel_;
};

}  // namespace xredir::xdp
