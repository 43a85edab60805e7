// access_policy.h owns who may ask the original-destination API: the peer credentials of a
// connecting process (SO_PEERCRED, plus SO_PEERGROUPS for supplementary groups) checked against
// configured uids and gids. Root (uid 0) is always allowed: it can read the same answers from
// the daemon's memory and from conntrack over netlink, so refusing it would protect nothing and
// would only break a root-run proxy that forgot to be configured.
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

namespace xredir::odst {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;              // primary group
  std::vector<gid_t> groups;  // supplementary groups (may include the primary one)
};

// readPeerCredentials reads the credentials of the process at the other end of a connected Unix
// socket, as of its connect(). Returns nullopt (errno set) if SO_PEERCRED fails; when only
// SO_PEERGROUPS is unavailable the groups are left empty.
std::optional<PeerCredentials> readPeerCredentials(int fd);

class AccessPolicy {
 public:
  AccessPolicy() = default;
  AccessPolicy(std::vector<uid_t> uids, std::vector<gid_t> gids)
      : uids_(std::move(uids)), gids_(std::move(gids)) {}

  // allows reports whether a peer may ask: uid 0, an allowed uid, or an allowed gid as the
  // primary group or among the supplementary groups.
  bool allows(const PeerCredentials& peer) const;

 private:
  std::vector<uid_t> uids_;
  std::vector<gid_t> gids_;
};

}  // namespace xredir::odst
