#include "supervisor/event_codec.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "supervisor/run_result.h"

namespace isoscope {

RunResult FullRunResultForTest();  // run_result_json_test.cc

namespace {

using ::testing::HasSubstr;

std::string Encode(const std::vector<Event>& events) {
  EventBatchEncoder batch;
  for (const Event& event : events) batch.Append(event);
  EXPECT_EQ(batch.count(), events.size());
  return std::string(batch.bytes());
}

TEST(EventCodecTest, RoundTripsEveryEventKind) {
  const std::vector<Event> events = FullRunResultForTest().events;
  std::vector<Event> back;
  ASSERT_TRUE(DecodeEventBatch(Encode(events), back).has_value());
  EXPECT_EQ(back, events);
}

// An exit's figures that are not known stay unknown; one written by an
// isoscope before exits carried a syscall total (format 1) reads back with
// its peak, 0 as not known, and no total.
TEST(EventCodecTest, AnExitsUnknownFiguresAndFormatOne) {
  ExitEvent known{.exit_code = 3};
  known.usage = {.user_cpu_us = 5, .max_rss_kib = 2048, .syscalls = 100003};
  const ExitEvent unknown{.exit_code = 4};
  std::vector<Event> back;
  ASSERT_TRUE(DecodeEventBatch(Encode({known, unknown}), back).has_value());
  EXPECT_EQ(back, (std::vector<Event>{known, unknown}));

  std::string old(1, static_cast<char>(kEventBatchFormatWithoutTotals));
  const auto put = [&old](const auto& value) {
    old.append(reinterpret_cast<const char*>(&value), sizeof value);
  };
  for (const int64_t peak : {int64_t{2048}, int64_t{0}}) {
    put(uint8_t{5});   // an exit
    put(uint8_t{0});   // not signaled
    put(int32_t{3});   // exit code
    put(int32_t{0});   // signal
    put(uint8_t{0});   // no core
    put(uint32_t{0});  // detail: empty
    put(int64_t{5});   // user CPU
    put(int64_t{0});   // system CPU
    put(peak);
  }
  back.clear();
  ASSERT_TRUE(DecodeEventBatch(old, back).has_value());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(std::get<ExitEvent>(back[0]).usage.max_rss_kib, 2048);
  EXPECT_EQ(std::get<ExitEvent>(back[0]).usage.syscalls, std::nullopt);
  EXPECT_EQ(std::get<ExitEvent>(back[1]).usage.max_rss_kib, std::nullopt);
}

TEST(EventCodecTest, AVerdictTextIsWrittenOncePerBatch) {
  SyscallEvent call;
  call.request.number = 110;
  call.verdict = Verdict{{Action::kLog},
                         "log-getppid",
                         "getppid matches rule 'log-getppid': allow and log"};
  SyscallEvent other = call;
  other.verdict->rule_id = "another";
  other.request.args = {1, 0, 0, 0, 0, 0xffffffffffffffff};
  const std::vector<Event> events = {call, call, other, call, other};
  const std::string bytes = Encode(events);
  // The text of each verdict once; the calls without their zero arguments.
  const std::string one = Encode({call});
  const std::string two = Encode({call, call});
  const size_t text =
      4 + call.verdict->rule_id.size() + 4 + call.verdict->reason.size();
  EXPECT_EQ(two.size() - one.size(), one.size() - 1 - text + 1);
  EXPECT_LT(one.size() - 1, text + 40);
  std::vector<Event> back;
  ASSERT_TRUE(DecodeEventBatch(bytes, back).has_value());
  EXPECT_EQ(back, events);
  // A new batch starts without numbered texts.
  EventBatchEncoder batch;
  batch.Append(call);
  batch.Clear();
  batch.Append(call);
  EXPECT_EQ(batch.bytes(), one);
  // Past kMaxVerdictTexts distinct texts, the others are written whole.
  std::vector<Event> many;
  for (size_t i = 0; i < kMaxVerdictTexts + 5; ++i) {
    SyscallEvent numbered = call;
    numbered.verdict->rule_id = "rule-" + std::to_string(i);
    many.push_back(numbered);
    many.push_back(numbered);
  }
  back.clear();
  ASSERT_TRUE(DecodeEventBatch(Encode(many), back).has_value());
  EXPECT_EQ(back, many);
}

TEST(EventCodecTest, EveryCutOrDamagedBatchIsAnErrorNeverACrash) {
  const std::string bytes = Encode(FullRunResultForTest().events);
  // Cut at every length but the whole: an event ends early.
  for (size_t size = 1; size < bytes.size(); ++size) {
    std::vector<Event> back;
    const Status decoded = DecodeEventBatch(bytes.substr(0, size), back);
    // A cut that falls between two events is a shorter, valid batch.
    if (decoded) {
      EXPECT_LT(back.size(), FullRunResultForTest().events.size());
    }
  }
  // Each byte flipped: decoded or refused, within bounds (ASan checks).
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(~damaged[i]);
    std::vector<Event> back;
    (void)DecodeEventBatch(damaged, back);
  }
  std::vector<Event> back;
  auto wrong_format = DecodeEventBatch(std::string(1, '\x7f'), back);
  ASSERT_FALSE(wrong_format.has_value());
  EXPECT_THAT(wrong_format.error().ToString(), HasSubstr("format 127"));
  auto huge_string =
      DecodeEventBatch(std::string("\x01\x03\x00\xff\xff\xff\x7f", 7), back);
  ASSERT_FALSE(huge_string.has_value());
  EXPECT_THAT(huge_string.error().ToString(), HasSubstr("runs past the end"));
}

}  // namespace
}  // namespace isoscope
