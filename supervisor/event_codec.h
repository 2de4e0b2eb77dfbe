// A compact binary form of recorded events, for the results store's
// run_events table: a run's events are appended to a batch as they happen
// (little more than a memcpy of each field) and a batch is written as one
// row. The JSON form (run_result_json.h) stays what users read.
//
// A batch is a format byte (kEventBatchFormat) and its events, each a type
// byte and its fields: fixed-width little-endian integers, strings as a
// 32-bit length and their bytes. A verdict whose rule and reason are those
// of the batch's previous verdict is written without them. Decoding checks
// every length and enum value: a damaged row is an error, never a crash.
#ifndef ISOSCOPE_SUPERVISOR_EVENT_CODEC_H_
#define ISOSCOPE_SUPERVISOR_EVENT_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "supervisor/event.h"

namespace isoscope {

inline constexpr uint8_t kEventBatchFormat = 1;

// Builds one batch.
class EventBatchEncoder {
 public:
  EventBatchEncoder() { Clear(); }

  void Append(const Event& event);
  // The batch so far (the format byte and every event appended).
  std::string_view bytes() const { return bytes_; }
  size_t count() const { return count_; }
  // Starts a new, empty batch; the buffer keeps its capacity.
  void Clear();

 private:
  void Put(const void* data, size_t size) {
    bytes_.append(static_cast<const char*>(data), size);
  }
  template <typename T>
  void PutValue(T value) {
    Put(&value, sizeof value);
  }
  void PutString(std::string_view text);
  void PutVerdict(const std::optional<Verdict>& verdict);

  std::string bytes_;
  size_t count_ = 0;
  bool have_last_verdict_ = false;
  std::string last_rule_id_;
  std::string last_reason_;
};

// Appends the events of one batch to `out`; kStore naming the byte offset
// when the batch is malformed (what was decoded before stays in `out`).
Status DecodeEventBatch(std::string_view batch, std::vector<Event>& out);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_EVENT_CODEC_H_
