#include "odst/access_policy.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace xredir::odst {

std::optional<PeerCredentials> readPeerCredentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  PeerCredentials peer;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  // SO_PEERGROUPS (Linux 4.13) reports ERANGE with the needed size when the buffer is short.
  peer.groups.resize(16);
  for (int attempt = 0; attempt < 4; ++attempt) {
    socklen_t glen = static_cast<socklen_t>(peer.groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer.groups.data(), &glen) == 0) {
      peer.groups.resize(glen / sizeof(gid_t));
      return peer;
    }
    if (errno != ERANGE) break;
    peer.groups.resize(glen / sizeof(gid_t) + 1);
  }
  peer.groups.clear();
  return peer;
}

bool AccessPolicy::allows(const PeerCredentials& peer) const {
  if (peer.uid == 0) return true;
  if (std::find(uids_.begin(), uids_.end(), peer.uid) != uids_.end()) return true;
  if (std::find(gids_.begin(), gids_.end(), peer.gid) != gids_.end()) return true;
  return std::any_of(peer.groups.begin(), peer.groups.end(), [this](gid_t g) {
    return std::find(gids_.begin(), gids_.end(), g) != gids_.end();
  });
}

}  // namespace xredir::odst
