// byte_order.h (internal to src/packet) owns reading and writing big-endian wire fields at a
// byte offset. Byte-wise access has no alignment requirement and compiles to one load/store
// plus a byte swap; callers check bounds before calling.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xredir::wire {

inline std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

inline std::uint32_t load32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

inline void store16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

}  // namespace xredir::wire
