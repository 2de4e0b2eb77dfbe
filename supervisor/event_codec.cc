#include "supervisor/event_codec.h"

#include <bit>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

// Fields are copied as they sit in memory: the format is little-endian.
static_assert(std::endian::native == std::endian::little);

enum class Tag : uint8_t {
  kSyscall = 0,
  kFault = 1,
  kSignal = 2,
  kOutput = 3,
  kLimit = 4,
  kExit = 5,
};

// Verdict flags.
constexpr uint8_t kVerdictPresent = 1;
constexpr uint8_t kVerdictNumberedText = 2;  // a number, not rule and reason

// The largest value of each enum stored as a byte; decoding refuses more.
constexpr uint8_t kMaxAbi = static_cast<uint8_t>(Abi::kX32);
constexpr uint8_t kMaxAction = static_cast<uint8_t>(Action::kDeliver);
constexpr uint8_t kMaxDecidedBy = static_cast<uint8_t>(DecidedBy::kSupervisor);
constexpr uint8_t kMaxStream = static_cast<uint8_t>(OutputStream::kStderr);
constexpr uint8_t kMaxLimitKind = static_cast<uint8_t>(LimitKind::kOutput);
constexpr uint8_t kMaxFaultKind = static_cast<uint8_t>(kAllFaultKinds.back());

template <typename E>
uint8_t Byte(E value) {
  return static_cast<uint8_t>(value);
}

// Reads one batch front to back; the first problem stops it.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool ok() const { return !problem_.has_value(); }
  bool done() const { return pos_ == bytes_.size(); }
  size_t pos() const { return pos_; }
  const std::optional<std::string>& problem() const { return problem_; }

  void Problem(std::string why) {
    if (!problem_) problem_ = fmt::format("at byte {}: {}", pos_, why);
  }

  template <typename T>
  T Value() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value{};
    if (!ok()) return value;
    if (bytes_.size() - pos_ < sizeof value) {
      Problem("cut short");
      return value;
    }
    std::memcpy(&value, bytes_.data() + pos_, sizeof value);
    pos_ += sizeof value;
    return value;
  }

  std::string String() {
    const auto size = Value<uint32_t>();
    if (!ok()) return {};
    if (bytes_.size() - pos_ < size) {
      Problem(fmt::format("a string of {} bytes runs past the end", size));
      return {};
    }
    std::string out(bytes_.substr(pos_, size));
    pos_ += size;
    return out;
  }

  // An enum stored as a byte, at most `max`.
  template <typename E>
  E Enum(uint8_t max, std::string_view what) {
    const auto value = Value<uint8_t>();
    if (ok() && value > max) {
      Problem(fmt::format("{} {} out of range", what, value));
      return E{};
    }
    return static_cast<E>(value);
  }

  bool Bool() { return Value<uint8_t>() != 0; }

  // A presence byte, then the value when it is there.
  template <typename T>
  std::optional<T> Optional() {
    if (!Bool() || !ok()) return std::nullopt;
    return Value<T>();
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  std::optional<std::string> problem_;
};

}  // namespace

void EventBatchEncoder::Clear() {
  bytes_.clear();
  bytes_.push_back(static_cast<char>(kEventBatchFormat));
  count_ = 0;
  texts_.clear();
  last_text_ = 0;
}

void EventBatchEncoder::PutString(std::string_view text) {
  PutValue(static_cast<uint32_t>(text.size()));
  Put(text.data(), text.size());
}

void EventBatchEncoder::PutVerdict(const std::optional<Verdict>& verdict) {
  if (!verdict) {
    PutValue(uint8_t{0});
    return;
  }
  // Most verdicts of a batch repeat the one before: look there first.
  std::optional<size_t> number;
  for (size_t i = 0; i < texts_.size(); ++i) {
    const size_t at = (last_text_ + i) % texts_.size();
    if (texts_[at].first == verdict->rule_id &&
        texts_[at].second == verdict->reason) {
      number = at;
      break;
    }
  }
  PutValue(static_cast<uint8_t>(kVerdictPresent |
                                (number ? kVerdictNumberedText : 0)));
  PutValue(Byte(verdict->action.action));
  PutValue(static_cast<int32_t>(verdict->action.errno_value));
  PutValue(static_cast<int64_t>(verdict->action.emulate_value));
  if (number) {
    PutValue(static_cast<uint8_t>(*number));
    last_text_ = *number;
    return;
  }
  PutString(verdict->rule_id);
  PutString(verdict->reason);
  if (texts_.size() < kMaxVerdictTexts) {
    texts_.emplace_back(verdict->rule_id, verdict->reason);
    last_text_ = texts_.size() - 1;
  }
}

void EventBatchEncoder::Append(const Event& event) {
  struct Visitor {
    EventBatchEncoder& e;
    void operator()(const SyscallEvent& s) const {
      e.PutValue(Tag::kSyscall);
      e.PutValue(static_cast<int32_t>(s.pid));
      e.PutValue(Byte(s.request.abi));
      e.PutValue(static_cast<int32_t>(s.request.number));
      uint8_t nonzero = 0;
      for (size_t i = 0; i < s.request.args.size(); ++i) {
        if (s.request.args[i] != 0) nonzero |= static_cast<uint8_t>(1u << i);
      }
      e.PutValue(nonzero);
      for (uint64_t arg : s.request.args) {
        if (arg != 0) e.PutValue(arg);
      }
      e.PutValue(static_cast<uint32_t>(s.request.paths.size()));
      for (const PathArgument& path : s.request.paths) {
        e.PutValue(static_cast<int32_t>(path.arg_index));
        e.PutString(path.path);
      }
      e.PutValue(static_cast<uint8_t>(s.request.open_flags.has_value()));
      if (s.request.open_flags) e.PutValue(*s.request.open_flags);
      e.PutValue(Byte(s.decided_by));
      e.PutVerdict(s.verdict);
    }
    void operator()(const FaultEvent& f) const {
      e.PutValue(Tag::kFault);
      e.PutValue(static_cast<int32_t>(f.pid));
      e.PutValue(Byte(f.kind));
      e.PutValue(static_cast<int32_t>(f.signal));
      e.PutValue(f.rip);
      e.PutValue(f.address);
      e.PutString(f.mnemonic);
      e.PutString(std::string_view(
          reinterpret_cast<const char*>(f.bytes.data()), f.bytes.size()));
      e.PutVerdict(f.verdict);
    }
    void operator()(const SignalEvent& s) const {
      e.PutValue(Tag::kSignal);
      e.PutValue(static_cast<int32_t>(s.pid));
      e.PutValue(static_cast<int32_t>(s.signal));
    }
    void operator()(const OutputEvent& o) const {
      e.PutValue(Tag::kOutput);
      e.PutValue(Byte(o.stream));
      e.PutString(o.bytes);
    }
    void operator()(const LimitEvent& l) const {
      e.PutValue(Tag::kLimit);
      e.PutValue(Byte(l.kind));
      e.PutString(l.detail);
    }
    void operator()(const ExitEvent& x) const {
      e.PutValue(Tag::kExit);
      e.PutValue(static_cast<uint8_t>(x.signaled));
      e.PutValue(static_cast<int32_t>(x.exit_code));
      e.PutValue(static_cast<int32_t>(x.signal));
      e.PutValue(static_cast<uint8_t>(x.core_dumped));
      e.PutString(x.detail);
      e.PutValue(x.usage.user_cpu_us);
      e.PutValue(x.usage.system_cpu_us);
      e.PutOptional(x.usage.max_rss_kib);
      e.PutOptional(x.usage.syscalls);
    }
  };
  std::visit(Visitor{*this}, event);
  ++count_;
}

namespace {

// The batch's numbered (rule, reason) pairs, as the encoder numbered them.
using VerdictTexts = std::vector<std::pair<std::string, std::string>>;

std::optional<Verdict> ReadVerdict(Reader& r, VerdictTexts& texts) {
  const auto flags = r.Value<uint8_t>();
  if (!r.ok() || (flags & kVerdictPresent) == 0) return std::nullopt;
  Verdict verdict;
  verdict.action.action = r.Enum<Action>(kMaxAction, "action");
  verdict.action.errno_value = r.Value<int32_t>();
  verdict.action.emulate_value = r.Value<int64_t>();
  if ((flags & kVerdictNumberedText) != 0) {
    const auto number = r.Value<uint8_t>();
    if (r.ok() && number >= texts.size()) {
      r.Problem(fmt::format("verdict text {} of {}", number, texts.size()));
    }
    if (!r.ok()) return std::nullopt;
    verdict.rule_id = texts[number].first;
    verdict.reason = texts[number].second;
    return verdict;
  }
  verdict.rule_id = r.String();
  verdict.reason = r.String();
  if (r.ok() && texts.size() < kMaxVerdictTexts) {
    texts.emplace_back(verdict.rule_id, verdict.reason);
  }
  return verdict;
}

std::optional<Event> ReadEvent(Reader& r, VerdictTexts& texts, uint8_t format) {
  const auto tag = r.Value<uint8_t>();
  if (!r.ok()) return std::nullopt;
  switch (static_cast<Tag>(tag)) {
    case Tag::kSyscall: {
      SyscallEvent s;
      s.pid = r.Value<int32_t>();
      s.request.abi = r.Enum<Abi>(kMaxAbi, "abi");
      s.request.number = r.Value<int32_t>();
      const auto nonzero = r.Value<uint8_t>();
      if (r.ok() && nonzero >= (1u << s.request.args.size())) {
        r.Problem(fmt::format("argument mask {:#x}", nonzero));
      }
      for (size_t i = 0; i < s.request.args.size(); ++i) {
        if ((nonzero & (1u << i)) != 0) s.request.args[i] = r.Value<uint64_t>();
      }
      const auto paths = r.Value<uint32_t>();
      for (uint32_t i = 0; i < paths && r.ok(); ++i) {
        PathArgument path;
        path.arg_index = r.Value<int32_t>();
        path.path = r.String();
        s.request.paths.push_back(std::move(path));
      }
      if (r.Bool()) s.request.open_flags = r.Value<uint64_t>();
      s.decided_by = r.Enum<DecidedBy>(kMaxDecidedBy, "decided_by");
      s.verdict = ReadVerdict(r, texts);
      return s;
    }
    case Tag::kFault: {
      FaultEvent f;
      f.pid = r.Value<int32_t>();
      f.kind = r.Enum<FaultKind>(kMaxFaultKind, "fault kind");
      f.signal = r.Value<int32_t>();
      f.rip = r.Value<uint64_t>();
      f.address = r.Value<uint64_t>();
      f.mnemonic = r.String();
      const std::string bytes = r.String();
      f.bytes.assign(bytes.begin(), bytes.end());
      f.verdict = ReadVerdict(r, texts);
      return f;
    }
    case Tag::kSignal: {
      SignalEvent s;
      s.pid = r.Value<int32_t>();
      s.signal = r.Value<int32_t>();
      return s;
    }
    case Tag::kOutput: {
      OutputEvent o;
      o.stream = r.Enum<OutputStream>(kMaxStream, "stream");
      o.bytes = r.String();
      return o;
    }
    case Tag::kLimit: {
      LimitEvent l;
      l.kind = r.Enum<LimitKind>(kMaxLimitKind, "limit kind");
      l.detail = r.String();
      return l;
    }
    case Tag::kExit: {
      ExitEvent x;
      x.signaled = r.Bool();
      x.exit_code = r.Value<int32_t>();
      x.signal = r.Value<int32_t>();
      x.core_dumped = r.Bool();
      x.detail = r.String();
      x.usage.user_cpu_us = r.Value<int64_t>();
      x.usage.system_cpu_us = r.Value<int64_t>();
      if (format == kEventBatchFormatWithoutTotals) {
        // 0 was "not known".
        const auto peak = r.Value<int64_t>();
        if (peak != 0) x.usage.max_rss_kib = peak;
      } else {
        x.usage.max_rss_kib = r.Optional<int64_t>();
        x.usage.syscalls = r.Optional<uint64_t>();
      }
      return x;
    }
  }
  r.Problem(fmt::format("unknown event type {}", tag));
  return std::nullopt;
}

}  // namespace

Status DecodeEventBatch(std::string_view batch, std::vector<Event>& out) {
  Reader r(batch);
  const auto format = r.Value<uint8_t>();
  if (r.ok() && format != kEventBatchFormat &&
      format != kEventBatchFormatWithoutTotals) {
    return Fail(
        ErrorCode::kStore,
        fmt::format("event batch format {} (this isoscope reads {} "
                    "and {})",
                    format, kEventBatchFormatWithoutTotals, kEventBatchFormat));
  }
  VerdictTexts texts;
  while (r.ok() && !r.done()) {
    std::optional<Event> event = ReadEvent(r, texts, format);
    if (!r.ok() || !event) break;
    out.push_back(std::move(*event));
  }
  if (!r.ok()) {
    return Fail(ErrorCode::kStore,
                fmt::format("malformed event batch {}", *r.problem()));
  }
  return {};
}

}  // namespace isoscope
