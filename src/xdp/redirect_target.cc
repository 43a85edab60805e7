#include "xdp/redirect_target.h"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace xredir::xdp {
namespace {

// From the kernel's uapi linux/netdev.h (6.3+), absent from older installed headers.
constexpr std::uint8_t kNetdevCmdDevGet = 1;
constexpr std::uint16_t kNetdevAttrIfindex = 1;
constexpr std::uint16_t kNetdevAttrXdpFeatures = 3;
constexpr std::uint64_t kNetdevXdpActNdoXmit = 1U << 2;

struct Request {
  nlmsghdr nl;
  genlmsghdr genl;
  char attrs[64];
};

// Nl is one netlink socket, closed on destruction.
class Nl {
 public:
  Nl() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC)) {}
  ~Nl() {
    if (fd_ >= 0) close(fd_);
  }
  Nl(const Nl&) = delete;
  Nl& operator=(const Nl&) = delete;
  bool ok() const { return fd_ >= 0; }

  // ask sends one request with a single attribute and receives the answer into buf; returns
  // the answer's genetlink payload length, or -1 (error answers included).
  int ask(std::uint16_t family,
          std::uint8_t cmd,
          std::uint16_t attr,
          const void* value,
          std::uint16_t len,
          char* buf,
          std::size_t cap) {
    Request req{};
    req.nl.nlmsg_type = family;
    req.nl.nlmsg_flags = NLM_F_REQUEST;
    req.nl.nlmsg_seq = ++seq_;
    req.genl.cmd = cmd;
    req.genl.version = 1;
    auto* nla = reinterpret_cast<nlattr*>(req.attrs);
    nla->nla_type = attr;
    nla->nla_len = static_cast<std::uint16_t>(NLA_HDRLEN + len);
    std::memcpy(req.attrs + NLA_HDRLEN, value, len);
    req.nl.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN) + NLA_ALIGN(nla->nla_len);
    if (send(fd_, &req, req.nl.nlmsg_len, 0) < 0) return -1;
    const ssize_t n = recv(fd_, buf, cap, 0);
    if (n < static_cast<ssize_t>(NLMSG_LENGTH(GENL_HDRLEN))) return -1;
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
    if (h->nlmsg_type == NLMSG_ERROR || !NLMSG_OK(h, static_cast<unsigned>(n))) return -1;
    return static_cast<int>(h->nlmsg_len);
  }

 private:
  int fd_;
  std::uint32_t seq_ = 0;
};

// findAttr returns the payload of attribute `type` in a genetlink answer of `len` bytes.
const char* findAttr(const char* buf, int len, std::uint16_t type, std::uint16_t& payload_len) {
  int off = static_cast<int>(NLMSG_LENGTH(GENL_HDRLEN));
  while (off + static_cast<int>(NLA_HDRLEN) <= len) {
    const auto* nla = reinterpret_cast<const nlattr*>(buf + off);
    if (nla->nla_len < NLA_HDRLEN || off + nla->nla_len > len) return nullptr;
    if ((nla->nla_type & NLA_TYPE_MASK) == type) {
      payload_len = static_cast<std::uint16_t>(nla->nla_len - NLA_HDRLEN);
      return buf + off + NLA_HDRLEN;
    }
    off += NLA_ALIGN(nla->nla_len);
  }
  return nullptr;
}

}  // namespace

std::optional<bool> canRedirectTo(std::uint32_t ifindex) {
  Nl nl;
  if (!nl.ok()) return std::nullopt;
  alignas(nlmsghdr) char buf[8192];
  static const char kFamily[] = "netdev";
  int len = nl.ask(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, kFamily,
                   sizeof(kFamily), buf, sizeof(buf));
  if (len < 0) return std::nullopt;
  std::uint16_t plen = 0;
  const char* id = findAttr(buf, len, CTRL_ATTR_FAMILY_ID, plen);
  if (id == nullptr || plen < 2) return std::nullopt;
  std::uint16_t family = 0;
  std::memcpy(&family, id, 2);
  len = nl.ask(family, kNetdevCmdDevGet, kNetdevAttrIfindex, &ifindex, 4, buf, sizeof(buf));
  if (len < 0) return std::nullopt;
  const char* features = findAttr(buf, len, kNetdevAttrXdpFeatures, plen);
  if (features == nullptr || plen < 8) return std::nullopt;
  std::uint64_t flags = 0;
  std::memcpy(&flags, features, 8);
  return (flags & kNetdevXdpActNdoXmit) != 0;
}

}  // namespace xredir::xdp
