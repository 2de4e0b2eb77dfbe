// Where the supervisor's loop streams the events a run keeps, in order, as
// they happen, so that a run with many events holds none of them in memory
// (the results store's writer is one: Store::EventWriter).
#ifndef ISOSCOPE_SUPERVISOR_EVENT_SINK_H_
#define ISOSCOPE_SUPERVISOR_EVENT_SINK_H_

#include "supervisor/event.h"

namespace isoscope {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Takes one event. It must not fail the run: a sink that cannot keep an
  // event remembers why and says so when its owner finishes it.
  virtual void Append(const Event& event) = 0;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_EVENT_SINK_H_
