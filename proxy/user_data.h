// user_data.h owns the typed encoding of an io_uring submission's user_data: which kind of
// operation completed, on which slot (a connection slot, a listener index or a socket epoch) and
// for which generation of that slot. Every completion handler decodes through here, so the
// bit layout lives in exactly one place.
//
// Layout (64 bits): kind in bits 56..63, generation in bits 32..55 (24 bits, wraps), slot in
// bits 0..31. A slot's generation is bumped each time the slot is reused, so a completion that
// belongs to an earlier occupant is recognised and dropped instead of acting on a new one.
#pragma once

#include <cstdint>

namespace xredir::proxy {

// OpKind names the operation a completion belongs to. Zero is not a kind, so a zeroed
// user_data never decodes as a real operation.
enum class OpKind : std::uint8_t {
  kInvalid = 0,
  kAccept,         // multishot accept; slot = listener index
  kStop,           // read of the worker's stop eventfd
  kTick,           // the worker's periodic timer
  kOdstSend,       // send to the original-destination server; slot = socket epoch
  kOdstRecv,       // recv from the original-destination server; slot = socket epoch
  kConnect,        // upstream connect (its timeout is the worker's tick, not a linked timer)
  kSendHeader,     // PROXY protocol v2 header to upstream
  kRecvClient,     // client -> proxy, provided buffer
  kRecvUpstream,   // upstream -> proxy, provided buffer
  kSendUpstream,   // proxy -> upstream
  kSendClient,     // proxy -> client
  kCancel,         // cancellation of a connection's requests
  kWatchClient,    // poll for an error on the client socket while its recv is not armed
  kWatchUpstream,  // poll for an error on the upstream socket while its recv is not armed
  kIgnore,         // completions nobody waits for (cancel of an accept, a failed close)
};

inline constexpr std::uint32_t kGenerationMask = 0xFFFFFFu;

struct UserData {
  OpKind kind = OpKind::kInvalid;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;  // only the low 24 bits are carried

  friend bool operator==(const UserData&, const UserData&) = default;
};

// encodeUserData packs d into 64 bits; the generation is truncated to 24 bits.
constexpr std::uint64_t encodeUserData(UserData d) {
  return (static_cast<std::uint64_t>(d.kind) << 56) |
         (static_cast<std::uint64_t>(d.generation & kGenerationMask) << 32) |
         static_cast<std::uint64_t>(d.slot);
}

// decodeUserData is the inverse of encodeUserData.
constexpr UserData decodeUserData(std::uint64_t v) {
  return UserData{static_cast<OpKind>(v >> 56), static_cast<std::uint32_t>(v & 0xFFFFFFFFu),
                  static_cast<std::uint32_t>((v >> 32) & kGenerationMask)};
}

}  // namespace xredir::proxy
