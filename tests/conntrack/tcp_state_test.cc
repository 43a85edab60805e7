// The TCP state machine against Linux's tcp_conntracks table, event classification, timeouts.
#include <gtest/gtest.h>

#include <vector>

#include "xredir/conntrack_clock.h"
#include "xredir/conntrack_state.h"
#include "xredir/packet.h"

namespace xredir {
namespace {

constexpr Direction O = Direction::kOriginal;
constexpr Direction R = Direction::kReply;

TEST(TcpEvent, ClassifiesFlagsWithLinuxPrecedence) {
  struct Case {
    std::uint8_t flags;
    TcpEvent want;
  };
  const std::vector<Case> cases = {
      {kTcpSyn, TcpEvent::kSyn},
      {kTcpSyn | kTcpAck, TcpEvent::kSynAck},
      {kTcpSyn | kTcpRst, TcpEvent::kRst},
      {kTcpFin | kTcpAck, TcpEvent::kFin},
      {kTcpAck | kTcpPsh, TcpEvent::kAck},
      {kTcpRst | kTcpAck, TcpEvent::kRst},
      {kTcpSyn | kTcpFin, TcpEvent::kSyn},
      {0, TcpEvent::kNone},
      {kTcpPsh | kTcpUrg, TcpEvent::kNone},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(tcpEventFromFlags(c.flags), c.want) << "flags=" << int(c.flags);
  }
}

struct Step {
  Direction dir;
  std::uint8_t flags;
  TcpVerdict verdict;
  TcpState state;  // state after the packet
};

struct Sequence {
  const char* name;
  std::vector<Step> steps;
};

TEST(TcpTransition, FollowsLinuxStateTable) {
  const std::vector<Sequence> sequences = {
      {"handshake and client close",
       {{O, kTcpSyn, TcpVerdict::kAdvance, TcpState::kSynSent},
        {R, kTcpSyn | kTcpAck, TcpVerdict::kAdvance, TcpState::kSynRecv},
        {O, kTcpAck, TcpVerdict::kAdvance, TcpState::kEstablished},
        {O, kTcpFin | kTcpAck, TcpVerdict::kAdvance, TcpState::kFinWait},
        {R, kTcpAck, TcpVerdict::kAdvance, TcpState::kCloseWait},
        {R, kTcpFin | kTcpAck, TcpVerdict::kAdvance, TcpState::kLastAck},
        {O, kTcpAck, TcpVerdict::kAdvance, TcpState::kTimeWait}}},
      {"server closes first",
       {{O, kTcpSyn, TcpVerdict::kAdvance, TcpState::kSynSent},
        {R, kTcpSyn | kTcpAck, TcpVerdict::kAdvance, TcpState::kSynRecv},
        {O, kTcpAck, TcpVerdict::kAdvance, TcpState::kEstablished},
        {R, kTcpFin | kTcpAck, TcpVerdict::kAdvance, TcpState::kFinWait},
        {O, kTcpFin | kTcpAck, TcpVerdict::kAdvance, TcpState::kLastAck},
        {R, kTcpAck, TcpVerdict::kAdvance, TcpState::kTimeWait}}},
      {"reset in established",
       {{O, kTcpSyn, TcpVerdict::kAdvance, TcpState::kSynSent},
        {R, kTcpSyn | kTcpAck, TcpVerdict::kAdvance, TcpState::kSynRecv},
        {O, kTcpAck, TcpVerdict::kAdvance, TcpState::kEstablished},
        {R, kTcpRst, TcpVerdict::kAdvance, TcpState::kClose}}},
      {"refused connection",
       {{O, kTcpSyn, TcpVerdict::kAdvance, TcpState::kSynSent},
        {R, kTcpRst | kTcpAck, TcpVerdict::kAdvance, TcpState::kClose}}},
      {"retransmitted syn and out-of-state packets",
       {{O, kTcpSyn, TcpVerdict::kAdvance, TcpState::kSynSent},
        {O, kTcpSyn, TcpVerdict::kAdvance, TcpState::kSynSent},
        {O, kTcpAck, TcpVerdict::kInvalid, TcpState::kSynSent},
        {R, kTcpAck, TcpVerdict::kIgnore, TcpState::kSynSent},
        {R, kTcpSyn, TcpVerdict::kIgnore, TcpState::kSynSent},  // Linux: SYN_SENT2
        {O, kTcpSyn | kTcpAck, TcpVerdict::kInvalid, TcpState::kSynSent},
        {R, kTcpSyn | kTcpAck, TcpVerdict::kAdvance, TcpState::kSynRecv},
        {R, kTcpSyn | kTcpAck, TcpVerdict::kIgnore, TcpState::kSynRecv},
        {O, kTcpAck, TcpVerdict::kAdvance, TcpState::kEstablished},
        {O, kTcpSyn, TcpVerdict::kIgnore, TcpState::kEstablished},
        {O, 0, TcpVerdict::kInvalid, TcpState::kEstablished}}},
      {"reopen after time wait",
       {{O, kTcpSyn, TcpVerdict::kAdvance, TcpState::kSynSent},
        {R, kTcpRst, TcpVerdict::kAdvance, TcpState::kClose},
        {O, kTcpSyn, TcpVerdict::kReopen, TcpState::kSynSent}}},
  };
  for (const Sequence& seq : sequences) {
    TcpState state = TcpState::kNone;
    for (std::size_t i = 0; i < seq.steps.size(); ++i) {
      const Step& s = seq.steps[i];
      const TcpTransition t = tcpTransition(state, s.dir, tcpEventFromFlags(s.flags));
      EXPECT_EQ(t.verdict, s.verdict) << seq.name << " step " << i;
      EXPECT_EQ(t.next, s.state) << seq.name << " step " << i << ": got " << tcpStateName(t.next)
                                 << " want " << tcpStateName(s.state);
      if (t.verdict == TcpVerdict::kAdvance || t.verdict == TcpVerdict::kReopen) state = t.next;
    }
  }
}

TEST(TcpTimeout, MatchesLinuxDefaults) {
  struct Case {
    TcpState state;
    std::uint64_t seconds;
    bool closing;
  };
  const std::vector<Case> cases = {
      {TcpState::kSynSent, 120, false},        {TcpState::kSynRecv, 60, false},
      {TcpState::kEstablished, 432000, false}, {TcpState::kFinWait, 120, true},
      {TcpState::kCloseWait, 60, true},        {TcpState::kLastAck, 30, true},
      {TcpState::kTimeWait, 120, true},        {TcpState::kClose, 10, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(tcpTimeoutNs(c.state), c.seconds * kNanosPerSecond) << tcpStateName(c.state);
    EXPECT_EQ(tcpIsClosing(c.state), c.closing) << tcpStateName(c.state);
  }
}

}  // namespace
}  // namespace xredir
