// Table tests for the wire encoding of include/xredir/odst.h: field offsets, byte order, and
// every way a request or response is refused, for lookups (version 1) and map-view (version 2).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "xredir/odst.h"

namespace {

using Bytes = std::array<std::uint8_t, XREDIR_ODST_REQUEST_SIZE>;

xredir_odst_request v4Request() {
  xredir_odst_request r{};
  r.version = XREDIR_ODST_VERSION;
  r.family = XREDIR_ODST_FAMILY_V4;
  r.protocol = 6;
  const std::uint8_t c[4] = {10, 0, 0, 1}, p[4] = {169, 254, 77, 1};
  std::memcpy(r.client_addr, c, 4);
  std::memcpy(r.proxy_addr, p, 4);
  r.client_port = 40000;
  r.proxy_port = 15001;
  return r;
}

TEST(OdstProtocol, RequestLayoutMatchesTheDocumentedOffsets) {
  Bytes b{};
  const xredir_odst_request r = v4Request();
  xredir_odst_encode_request(&r, b.data());
  EXPECT_EQ((std::vector<std::uint8_t>{0x58, 0x52, 0x4F, 0x51, 1, 4, 6, 0}),
            std::vector<std::uint8_t>(b.begin(), b.begin() + 8));
  EXPECT_EQ(10, b[8]);
  EXPECT_EQ(1, b[11]);
  EXPECT_EQ(0, b[12]);
  EXPECT_EQ(40000 >> 8, b[24]);
  EXPECT_EQ(40000 & 0xff, b[25]);
  EXPECT_EQ(169, b[28]);
  EXPECT_EQ(15001 >> 8, b[44]);
  EXPECT_EQ(15001 & 0xff, b[45]);
}

TEST(OdstProtocol, RequestRoundTripsForBothFamilies) {
  xredir_odst_request v6 = v4Request();
  v6.family = XREDIR_ODST_FAMILY_V6;
  for (int i = 0; i < 16; ++i) {
    v6.client_addr[i] = static_cast<std::uint8_t>(0x20 + i);
    v6.proxy_addr[i] = static_cast<std::uint8_t>(0x80 + i);
  }
  for (const xredir_odst_request& in : {v4Request(), v6}) {
    Bytes b{};
    xredir_odst_encode_request(&in, b.data());
    xredir_odst_request out{};
    ASSERT_EQ(XREDIR_ODST_OK, xredir_odst_decode_request(b.data(), &out));
    const int n = in.family == XREDIR_ODST_FAMILY_V6 ? 16 : 4;
    EXPECT_EQ(in.family, out.family);
    EXPECT_EQ(in.protocol, out.protocol);
    EXPECT_EQ(0, std::memcmp(in.client_addr, out.client_addr, n));
    EXPECT_EQ(0, std::memcmp(in.proxy_addr, out.proxy_addr, n));
    EXPECT_EQ(in.client_port, out.client_port);
    EXPECT_EQ(in.proxy_port, out.proxy_port);
  }
}

TEST(OdstProtocol, EncodingAnIpv4RequestClearsTheUnusedAddressBytes) {
  xredir_odst_request r = v4Request();
  std::memset(r.client_addr + 4, 0xee, 12);
  Bytes b{};
  xredir_odst_encode_request(&r, b.data());
  xredir_odst_request out{};
  EXPECT_EQ(XREDIR_ODST_OK, xredir_odst_decode_request(b.data(), &out));
}

TEST(OdstProtocol, DecodeRefusesEachCorruption) {
  struct Case {
    const char* name;
    std::size_t offset;
    std::uint8_t value;
    xredir_odst_status want;
  };
  const Case cases[] = {
      {"magic", 0, 0x00, XREDIR_ODST_MALFORMED},
      {"magic last byte", 3, 0x52, XREDIR_ODST_MALFORMED},
      {"version 0", 4, 0, XREDIR_ODST_UNSUPPORTED_VERSION},
      {"version 2", 4, 2, XREDIR_ODST_UNSUPPORTED_VERSION},
      {"family 0", 5, 0, XREDIR_ODST_MALFORMED},
      {"family 10 (AF_INET6 is not a protocol family byte)", 5, 10, XREDIR_ODST_MALFORMED},
      {"reserved after protocol", 7, 1, XREDIR_ODST_MALFORMED},
      {"reserved after client port", 26, 1, XREDIR_ODST_MALFORMED},
      {"reserved at the end", 47, 1, XREDIR_ODST_MALFORMED},
      {"ipv4 client tail", 12, 1, XREDIR_ODST_MALFORMED},
      {"ipv4 proxy tail", 43, 1, XREDIR_ODST_MALFORMED},
  };
  for (const Case& c : cases) {
    Bytes b{};
    const xredir_odst_request r = v4Request();
    xredir_odst_encode_request(&r, b.data());
    b[c.offset] = c.value;
    xredir_odst_request out{};
    EXPECT_EQ(c.want, xredir_odst_decode_request(b.data(), &out)) << c.name;
  }
}

TEST(OdstProtocol, WrongMagicIsMalformedEvenWithAnUnknownVersion) {
  Bytes b{};
  const xredir_odst_request r = v4Request();
  xredir_odst_encode_request(&r, b.data());
  b[0] = 0;
  b[4] = 9;
  xredir_odst_request out{};
  EXPECT_EQ(XREDIR_ODST_MALFORMED, xredir_odst_decode_request(b.data(), &out));
}

TEST(OdstProtocol, ResponseRoundTripsAndZeroesFieldsOfErrors) {
  struct Case {
    std::uint8_t status;
    std::uint8_t family;
  };
  const Case cases[] = {{XREDIR_ODST_OK, 4},
                        {XREDIR_ODST_OK, 6},
                        {XREDIR_ODST_NOT_TRACKED, 4},
                        {XREDIR_ODST_NOT_TRANSLATED, 6},
                        {XREDIR_ODST_PERMISSION_DENIED, 0},
                        {XREDIR_ODST_MALFORMED, 0},
                        {XREDIR_ODST_UNSUPPORTED_VERSION, 0},
                        {XREDIR_ODST_BUSY, 0}};
  for (const Case& c : cases) {
    xredir_odst_response in{};
    in.version = 1;
    in.status = c.status;
    in.family = c.family;
    for (int i = 0; i < 16; ++i) in.addr[i] = static_cast<std::uint8_t>(i + 1);
    in.port = 443;
    std::array<std::uint8_t, XREDIR_ODST_RESPONSE_SIZE> b{};
    xredir_odst_encode_response(&in, b.data());
    xredir_odst_response out{};
    ASSERT_EQ(0, xredir_odst_decode_response(b.data(), &out)) << int(c.status);
    EXPECT_EQ(c.status, out.status);
    if (c.status == XREDIR_ODST_OK) {
      EXPECT_EQ(c.family, out.family);
      EXPECT_EQ(443, out.port);
      EXPECT_EQ(1, out.addr[0]);
      EXPECT_EQ(c.family == 6 ? 16 : 0, out.addr[15]);
    } else {
      EXPECT_EQ(0, out.family);
      EXPECT_EQ(0, out.port);
      EXPECT_EQ(0, out.addr[0]);
    }
  }
}

TEST(OdstProtocol, ResponseDecodeRefusesGarbage) {
  struct Case {
    const char* name;
    std::size_t offset;
    std::uint8_t value;
  };
  const Case cases[] = {{"magic", 1, 0},
                        {"status 0", 5, 0},
                        {"status 8", 5, 8},
                        {"ok with family 0", 6, 0},
                        {"ok with family 5", 6, 5}};
  for (const Case& c : cases) {
    xredir_odst_response in{};
    in.version = 1;
    in.status = XREDIR_ODST_OK;
    in.family = 4;
    std::array<std::uint8_t, XREDIR_ODST_RESPONSE_SIZE> b{};
    xredir_odst_encode_response(&in, b.data());
    b[c.offset] = c.value;
    xredir_odst_response out{};
    EXPECT_EQ(-1, xredir_odst_decode_response(b.data(), &out)) << c.name;
  }
}

TEST(OdstProtocol, MapViewRequestBytes) {
  std::array<std::uint8_t, XREDIR_ODST_REQUEST_SIZE> b{};
  b.fill(0xee);
  xredir_odst_encode_view_request(b.data());
  std::array<std::uint8_t, XREDIR_ODST_REQUEST_SIZE> want{0x58, 0x52, 0x4F, 0x51, 2, 1};
  EXPECT_EQ(want, b);
  EXPECT_EQ(XREDIR_ODST_OK, xredir_odst_decode_view_request(b.data()));
  // A version 1 lookup is not a map-view request, nor is a version 2 frame of another kind or
  // with anything in its reserved bytes.
  struct Case {
    const char* name;
    std::size_t offset;
    std::uint8_t value;
    xredir_odst_status want;
  };
  const Case cases[] = {{"magic", 0, 0, XREDIR_ODST_MALFORMED},
                        {"version 1", 4, 1, XREDIR_ODST_UNSUPPORTED_VERSION},
                        {"version 3", 4, 3, XREDIR_ODST_UNSUPPORTED_VERSION},
                        {"kind 0", 5, 0, XREDIR_ODST_MALFORMED},
                        {"kind 4 (a lookup's family)", 5, 4, XREDIR_ODST_MALFORMED},
                        {"reserved byte 6", 6, 1, XREDIR_ODST_MALFORMED},
                        {"reserved byte 47", 47, 1, XREDIR_ODST_MALFORMED}};
  for (const Case& c : cases) {
    std::array<std::uint8_t, XREDIR_ODST_REQUEST_SIZE> bad = b;
    bad[c.offset] = c.value;
    EXPECT_EQ(c.want, xredir_odst_decode_view_request(bad.data())) << c.name;
  }
}

TEST(OdstProtocol, MapViewResponseRoundTripsAndRefusesGarbage) {
  xredir_odst_view_response in{};
  in.version = XREDIR_ODST_VERSION_MAP_VIEW;
  in.status = XREDIR_ODST_OK;
  in.layout = 1;
  in.bytes = 0x0102030405ULL;
  std::array<std::uint8_t, XREDIR_ODST_RESPONSE_SIZE> b{};
  xredir_odst_encode_view_response(&in, b.data());
  const std::array<std::uint8_t, 20> head{0x58, 0x52, 0x4F, 0x52, 2, 1, 0, 0, 0, 0,
                                          0,    1,    0,    0,    0, 1, 2, 3, 4, 5};
  EXPECT_TRUE(std::equal(head.begin(), head.end(), b.begin()));
  EXPECT_TRUE(std::all_of(b.begin() + 20, b.end(), [](std::uint8_t x) { return x == 0; }));
  xredir_odst_view_response out{};
  ASSERT_EQ(0, xredir_odst_decode_view_response(b.data(), &out));
  EXPECT_EQ(2, out.version);
  EXPECT_EQ(XREDIR_ODST_OK, out.status);
  EXPECT_EQ(1U, out.layout);
  EXPECT_EQ(0x0102030405ULL, out.bytes);

  // "No view": OK with layout and size 0. A refusal (version 1, at connect) and a version 1
  // server's UNSUPPORTED_VERSION decode too, without a view.
  in.layout = 0;
  in.bytes = 0;
  xredir_odst_encode_view_response(&in, b.data());
  ASSERT_EQ(0, xredir_odst_decode_view_response(b.data(), &out));
  EXPECT_EQ(0U, out.bytes);
  for (std::uint8_t status :
       {XREDIR_ODST_PERMISSION_DENIED, XREDIR_ODST_BUSY, XREDIR_ODST_UNSUPPORTED_VERSION}) {
    xredir_odst_response refusal{};
    refusal.version = 1;
    refusal.status = status;
    xredir_odst_encode_response(&refusal, b.data());
    ASSERT_EQ(0, xredir_odst_decode_view_response(b.data(), &out)) << int(status);
    EXPECT_EQ(status, out.status);
    EXPECT_EQ(0U, out.bytes);
  }

  struct Case {
    const char* name;
    std::size_t offset;
    std::uint8_t value;
  };
  const Case cases[] = {{"magic", 0, 0},
                        {"status 0", 5, 0},
                        {"status 8", 5, 8},
                        {"ok from version 1", 4, 1},
                        {"a size without a layout", 11, 0},
                        {"a layout without a size", 19, 0}};
  in.layout = 1;
  in.bytes = 5;
  for (const Case& c : cases) {
    xredir_odst_encode_view_response(&in, b.data());
    b[c.offset] = c.value;
    EXPECT_EQ(-1, xredir_odst_decode_view_response(b.data(), &out)) << c.name;
  }
}

}  // namespace
