// odst_request_fuzz feeds arbitrary bytes to the original-destination request decoder and to the
// server's request stream handling, and checks them against simple references:
//  - xredir_odst_decode_request agrees with a byte-by-byte reference on every 48-byte chunk, and
//    whatever it accepts re-encodes to exactly the same bytes;
//  - answerRequests gives the same responses whether the stream arrives whole or cut into the
//    pieces the input chooses (the server sees arbitrary read boundaries), never answers past
//    the first request that closes the connection, and answers a map-view request alone.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "odst/request_handler.h"
#include "xredir/odst.h"

namespace {

using namespace xredir;
using namespace xredir::odst;

// DeterministicSource answers from the client port, so both runs see the same answers.
class DeterministicSource : public OriginalDstSource {
 public:
  LookupResult lookup(std::uint8_t, const Endpoint& client, const Endpoint& proxy) override {
    switch (client.port % 4) {
      case 0:
        return {LookupOutcome::kTranslated, proxy};
      case 1:
        return {LookupOutcome::kNotTracked, {}};
      case 2:
        return {LookupOutcome::kNotTranslated, {}};
      default:
        return {LookupOutcome::kUnknown, {}};
    }
  }
};

xredir_odst_status referenceDecode(const std::uint8_t* b) {
  if (b[0] != 0x58 || b[1] != 0x52 || b[2] != 0x4F || b[3] != 0x51) return XREDIR_ODST_MALFORMED;
  if (b[4] != 1) return XREDIR_ODST_UNSUPPORTED_VERSION;
  if (b[5] != 4 && b[5] != 6) return XREDIR_ODST_MALFORMED;
  for (int i : {7, 26, 27, 46, 47}) {
    if (b[i] != 0) return XREDIR_ODST_MALFORMED;
  }
  if (b[5] == 4) {
    for (int i = 12; i < 24; ++i) {
      if (b[i] != 0 || b[i + 20] != 0) return XREDIR_ODST_MALFORMED;
    }
  }
  return XREDIR_ODST_OK;
}

void checkDecoder(const std::uint8_t* data, std::size_t size) {
  for (std::size_t off = 0; off + XREDIR_ODST_REQUEST_SIZE <= size;
       off += XREDIR_ODST_REQUEST_SIZE) {
    const std::uint8_t* chunk = data + off;
    xredir_odst_request req{};
    const xredir_odst_status got = xredir_odst_decode_request(chunk, &req);
    if (got != referenceDecode(chunk)) std::abort();
    if (got == XREDIR_ODST_OK) {
      std::uint8_t again[XREDIR_ODST_REQUEST_SIZE];
      xredir_odst_encode_request(&req, again);
      if (std::memcmp(again, chunk, XREDIR_ODST_REQUEST_SIZE) != 0) std::abort();
    }
  }
}

// answerStream runs the server's loop over `stream` delivered in pieces of the given sizes,
// with the connection's buffer sizes, and returns every response byte written. As the server
// does, requests left in the buffer after a write (a map-view request waits for the answers
// before it) are answered before more is read.
std::vector<std::uint8_t> answerStream(const std::vector<std::uint8_t>& stream,
                                       const std::vector<std::size_t>& pieces) {
  DeterministicSource source;
  ServerCounters counters;
  const ViewOffer offer{1, 4224};
  std::vector<std::uint8_t> in(16 * XREDIR_ODST_REQUEST_SIZE);
  std::vector<std::uint8_t> out(16 * XREDIR_ODST_RESPONSE_SIZE);
  std::vector<std::uint8_t> written;
  std::size_t in_len = 0, pos = 0, piece = 0;
  bool closed = false;
  while (pos < stream.size() && !closed) {
    std::size_t want = pieces.empty() ? stream.size() : pieces[piece++ % pieces.size()];
    want = std::min({want, stream.size() - pos, in.size() - in_len});
    std::memcpy(in.data() + in_len, stream.data() + pos, want);
    in_len += want;
    pos += want;
    for (;;) {
      const BatchResult r = answerRequests(std::span<const std::uint8_t>(in.data(), in_len), source,
                                           counters, out, &offer);
      if (r.consumed % XREDIR_ODST_REQUEST_SIZE != 0 || r.produced > out.size()) std::abort();
      // A map-view answer goes out alone and ends the connection.
      if (r.attach_view && (r.produced != XREDIR_ODST_RESPONSE_SIZE || !r.close)) std::abort();
      written.insert(written.end(), out.begin(), out.begin() + static_cast<long>(r.produced));
      std::memmove(in.data(), in.data() + r.consumed, in_len - r.consumed);
      in_len -= r.consumed;
      closed = r.close;
      if (closed || r.produced == 0) break;
    }
  }
  return written;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  checkDecoder(data, size);
  // The first bytes choose the read boundaries (1..64 bytes each); the rest is the stream.
  std::vector<std::size_t> pieces;
  std::size_t off = 0;
  while (off < size && off < 8) pieces.push_back(data[off++] % 64 + 1);
  const std::vector<std::uint8_t> stream(data + off, data + size);
  const std::vector<std::uint8_t> whole = answerStream(stream, {});
  const std::vector<std::uint8_t> cut = answerStream(stream, pieces);
  if (whole != cut) std::abort();
  return 0;
}
