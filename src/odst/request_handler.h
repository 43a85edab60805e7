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

struct BatchResult {
  std::size_t consumed = 0;  // request bytes used (a multiple of XREDIR_ODST_REQUEST_SIZE)
  std::size_t produced = 0;  // response bytes written to out
  bool close = false;        // a malformed or unsupported request was answered: close after writing
};

// answerRequests answers every complete request at the front of `in` while `out` has room for
// one more response, stopping after the first answer that ends the connection (malformed,
// unsupported version). A trailing partial request is left unconsumed for the next call.
BatchResult answerRequests(std::span<const std::uint8_t> in,
                           OriginalDstSource& source,
                           ServerCounters& counters,
                           std::span<std::uint8_t> out);

// encodeRefusal writes the single response sent to a refused connection (status must be
// XREDIR_ODST_PERMISSION_DENIED or XREDIR_ODST_BUSY).
void encodeRefusal(xredir_odst_status status,
                   std::span<std::uint8_t, XREDIR_ODST_RESPONSE_SIZE> out);

}  // namespace xredir::odst
