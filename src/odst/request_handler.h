// request_handler.h owns what the server does with the bytes a client sent: cut them into
// fixed-size requests, ask the source, and write the responses, in order. It is a pure function
// of its inputs (no sockets), so that unit tests and the fuzz target drive it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "odst/original_dst_source.h"
#include "odst/server_counters.h"

namespace xredir::odst {

// ViewOffer is what a map-view answer tells the client of the server's shared view (the
// descriptor itself travels beside the bytes, which is the server's business).
struct ViewOffer {
  std::uint32_t layout = 0;  // XREDIR_ODST_VIEW_LAYOUT
  std::uint64_t bytes = 0;   // the view's size
};

struct BatchResult {
  std::size_t consumed = 0;  // request bytes used (a multiple of XREDIR_ODST_REQUEST_SIZE)
  std::size_t produced = 0;  // response bytes written to out
  bool close = false;        // an answer that ends the connection was written: close after it
  // The last (and only) response offers the view: send the view's descriptor with it.
  bool attach_view = false;
};

// answerRequests answers every complete request at the front of `in` while `out` has room for
// one more response, stopping after the first answer that ends the connection (malformed,
// unsupported version, any version 2 frame). A version 2 frame is answered only as the first
// request of a call, so that its answer, which may carry a descriptor, goes out alone; one
// that follows other requests is left for the next call, as is a trailing partial request.
// `view` is the shared view to offer, or null when the server has none.
BatchResult answerRequests(std::span<const std::uint8_t> in,
                           OriginalDstSource& source,
                           ServerCounters& counters,
                           std::span<std::uint8_t> out,
                           const ViewOffer* view = nullptr);

// encodeRefusal writes the single response sent to a refused connection (status must be
// XREDIR_ODST_PERMISSION_DENIED or XREDIR_ODST_BUSY).
void encodeRefusal(xredir_odst_status status,
                   std::span<std::uint8_t, XREDIR_ODST_RESPONSE_SIZE> out);

}  // namespace xredir::odst
