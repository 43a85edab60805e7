// conntrack_state.h owns the protocol state machines of tracked connections and their
// timeouts: TCP as Linux's nf_conntrack_proto_tcp.c tracks it (its tcp_conntracks[][][] table,
// driven by direction and flags), UDP as nf_conntrack_proto_udp.c (unreplied / stream), and
// when an entry becomes assured. Pure functions: the table applies them under its shard lock.
//
// Simplifications against Linux, on purpose: no TCP window tracking (tcp_in_window), so sequence
// numbers are not checked; no SYN_SENT2 (simultaneous open: a SYN in the reply direction while
// SYN_SENT is ignored instead); no "unacknowledged"/"retrans" timeouts (an entry's timeout is
// its state's timeout); UDP is "stream" (120 s, assured) from the first packet after a reply has
// been seen, without Linux 5.x's extra 2-second stream_ts delay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "xredir/conntrack_clock.h"
#include "xredir/conntrack_tuple.h"
#include "xredir/packet.h"

namespace xredir {

// TcpState mirrors enum tcp_conntrack (TCP_CONNTRACK_*). kNone is the state before the first
// packet, as in Linux.
enum class TcpState : std::uint8_t {
  kNone = 0,
  kSynSent,
  kSynRecv,
  kEstablished,
  kFinWait,
  kCloseWait,
  kLastAck,
  kTimeWait,
  kClose,
};
inline constexpr int kNumTcpStates = 9;

const char* tcpStateName(TcpState s);  // "SYN_SENT", ... as conntrack -L prints them

// TcpEvent is Linux's get_conntrack_index(): the packet's flags reduced to one event.
// Precedence as there: RST, then SYN (SYN+ACK if ACK is set), then FIN, then ACK.
enum class TcpEvent : std::uint8_t { kSyn = 0, kSynAck, kFin, kAck, kRst, kNone };

// tcpEventFromFlags classifies the TCP flags byte (kTcpSyn, kTcpAck, ... of packet.h).
inline TcpEvent tcpEventFromFlags(std::uint8_t tcp_flags) {
  if (tcp_flags & kTcpRst) return TcpEvent::kRst;
  if (tcp_flags & kTcpSyn) return (tcp_flags & kTcpAck) ? TcpEvent::kSynAck : TcpEvent::kSyn;
  if (tcp_flags & kTcpFin) return TcpEvent::kFin;
  if (tcp_flags & kTcpAck) return TcpEvent::kAck;
  return TcpEvent::kNone;
}

// TcpVerdict says what the state machine made of a packet. Linux's sIV ("invalid") and sIG
// ("ignore") are not states but outcomes: the state and the timeout stay as they were.
enum class TcpVerdict : std::uint8_t {
  kAdvance = 1,  // `next` is the new state; the timeout restarts
  kIgnore,       // sIG: plausible but not understood (e.g. a SYN/ACK retransmission in ES)
  kInvalid,      // sIV: not acceptable in this state
  kReopen,       // a SYN in the original direction on a TIME_WAIT/CLOSE connection: Linux
                 // kills the old entry and looks the packet up again as new
};

struct TcpTransition {
  TcpVerdict verdict;
  TcpState next;
};

namespace tcp_detail {

// Table cells: a state, or one of the two outcomes that are not states.
enum Cell : std::uint8_t {
  sNO = 0,
  sSS,
  sSR,
  sES,
  sFW,
  sCW,
  sLA,
  sTW,
  sCL,
  sIV = 100,  // invalid
  sIG = 101,  // ignore
};

// kTransitions[dir][event][state], Linux's tcp_conntracks[2][6][TCP_CONNTRACK_MAX] without
// the sS2 (SYN_SENT2) column. Where Linux enters sS2 (a SYN in the reply direction while
// SYN_SENT: simultaneous open) or re-enters SYN_SENT on a reply-direction SYN in TIME_WAIT
// (the server switching roles), this table ignores the packet instead: xredir's connections
// have a fixed client, the side whose SYN created them.
constexpr Cell kTransitions[2][6][kNumTcpStates] = {
    {
        // Original direction.
        //          sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL
        /* syn    */ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS},
        /* synack */ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV},
        /* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL},
        /* ack    */ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL},
        /* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
        /* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
    },
    {
        // Reply direction.
        //          sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL
        /* syn    */ {sIV, sIG, sIV, sIV, sIV, sIV, sIV, sIG, sIV},
        /* synack */ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG},
        /* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL},
        /* ack    */ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL},
        /* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
        /* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
    },
};

}  // namespace tcp_detail

// tcpTransition applies Linux's tcp_conntracks[dir][event][state] to one packet. Inline, as
// the table: every tracked TCP packet runs it.
inline TcpTransition tcpTransition(TcpState current, Direction dir, TcpEvent event) {
  const tcp_detail::Cell cell =
      tcp_detail::kTransitions[static_cast<int>(dir)][static_cast<int>(event)]
                              [static_cast<int>(current)];
  if (cell == tcp_detail::sIV) return {TcpVerdict::kInvalid, current};
  if (cell == tcp_detail::sIG) return {TcpVerdict::kIgnore, current};
  const auto next = static_cast<TcpState>(cell);
  // Linux (tcp_packet): "Attempt to reopen a closed/aborted connection. Delete this
  // connection and look up again."
  if (dir == Direction::kOriginal && event == TcpEvent::kSyn &&
      (current == TcpState::kTimeWait || current == TcpState::kClose)) {
    return {TcpVerdict::kReopen, next};
  }
  return {TcpVerdict::kAdvance, next};
}

// Linux's default TCP timeouts (nf_conntrack_proto_tcp.c, tcp_timeouts[]; sysctls
// net.netfilter.nf_conntrack_tcp_timeout_*).
inline constexpr std::uint64_t kTcpTimeoutSynSentS = 120;
inline constexpr std::uint64_t kTcpTimeoutSynRecvS = 60;
inline constexpr std::uint64_t kTcpTimeoutEstablishedS = 5 * 24 * 3600;  // 5 days
inline constexpr std::uint64_t kTcpTimeoutFinWaitS = 120;
inline constexpr std::uint64_t kTcpTimeoutCloseWaitS = 60;
inline constexpr std::uint64_t kTcpTimeoutLastAckS = 30;
inline constexpr std::uint64_t kTcpTimeoutTimeWaitS = 120;
inline constexpr std::uint64_t kTcpTimeoutCloseS = 10;
// Linux's UDP defaults (nf_conntrack_proto_udp.c, udp_timeouts[]; sysctls
// nf_conntrack_udp_timeout = 30, nf_conntrack_udp_timeout_stream = 120).
inline constexpr std::uint64_t kUdpTimeoutUnrepliedS = 30;
inline constexpr std::uint64_t kUdpTimeoutStreamS = 120;

// tcpTimeoutNs returns the idle timeout of a TCP connection in `state`.
inline std::uint64_t tcpTimeoutNs(TcpState state) {
  // Indexed by TcpState. kNone is never stored: the shortest timeout is the safest.
  constexpr std::uint64_t kSeconds[kNumTcpStates] = {
      kTcpTimeoutCloseS,       kTcpTimeoutSynSentS,  kTcpTimeoutSynRecvS,
      kTcpTimeoutEstablishedS, kTcpTimeoutFinWaitS,  kTcpTimeoutCloseWaitS,
      kTcpTimeoutLastAckS,     kTcpTimeoutTimeWaitS, kTcpTimeoutCloseS,
  };
  const auto index = static_cast<std::size_t>(state);
  return (index < std::size(kSeconds) ? kSeconds[index] : kTcpTimeoutCloseS) * kNanosPerSecond;
}

// tcpIsClosing is true for FIN_WAIT .. CLOSE: Linux's tcp_can_early_drop() lets early_drop
// evict such connections even when assured.
bool tcpIsClosing(TcpState state);

}  // namespace xredir
