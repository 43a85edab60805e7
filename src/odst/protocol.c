/* protocol.c encodes and decodes the fixed-size messages of the original-destination protocol
 * described in include/xredir/odst.h. It is plain C so that the server (C++), the client library
 * and the LD_PRELOAD shim share one implementation. */
#include <string.h>

#include "xredir/odst.h"

static void putBe32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void putBe16(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static uint32_t getBe32(const uint8_t* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint16_t getBe16(const uint8_t* p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}

static int allZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return 0;
  }
  return 1;
}

/* putAddr writes a 16-byte address field; IPv4 keeps only its first 4 bytes. */
static void putAddr(uint8_t* p, uint8_t family, const uint8_t addr[16]) {
  memset(p, 0, 16);
  memcpy(p, addr, family == XREDIR_ODST_FAMILY_V6 ? 16 : 4);
}

void xredir_odst_encode_request(const struct xredir_odst_request* req,
                                uint8_t out[XREDIR_ODST_REQUEST_SIZE]) {
  memset(out, 0, XREDIR_ODST_REQUEST_SIZE);
  putBe32(out, XREDIR_ODST_REQUEST_MAGIC);
  out[4] = req->version;
  out[5] = req->family;
  out[6] = req->protocol;
  putAddr(out + 8, req->family, req->client_addr);
  putBe16(out + 24, req->client_port);
  putAddr(out + 28, req->family, req->proxy_addr);
  putBe16(out + 44, req->proxy_port);
}

enum xredir_odst_status xredir_odst_decode_request(const uint8_t in[XREDIR_ODST_REQUEST_SIZE],
                                                   struct xredir_odst_request* req) {
  if (getBe32(in) != XREDIR_ODST_REQUEST_MAGIC) return XREDIR_ODST_MALFORMED;
  if (in[4] != XREDIR_ODST_VERSION) return XREDIR_ODST_UNSUPPORTED_VERSION;
  const uint8_t family = in[5];
  if (family != XREDIR_ODST_FAMILY_V4 && family != XREDIR_ODST_FAMILY_V6) {
    return XREDIR_ODST_MALFORMED;
  }
  if (in[7] != 0 || !allZero(in + 26, 2) || !allZero(in + 46, 2)) return XREDIR_ODST_MALFORMED;
  /* An IPv4 address with bytes in its unused tail would compare unequal to the same address
   * elsewhere in xredir, so it is refused rather than silently truncated. */
  if (family == XREDIR_ODST_FAMILY_V4 && (!allZero(in + 12, 12) || !allZero(in + 32, 12))) {
    return XREDIR_ODST_MALFORMED;
  }
  req->version = in[4];
  req->family = family;
  req->protocol = in[6];
  memcpy(req->client_addr, in + 8, 16);
  req->client_port = getBe16(in + 24);
  memcpy(req->proxy_addr, in + 28, 16);
  req->proxy_port = getBe16(in + 44);
  return XREDIR_ODST_OK;
}

void xredir_odst_encode_response(const struct xredir_odst_response* resp,
                                 uint8_t out[XREDIR_ODST_RESPONSE_SIZE]) {
  memset(out, 0, XREDIR_ODST_RESPONSE_SIZE);
  putBe32(out, XREDIR_ODST_RESPONSE_MAGIC);
  out[4] = resp->version;
  out[5] = resp->status;
  if (resp->status == XREDIR_ODST_OK) {
    out[6] = resp->family;
    putAddr(out + 8, resp->family, resp->addr);
    putBe16(out + 24, resp->port);
  }
}

int xredir_odst_decode_response(const uint8_t in[XREDIR_ODST_RESPONSE_SIZE],
                                struct xredir_odst_response* resp) {
  if (getBe32(in) != XREDIR_ODST_RESPONSE_MAGIC) return -1;
  const uint8_t status = in[5];
  if (status < XREDIR_ODST_OK || status > XREDIR_ODST_BUSY) return -1;
  const uint8_t family = in[6];
  if (status == XREDIR_ODST_OK && family != XREDIR_ODST_FAMILY_V4 &&
      family != XREDIR_ODST_FAMILY_V6) {
    return -1;
  }
  resp->version = in[4];
  resp->status = status;
  resp->family = family;
  memcpy(resp->addr, in + 8, 16);
  resp->port = getBe16(in + 24);
  return 0;
}

static void putBe64(uint8_t* p, uint64_t v) {
  putBe32(p, (uint32_t)(v >> 32));
  putBe32(p + 4, (uint32_t)v);
}

static uint64_t getBe64(const uint8_t* p) {
  return ((uint64_t)getBe32(p) << 32) | getBe32(p + 4);
}

void xredir_odst_encode_view_request(uint8_t out[XREDIR_ODST_REQUEST_SIZE]) {
  memset(out, 0, XREDIR_ODST_REQUEST_SIZE);
  putBe32(out, XREDIR_ODST_REQUEST_MAGIC);
  out[4] = XREDIR_ODST_VERSION_MAP_VIEW;
  out[5] = XREDIR_ODST_KIND_MAP_VIEW;
}

enum xredir_odst_status xredir_odst_decode_view_request(
    const uint8_t in[XREDIR_ODST_REQUEST_SIZE]) {
  if (getBe32(in) != XREDIR_ODST_REQUEST_MAGIC) return XREDIR_ODST_MALFORMED;
  if (in[4] != XREDIR_ODST_VERSION_MAP_VIEW) return XREDIR_ODST_UNSUPPORTED_VERSION;
  if (in[5] != XREDIR_ODST_KIND_MAP_VIEW || !allZero(in + 6, XREDIR_ODST_REQUEST_SIZE - 6)) {
    return XREDIR_ODST_MALFORMED;
  }
  return XREDIR_ODST_OK;
}

void xredir_odst_encode_view_response(const struct xredir_odst_view_response* resp,
                                      uint8_t out[XREDIR_ODST_RESPONSE_SIZE]) {
  memset(out, 0, XREDIR_ODST_RESPONSE_SIZE);
  putBe32(out, XREDIR_ODST_RESPONSE_MAGIC);
  out[4] = resp->version;
  out[5] = resp->status;
  if (resp->status == XREDIR_ODST_OK) {
    putBe32(out + 8, resp->layout);
    putBe64(out + 12, resp->bytes);
  }
}

int xredir_odst_decode_view_response(const uint8_t in[XREDIR_ODST_RESPONSE_SIZE],
                                     struct xredir_odst_view_response* resp) {
  if (getBe32(in) != XREDIR_ODST_RESPONSE_MAGIC) return -1;
  const uint8_t status = in[5];
  if (status < XREDIR_ODST_OK || status > XREDIR_ODST_BUSY) return -1;
  const uint32_t layout = getBe32(in + 8);
  const uint64_t bytes = getBe64(in + 12);
  if (status == XREDIR_ODST_OK &&
      (in[4] != XREDIR_ODST_VERSION_MAP_VIEW || (layout == 0) != (bytes == 0))) {
    return -1;
  }
  resp->version = in[4];
  resp->status = status;
  resp->layout = status == XREDIR_ODST_OK ? layout : 0;
  resp->bytes = status == XREDIR_ODST_OK ? bytes : 0;
  return 0;
}
