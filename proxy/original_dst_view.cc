// original_dst_view.cc: see original_dst_view.h.
#include "original_dst_view.h"

#include <netinet/in.h>

#include "sockaddr_util.h"
#include "xredir/odst.h"

namespace xredir::proxy {

std::optional<Endpoint> viewOriginalDst(const Endpoint& client, const Endpoint& local) {
  sockaddr_storage local_addr{}, peer_addr{}, out{};
  const socklen_t local_len = toSockaddr(local, &local_addr);
  const socklen_t peer_len = toSockaddr(client, &peer_addr);
  socklen_t out_len = sizeof(out);
  if (xredir_original_dst_from_view(IPPROTO_TCP, reinterpret_cast<const sockaddr*>(&local_addr),
                                    local_len, reinterpret_cast<const sockaddr*>(&peer_addr),
                                    peer_len, &out, &out_len) != 0) {
    return std::nullopt;
  }
  return fromSockaddr(out);
}

}  // namespace xredir::proxy
