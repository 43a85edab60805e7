#include "xdp/xdp_attachment.h"

#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "xdp/xredir_abi.h"

namespace xredir::xdp {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;  // BPF_FS_MAGIC from <linux/magic.h>
#define XREDIR_STR2(x) #x
#define XREDIR_STR(x) XREDIR_STR2(x)
constexpr const char* kProgName = XREDIR_STR(XREDIR_PROG_MAIN);

int logLibxdp(enum libxdp_print_level level, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  std::size_t n = std::strlen(buf);
  while (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
  switch (level) {
    case LIBXDP_WARN:
      spdlog::warn("libxdp: {}", buf);
      break;
    case LIBXDP_INFO:
      spdlog::debug("libxdp: {}", buf);
      break;
    case LIBXDP_DEBUG:
      spdlog::trace("libxdp: {}", buf);
      break;
  }
  return 0;
}

// ensureBpffs points libxdp at a bpffs. `ip netns exec` mounts a fresh /sys without
// /sys/fs/bpf, where libxdp keeps its dispatcher pins; let it mount one there (the mount lives
// in the private mount namespace `ip netns exec` made) unless the user chose LIBXDP_BPFFS.
void ensureBpffs() {
  static std::once_flag once;
  std::call_once(once, [] {
    libxdp_set_print(logLibxdp);
    if (std::getenv(XDP_BPFFS_ENVVAR) != nullptr) return;
    struct statfs fs {};
    if (statfs("/sys/fs/bpf", &fs) == 0 && static_cast<long>(fs.f_type) == kBpfFsMagic) return;
    spdlog::info("no bpffs at /sys/fs/bpf (ip netns exec?): letting libxdp mount one");
    setenv(XDP_BPFFS_MOUNT_ENVVAR, "1", 0);
  });
}

}  // namespace

bool XdpAttachment::xredirAttachedTo(std::uint32_t ifindex) {
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(static_cast<int>(ifindex));
  if (libxdp_get_error(mp) != 0 || mp == nullptr) return false;
  bool found = false;
  if (xdp_multiprog__is_legacy(mp)) {
    xdp_program* main = xdp_multiprog__main_prog(mp);
    found = main != nullptr && std::strcmp(xdp_program__name(main), kProgName) == 0;
  } else {
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p != nullptr;
         p = xdp_multiprog__next_prog(p, mp)) {
      if (std::strcmp(xdp_program__name(p), kProgName) == 0) found = true;
    }
  }
  xdp_multiprog__close(mp);
  return found;
}

std::unique_ptr<XdpAttachment> XdpAttachment::attach(int program_fd,
                                                     const std::string& ifname,
                                                     bool allow_generic,
                                                     Status& err) {
  ensureBpffs();
  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) {
    err = Status::error(errno, "interface " + ifname + " not found");
    return nullptr;
  }
  if (xredirAttachedTo(ifindex)) {
    err = Status::error(EBUSY, "interface " + ifname +
                                   " already has an xredir XDP program attached (another "
                                   "instance running? if not: ip link set dev " +
                                   ifname + " xdp off)");
    return nullptr;
  }
  std::unique_ptr<XdpAttachment> a(new XdpAttachment());
  a->ifindex_ = ifindex;
  a->ifname_ = ifname;
  // libxdp takes ownership of the fd it is given (closes it in xdp_program__close): hand it a
  // duplicate so the BpfProgram keeps its own.
  int fd = dup(program_fd);
  if (fd < 0) {
    err = Status::error(errno, "dup XDP program fd");
    return nullptr;
  }
  a->prog_ = xdp_program__from_fd(fd);
  if (long e = libxdp_get_error(a->prog_); e != 0) {
    a->prog_ = nullptr;
    close(fd);
    err = Status::error(static_cast<int>(-e), "wrap XDP program for libxdp");
    return nullptr;
  }
  int rc = xdp_program__attach(a->prog_, static_cast<int>(ifindex), XDP_MODE_NATIVE, 0);
  if (rc != 0 && allow_generic) {
    spdlog::warn(
        "{}: native XDP attach failed ({}); falling back to generic (skb) mode, which "
        "is slower and drops frames larger than a UMEM frame under GRO",
        ifname, std::strerror(-rc));
    a->mode_ = AttachMode::kGeneric;
    rc = xdp_program__attach(a->prog_, static_cast<int>(ifindex), XDP_MODE_SKB, 0);
  }
  if (rc != 0) {
    err = Status::error(-rc, "attach XDP program to " + ifname);
    a->mode_ = AttachMode::kNative;
    xdp_program__close(a->prog_);
    a->prog_ = nullptr;
    return nullptr;
  }
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(static_cast<int>(ifindex));
  if (libxdp_get_error(mp) == 0 && mp != nullptr) {
    a->dispatcher_ = !xdp_multiprog__is_legacy(mp);
    xdp_multiprog__close(mp);
  }
  if (a->dispatcher_) {
    spdlog::info("{}: XDP attached in {} mode through libxdp's dispatcher", ifname,
                 a->mode_ == AttachMode::kNative ? "native" : "generic");
  } else {
    spdlog::warn(
        "{}: XDP attached in {} mode WITHOUT libxdp's dispatcher (it did not load on "
        "this kernel, e.g. EPERM under lockdown): no other XDP program can share this "
        "interface while xredir runs",
        ifname, a->mode_ == AttachMode::kNative ? "native" : "generic");
  }
  return a;
}

XdpAttachment::~XdpAttachment() {
  if (prog_ == nullptr) return;
  enum xdp_attach_mode m = mode_ == AttachMode::kNative ? XDP_MODE_NATIVE : XDP_MODE_SKB;
  int rc = xdp_program__detach(prog_, static_cast<int>(ifindex_), m, 0);
  if (rc != 0) spdlog::warn("{}: detach XDP program: {}", ifname_, std::strerror(-rc));
  xdp_program__close(prog_);
}

}  // namespace xredir::xdp
