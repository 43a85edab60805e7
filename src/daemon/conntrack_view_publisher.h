// conntrack_view_publisher.h: the shared original-destination view mirrors conntrack's
// translated connections. This adapter is conntrack's TranslationObserver and speaks to the view
// in the API's vocabulary (client, proxy), as ConntrackOdstSource does for socket queries: the
// proxy's accepted socket sees the reply direction, so client = reply destination and proxy =
// reply source, exactly the question ConntrackTable::originalDst answers.
#pragma once

#include "odst/shared_view.h"
#include "xredir/conntrack.h"

namespace xredir {

class ConntrackViewPublisher final : public TranslationObserver {
 public:
  // ConntrackViewPublisher keeps a reference to view, which must outlive it.
  explicit ConntrackViewPublisher(odst::SharedView& view) : view_(view) {}

  void onTranslatedInserted(const FlowTuple& reply, const Endpoint& original_dst) override {
    view_.publish(reply.protocol, reply.dst(), reply.src(), original_dst);
  }
  void onTranslatedRemoved(const FlowTuple& reply) override {
    view_.unpublish(reply.protocol, reply.dst(), reply.src());
  }

 private:
  odst::SharedView& view_;
};

}  // namespace xredir
