// A compact binary form of recorded events, for the results store's
// run_events table: a run's events are appended to a batch as they happen
// (little more than a memcpy of each field) and a batch is written as one
// row. The JSON form (run_result_json.h) stays what users read.
//
// A batch is a format byte (kEventBatchFormat) and its events, each a type
// byte and its fields: fixed-width little-endian integers, strings as a
// 32-bit length and their bytes; a syscall's arguments as a byte saying
// which are not zero, then those. The first kMaxVerdictTexts distinct
// (rule, reason) pairs of a batch are numbered in order of appearance: a
// verdict whose pair has a number is written with the number only.
// A figure that may be unknown (an exit's peak memory and syscall total) is
// a byte saying whether it is there, then it. Format 1, before exits
// carried a syscall total, wrote the peak as a plain 64-bit value (0: not
// known) and no total; it is still read.
// Decoding checks every length, number and enum value: a damaged row is an
// error, never a crash.
#ifndef ISOSCOPE_SUPERVISOR_EVENT_CODEC_H_
#define ISOSCOPE_SUPERVISOR_EVENT_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "supervisor/event.h"

namespace isoscope {

inline constexpr uint8_t kEventBatchFormat = 2;
inline constexpr uint8_t kEventBatchFormatWithoutTotals = 1;
inline constexpr size_t kMaxVerdictTexts = 64;

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
  template <typename T>
  void PutOptional(const std::optional<T>& value) {
    PutValue(static_cast<uint8_t>(value.has_value()));
    if (value) PutValue(*value);
  }
  void PutString(std::string_view text);
  void PutVerdict(const std::optional<Verdict>& verdict);

  std::string bytes_;
  size_t count_ = 0;
  // The batch's numbered (rule, reason) pairs; where the last one was found.
  std::vector<std::pair<std::string, std::string>> texts_;
  size_t last_text_ = 0;
};

// Appends the events of one batch to `out`; kStore naming the byte offset
// when the batch is malformed (what was decoded before stays in `out`).
Status DecodeEventBatch(std::string_view batch, std::vector<Event>& out);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_EVENT_CODEC_H_
