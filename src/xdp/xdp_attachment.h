// xdp_attachment.h owns one attachment of the xredir XDP program to one interface, made through
// libxdp so that it coexists with other XDP programs when libxdp's dispatcher loads. On this
// kind of kernel the dispatcher's compatibility check fails (EPERM under lockdown) and libxdp
// falls back to a single program per interface; the attachment reports which one it got.
// Move-only; destruction detaches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "xredir/os_status.h"

struct xdp_program;

namespace xredir::xdp {

enum class AttachMode : std::uint8_t { kNative = 1, kGeneric };

class XdpAttachment {
 public:
  // attach attaches program_fd to ifname, native mode first, generic (skb) mode as a logged
  // fallback when allow_generic. Refuses, with a clear error, an interface on which an xredir
  // program is already attached (another instance, or a crashed one: `xdp-loader unload` or
  // `ip link set dev IF xdp off` clears it). Makes sure libxdp finds a bpffs (LIBXDP_BPFFS /
  // automount under `ip netns exec`, which remounts /sys).
  static std::unique_ptr<XdpAttachment> attach(int program_fd,
                                               const std::string& ifname,
                                               bool allow_generic,
                                               Status& err);
  ~XdpAttachment();
  XdpAttachment(const XdpAttachment&) = delete;
  XdpAttachment& operator=(const XdpAttachment&) = delete;

  std::uint32_t ifindex() const { return ifindex_; }
  const std::string& ifname() const { return ifname_; }
  AttachMode mode() const { return mode_; }
  // usesDispatcher is false when libxdp attached the program alone (no coexistence).
  bool usesDispatcher() const { return dispatcher_; }

  // xredirAttachedTo reports whether an xredir program is attached to ifindex right now.
  static bool xredirAttachedTo(std::uint32_t ifindex);

 private:
  XdpAttachment() = default;
  xdp_program* prog_ = nullptr;
  std::uint32_t ifindex_ = 0;
  std::string ifname_;
  AttachMode mode_ = AttachMode::kNative;
  bool dispatcher_ = false;
};

}  // namespace xredir::xdp
