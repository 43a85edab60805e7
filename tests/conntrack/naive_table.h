// naive_table.h: the reference every conntrack benchmark is measured against — what one would
// write first: one std::unordered_map from tuple to connection, both directions inserted,
// behind one std::mutex, with the same translation answer as ConntrackTable::trackPacket.
#pragma once

#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "xredir/conntrack.h"

namespace xredir::benchsupport {

struct NaiveConn {
  FlowTuple original;
  FlowTuple reply;
  TcpState state = TcpState::kSynSent;
  std::uint64_t last_use_ns = 0;
  ReplyPath reply_path;
};

struct TupleHash {
  std::size_t operator()(const FlowTuple& t) const {
    // std::hash over the bytes, as a straightforward implementation would do.
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(&t), sizeof(t)));
  }
};

class NaiveTable {
 public:
  // insert stores the connection under both tuples (the reply tuple = target inverted).
  bool insert(const FlowTuple& orig, const FlowTuple& reply, std::uint64_t now) {
    std::lock_guard<std::mutex> g(mu_);
    auto conn = std::make_shared<NaiveConn>();
    conn->original = orig;
    conn->reply = reply;
    conn->last_use_ns = now;
    if (!map_.emplace(orig, Slot{conn, Direction::kOriginal}).second) return false;
    map_.emplace(reply, Slot{conn, Direction::kReply});
    return true;
  }

  TrackResult trackPacket(const FlowTuple& t, std::uint8_t tcp_flags, std::uint64_t now) {
    TrackResult r;
    std::lock_guard<std::mutex> g(mu_);
    const auto it = map_.find(t);
    if (it == map_.end()) return r;
    NaiveConn& c = *it->second.conn;
    const TcpTransition tr = tcpTransition(c.state, it->second.dir, tcpEventFromFlags(tcp_flags));
    if (tr.verdict == TcpVerdict::kAdvance) {
      c.state = tr.next;
      c.last_use_ns = now;
    }
    r.status = TrackStatus::kHit;
    r.dir = it->second.dir;
    r.target = r.dir == Direction::kOriginal ? c.reply.inverted() : c.original.inverted();
    r.rewrite = !(r.target == t);
    r.reply_path = c.reply_path;
    return r;
  }

  std::size_t size() {
    std::lock_guard<std::mutex> g(mu_);
    return map_.size() / 2;
  }

 private:
  struct Slot {
    std::shared_ptr<NaiveConn> conn;
    Direction dir;
  };
  std::mutex mu_;
  std::unordered_map<FlowTuple, Slot, TupleHash> map_;
};

}  // namespace xredir::benchsupport
