#include "policies/oci_import.h"

#include <sys/capability.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/io.h"
#include "policies/holes.h"
#include "policies/loader.h"
#include "policies/syscalls.h"
#include "policies/yaml_text.h"

namespace isoscope {
namespace {

using nlohmann::json;
using Unexpected = tl::unexpected<Error>;

// The object at `key`, or nullptr when absent or null; an error when it is
// there with another type.
Result<const json*> Member(const json& parent, std::string_view key,
                           json::value_t type, const std::string& path) {
  const auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  const bool matches =
      it->type() == type ||
      (type == json::value_t::number_unsigned && it->is_number_integer()) ||
      (type == json::value_t::number_integer && it->is_number_integer());
  if (!matches) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}.{}: expected {}, found {}", path, key,
                            json(type).type_name(), it->type_name()));
  }
  return &*it;
}

// A non-negative integer at `key` (nullopt when absent).
Result<std::optional<uint64_t>> Unsigned(const json& parent,
                                         std::string_view key,
                                         const std::string& path) {
  auto member = Member(parent, key, json::value_t::number_integer, path);
  if (!member) return Unexpected(member.error());
  if (*member == nullptr) return std::optional<uint64_t>();
  if ((*member)->is_number_unsigned()) {
    return std::optional<uint64_t>((*member)->get<uint64_t>());
  }
  const auto value = (*member)->get<int64_t>();
  if (value < 0) return std::optional<uint64_t>();  // -1: unlimited
  return std::optional<uint64_t>(static_cast<uint64_t>(value));
}

Result<std::vector<std::string>> Strings(const json& parent,
                                         std::string_view key,
                                         const std::string& path) {
  auto member = Member(parent, key, json::value_t::array, path);
  if (!member) return Unexpected(member.error());
  std::vector<std::string> out;
  if (*member == nullptr) return out;
  for (size_t i = 0; i < (*member)->size(); ++i) {
    const json& item = (**member)[i];
    if (!item.is_string()) {
      return Fail(ErrorCode::kPolicy,
                  fmt::format("{}.{}[{}]: expected string, found {}", path, key,
                              i, item.type_name()));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// Accumulates the policy's YAML and the notes of what did not carry over.
struct Output {
  std::string yaml;
  std::vector<std::string> notes;
  void Note(std::string_view text) { notes.push_back(YamlCommentText(text)); }
};

// One seccomp action as the policy's action and, for deny, its errno.
struct ImportedAction {
  std::string action;      // allow, deny, kill, log
  std::string errno_name;  // deny only

  // The flow form `default:` and `abi:` take.
  std::string Inline() const {
    return errno_name.empty()
               ? action
               : fmt::format("{{action: {}, errno: {}}}", action, errno_name);
  }
  // The lines a rule takes, indented as rules are.
  std::string RuleLines() const {
    return errno_name.empty()
               ? fmt::format("      action: {}\n", action)
               : fmt::format("      action: {}\n      errno: {}\n", action,
                             errno_name);
  }
};

Result<ImportedAction> ActionOf(const std::string& action,
                                std::optional<uint64_t> errno_ret,
                                const std::string& path, Output* out) {
  if (action == "SCMP_ACT_ALLOW") return ImportedAction{"allow", ""};
  if (action == "SCMP_ACT_LOG") return ImportedAction{"log", ""};
  if (action == "SCMP_ACT_KILL" || action == "SCMP_ACT_KILL_THREAD" ||
      action == "SCMP_ACT_KILL_PROCESS") {
    return ImportedAction{"kill", ""};
  }
  if (action == "SCMP_ACT_TRAP") {
    out->Note(fmt::format(
        "{}: SCMP_ACT_TRAP (SIGSYS, fatal unless the program handles it) "
        "imported as kill",
        path));
    return ImportedAction{"kill", ""};
  }
  if (action == "SCMP_ACT_TRACE") {
    out->Note(fmt::format(
        "{}: SCMP_ACT_TRACE imported as deny ENOSYS, what the kernel "
        "answers when no tracer is attached",
        path));
    return ImportedAction{"deny", "ENOSYS"};
  }
  if (action == "SCMP_ACT_NOTIFY") {
    out->Note(fmt::format(
        "{}: SCMP_ACT_NOTIFY leaves the answer to the runtime's seccomp "
        "agent, which isoscope cannot know: imported as log (run and "
        "record)",
        path));
    return ImportedAction{"log", ""};
  }
  if (action == "SCMP_ACT_ERRNO") {
    const uint64_t value = errno_ret.value_or(EPERM);
    const std::string_view name =
        value <= 4095 ? ErrnoName(static_cast<int>(value)) : "";
    if (name.empty()) {
      out->Note(fmt::format(
          "{}: errnoRet {} has no errno name; imported as EPERM", path, value));
      return ImportedAction{"deny", "EPERM"};
    }
    return ImportedAction{"deny", std::string(name)};
  }
  return Fail(ErrorCode::kPolicy, fmt::format("{}: unknown seccomp action '{}'",
                                              path, YamlCommentText(action)));
}

const std::map<std::string, std::string, std::less<>>& CompareOps() {
  static const auto* ops = new std::map<std::string, std::string, std::less<>>{
      {"SCMP_CMP_NE", "ne"},
      {"SCMP_CMP_LT", "lt"},
      {"SCMP_CMP_LE", "le"},
      {"SCMP_CMP_EQ", "eq"},
      {"SCMP_CMP_GE", "ge"},
      {"SCMP_CMP_GT", "gt"},
      {"SCMP_CMP_MASKED_EQ", "masked_eq"}};
  return *ops;
}

// One `{index: .., op: .., value: ..}` of linux.seccomp.syscalls[i].args.
Result<std::pair<uint64_t, std::string>> ArgYaml(const json& arg,
                                                 const std::string& path) {
  if (!arg.is_object()) {
    return Fail(ErrorCode::kPolicy, fmt::format("{}: expected object, found {}",
                                                path, arg.type_name()));
  }
  auto index = Unsigned(arg, "index", path);
  if (!index) return Unexpected(index.error());
  auto value = Unsigned(arg, "value", path);
  if (!value) return Unexpected(value.error());
  auto value_two = Unsigned(arg, "valueTwo", path);
  if (!value_two) return Unexpected(value_two.error());
  auto op = Member(arg, "op", json::value_t::string, path);
  if (!op) return Unexpected(op.error());
  if (!index->has_value() || *index.value() > 5) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}.index: expected 0 to 5", path));
  }
  if (*op == nullptr) {
    return Fail(ErrorCode::kPolicy, fmt::format("{}.op: missing", path));
  }
  const auto found = CompareOps().find((*op)->get<std::string>());
  if (found == CompareOps().end()) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}.op: unknown comparison '{}'", path,
                            (*op)->get<std::string>()));
  }
  const uint64_t first = value->value_or(0);
  if (found->second == "masked_eq") {
    // The runtime spec's value is the mask, valueTwo the datum.
    return std::make_pair(
        **index, fmt::format("{{index: {}, op: masked_eq, mask: {:#x}, "
                             "value: {:#x}}}",
                             **index, first, value_two->value_or(0)));
  }
  return std::make_pair(
      **index, fmt::format("{{index: {}, op: {}, value: {:#x}}}", **index,
                           found->second, first));
}

std::string FlowList(const std::vector<std::string>& items) {
  std::string out = "[";
  size_t line = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    if (line > 60) {
      out += "\n      ";
      line = 0;
    }
    out += items[i];
    line += items[i].size() + 2;
  }
  return out + "]";
}

std::string QuotedList(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  quoted.reserve(items.size());
  for (const std::string& item : items) quoted.push_back(YamlQuoted(item));
  return FlowList(quoted);
}

Status ImportSeccomp(const json* seccomp, Output* out) {
  out->yaml += "syscalls:\n";
  if (seccomp == nullptr) {
    out->yaml +=
        "  # The config has no linux.seccomp: every syscall runs.\n"
        "  default: allow\n"
        "  # isoscope decodes only x86-64 arguments, so 32-bit and x32 "
        "calls,\n  # which would run too, fail softly.\n"
        "  abi: {i386: {action: deny, errno: ENOSYS}, x32: {action: deny, "
        "errno: ENOSYS}}\n";
    out->Note(
        "no linux.seccomp: imported as default allow; 32-bit and x32 calls, "
        "which the runtime would let run, are denied ENOSYS");
    return {};
  }
  const std::string path = "linux.seccomp";
  auto default_action =
      Member(*seccomp, "defaultAction", json::value_t::string, path);
  if (!default_action) return Unexpected(default_action.error());
  if (*default_action == nullptr) {
    return Fail(ErrorCode::kPolicy, "linux.seccomp.defaultAction: missing");
  }
  auto default_errno = Unsigned(*seccomp, "defaultErrnoRet", path);
  if (!default_errno) return Unexpected(default_errno.error());
  auto default_yaml = ActionOf((*default_action)->get<std::string>(),
                               *default_errno, path + ".defaultAction", out);
  if (!default_yaml) return Unexpected(default_yaml.error());
  out->yaml += fmt::format("  # linux.seccomp.defaultAction: {}\n",
                           (*default_action)->get<std::string>());
  out->yaml += fmt::format("  default: {}\n", default_yaml->Inline());

  auto arches = Strings(*seccomp, "architectures", path);
  if (!arches) return Unexpected(arches.error());
  const bool x86 = std::ranges::find(*arches, "SCMP_ARCH_X86") != arches->end();
  const bool x32 = std::ranges::find(*arches, "SCMP_ARCH_X32") != arches->end();
  if (x86 || x32) {
    out->Note(
        "linux.seccomp.architectures lets 32-bit or x32 calls through the "
        "same rules; isoscope decodes only x86-64 arguments, so they are "
        "denied ENOSYS");
  }
  out->yaml += fmt::format(
      "  # Non-native ABIs: {}.\n"
      "  abi: {{i386: {}, x32: {}}}\n",
      x86 || x32 ? "the config admits some, which isoscope cannot decode"
                 : "not in linux.seccomp.architectures, so the kernel "
                   "refuses them",
      x86 ? "{action: deny, errno: ENOSYS}" : "kill",
      x32 ? "{action: deny, errno: ENOSYS}" : "kill");

  auto syscalls = Member(*seccomp, "syscalls", json::value_t::array, path);
  if (!syscalls) return Unexpected(syscalls.error());
  if (*syscalls == nullptr) return {};
  bool any_rule = false;
  for (size_t i = 0; i < (*syscalls)->size(); ++i) {
    const json& entry = (**syscalls)[i];
    const std::string entry_path = fmt::format("{}.syscalls[{}]", path, i);
    if (!entry.is_object()) {
      return Fail(ErrorCode::kPolicy,
                  fmt::format("{}: expected object, found {}", entry_path,
                              entry.type_name()));
    }
    auto names = Strings(entry, "names", entry_path);
    if (!names) return Unexpected(names.error());
    auto action = Member(entry, "action", json::value_t::string, entry_path);
    if (!action) return Unexpected(action.error());
    if (*action == nullptr) {
      return Fail(ErrorCode::kPolicy,
                  fmt::format("{}.action: missing", entry_path));
    }
    auto errno_ret = Unsigned(entry, "errnoRet", entry_path);
    if (!errno_ret) return Unexpected(errno_ret.error());
    auto action_yaml =
        ActionOf((*action)->get<std::string>(), *errno_ret, entry_path, out);
    if (!action_yaml) return Unexpected(action_yaml.error());

    std::vector<std::string> known;
    std::vector<std::string> unknown;
    std::set<std::string> seen;
    for (const std::string& name : *names) {
      if (!seen.insert(name).second) continue;
      (SyscallNumber(name).has_value() ? known : unknown).push_back(name);
    }
    if (!unknown.empty()) {
      out->Note(
          fmt::format("{}: not x86-64 syscalls libseccomp knows, left out: {}",
                      entry_path, fmt::join(unknown, ", ")));
    }
    if (known.empty()) continue;

    std::vector<std::pair<uint64_t, std::string>> args;
    auto args_json = Member(entry, "args", json::value_t::array, entry_path);
    if (!args_json) return Unexpected(args_json.error());
    if (*args_json != nullptr) {
      for (size_t a = 0; a < (*args_json)->size(); ++a) {
        auto arg = ArgYaml((**args_json)[a],
                           fmt::format("{}.args[{}]", entry_path, a));
        if (!arg) return Unexpected(arg.error());
        args.push_back(std::move(*arg));
      }
    }
    // As runc builds its filter: conditions on distinct arguments must all
    // hold; two on the same argument are alternatives, a rule each.
    std::map<uint64_t, int> per_index;
    for (const auto& [index, text] : args) ++per_index[index];
    const bool alternatives = std::ranges::any_of(
        per_index, [](const auto& entry) { return entry.second > 1; });
    std::vector<std::vector<std::string>> rules;
    if (alternatives) {
      for (const auto& arg : args) rules.push_back({arg.second});
    } else {
      rules.emplace_back();
      for (const auto& arg : args) rules.back().push_back(arg.second);
    }
    if (!any_rule) out->yaml += "  rules:\n";
    any_rule = true;
    for (size_t r = 0; r < rules.size(); ++r) {
      out->yaml += fmt::format(
          "    # {}: {} for {} name{}{}\n", entry_path,
          (*action)->get<std::string>(), known.size(),
          known.size() == 1 ? "" : "s",
          rules.size() > 1
              ? fmt::format(", alternative {} of {}", r + 1, rules.size())
              : "");
      out->yaml += fmt::format("    - id: oci-seccomp-{}{}\n", i,
                               rules.size() > 1 ? fmt::format("-{}", r) : "");
      out->yaml += fmt::format("      syscalls: {}\n", FlowList(known));
      if (!rules[r].empty()) {
        out->yaml += "      args:\n";
        for (const std::string& arg : rules[r]) {
          out->yaml += fmt::format("        - {}\n", arg);
        }
      }
      out->yaml += action_yaml->RuleLines();
    }
  }
  return {};
}

// linux.resources and process.rlimits.
Status ImportResources(const json& config, Output* out) {
  std::vector<std::string> lines;
  if (auto linux = Member(config, "linux", json::value_t::object, "config");
      linux && *linux != nullptr) {
    auto resources =
        Member(**linux, "resources", json::value_t::object, "linux");
    if (!resources) return Unexpected(resources.error());
    if (*resources != nullptr) {
      const std::string path = "linux.resources";
      auto memory = Member(**resources, "memory", json::value_t::object, path);
      if (!memory) return Unexpected(memory.error());
      if (*memory != nullptr) {
        auto limit = Unsigned(**memory, "limit", path + ".memory");
        if (!limit) return Unexpected(limit.error());
        if (limit->has_value()) {
          lines.push_back(fmt::format(
              "  # linux.resources.memory.limit\n  memory: {}B\n", **limit));
        }
      }
      auto pids = Member(**resources, "pids", json::value_t::object, path);
      if (!pids) return Unexpected(pids.error());
      if (*pids != nullptr) {
        auto limit = Unsigned(**pids, "limit", path + ".pids");
        if (!limit) return Unexpected(limit.error());
        if (limit->has_value() && **limit > 0) {
          lines.push_back(fmt::format(
              "  # linux.resources.pids.limit\n  processes: {}\n", **limit));
        }
      }
      for (const char* other : {"cpu", "blockIO", "hugepageLimits", "network",
                                "rdma", "unified", "devices"}) {
        if (resources.value()->contains(other)) {
          out->Note(fmt::format(
              "linux.resources.{}: no isoscope equivalent (isoscope limits "
              "memory, processes, CPU time, wall time, open files, file "
              "size and output), left out",
              other));
        }
      }
    }
  }
  if (auto process = Member(config, "process", json::value_t::object, "config");
      process && *process != nullptr) {
    auto rlimits =
        Member(**process, "rlimits", json::value_t::array, "process");
    if (!rlimits) return Unexpected(rlimits.error());
    if (*rlimits != nullptr) {
      for (size_t i = 0; i < (*rlimits)->size(); ++i) {
        const json& limit = (**rlimits)[i];
        const std::string path = fmt::format("process.rlimits[{}]", i);
        if (!limit.is_object()) {
          return Fail(ErrorCode::kPolicy,
                      fmt::format("{}: expected object", path));
        }
        auto type = Member(limit, "type", json::value_t::string, path);
        if (!type) return Unexpected(type.error());
        auto hard = Unsigned(limit, "hard", path);
        if (!hard) return Unexpected(hard.error());
        if (*type == nullptr || !hard->has_value()) continue;
        const std::string name = (*type)->get<std::string>();
        if (name == "RLIMIT_NOFILE") {
          lines.push_back(
              fmt::format("  # {} (hard)\n  open_files: {}\n", name, **hard));
        } else if (name == "RLIMIT_FSIZE") {
          lines.push_back(
              fmt::format("  # {} (hard)\n  file_size: {}B\n", name, **hard));
        } else if (name == "RLIMIT_CPU") {
          lines.push_back(
              fmt::format("  # {} (hard, seconds)\n  cpu_time: "
                          "{}s\n",
                          name, **hard));
        } else {
          out->Note(fmt::format("{}: {} has no isoscope equivalent, left out",
                                path, name));
        }
      }
    }
  }
  if (lines.empty()) return {};
  out->yaml += "\nresources:\n";
  for (const std::string& line : lines) out->yaml += line;
  return {};
}

// What isoscope provides itself inside its view: never imported as mounts.
bool ProvidedByIsoscope(const std::string& destination) {
  for (std::string_view own : {"/proc", "/dev", "/dev/pts", "/sys"}) {
    if (destination == own) return true;
  }
  return false;
}

bool UnderProcOrSys(const std::string& path) {
  return path.starts_with("/proc/") || path.starts_with("/sys/") ||
         path == "/proc" || path == "/sys";
}

Status ImportFilesystem(const json& config, Output* out) {
  std::vector<std::string> readonly = {"/"};
  std::vector<std::string> writable = {"{workdir}"};
  std::vector<std::string> tmpfs;
  std::vector<std::string> hidden;
  std::string comment =
      "# The root is read-only and the run's scratch workdir writable, as "
      "in\n# every isoscope policy";
  auto root = Member(config, "root", json::value_t::object, "config");
  if (!root) return Unexpected(root.error());
  if (*root != nullptr) {
    auto readonly_root = (*root)->find("readonly");
    if (readonly_root != (*root)->end() && readonly_root->is_boolean() &&
        !readonly_root->get<bool>()) {
      out->Note(
          "root.readonly is false: imported read-only (isoscope never lets "
          "a workload write its root; the workdir and tmpfs are writable)");
    }
  }
  auto mounts = Member(config, "mounts", json::value_t::array, "config");
  if (!mounts) return Unexpected(mounts.error());
  if (*mounts != nullptr) {
    for (size_t i = 0; i < (*mounts)->size(); ++i) {
      const json& mount = (**mounts)[i];
      const std::string path = fmt::format("mounts[{}]", i);
      if (!mount.is_object()) {
        return Fail(ErrorCode::kPolicy,
                    fmt::format("{}: expected object", path));
      }
      auto destination =
          Member(mount, "destination", json::value_t::string, path);
      if (!destination) return Unexpected(destination.error());
      if (*destination == nullptr) {
        return Fail(ErrorCode::kPolicy,
                    fmt::format("{}.destination: missing", path));
      }
      const std::string dest = (*destination)->get<std::string>();
      auto type = Member(mount, "type", json::value_t::string, path);
      if (!type) return Unexpected(type.error());
      auto options = Strings(mount, "options", path);
      if (!options) return Unexpected(options.error());
      auto source = Member(mount, "source", json::value_t::string, path);
      if (!source) return Unexpected(source.error());
      const std::string kind =
          *type != nullptr ? (*type)->get<std::string>() : "";
      const bool bind = kind == "bind" ||
                        std::ranges::find(*options, "bind") != options->end() ||
                        std::ranges::find(*options, "rbind") != options->end();
      if (ProvidedByIsoscope(dest)) continue;  // isoscope's own /proc, /dev
      if (!dest.starts_with('/')) {
        out->Note(
            fmt::format("{}: relative destination '{}' left out", path, dest));
        continue;
      }
      if (kind == "tmpfs" && !bind) {
        tmpfs.push_back(dest);
      } else if (bind && *source != nullptr &&
                 (*source)->get<std::string>() == dest) {
        const bool ro = std::ranges::find(*options, "ro") != options->end();
        (ro ? readonly : writable).push_back(dest);
      } else if (bind) {
        out->Note(fmt::format(
            "{}: a bind of {} at {}: isoscope shows a host path only at its "
            "own place, left out",
            path, *source != nullptr ? (*source)->get<std::string>() : "(none)",
            dest));
      } else {
        out->Note(fmt::format("{}: a {} mount at {}: left out", path,
                              kind.empty() ? "typeless" : kind, dest));
      }
    }
  }
  if (auto linux = Member(config, "linux", json::value_t::object, "config");
      linux && *linux != nullptr) {
    auto masked = Strings(**linux, "maskedPaths", "linux");
    if (!masked) return Unexpected(masked.error());
    std::vector<std::string> in_proc;
    for (const std::string& p : *masked) {
      (UnderProcOrSys(p) ? in_proc : hidden).push_back(p);
    }
    if (!in_proc.empty()) {
      out->Note(fmt::format(
          "linux.maskedPaths under /proc and /sys ({} of them) left out: "
          "isoscope's container shows a /proc of the workload's own pid "
          "namespace and no /sys",
          in_proc.size()));
    }
    auto readonly_paths = Strings(**linux, "readonlyPaths", "linux");
    if (!readonly_paths) return Unexpected(readonly_paths.error());
    if (!readonly_paths->empty()) {
      comment += ";\n# linux.readonlyPaths are covered by the read-only root";
    }
  }
  out->yaml += fmt::format("\n{}.\nfilesystem:\n  readonly: {}\n", comment,
                           QuotedList(readonly));
  out->yaml += fmt::format("  writable: {}\n", QuotedList(writable));
  if (!tmpfs.empty()) {
    out->yaml += fmt::format("  # the config's tmpfs mounts\n  tmpfs: {}\n",
                             QuotedList(tmpfs));
  }
  if (!hidden.empty()) {
    out->yaml += fmt::format("  # linux.maskedPaths\n  hidden: {}\n",
                             QuotedList(hidden));
  }
  return {};
}

// Namespaces, hostname, user: network and identity.
Status ImportIdentityAndNetwork(const json& config, Output* out) {
  std::set<std::string> namespaces;
  bool joins_network = false;
  if (auto linux = Member(config, "linux", json::value_t::object, "config");
      linux && *linux != nullptr) {
    auto list = Member(**linux, "namespaces", json::value_t::array, "linux");
    if (!list) return Unexpected(list.error());
    if (*list != nullptr) {
      for (size_t i = 0; i < (*list)->size(); ++i) {
        const json& ns = (**list)[i];
        const std::string path = fmt::format("linux.namespaces[{}]", i);
        if (!ns.is_object()) {
          return Fail(ErrorCode::kPolicy,
                      fmt::format("{}: expected object", path));
        }
        auto type = Member(ns, "type", json::value_t::string, path);
        if (!type) return Unexpected(type.error());
        if (*type == nullptr) continue;
        const std::string name = (*type)->get<std::string>();
        namespaces.insert(name);
        if (name == "network" && ns.contains("path")) joins_network = true;
      }
    }
  }
  if (namespaces.contains("network") && !joins_network) {
    out->yaml +=
        "\n# A new network namespace: the runtime brings up only loopback.\n"
        "network: loopback\n";
  } else {
    if (joins_network) {
      out->Note(
          "linux.namespaces joins an existing network namespace, which "
          "isoscope cannot know: imported as host");
    }
    out->yaml +=
        fmt::format("\n# {}.\nnetwork: host\n",
                    joins_network ? "Joins an existing network namespace"
                                  : "No network namespace: the host's network");
  }

  std::vector<std::string> identity;
  auto hostname = Member(config, "hostname", json::value_t::string, "config");
  if (!hostname) return Unexpected(hostname.error());
  if (*hostname != nullptr) {
    if (namespaces.contains("uts")) {
      identity.push_back("hostname: " +
                         YamlQuoted((*hostname)->get<std::string>()));
    } else {
      out->Note(
          "hostname without a uts namespace (the runtime refuses it), "
          "left out");
    }
  }
  auto process = Member(config, "process", json::value_t::object, "config");
  if (!process) return Unexpected(process.error());
  if (*process != nullptr) {
    auto user = Member(**process, "user", json::value_t::object, "process");
    if (!user) return Unexpected(user.error());
    if (*user != nullptr) {
      auto uid = Unsigned(**user, "uid", "process.user");
      if (!uid) return Unexpected(uid.error());
      auto gid = Unsigned(**user, "gid", "process.user");
      if (!gid) return Unexpected(gid.error());
      for (const auto& [key, value] :
           {std::pair{"uid", *uid}, std::pair{"gid", *gid}}) {
        if (!value.has_value()) continue;
        if (*value > UINT32_MAX - 1) {
          return Fail(ErrorCode::kPolicy,
                      fmt::format("process.user.{}: {} is not a valid id", key,
                                  *value));
        }
        identity.push_back(fmt::format("{}: {}", key, *value));
      }
      if ((*user)->contains("additionalGids")) {
        out->Note(
            "process.user.additionalGids: isoscope sets no "
            "supplementary groups, left out");
      }
    }
    if (auto nnp = (*process)->find("noNewPrivileges");
        nnp != (*process)->end() && nnp->is_boolean() && !nnp->get<bool>()) {
      out->Note(
          "process.noNewPrivileges is false: isoscope always sets "
          "no_new_privs");
    }
    for (const char* lsm : {"apparmorProfile", "selinuxLabel"}) {
      if ((*process)->contains(lsm)) {
        out->Note(
            fmt::format("process.{}: isoscope applies no LSM profile, "
                        "left out",
                        lsm));
      }
    }
  }
  if (namespaces.contains("user")) {
    identity.emplace_back("user_namespace: true");
  }
  if (!identity.empty()) {
    out->yaml +=
        "\n# process.user, hostname and the user namespace\n"
        "identity:\n";
    for (const std::string& line : identity) out->yaml += "  " + line + "\n";
  }
  return {};
}

// process.capabilities.bounding: what a root process holds after exec.
Status ImportCapabilities(const json& config, Output* out) {
  std::vector<std::string> names;
  auto process = Member(config, "process", json::value_t::object, "config");
  if (!process) return Unexpected(process.error());
  if (*process != nullptr) {
    auto caps =
        Member(**process, "capabilities", json::value_t::object, "process");
    if (!caps) return Unexpected(caps.error());
    if (*caps != nullptr) {
      auto bounding = Strings(**caps, "bounding", "process.capabilities");
      if (!bounding) return Unexpected(bounding.error());
      std::vector<std::string> unknown;
      for (const std::string& name : *bounding) {
        cap_value_t value = 0;
        if (::cap_from_name(name.c_str(), &value) != 0) {
          unknown.push_back(name);
        } else if (std::ranges::find(names, name) == names.end()) {
          names.push_back(name);
        }
      }
      if (!unknown.empty()) {
        out->Note(
            fmt::format("process.capabilities.bounding: unknown to "
                        "libcap, left out: {}",
                        fmt::join(unknown, ", ")));
      }
    }
  }
  out->yaml += fmt::format(
      "\n# process.capabilities.bounding: what a root process holds after "
      "exec.\ncapabilities: {}\n",
      FlowList(names));
  return {};
}

}  // namespace

Result<ImportedPolicy> ImportOciConfig(std::string_view config_json,
                                       std::string_view source_name) {
  if (config_json.size() > kMaxOciConfigBytes) {
    return Fail(
        ErrorCode::kPolicy,
        fmt::format("{}: {} bytes, more than the {} a runtime config "
                    "may have here",
                    source_name, config_json.size(), kMaxOciConfigBytes));
  }
  json config = json::parse(config_json, /*cb=*/nullptr,
                            /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}: not valid JSON (an OCI runtime config.json "
                            "is a JSON object)",
                            source_name));
  }
  if (!config.is_object()) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}: expected a JSON object, found {}", source_name,
                            config.type_name()));
  }
  Output out;
  out.yaml = fmt::format(
      "# Imported by `isoscope policy import` from {}:\n"
      "# what this OCI runtime configuration promises, as an isoscope "
      "policy.\n"
      "# Faults are not in the runtime spec: isoscope's defaults apply.\n"
      "version: 1\n\n",
      YamlCommentText(source_name));
  const json* seccomp = nullptr;
  if (auto linux = Member(config, "linux", json::value_t::object, "config");
      !linux) {
    return Unexpected(linux.error());
  } else if (*linux != nullptr) {
    auto found = Member(**linux, "seccomp", json::value_t::object, "linux");
    if (!found) return Unexpected(found.error());
    seccomp = *found;
  }
  for (Status status :
       {ImportSeccomp(seccomp, &out), ImportResources(config, &out),
        ImportFilesystem(config, &out), ImportIdentityAndNetwork(config, &out),
        ImportCapabilities(config, &out)}) {
    if (!status) return Unexpected(status.error().WithContext(source_name));
  }
  // A runtime config often lets through calls that step around the
  // policy's own path rules or network mode (holes.h): the import says what
  // the config promises, so it accepts them, by name and with why.
  auto parsed = ParsePolicy(out.yaml, source_name, {.refuse_holes = false});
  if (!parsed) {
    return Unexpected(parsed.error().WithContext(
        "the imported policy does not load (a bug in the import)"));
  }
  std::vector<std::string> hole_names;
  for (const Hole& hole : FindHoles(*parsed)) {
    const std::string name = SyscallName(hole.syscall);
    if (std::ranges::find(hole_names, name) == hole_names.end()) {
      hole_names.push_back(name);
    }
  }
  if (!hole_names.empty()) {
    out.yaml += fmt::format(
        "\n# Calls the config lets run that step around isoscope's path "
        "rules or\n# network mode (see `isoscope policy explain`).\n"
        "accepted_holes:\n  - syscalls: {}\n    reason: \"the OCI runtime "
        "config lets these run\"\n",
        FlowList(hole_names));
  }
  if (!out.notes.empty()) {
    out.yaml += "\n# Not carried over:\n";
    for (const std::string& note : out.notes) {
      out.yaml += "#  - " + note + "\n";
    }
  }
  return ImportedPolicy{std::move(out.yaml), std::move(out.notes)};
}

Result<ImportedPolicy> ImportOciConfigFile(const std::string& path) {
  std::error_code ec;
  const std::string file =
      std::filesystem::is_directory(path, ec)
          ? (std::filesystem::path(path) / "config.json").string()
          : path;
  auto text = ReadFileUpTo(file, kMaxOciConfigBytes);
  if (!text) {
    return Fail(ErrorCode::kPolicy,
                fmt::format("{}: cannot read runtime config: {}", file,
                            std::strerror(text.error().sys_errno())),
                text.error().sys_errno());
  }
  return ImportOciConfig(*text, file);
}

namespace {

// A bundle is a command-line input: its errors are usage errors (exit 64),
// not policy errors.
Unexpected AsBundleError(const Error& error, std::string_view source_name) {
  return Unexpected(Error(
      ErrorCode::kInvalidArgument,
      fmt::format("{}: {}", YamlCommentText(source_name), error.message())));
}

Result<OciBundle> ParseBundle(const json& config) {
  OciBundle bundle;
  auto root = Member(config, "root", json::value_t::object, "config");
  if (!root) return Unexpected(root.error());
  bundle.rootfs = "rootfs";
  if (*root != nullptr) {
    auto path = Member(**root, "path", json::value_t::string, "root");
    if (!path) return Unexpected(path.error());
    if (*path != nullptr) bundle.rootfs = (*path)->get<std::string>();
  }
  auto process = Member(config, "process", json::value_t::object, "config");
  if (!process) return Unexpected(process.error());
  if (*process == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "process: missing (the bundle says nothing to run)");
  }
  auto args = Strings(**process, "args", "process");
  if (!args) return Unexpected(args.error());
  if (args->empty() || args->front().empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "process.args: empty (the bundle says nothing to run)");
  }
  bundle.args = std::move(*args);
  auto env = Strings(**process, "env", "process");
  if (!env) return Unexpected(env.error());
  for (size_t i = 0; i < env->size(); ++i) {
    const std::string& entry = (*env)[i];
    if (entry.find('=') == std::string::npos || entry.front() == '=') {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("process.env[{}]: '{}' is not KEY=VALUE", i,
                              YamlCommentText(entry)));
    }
  }
  bundle.env = std::move(*env);
  auto cwd = Member(**process, "cwd", json::value_t::string, "process");
  if (!cwd) return Unexpected(cwd.error());
  if (*cwd != nullptr) {
    bundle.cwd = (*cwd)->get<std::string>();
    if (bundle.cwd.empty() || bundle.cwd.front() != '/') {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("process.cwd: '{}' is not an absolute path",
                              YamlCommentText(bundle.cwd)));
    }
    bundle.cwd = std::filesystem::path(bundle.cwd).lexically_normal().string();
    if (bundle.cwd.size() > 1 && bundle.cwd.back() == '/') {
      bundle.cwd.pop_back();
    }
  }
  auto user = Member(**process, "user", json::value_t::object, "process");
  if (!user) return Unexpected(user.error());
  if (*user != nullptr) {
    for (const auto& [key, id] :
         {std::pair{"uid", &bundle.uid}, std::pair{"gid", &bundle.gid}}) {
      auto value = Unsigned(**user, key, "process.user");
      if (!value) return Unexpected(value.error());
      if (!value->has_value()) continue;
      if (**value > UINT32_MAX - 1) {
        return Fail(
            ErrorCode::kInvalidArgument,
            fmt::format("process.user.{}: {} is not a valid id", key, **value));
      }
      *id = static_cast<uint32_t>(**value);
    }
  }
  return bundle;
}

}  // namespace

Result<OciBundle> ParseOciBundleConfig(std::string_view config_json,
                                       std::string_view source_name) {
  if (config_json.size() > kMaxOciConfigBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: {} bytes, more than the {} a config.json "
                            "may have here",
                            YamlCommentText(source_name), config_json.size(),
                            kMaxOciConfigBytes));
  }
  json config = json::parse(config_json, /*cb=*/nullptr,
                            /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: not a JSON object (an OCI runtime "
                            "config.json is one)",
                            YamlCommentText(source_name)));
  }
  auto bundle = ParseBundle(config);
  if (!bundle) return AsBundleError(bundle.error(), source_name);
  return bundle;
}

Result<OciBundle> LoadOciBundle(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path canonical = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(canonical, ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--bundle {}: not a directory (an OCI bundle is "
                            "a directory with config.json and a rootfs)",
                            dir));
  }
  const std::string file = (canonical / "config.json").string();
  auto text = ReadFileUpTo(file, kMaxOciConfigBytes);
  if (!text) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--bundle {}: cannot read {}: {}", dir, file,
                            std::strerror(text.error().sys_errno())),
                text.error().sys_errno());
  }
  auto bundle = ParseOciBundleConfig(*text, file);
  if (!bundle) return bundle;
  bundle->dir = canonical.string();
  const fs::path rootfs = canonical / bundle->rootfs;
  const fs::path rootfs_real = fs::canonical(rootfs, ec);
  if (ec || !fs::is_directory(rootfs_real, ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: root.path '{}': {} is not a directory", file,
                            YamlCommentText(bundle->rootfs), rootfs.string()));
  }
  bundle->rootfs = rootfs_real.string();
  return bundle;
}

}  // namespace isoscope
