// original_dst_view.h owns the proxy's first try for `--original-dst xredir`: the answer from
// xredir's shared original-destination view (include/xredir/odst_view.h), read in the worker's
// own thread with no system call and no round trip. What the view cannot answer (not mapped yet,
// not in it, a view whose xredir exited) is asked over the socket as before (odst_async.h), so
// the view only ever makes an answer faster, never different.
#pragma once

#include <optional>

#include "xredir/ip_addr.h"

namespace xredir::proxy {

// viewOriginalDst returns the original destination of the TCP connection client -> local when
// the process's mapped view holds it, else nullopt. Never blocks.
std::optional<Endpoint> viewOriginalDst(const Endpoint& client, const Endpoint& local);

}  // namespace xredir::proxy
