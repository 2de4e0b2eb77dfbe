#include "policies/loader.h"

#include <fcntl.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "base/io.h"
#include "base/unique_fd.h"
#include "policies/endpoints.h"
#include "policies/holes.h"
#include "policies/presets_embedded.h"
#include "policies/syscalls.h"
#include "policies/units.h"

namespace isoscope {
namespace {

using Unexpected = tl::unexpected<Error>;

std::string Join(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string Child(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return fmt::format("{}.{}", path, key);
}

std::string Element(std::string_view path, size_t index) {
  return fmt::format("{}[{}]", path, index);
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return fmt::format("'{}'", node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "something else";
}

// A mapping whose keys were checked against the expected ones.
struct Fields {
  YAML::Mark mark;
  std::string path;
  std::map<std::string, std::pair<YAML::Node, YAML::Node>, std::less<>> items;

  // The value of `key`, or an undefined node if absent.
  std::optional<YAML::Node> Get(std::string_view key) const {
    auto it = items.find(key);
    if (it == items.end()) return std::nullopt;
    return it->second.second;
  }
};

struct ActionChoice {
  std::string_view name;
  Action action;
};

constexpr ActionChoice kSyscallActions[] = {
    {"allow", Action::kAllow},     {"deny", Action::kDeny},
    {"kill", Action::kKill},       {"log", Action::kLog},
    {"emulate", Action::kEmulate},
};
constexpr ActionChoice kFaultActions[] = {
    {"kill", Action::kKill},
    {"report", Action::kReport},
    {"deliver", Action::kDeliver},
    {"emulate", Action::kEmulate},
};

struct OpChoice {
  std::string_view name;
  CompareOp op;
};
constexpr OpChoice kOps[] = {
    {"eq", CompareOp::kEq},
    {"ne", CompareOp::kNe},
    {"lt", CompareOp::kLt},
    {"le", CompareOp::kLe},
    {"gt", CompareOp::kGt},
    {"ge", CompareOp::kGe},
    {"masked_eq", CompareOp::kMaskedEq},
};

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  Status ParseRoot(const YAML::Node& root, Policy* policy);

 private:
  Unexpected Err(const YAML::Mark& mark, std::string_view path,
                 std::string_view message) const {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}:{}:{}: {}: {}", source_, mark.line + 1,
                            mark.column + 1, path, message));
  }
  // A node's own position, or `fallback` when yaml-cpp has none for it.
  static YAML::Mark MarkOf(const YAML::Node& node, const YAML::Mark& fallback) {
    YAML::Mark mark = node.Mark();
    return mark.line < 0 ? fallback : mark;
  }

  Result<Fields> OpenMap(const YAML::Node& node, const YAML::Mark& fallback,
                         const std::string& path,
                         std::initializer_list<std::string_view> keys) const;
  Result<std::string> String(const YAML::Node& node, const YAML::Mark& fallback,
                             const std::string& path) const;
  Result<uint64_t> Unsigned(const YAML::Node& node, const YAML::Mark& fallback,
                            const std::string& path) const;
  Result<int64_t> Signed(const YAML::Node& node, const YAML::Mark& fallback,
                         const std::string& path) const;
  Result<bool> Bool(const YAML::Node& node, const YAML::Mark& fallback,
                    const std::string& path) const;
  Result<std::vector<std::pair<std::string, YAML::Mark>>> StringList(
      const YAML::Node& node, const YAML::Mark& fallback,
      const std::string& path) const;
  Result<std::vector<std::string>> PathList(const YAML::Node& node,
                                            const YAML::Mark& fallback,
                                            const std::string& path,
                                            std::string_view what) const;

  template <typename Choice, size_t N>
  Result<Choice> Pick(const YAML::Node& node, const YAML::Mark& fallback,
                      const std::string& path, const Choice (&choices)[N],
                      std::string_view what) const;

  // `fields` holds action/errno/return (a rule, or an action mapping).
  Result<ActionSpec> ActionFromFields(const Fields& fields,
                                      const YAML::Node& action_node,
                                      const std::string& action_path,
                                      bool non_native_abi) const;
  Result<ActionSpec> ActionSpecNode(const YAML::Node& node,
                                    const YAML::Mark& fallback,
                                    const std::string& path,
                                    bool non_native_abi) const;

  Status ParseSyscalls(const YAML::Node& node, const YAML::Mark& fallback,
                       SyscallPolicy* out) const;
  Result<Rule> ParseRule(const YAML::Node& node, const YAML::Mark& fallback,
                         size_t index) const;
  Result<ArgCondition> ParseArg(const YAML::Node& node,
                                const YAML::Mark& fallback,
                                const std::string& path) const;
  Status ParseFaults(const YAML::Node& node, const YAML::Mark& fallback,
                     FaultPolicy* out) const;
  Status ParseResources(const YAML::Node& node, const YAML::Mark& fallback,
                        Resources* out) const;
  Status ParseFilesystem(const YAML::Node& node, const YAML::Mark& fallback,
                         FilesystemView* out) const;
  Status ParseNetwork(const YAML::Node& node, const YAML::Mark& fallback,
                      Policy* policy) const;
  Status ParseIdentity(const YAML::Node& node, const YAML::Mark& fallback,
                       Identity* out) const;
  Status ParseCapabilities(const YAML::Node& node, const YAML::Mark& fallback,
                           std::vector<std::string>* out) const;
  Status ParseAcceptedHoles(const YAML::Node& node, const YAML::Mark& fallback,
                            std::vector<AcceptedHole>* out) const;
  // A non-empty list of x86-64 syscall names: their numbers and positions.
  Result<std::vector<std::pair<int, YAML::Mark>>> SyscallList(
      const YAML::Node& node, const YAML::Mark& fallback,
      const std::string& path) const;

  std::string_view source_;
};

Result<Fields> Parser::OpenMap(
    const YAML::Node& node, const YAML::Mark& fallback, const std::string& path,
    std::initializer_list<std::string_view> keys) const {
  YAML::Mark mark = MarkOf(node, fallback);
  if (!node.IsMap()) {
    return Err(mark, path.empty() ? "policy" : path,
               fmt::format("expected a mapping, got {}", Describe(node)));
  }
  Fields fields;
  fields.mark = mark;
  fields.path = path;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies: `it->first` lives in a proxy that dies with the expression.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    YAML::Mark key_mark = MarkOf(key, mark);
    if (!key.IsScalar()) {
      return Err(key_mark, path,
                 fmt::format("keys must be names, got {}", Describe(key)));
    }
    const std::string& name = key.Scalar();
    bool known = false;
    for (std::string_view expected : keys) known = known || expected == name;
    if (!known) {
      return Err(key_mark, Child(path, name),
                 fmt::format("unknown key (expected {})",
                             Join(std::vector<std::string_view>(keys))));
    }
    if (fields.items.contains(name)) {
      return Err(key_mark, Child(path, name), "duplicate key");
    }
    fields.items.emplace(name, std::make_pair(key, value));
  }
  return fields;
}

Result<std::string> Parser::String(const YAML::Node& node,
                                   const YAML::Mark& fallback,
                                   const std::string& path) const {
  if (!node.IsScalar()) {
    std::string hint = node.IsMap()
                           ? " (quote strings that start with '{', like "
                             "\"{workdir}\")"
                           : "";
    return Err(
        MarkOf(node, fallback), path,
        fmt::format("expected a string, got {}{}", Describe(node), hint));
  }
  return node.Scalar();
}

Result<uint64_t> Parser::Unsigned(const YAML::Node& node,
                                  const YAML::Mark& fallback,
                                  const std::string& path) const {
  auto text = String(node, fallback, path);
  if (!text) return Unexpected(text.error());
  auto value = ParseUnsigned(*text);
  if (!value) return Err(MarkOf(node, fallback), path, value.error().message());
  return value;
}

Result<int64_t> Parser::Signed(const YAML::Node& node,
                               const YAML::Mark& fallback,
                               const std::string& path) const {
  auto text = String(node, fallback, path);
  if (!text) return Unexpected(text.error());
  std::string_view digits = *text;
  bool negative = !digits.empty() && digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  auto magnitude = ParseUnsigned(digits);
  if (!magnitude) {
    return Err(MarkOf(node, fallback), path,
               fmt::format("'{}' is not an integer", *text));
  }
  constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;
  if (*magnitude > kMaxMagnitude ||
      (!negative && *magnitude == kMaxMagnitude)) {
    return Err(
        MarkOf(node, fallback), path,
        fmt::format("'{}' does not fit in a signed 64-bit value", *text));
  }
  if (negative) return static_cast<int64_t>(~*magnitude + 1);
  return static_cast<int64_t>(*magnitude);
}

Result<bool> Parser::Bool(const YAML::Node& node, const YAML::Mark& fallback,
                          const std::string& path) const {
  auto text = String(node, fallback, path);
  if (!text) return Unexpected(text.error());
  if (*text != "true" && *text != "false") {
    return Err(MarkOf(node, fallback), path,
               fmt::format("expected true or false, got '{}'", *text));
  }
  return *text == "true";
}

Result<std::vector<std::pair<std::string, YAML::Mark>>> Parser::StringList(
    const YAML::Node& node, const YAML::Mark& fallback,
    const std::string& path) const {
  YAML::Mark mark = MarkOf(node, fallback);
  if (!node.IsSequence()) {
    return Err(mark, path,
               fmt::format("expected a list, got {}", Describe(node)));
  }
  std::vector<std::pair<std::string, YAML::Mark>> out;
  for (size_t i = 0; i < node.size(); ++i) {
    auto text = String(node[i], mark, Element(path, i));
    if (!text) return Unexpected(text.error());
    out.emplace_back(*text, MarkOf(node[i], mark));
  }
  return out;
}

Result<std::vector<std::string>> Parser::PathList(const YAML::Node& node,
                                                  const YAML::Mark& fallback,
                                                  const std::string& path,
                                                  std::string_view what) const {
  auto items = StringList(node, fallback, path);
  if (!items) return Unexpected(items.error());
  std::vector<std::string> out;
  for (size_t i = 0; i < items->size(); ++i) {
    const auto& [text, mark] = (*items)[i];
    if (!text.starts_with('/') && !text.starts_with("{workdir}")) {
      return Err(mark, Element(path, i),
                 fmt::format("{} '{}' must be absolute or start with "
                             "{{workdir}}",
                             what, text));
    }
    out.push_back(text);
  }
  return out;
}

template <typename Choice, size_t N>
Result<Choice> Parser::Pick(const YAML::Node& node, const YAML::Mark& fallback,
                            const std::string& path, const Choice (&choices)[N],
                            std::string_view what) const {
  auto text = String(node, fallback, path);
  if (!text) return Unexpected(text.error());
  std::vector<std::string_view> names;
  for (const Choice& choice : choices) {
    if (choice.name == *text) return choice;
    names.push_back(choice.name);
  }
  return Err(
      MarkOf(node, fallback), path,
      fmt::format("unknown {} '{}' (expected {})", what, *text, Join(names)));
}

Result<ActionSpec> Parser::ActionFromFields(const Fields& fields,
                                            const YAML::Node& action_node,
                                            const std::string& action_path,
                                            bool non_native_abi) const {
  auto choice =
      Pick(action_node, fields.mark, action_path, kSyscallActions, "action");
  if (!choice) return Unexpected(choice.error());
  ActionSpec spec{choice->action};
  YAML::Mark action_mark = MarkOf(action_node, fields.mark);
  if (non_native_abi && spec.action != Action::kKill &&
      spec.action != Action::kDeny) {
    return Err(action_mark, action_path,
               fmt::format("action '{}' is not possible for a non-native ABI "
                           "(expected kill or deny)",
                           choice->name));
  }
  if (auto errno_node = fields.Get("errno")) {
    const std::string path = Child(fields.path, "errno");
    if (spec.action != Action::kDeny) {
      return Err(MarkOf(fields.items.at("errno").first, fields.mark), path,
                 "errno is only valid with action deny");
    }
    auto name = String(*errno_node, fields.mark, path);
    if (!name) return Unexpected(name.error());
    spec.errno_value = ErrnoFromName(*name);
    if (spec.errno_value == 0) {
      return Err(MarkOf(*errno_node, fields.mark), path,
                 fmt::format("unknown errno '{}' (use a name such as EPERM, "
                             "EACCES, ENOSYS)",
                             *name));
    }
  } else if (spec.action == Action::kDeny) {
    spec.errno_value = EPERM;
  }
  if (auto return_node = fields.Get("return")) {
    const std::string path = Child(fields.path, "return");
    if (spec.action != Action::kEmulate) {
      return Err(MarkOf(fields.items.at("return").first, fields.mark), path,
                 "return is only valid with action emulate");
    }
    auto value = Signed(*return_node, fields.mark, path);
    if (!value) return Unexpected(value.error());
    spec.emulate_value = *value;
  } else if (spec.action == Action::kEmulate) {
    return Err(action_mark, Child(fields.path, "return"),
               "action emulate needs a return value");
  }
  return spec;
}

Result<ActionSpec> Parser::ActionSpecNode(const YAML::Node& node,
                                          const YAML::Mark& fallback,
                                          const std::string& path,
                                          bool non_native_abi) const {
  if (node.IsMap()) {
    auto fields = OpenMap(node, fallback, path, {"action", "errno", "return"});
    if (!fields) return Unexpected(fields.error());
    auto action = fields->Get("action");
    if (!action) {
      return Err(fields->mark, Child(path, "action"),
                 "required key is missing");
    }
    return ActionFromFields(*fields, *action, Child(path, "action"),
                            non_native_abi);
  }
  if (!node.IsScalar()) {
    return Err(MarkOf(node, fallback), path,
               fmt::format("expected an action name or a mapping "
                           "{{action, errno, return}}, got {}",
                           Describe(node)));
  }
  // A scalar is shorthand for {action: <name>}; errors name the field itself.
  Fields fields;
  fields.mark = MarkOf(node, fallback);
  fields.path = path;
  return ActionFromFields(fields, node, path, non_native_abi);
}

Status Parser::ParseRoot(const YAML::Node& root, Policy* policy) {
  const YAML::Mark start;  // 0:0, i.e. 1:1
  if (!root.IsDefined() || root.IsNull()) {
    return Err(start, "policy",
               "empty document (expected a mapping with version: 1)");
  }
  auto fields =
      OpenMap(root, start, "",
              {"version", "syscalls", "faults", "resources", "filesystem",
               "network", "identity", "capabilities", "accepted_holes"});
  if (!fields) return Unexpected(fields.error());

  auto version = fields->Get("version");
  if (!version) {
    return Err(fields->mark, "version", "required key is missing");
  }
  auto number = Unsigned(*version, fields->mark, "version");
  if (!number) return Unexpected(number.error());
  if (*number != 1) {
    return Err(MarkOf(*version, fields->mark), "version",
               fmt::format("unsupported version {} (expected 1)", *number));
  }
  policy->version = 1;

  if (auto node = fields->Get("syscalls")) {
    if (auto s = ParseSyscalls(*node, fields->mark, &policy->syscalls); !s) {
      return s;
    }
  }
  if (auto node = fields->Get("faults")) {
    if (auto s = ParseFaults(*node, fields->mark, &policy->faults); !s) {
      return s;
    }
  }
  if (auto node = fields->Get("resources")) {
    if (auto s = ParseResources(*node, fields->mark, &policy->resources); !s) {
      return s;
    }
  }
  if (auto node = fields->Get("filesystem")) {
    if (auto s = ParseFilesystem(*node, fields->mark, &policy->filesystem);
        !s) {
      return s;
    }
  }
  if (auto node = fields->Get("network")) {
    if (auto s = ParseNetwork(*node, fields->mark, policy); !s) return s;
  }
  if (auto node = fields->Get("identity")) {
    if (auto s = ParseIdentity(*node, fields->mark, &policy->identity); !s) {
      return s;
    }
  }
  if (auto node = fields->Get("capabilities")) {
    if (auto s = ParseCapabilities(*node, fields->mark, &policy->capabilities);
        !s) {
      return s;
    }
  }
  if (auto node = fields->Get("accepted_holes")) {
    if (auto s =
            ParseAcceptedHoles(*node, fields->mark, &policy->accepted_holes);
        !s) {
      return s;
    }
  }
  if (!policy->endpoints.empty()) {
    // Raw sockets write packets with any destination; CAP_NET_ADMIN
    // rewrites where a listed endpoint leads (NAT, routes, addresses).
    for (std::string_view held : {"CAP_NET_RAW", "CAP_NET_ADMIN"}) {
      if (std::find(policy->capabilities.begin(), policy->capabilities.end(),
                    held) == policy->capabilities.end()) {
        continue;
      }
      auto node = fields->Get("capabilities");
      return Err(MarkOf(*node, fields->mark), "capabilities",
                 fmt::format("{} cannot be kept with network.connect or "
                             "network.bind: {}",
                             held,
                             held == "CAP_NET_RAW"
                                 ? "raw sockets send packets to any address"
                                 : "it rewrites where a listed endpoint "
                                   "leads (NAT, routes, addresses)"));
    }
  }
  return {};
}

Status Parser::ParseNetwork(const YAML::Node& node, const YAML::Mark& fallback,
                            Policy* policy) const {
  static constexpr struct {
    std::string_view name;
    NetworkMode mode;
  } kModes[] = {{"none", NetworkMode::kNone},
                {"loopback", NetworkMode::kLoopback},
                {"host", NetworkMode::kHost}};
  if (!node.IsMap()) {
    auto mode = Pick(node, fallback, "network", kModes, "network mode");
    if (!mode) return Unexpected(mode.error());
    policy->network = mode->mode;
    return {};
  }
  auto fields =
      OpenMap(node, fallback, "network", {"mode", "connect", "bind", "errno"});
  if (!fields) return Unexpected(fields.error());
  auto mode_node = fields->Get("mode");
  if (!mode_node) {
    return Err(fields->mark, "network.mode",
               "required key is missing (none, loopback or host)");
  }
  auto mode =
      Pick(*mode_node, fields->mark, "network.mode", kModes, "network mode");
  if (!mode) return Unexpected(mode.error());
  policy->network = mode->mode;
  NetworkEndpoints& endpoints = policy->endpoints;
  for (std::string_view key : {"connect", "bind"}) {
    auto list_node = fields->Get(key);
    if (!list_node) continue;
    const std::string path = Child("network", key);
    if (mode->mode == NetworkMode::kNone) {
      return Err(MarkOf(fields->items.at(std::string(key)).first, fields->mark),
                 path,
                 "network mode none reaches no endpoint; use mode loopback "
                 "or host with endpoint lists");
    }
    auto items = StringList(*list_node, fields->mark, path);
    if (!items) return Unexpected(items.error());
    std::vector<EndpointPattern> patterns;
    for (size_t i = 0; i < items->size(); ++i) {
      const auto& [text, mark] = (*items)[i];
      auto pattern = ParseEndpointPattern(text);
      if (!pattern) {
        return Err(mark, Element(path, i), pattern.error().message());
      }
      if (mode->mode == NetworkMode::kLoopback && !pattern->any_host &&
          !IsLoopback(pattern->host) && !IsUnspecified(pattern->host)) {
        return Err(mark, Element(path, i),
                   fmt::format("'{}' is not a loopback address, which is all "
                               "network mode loopback reaches (127.0.0.0/8, "
                               "::1, or * for either)",
                               text));
      }
      pattern->line = mark.line + 1;
      pattern->column = mark.column + 1;
      patterns.push_back(std::move(*pattern));
    }
    (key == "connect" ? endpoints.connect : endpoints.bind) =
        std::move(patterns);
  }
  if (auto errno_node = fields->Get("errno")) {
    if (endpoints.empty()) {
      return Err(MarkOf(fields->items.at("errno").first, fields->mark),
                 "network.errno",
                 "errno is only valid with network.connect or network.bind");
    }
    auto name = String(*errno_node, fields->mark, "network.errno");
    if (!name) return Unexpected(name.error());
    endpoints.errno_value = ErrnoFromName(*name);
    if (endpoints.errno_value == 0) {
      return Err(MarkOf(*errno_node, fields->mark), "network.errno",
                 fmt::format("unknown errno '{}' (use a name such as EACCES, "
                             "ECONNREFUSED, EPERM)",
                             *name));
    }
  }
  return {};
}

Status Parser::ParseSyscalls(const YAML::Node& node, const YAML::Mark& fallback,
                             SyscallPolicy* out) const {
  auto fields =
      OpenMap(node, fallback, "syscalls", {"default", "abi", "rules"});
  if (!fields) return Unexpected(fields.error());
  if (auto value = fields->Get("default")) {
    auto spec = ActionSpecNode(*value, fields->mark, "syscalls.default",
                               /*non_native_abi=*/false);
    if (!spec) return Unexpected(spec.error());
    out->default_action = *spec;
    YAML::Mark mark = MarkOf(*value, fields->mark);
    out->default_position = {mark.line + 1, mark.column + 1};
  }
  if (auto value = fields->Get("abi")) {
    auto abi = OpenMap(*value, fields->mark, "syscalls.abi", {"i386", "x32"});
    if (!abi) return Unexpected(abi.error());
    if (auto i386 = abi->Get("i386")) {
      auto spec = ActionSpecNode(*i386, abi->mark, "syscalls.abi.i386", true);
      if (!spec) return Unexpected(spec.error());
      out->abi.i386 = *spec;
    }
    if (auto x32 = abi->Get("x32")) {
      auto spec = ActionSpecNode(*x32, abi->mark, "syscalls.abi.x32", true);
      if (!spec) return Unexpected(spec.error());
      out->abi.x32 = *spec;
    }
  }
  if (auto value = fields->Get("rules")) {
    YAML::Mark mark = MarkOf(*value, fields->mark);
    if (!value->IsSequence()) {
      return Err(mark, "syscalls.rules",
                 fmt::format("expected a list, got {}", Describe(*value)));
    }
    std::map<std::string, size_t> first_use;
    for (size_t i = 0; i < value->size(); ++i) {
      auto rule = ParseRule((*value)[i], mark, i);
      if (!rule) return Unexpected(rule.error());
      auto [it, inserted] = first_use.emplace(rule->id, i);
      if (!inserted) {
        const YAML::Node rule_node = (*value)[i];
        const YAML::Node id_node = rule_node["id"];
        return Err(id_node.IsDefined() ? MarkOf(id_node, mark)
                                       : MarkOf(rule_node, mark),
                   Child(Element("syscalls.rules", i), "id"),
                   fmt::format("duplicate rule id '{}' (first used by "
                               "syscalls.rules[{}])",
                               rule->id, it->second));
      }
      out->rules.push_back(std::move(*rule));
    }
  }
  return {};
}

Result<Rule> Parser::ParseRule(const YAML::Node& node,
                               const YAML::Mark& fallback, size_t index) const {
  const std::string path = Element("syscalls.rules", index);
  auto fields = OpenMap(
      node, fallback, path,
      {"id", "syscalls", "action", "errno", "return", "args", "paths", "else"});
  if (!fields) return Unexpected(fields.error());
  Rule rule;
  rule.position = {fields->mark.line + 1, fields->mark.column + 1};
  rule.id = Element("rules", index);
  if (auto id = fields->Get("id")) {
    auto text = String(*id, fields->mark, Child(path, "id"));
    if (!text) return Unexpected(text.error());
    if (text->empty()) {
      return Err(MarkOf(*id, fields->mark), Child(path, "id"), "empty rule id");
    }
    rule.id = *text;
  }

  auto syscalls = fields->Get("syscalls");
  if (!syscalls) {
    return Err(fields->mark, Child(path, "syscalls"),
               "required key is missing");
  }
  auto named = SyscallList(*syscalls, fields->mark, Child(path, "syscalls"));
  if (!named) return Unexpected(named.error());
  for (const auto& [number, mark] : *named) rule.syscalls.push_back(number);

  auto action = fields->Get("action");
  if (!action) {
    return Err(fields->mark, Child(path, "action"), "required key is missing");
  }
  auto spec = ActionFromFields(*fields, *action, Child(path, "action"),
                               /*non_native_abi=*/false);
  if (!spec) return Unexpected(spec.error());
  rule.action = *spec;

  if (auto args = fields->Get("args")) {
    const std::string args_path = Child(path, "args");
    YAML::Mark mark = MarkOf(*args, fields->mark);
    if (!args->IsSequence()) {
      return Err(mark, args_path,
                 fmt::format("expected a list, got {}", Describe(*args)));
    }
    for (size_t i = 0; i < args->size(); ++i) {
      auto condition = ParseArg((*args)[i], mark, Element(args_path, i));
      if (!condition) return Unexpected(condition.error());
      rule.args.push_back(*condition);
    }
  }

  if (auto paths = fields->Get("paths")) {
    const std::string paths_path = Child(path, "paths");
    auto globs =
        OpenMap(*paths, fields->mark, paths_path, {"read", "write", "exec"});
    if (!globs) return Unexpected(globs.error());
    // A glob on a syscall without a path argument could never be checked;
    // it is almost always a rule meant for another syscall.
    for (size_t i = 0; i < rule.syscalls.size(); ++i) {
      if (PathArguments(rule.syscalls[i]).empty()) {
        return Err((*named)[i].second, Element(Child(path, "syscalls"), i),
                   fmt::format("'{}' takes no path argument, but the rule "
                               "has paths (move it to a rule without paths)",
                               SyscallName(rule.syscalls[i])));
      }
    }
    PathGlobs out;
    std::vector<std::string>* targets[] = {&out.read, &out.write, &out.exec};
    std::string_view keys[] = {"read", "write", "exec"};
    for (size_t k = 0; k < 3; ++k) {
      if (auto list = globs->Get(keys[k])) {
        auto items =
            PathList(*list, globs->mark, Child(paths_path, keys[k]), "glob");
        if (!items) return Unexpected(items.error());
        *targets[k] = std::move(*items);
      }
    }
    rule.paths = std::move(out);
  }

  if (auto otherwise = fields->Get("else")) {
    const std::string else_path = Child(path, "else");
    if (rule.args.empty() && !rule.paths) {
      return Err(MarkOf(fields->items.at("else").first, fields->mark),
                 else_path,
                 "else never applies: the rule has no args or paths");
    }
    auto else_spec = ActionSpecNode(*otherwise, fields->mark, else_path, false);
    if (!else_spec) return Unexpected(else_spec.error());
    rule.otherwise = *else_spec;
  }
  return rule;
}

Result<ArgCondition> Parser::ParseArg(const YAML::Node& node,
                                      const YAML::Mark& fallback,
                                      const std::string& path) const {
  auto fields = OpenMap(node, fallback, path, {"index", "op", "value", "mask"});
  if (!fields) return Unexpected(fields.error());
  ArgCondition condition;
  for (std::string_view required : {"index", "op", "value"}) {
    if (!fields->Get(required)) {
      return Err(fields->mark, Child(path, required),
                 "required key is missing");
    }
  }
  YAML::Node index_node = *fields->Get("index");
  auto index = Unsigned(index_node, fields->mark, Child(path, "index"));
  if (!index) return Unexpected(index.error());
  if (*index > 5) {
    return Err(
        MarkOf(index_node, fields->mark), Child(path, "index"),
        fmt::format("argument index {} out of range (expected 0..5)", *index));
  }
  condition.index = static_cast<int>(*index);
  auto op =
      Pick(*fields->Get("op"), fields->mark, Child(path, "op"), kOps, "op");
  if (!op) return Unexpected(op.error());
  condition.op = op->op;
  // Arguments are compared as raw registers, so a negative value (AT_FDCWD
  // is -100) means its two's complement.
  auto value =
      Signed(*fields->Get("value"), fields->mark, Child(path, "value"));
  if (value) {
    condition.value = static_cast<uint64_t>(*value);
  } else {
    auto unsigned_value =
        Unsigned(*fields->Get("value"), fields->mark, Child(path, "value"));
    if (!unsigned_value) return Unexpected(unsigned_value.error());
    condition.value = *unsigned_value;
  }
  if (auto mask = fields->Get("mask")) {
    if (condition.op != CompareOp::kMaskedEq) {
      return Err(MarkOf(fields->items.at("mask").first, fields->mark),
                 Child(path, "mask"), "mask is only valid with op masked_eq");
    }
    auto mask_value = Unsigned(*mask, fields->mark, Child(path, "mask"));
    if (!mask_value) return Unexpected(mask_value.error());
    condition.mask = *mask_value;
  } else if (condition.op == CompareOp::kMaskedEq) {
    return Err(fields->mark, Child(path, "mask"), "op masked_eq needs a mask");
  }
  return condition;
}

Status Parser::ParseFaults(const YAML::Node& node, const YAML::Mark& fallback,
                           FaultPolicy* out) const {
  auto fields = OpenMap(
      node, fallback, "faults",
      {"privileged_instruction", "cpuid", "rdtsc", "page_fault",
       "invalid_instruction", "breakpoint", "arithmetic", "hide_hypervisor"});
  if (!fields) return Unexpected(fields.error());
  for (FaultKind kind : kAllFaultKinds) {
    std::string_view name = FaultKindName(kind);
    auto value = fields->Get(name);
    if (!value) continue;
    const std::string path = Child("faults", name);
    auto choice =
        Pick(*value, fields->mark, path, kFaultActions, "fault action");
    if (!choice) return Unexpected(choice.error());
    if (!CanEmulate(kind) && choice->action == Action::kEmulate) {
      return Err(MarkOf(*value, fields->mark), path,
                 fmt::format("emulate is not possible for {} (expected kill, "
                             "report, deliver)",
                             name));
    }
    switch (kind) {
      case FaultKind::kPrivilegedInstruction:
        out->privileged_instruction = choice->action;
        break;
      case FaultKind::kCpuid:
        out->cpuid = choice->action;
        break;
      case FaultKind::kRdtsc:
        out->rdtsc = choice->action;
        break;
      case FaultKind::kPageFault:
        out->page_fault = choice->action;
        break;
      case FaultKind::kInvalidInstruction:
        out->invalid_instruction = choice->action;
        break;
      case FaultKind::kBreakpoint:
        out->breakpoint = choice->action;
        break;
      case FaultKind::kArithmetic:
        out->arithmetic = choice->action;
        break;
    }
  }
  if (auto value = fields->Get("hide_hypervisor")) {
    auto flag = Bool(*value, fields->mark, "faults.hide_hypervisor");
    if (!flag) return Unexpected(flag.error());
    out->hide_hypervisor = *flag;
  }
  return {};
}

Status Parser::ParseResources(const YAML::Node& node,
                              const YAML::Mark& fallback,
                              Resources* out) const {
  auto fields = OpenMap(node, fallback, "resources",
                        {"memory", "processes", "cpu_time", "wall_time",
                         "open_files", "file_size", "output"});
  if (!fields) return Unexpected(fields.error());
  enum class Kind { kSize, kCount, kDuration };
  struct Limit {
    std::string_view key;
    Kind kind;
    std::optional<uint64_t>* target;
  };
  const Limit limits[] = {
      {"memory", Kind::kSize, &out->memory_bytes},
      {"processes", Kind::kCount, &out->processes},
      {"cpu_time", Kind::kDuration, &out->cpu_time_ms},
      {"wall_time", Kind::kDuration, &out->wall_time_ms},
      {"open_files", Kind::kCount, &out->open_files},
      {"file_size", Kind::kSize, &out->file_size_bytes},
      {"output", Kind::kSize, &out->output_bytes},
  };
  for (const Limit& limit : limits) {
    auto value = fields->Get(limit.key);
    if (!value) continue;
    const std::string path = Child("resources", limit.key);
    YAML::Mark mark = MarkOf(*value, fields->mark);
    auto text = String(*value, fields->mark, path);
    if (!text) return Unexpected(text.error());
    Result<uint64_t> parsed = limit.kind == Kind::kSize ? ParseSize(*text)
                              : limit.kind == Kind::kDuration
                                  ? ParseDurationMs(*text)
                                  : ParseUnsigned(*text);
    if (!parsed) return Err(mark, path, parsed.error().message());
    // Zero would stop every workload before it starts; absence means
    // unlimited, so there is no need for a zero sentinel.
    if (*parsed == 0) return Err(mark, path, "must be greater than zero");
    *limit.target = *parsed;
  }
  return {};
}

Status Parser::ParseFilesystem(const YAML::Node& node,
                               const YAML::Mark& fallback,
                               FilesystemView* out) const {
  auto fields = OpenMap(node, fallback, "filesystem",
                        {"readonly", "writable", "tmpfs", "hidden"});
  if (!fields) return Unexpected(fields.error());
  std::pair<std::string_view, std::vector<std::string>*> lists[] = {
      {"readonly", &out->readonly},
      {"writable", &out->writable},
      {"tmpfs", &out->tmpfs},
      {"hidden", &out->hidden}};
  for (auto& [key, target] : lists) {
    auto value = fields->Get(key);
    if (!value) continue;
    auto items =
        PathList(*value, fields->mark, Child("filesystem", key), "path");
    if (!items) return Unexpected(items.error());
    *target = std::move(*items);
  }
  return {};
}

Status Parser::ParseIdentity(const YAML::Node& node, const YAML::Mark& fallback,
                             Identity* out) const {
  auto fields = OpenMap(node, fallback, "identity",
                        {"hostname", "uid", "gid", "user_namespace"});
  if (!fields) return Unexpected(fields.error());
  if (auto value = fields->Get("hostname")) {
    auto text = String(*value, fields->mark, "identity.hostname");
    if (!text) return Unexpected(text.error());
    // The kernel's limit (HOST_NAME_MAX); sethostname would fail later.
    if (text->empty() || text->size() > 64) {
      return Err(MarkOf(*value, fields->mark), "identity.hostname",
                 "hostname must be 1 to 64 characters");
    }
    out->hostname = *text;
  }
  std::pair<std::string_view, std::optional<uint32_t>*> ids[] = {
      {"uid", &out->uid}, {"gid", &out->gid}};
  for (auto& [key, target] : ids) {
    auto value = fields->Get(key);
    if (!value) continue;
    const std::string path = Child("identity", key);
    auto number = Unsigned(*value, fields->mark, path);
    if (!number) return Unexpected(number.error());
    // (uid_t)-1 means "no change" to the kernel, so it cannot be an identity.
    if (*number >= 0xffffffffu) {
      return Err(MarkOf(*value, fields->mark), path,
                 fmt::format("{} {} out of range (expected 0..4294967294)", key,
                             *number));
    }
    *target = static_cast<uint32_t>(*number);
  }
  if (auto value = fields->Get("user_namespace")) {
    auto flag = Bool(*value, fields->mark, "identity.user_namespace");
    if (!flag) return Unexpected(flag.error());
    out->user_namespace = *flag;
  }
  return {};
}

Status Parser::ParseCapabilities(const YAML::Node& node,
                                 const YAML::Mark& fallback,
                                 std::vector<std::string>* out) const {
  auto items = StringList(node, fallback, "capabilities");
  if (!items) return Unexpected(items.error());
  out->clear();
  for (size_t i = 0; i < items->size(); ++i) {
    const auto& [text, mark] = (*items)[i];
    // libcap knows every name the kernel headers it was built with know
    // ("cap_net_bind_service", any case); the model keeps the canonical
    // upper-case form.
    cap_value_t value = 0;
    if (::cap_from_name(text.c_str(), &value) != 0) {
      return Err(mark, Element("capabilities", i),
                 fmt::format("unknown capability '{}' (expected a name like "
                             "CAP_NET_BIND_SERVICE)",
                             text));
    }
    std::string name = text;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    if (std::find(out->begin(), out->end(), name) == out->end()) {
      out->push_back(std::move(name));
    }
  }
  return {};
}

Result<std::vector<std::pair<int, YAML::Mark>>> Parser::SyscallList(
    const YAML::Node& node, const YAML::Mark& fallback,
    const std::string& path) const {
  auto names = StringList(node, fallback, path);
  if (!names) return Unexpected(names.error());
  if (names->empty()) {
    return Err(MarkOf(node, fallback), path,
               "empty list (name at least one syscall)");
  }
  std::vector<std::pair<int, YAML::Mark>> out;
  for (size_t i = 0; i < names->size(); ++i) {
    const auto& [name, mark] = (*names)[i];
    auto number = SyscallNumber(name);
    if (!number) {
      return Err(mark, Element(path, i),
                 fmt::format("unknown x86-64 syscall '{}'", name));
    }
    out.emplace_back(*number, mark);
  }
  return out;
}

Status Parser::ParseAcceptedHoles(const YAML::Node& node,
                                  const YAML::Mark& fallback,
                                  std::vector<AcceptedHole>* out) const {
  YAML::Mark mark = MarkOf(node, fallback);
  if (!node.IsSequence()) {
    return Err(mark, "accepted_holes",
               fmt::format("expected a list of {{syscalls, reason}}, got {}",
                           Describe(node)));
  }
  std::map<int, size_t> first_entry;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = Element("accepted_holes", i);
    auto fields = OpenMap(node[i], mark, path, {"syscalls", "reason"});
    if (!fields) return Unexpected(fields.error());
    AcceptedHole entry;
    entry.position = {fields->mark.line + 1, fields->mark.column + 1};
    auto syscalls = fields->Get("syscalls");
    if (!syscalls) {
      return Err(fields->mark, Child(path, "syscalls"),
                 "required key is missing");
    }
    auto named = SyscallList(*syscalls, fields->mark, Child(path, "syscalls"));
    if (!named) return Unexpected(named.error());
    for (size_t k = 0; k < named->size(); ++k) {
      const auto& [number, syscall_mark] = (*named)[k];
      auto [it, inserted] = first_entry.emplace(number, i);
      if (!inserted) {
        return Err(syscall_mark, Element(Child(path, "syscalls"), k),
                   fmt::format("'{}' is already accepted by "
                               "accepted_holes[{}]",
                               SyscallName(number), it->second));
      }
      entry.syscalls.push_back(number);
    }
    // The reason is what a reader of the policy (and of `policy check`)
    // has to judge the hole by: it may not be left out or blank.
    auto reason = fields->Get("reason");
    if (!reason) {
      return Err(fields->mark, Child(path, "reason"),
                 "required key is missing (say why this hole is acceptable)");
    }
    auto text = String(*reason, fields->mark, Child(path, "reason"));
    if (!text) return Unexpected(text.error());
    if (std::all_of(text->begin(), text->end(),
                    [](unsigned char c) { return std::isspace(c) != 0; })) {
      return Err(MarkOf(*reason, fields->mark), Child(path, "reason"),
                 "empty reason (say why this hole is acceptable)");
    }
    entry.reason = *text;
    out->push_back(std::move(entry));
  }
  return {};
}

Result<std::string> ReadFile(const std::string& path) {
  // One byte past the limit at most: enough for ParsePolicy to say the file
  // is too large, whatever the file is.
  auto text = ReadFileUpTo(path, kMaxPolicyBytes);
  if (!text) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}: cannot read policy: {}", path,
                            std::strerror(text.error().sys_errno())),
                text.error().sys_errno());
  }
  return text;
}

const policies_internal::EmbeddedPreset* FindPreset(std::string_view name) {
  for (const auto& preset : policies_internal::EmbeddedPresets()) {
    if (preset.name == name) return &preset;
  }
  return nullptr;
}

std::string PresetList() {
  std::vector<std::string_view> names;
  for (const auto& preset : policies_internal::EmbeddedPresets()) {
    names.push_back(preset.name);
  }
  return Join(names);
}

}  // namespace

Result<Policy> ParsePolicy(std::string_view yaml_text,
                           std::string_view source_name, ParseOptions options) {
  if (yaml_text.size() > kMaxPolicyBytes) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}: policy larger than {} KiB (a policy is a few "
                            "kilobytes; is this the right file?)",
                            source_name, kMaxPolicyBytes / 1024));
  }
  try {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(yaml_text));
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp's own guard says only "bad file".
      return Fail(ErrorCode::kPolicy,
                  fmt::format("{}:{}:{}: YAML nested {} levels deep, more "
                              "than the parser allows (a policy nests a few "
                              "levels)",
                              source_name, e.mark.line + 1, e.mark.column + 1,
                              e.depth()));
    } catch (const YAML::ParserException& e) {
      return Fail(ErrorCode::kPolicy,
                  fmt::format("{}:{}:{}: YAML syntax error: {}", source_name,
                              e.mark.line + 1, e.mark.column + 1, e.msg));
    }
    Policy policy;
    policy.name = std::string(source_name);
    policy.source = std::string(yaml_text);
    Parser parser(source_name);
    if (auto status = parser.ParseRoot(root, &policy); !status) {
      return Unexpected(status.error());
    }
    if (options.refuse_holes) {
      if (auto status = CheckHoles(policy, source_name); !status) {
        return Unexpected(status.error());
      }
    }
    return policy;
  } catch (const YAML::Exception& e) {
    // Every node access above is checked first; this is a safety net so a
    // yaml-cpp surprise becomes an error, never an escaping exception.
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}:{}:{}: YAML error: {}", source_name,
                            e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kPolicy, fmt::format("{}: cannot load policy: {}",
                                                source_name, e.what()));
  }
}

Result<Policy> LoadPolicyFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return Unexpected(text.error());
  return ParsePolicy(*text, path);
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const auto& preset : policies_internal::EmbeddedPresets()) {
    names.emplace_back(preset.name);
  }
  return names;
}

Result<std::string> PresetText(std::string_view name) {
  const auto* preset = FindPreset(name);
  if (preset == nullptr) {
    return Fail(
        ErrorCode::kPolicy,
        fmt::format("unknown preset '{}' (presets: {})", name, PresetList()));
  }
  return std::string(preset->text);
}

Result<Policy> LoadPreset(std::string_view name) {
  const auto* preset = FindPreset(name);
  if (preset == nullptr) {
    return Fail(
        ErrorCode::kPolicy,
        fmt::format("unknown preset '{}' (presets: {})", name, PresetList()));
  }
  // Compiled at build time from the same YAML (PresetTest checks they are
  // equal): a run on a preset parses no YAML.
  if (std::optional<Policy> compiled =
          policies_internal::CompiledPreset(name, preset->text)) {
    return std::move(*compiled);
  }
  auto policy = ParsePolicy(preset->text, fmt::format("presets/{}.yaml", name));
  if (!policy) return policy;
  policy->name = std::string(name);
  return policy;
}

Result<Policy> LoadPolicyArgument(const std::string& name_or_path) {
  if (FindPreset(name_or_path) != nullptr) return LoadPreset(name_or_path);
  struct stat info;
  if (::stat(name_or_path.c_str(), &info) != 0 && errno == ENOENT) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}: no such policy file, and not a preset "
                            "(presets: {})",
                            name_or_path, PresetList()),
                ENOENT);
  }
  return LoadPolicyFile(name_or_path);
}

}  // namespace isoscope
