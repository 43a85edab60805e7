// request_of.h: the decoded original-destination question the tests ask, (protocol, client ->
// proxy), and the shared view's key derived from it the way the client library derives it
// (xredir_odst_view_key_of), so that the tests look the view up along the reader's own path.
#pragma once

#include <cstdint>
#include <cstring>

#include "odst/view_reader.h"
#include "xredir/ip_addr.h"
#include "xredir/odst.h"

namespace xredir::odst {

inline xredir_odst_request requestOf(std::uint8_t protocol,
                                     const Endpoint& client,
                                     const Endpoint& proxy) {
  xredir_odst_request r{};
  r.version = XREDIR_ODST_VERSION;
  r.family = client.addr.family == Family::kV6 ? XREDIR_ODST_FAMILY_V6 : XREDIR_ODST_FAMILY_V4;
  r.protocol = protocol;
  std::memcpy(r.client_addr, client.addr.bytes.data(), 16);
  std::memcpy(r.proxy_addr, proxy.addr.bytes.data(), 16);
  r.client_port = client.port;
  r.proxy_port = proxy.port;
  return r;
}

inline xredir_odst_view_key viewKeyOf(std::uint8_t protocol,
                                      const Endpoint& client,
                                      const Endpoint& proxy) {
  const xredir_odst_request r = requestOf(protocol, client, proxy);
  xredir_odst_view_key key;
  xredir_odst_view_key_of(&r, &key);
  return key;
}

}  // namespace xredir::odst
