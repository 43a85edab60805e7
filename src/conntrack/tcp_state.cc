// TCP connection tracking states, transcribed from Linux's nf_conntrack_proto_tcp.c.
#include "xredir/conntrack_state.h"

#include "xredir/conntrack_clock.h"
#include "xredir/packet.h"

namespace xredir {
namespace {

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

}  // namespace

const char* tcpStateName(TcpState s) {
  switch (s) {
    case TcpState::kNone:
      return "NONE";
    case TcpState::kSynSent:
      return "SYN_SENT";
    case TcpState::kSynRecv:
      return "SYN_RECV";
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kFinWait:
      return "FIN_WAIT";
    case TcpState::kCloseWait:
      return "CLOSE_WAIT";
    case TcpState::kLastAck:
      return "LAST_ACK";
    case TcpState::kTimeWait:
      return "TIME_WAIT";
    case TcpState::kClose:
      return "CLOSE";
  }
  return "?";
}

TcpEvent tcpEventFromFlags(std::uint8_t tcp_flags) {
  if (tcp_flags & kTcpRst) return TcpEvent::kRst;
  if (tcp_flags & kTcpSyn) return (tcp_flags & kTcpAck) ? TcpEvent::kSynAck : TcpEvent::kSyn;
  if (tcp_flags & kTcpFin) return TcpEvent::kFin;
  if (tcp_flags & kTcpAck) return TcpEvent::kAck;
  return TcpEvent::kNone;
}

TcpTransition tcpTransition(TcpState current, Direction dir, TcpEvent event) {
  const Cell cell =
      kTransitions[static_cast<int>(dir)][static_cast<int>(event)][static_cast<int>(current)];
  if (cell == sIV) return {TcpVerdict::kInvalid, current};
  if (cell == sIG) return {TcpVerdict::kIgnore, current};
  const auto next = static_cast<TcpState>(cell);
  // Linux (tcp_packet): "Attempt to reopen a closed/aborted connection. Delete this
  // connection and look up again."
  if (dir == Direction::kOriginal && event == TcpEvent::kSyn &&
      (current == TcpState::kTimeWait || current == TcpState::kClose)) {
    return {TcpVerdict::kReopen, next};
  }
  return {TcpVerdict::kAdvance, next};
}

std::uint64_t tcpTimeoutNs(TcpState state) {
  std::uint64_t s = 0;
  switch (state) {
    case TcpState::kNone:
      s = kTcpTimeoutCloseS;
      break;  // never stored; shortest is safest
    case TcpState::kSynSent:
      s = kTcpTimeoutSynSentS;
      break;
    case TcpState::kSynRecv:
      s = kTcpTimeoutSynRecvS;
      break;
    case TcpState::kEstablished:
      s = kTcpTimeoutEstablishedS;
      break;
    case TcpState::kFinWait:
      s = kTcpTimeoutFinWaitS;
      break;
    case TcpState::kCloseWait:
      s = kTcpTimeoutCloseWaitS;
      break;
    case TcpState::kLastAck:
      s = kTcpTimeoutLastAckS;
      break;
    case TcpState::kTimeWait:
      s = kTcpTimeoutTimeWaitS;
      break;
    case TcpState::kClose:
      s = kTcpTimeoutCloseS;
      break;
  }
  return s * kNanosPerSecond;
}

bool tcpIsClosing(TcpState state) {
  switch (state) {
    case TcpState::kFinWait:
    case TcpState::kCloseWait:
    case TcpState::kLastAck:
    case TcpState::kTimeWait:
    case TcpState::kClose:
      return true;
    case TcpState::kNone:
    case TcpState::kSynSent:
    case TcpState::kSynRecv:
    case TcpState::kEstablished:
      return false;
  }
  return false;
}

}  // namespace xredir
