#include "odst/request_handler.h"

#include <cstring>

namespace xredir::odst {
namespace {

Endpoint toEndpoint(std::uint8_t family, const std::uint8_t (&addr)[16], std::uint16_t port) {
  Endpoint ep;
  ep.addr.family = family == XREDIR_ODST_FAMILY_V6 ? Family::kV6 : Family::kV4;
  std::memcpy(ep.addr.bytes.data(), addr, 16);
  ep.port = port;
  return ep;
}

xredir_odst_response lookupResponse(const xredir_odst_request& req, OriginalDstSource& source) {
  xredir_odst_response resp{};
  resp.version = XREDIR_ODST_VERSION;
  const Endpoint client = toEndpoint(req.family, req.client_addr, req.client_port);
  const Endpoint proxy = toEndpoint(req.family, req.proxy_addr, req.proxy_port);
  const LookupResult found = source.lookup(req.protocol, client, proxy);
  switch (found.outcome) {
    case LookupOutcome::kTranslated:
      resp.status = XREDIR_ODST_OK;
      resp.family =
          found.original.addr.family == Family::kV6 ? XREDIR_ODST_FAMILY_V6 : XREDIR_ODST_FAMILY_V4;
      std::memcpy(resp.addr, found.original.addr.bytes.data(), 16);
      resp.port = found.original.port;
      return resp;
    case LookupOutcome::kNotTranslated:
      resp.status = XREDIR_ODST_NOT_TRANSLATED;
      return resp;
    case LookupOutcome::kNotTracked:
    case LookupOutcome::kUnknown:  // a source that answered nothing knows no such connection
      resp.status = XREDIR_ODST_NOT_TRACKED;
      return resp;
  }
  resp.status = XREDIR_ODST_NOT_TRACKED;
  return resp;
}

// answerViewRequest answers one version 2 frame at `frame` into `out`.
void answerViewRequest(const std::uint8_t* frame,
                       const ViewOffer* view,
                       ServerCounters& counters,
                       std::uint8_t* out,
                       BatchResult& r) {
  xredir_odst_view_response resp{};
  resp.version = XREDIR_ODST_VERSION_MAP_VIEW;
  resp.status = xredir_odst_decode_view_request(frame);
  if (resp.status == XREDIR_ODST_OK) {
    counters.countViewRequest();
    if (view != nullptr) {
      resp.layout = view->layout;
      resp.bytes = view->bytes;
      r.attach_view = true;
    }
  } else {
    counters.countAnswer(static_cast<xredir_odst_status>(resp.status));
  }
  xredir_odst_encode_view_response(&resp, out);
  r.close = true;  // see odst.h: a version 2 frame ends the connection
}

}  // namespace

BatchResult answerRequests(std::span<const std::uint8_t> in,
                           OriginalDstSource& source,
                           ServerCounters& counters,
                           std::span<std::uint8_t> out,
                           const ViewOffer* view) {
  BatchResult r;
  while (in.size() - r.consumed >= XREDIR_ODST_REQUEST_SIZE &&
         out.size() - r.produced >= XREDIR_ODST_RESPONSE_SIZE) {
    const std::uint8_t* frame = in.data() + r.consumed;
    if (frame[4] == XREDIR_ODST_VERSION_MAP_VIEW) {
      if (r.produced > 0) break;
      r.consumed += XREDIR_ODST_REQUEST_SIZE;
      answerViewRequest(frame, view, counters, out.data(), r);
      r.produced += XREDIR_ODST_RESPONSE_SIZE;
      break;
    }
    xredir_odst_request req{};
    const xredir_odst_status decoded = xredir_odst_decode_request(in.data() + r.consumed, &req);
    r.consumed += XREDIR_ODST_REQUEST_SIZE;
    xredir_odst_response resp{};
    resp.version = XREDIR_ODST_VERSION;
    switch (decoded) {
      case XREDIR_ODST_OK:
        resp = lookupResponse(req, source);
        break;
      case XREDIR_ODST_MALFORMED:
      case XREDIR_ODST_UNSUPPORTED_VERSION:
        resp.status = decoded;
        r.close = true;
        break;
      case XREDIR_ODST_INVALID:
      case XREDIR_ODST_NOT_TRACKED:
      case XREDIR_ODST_NOT_TRANSLATED:
      case XREDIR_ODST_PERMISSION_DENIED:
      case XREDIR_ODST_BUSY:
        // The decoder never returns these; answering malformed keeps the stream honest.
        resp.status = XREDIR_ODST_MALFORMED;
        r.close = true;
        break;
    }
    xredir_odst_encode_response(&resp, out.data() + r.produced);
    r.produced += XREDIR_ODST_RESPONSE_SIZE;
    counters.countAnswer(static_cast<xredir_odst_status>(resp.status));
    if (r.close) break;
  }
  return r;
}

void encodeRefusal(xredir_odst_status status,
                   std::span<std::uint8_t, XREDIR_ODST_RESPONSE_SIZE> out) {
  xredir_odst_response resp{};
  resp.version = XREDIR_ODST_VERSION;
  resp.status = status;
  xredir_odst_encode_response(&resp, out.data());
}

}  // namespace xredir::odst
