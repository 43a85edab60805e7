// TCP connection tracking states: their names and closing states (the transition table and
// the timeouts, used per packet, are inline in conntrack_state.h).
#include "xredir/conntrack_state.h"

namespace xredir {

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
