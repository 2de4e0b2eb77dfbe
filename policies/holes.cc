#include "policies/holes.h"

#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "policies/decide.h"
#include "policies/syscalls.h"

namespace isoscope {
namespace {

// Calls that are holes whatever their arguments, by what they reach. The
// README's table ("Holes") is this one, with the reasons at more length.
struct HoleCall {
  std::string_view syscall;
  HoleKind kind;
  std::string_view what;
};

constexpr HoleCall kPathHoleCalls[] = {
    {"io_uring_setup", HoleKind::kNoPath,
     "a ring's IORING_OP_OPENAT, OPENAT2, STATX, RENAMEAT, UNLINKAT, "
     "MKDIRAT, SYMLINKAT and LINKAT name files in ring memory, not in a "
     "syscall"},
    {"open_by_handle_at", HoleKind::kNoPath,
     "opens a file by a handle (which can be guessed), with no path"},
    {"fanotify_init", HoleKind::kNoPath,
     "its events carry open descriptors of the files others touch"},
    {"bpf", HoleKind::kNoPath,
     "BPF_OBJ_GET and BPF_OBJ_PIN take a path inside bpf_attr, and BPF "
     "programs can read kernel memory"},
    {"quotactl", HoleKind::kNoPath,
     "its device path and Q_QUOTAON's quota file path are never decoded"},
    {"mount", HoleKind::kRebindsPaths,
     "a bind mount makes a checked path name another file"},
    {"umount2", HoleKind::kRebindsPaths,
     "uncovers what a mount hid under a checked path"},
    {"pivot_root", HoleKind::kRebindsPaths,
     "moves the root, so every later path names another file"},
    {"chroot", HoleKind::kRebindsPaths,
     "the kernel resolves later paths under the new root, not as checked"},
    {"fsopen", HoleKind::kRebindsPaths,
     "builds a filesystem to mount (fsconfig's source path is not decoded)"},
    {"fsconfig", HoleKind::kRebindsPaths,
     "FSCONFIG_SET_PATH and the source take paths that are not decoded"},
    {"fsmount", HoleKind::kRebindsPaths,
     "gives a descriptor of a new mount, outside every checked path"},
    {"fspick", HoleKind::kRebindsPaths, "reconfigures a mounted filesystem"},
    {"move_mount", HoleKind::kRebindsPaths,
     "attaches a mount over a checked path"},
    {"open_tree", HoleKind::kRebindsPaths,
     "OPEN_TREE_CLONE copies a mount tree that move_mount can attach"},
    {"mount_setattr", HoleKind::kRebindsPaths,
     "changes a mount's flags (read-only, idmapping)"},
    {"mknod", HoleKind::kRebindsPaths,
     "a device node under a checked path opens a disk or memory"},
    {"mknodat", HoleKind::kRebindsPaths,
     "a device node under a checked path opens a disk or memory"},
    {"setns", HoleKind::kRebindsPaths,
     "joining another mount namespace changes what every path names"},
    {"ptrace", HoleKind::kOtherProcess,
     "runs code in another process, which opens what it likes"},
    {"process_vm_readv", HoleKind::kOtherProcess,
     "reads another process's memory (the files it read)"},
    {"process_vm_writev", HoleKind::kOtherProcess,
     "writes another process's memory, a sibling's checked path included"},
    {"pidfd_getfd", HoleKind::kOtherProcess,
     "copies an open descriptor out of another process"},
    {"perf_event_open", HoleKind::kOtherProcess,
     "samples another process's registers and stack"},
};

constexpr HoleCall kNetworkHoleCalls[] = {
    {"io_uring_setup", HoleKind::kNetwork,
     "IORING_OP_SOCKET, CONNECT, BIND and SEND are not socket syscalls any "
     "rule sees"},
    {"setns", HoleKind::kNetwork, "joins another process's network namespace"},
    {"pidfd_getfd", HoleKind::kNetwork,
     "takes a connected socket from another process"},
    {"ptrace", HoleKind::kNetwork,
     "makes another process connect on the workload's behalf"},
    {"process_vm_writev", HoleKind::kNetwork,
     "rewrites another process's memory so that it connects"},
};

// The calls that take a socket address: with AF_UNIX it is a file path.
constexpr std::string_view kAddressCalls[] = {"connect", "bind", "sendto",
                                              "sendmsg", "sendmmsg"};
constexpr std::string_view kUnixAddressWhat =
    "an AF_UNIX address is a socket file path: connect reaches any listening "
    "socket, bind creates one anywhere";
constexpr std::string_view kUncheckedPathWhat =
    "its path argument is not checked by any paths rule";

bool Runs(const ActionSpec& action) {
  return action.action == Action::kAllow || action.action == Action::kLog;
}

bool Names(const Rule& rule, int number) {
  return std::find(rule.syscalls.begin(), rule.syscalls.end(), number) !=
         rule.syscalls.end();
}

// Where a call may run.
struct Reach {
  std::string rule_id;
  std::string field;
  SourcePosition position;
};

Reach RuleReach(const SyscallPolicy& syscalls, size_t index, bool otherwise) {
  const Rule& rule = syscalls.rules[index];
  std::string field = fmt::format("syscalls.rules[{}]", index);
  if (!otherwise) return {rule.id, std::move(field), rule.position};
  return {rule.id + ".else", field + ".else", rule.position};
}

// The first rule (or the default) that may let some call of `number` run;
// with `unchecked`, only where its paths were not checked: the action of a
// rule with `paths` runs only on checked paths. Conservative about `args`:
// a rule whose conditions may hold counts.
std::optional<Reach> FirstRun(const SyscallPolicy& syscalls, int number,
                              bool unchecked) {
  for (size_t i = 0; i < syscalls.rules.size(); ++i) {
    const Rule& rule = syscalls.rules[i];
    if (!Names(rule, number)) continue;
    const bool checked_paths = unchecked && rule.paths.has_value();
    if (Runs(rule.action) && !checked_paths) {
      return RuleReach(syscalls, i, false);
    }
    if (rule.otherwise && Runs(*rule.otherwise)) {
      return RuleReach(syscalls, i, true);
    }
    // A rule without conditions, or with an else, decides every call.
    if ((rule.args.empty() && !rule.paths) || rule.otherwise) {
      return std::nullopt;
    }
  }
  if (Runs(syscalls.default_action)) {
    return Reach{"syscalls.default", "syscalls.default",
                 syscalls.default_position};
  }
  return std::nullopt;
}

bool RunsForArgs(const Policy& policy, int number,
                 const std::array<uint64_t, 6>& args) {
  SyscallRequest request;
  request.number = number;
  request.args = args;
  return Runs(Decide(policy, request).action);
}

// Whether the workload can get an AF_UNIX socket: socket() or socketpair()
// of any type, with or without SOCK_NONBLOCK and SOCK_CLOEXEC, that the
// rules let run. (A socketpair's datagram socket can still bind or send to
// a path.)
bool UnixSocketsPossible(const Policy& policy) {
  for (uint64_t type : {uint64_t{SOCK_STREAM}, uint64_t{SOCK_DGRAM},
                        uint64_t{SOCK_SEQPACKET}}) {
    for (uint64_t flags :
         {uint64_t{0}, uint64_t{SOCK_NONBLOCK}, uint64_t{SOCK_CLOEXEC},
          uint64_t{SOCK_NONBLOCK | SOCK_CLOEXEC}}) {
      const std::array<uint64_t, 6> args = {AF_UNIX, type | flags, 0, 0, 0, 0};
      if (RunsForArgs(policy, SYS_socket, args) ||
          RunsForArgs(policy, SYS_socketpair, args)) {
        return true;
      }
    }
  }
  return false;
}

bool HasPathRules(const Policy& policy) {
  return std::any_of(policy.syscalls.rules.begin(), policy.syscalls.rules.end(),
                     [](const Rule& rule) { return rule.paths.has_value(); });
}

// ", while rule 'files' checks paths" / ", while rules 'a' and 'b' check
// paths"; empty without path rules.
std::string PathRulesClause(const Policy& policy) {
  std::vector<std::string> ids;
  for (const Rule& rule : policy.syscalls.rules) {
    if (rule.paths) ids.push_back(fmt::format("'{}'", rule.id));
  }
  if (ids.empty()) return "";
  if (ids.size() == 1) {
    return fmt::format(", while rule {} checks paths", ids.front());
  }
  std::string last = ids.back();
  ids.pop_back();
  return fmt::format(", while rules {} and {} check paths",
                     fmt::join(ids, ", "), last);
}

std::string Position(std::string_view source, const SourcePosition& at) {
  if (at.line == 0) return std::string(source);
  return fmt::format("{}:{}:{}", source, at.line, at.column);
}

// Why a kind of hole matters to this policy.
std::string KindText(const Policy& policy, HoleKind kind, bool plural) {
  const std::string limits = PathRulesClause(policy);
  switch (kind) {
    case HoleKind::kUncheckedPath:
      return fmt::format("{} a path that no paths rule checks{}",
                         plural ? "they take" : "it takes", limits);
    case HoleKind::kNoPath:
      return fmt::format("{} files with no path isoscope can check{}",
                         plural ? "they reach" : "it reaches", limits);
    case HoleKind::kRebindsPaths:
      return fmt::format("{} what a checked path names{}",
                         plural ? "they change" : "it changes", limits);
    case HoleKind::kOtherProcess:
      return fmt::format("{} with another process's descriptors or memory{}",
                         plural ? "they act" : "it acts", limits);
    case HoleKind::kUnixAddress:
      return fmt::format(
          "{} AF_UNIX addresses, which are file paths no rule "
          "checks{}",
          plural ? "they take" : "it takes", limits);
    case HoleKind::kNetwork:
      return fmt::format(
          "{} around network: {}{}", plural ? "they step" : "it steps",
          NetworkModeName(policy.network),
          policy.endpoints.empty() ? "" : " and its endpoint lists");
  }
  return "";
}

}  // namespace

std::string_view HoleKindName(HoleKind kind) {
  switch (kind) {
    case HoleKind::kUncheckedPath:
      return "unchecked path";
    case HoleKind::kNoPath:
      return "no path";
    case HoleKind::kRebindsPaths:
      return "rebinds paths";
    case HoleKind::kOtherProcess:
      return "other process";
    case HoleKind::kUnixAddress:
      return "unix address";
    case HoleKind::kNetwork:
      return "network";
  }
  return "unknown";
}

std::vector<Hole> FindHoles(const Policy& policy) {
  const SyscallPolicy& syscalls = policy.syscalls;
  std::vector<Hole> holes;
  auto add = [&](int number, HoleKind kind, const Reach& reach,
                 std::string_view what) {
    holes.push_back(Hole{number, kind, reach.rule_id, reach.field,
                         reach.position, std::string(what), std::nullopt});
  };
  auto add_if_runs = [&](const HoleCall& call) {
    auto number = SyscallNumber(call.syscall);
    if (!number) return;
    if (auto reach = FirstRun(syscalls, *number, /*unchecked=*/false)) {
      add(*number, call.kind, *reach, call.what);
    }
  };

  if (HasPathRules(policy)) {
    for (const HoleCall& call : kPathHoleCalls) add_if_runs(call);
    for (int number : AllSyscallNumbers()) {
      if (PathArguments(number).empty()) continue;
      const std::string name = SyscallName(number);
      // Listed above already, checked paths or not.
      if (std::any_of(std::begin(kPathHoleCalls), std::end(kPathHoleCalls),
                      [&](const HoleCall& c) { return c.syscall == name; })) {
        continue;
      }
      if (auto reach = FirstRun(syscalls, number, /*unchecked=*/true)) {
        add(number, HoleKind::kUncheckedPath, *reach, kUncheckedPathWhat);
      }
    }
    if (UnixSocketsPossible(policy)) {
      for (std::string_view name : kAddressCalls) {
        add_if_runs(HoleCall{name, HoleKind::kUnixAddress, kUnixAddressWhat});
      }
    }
  }
  if (policy.network != NetworkMode::kHost || !policy.endpoints.empty()) {
    for (const HoleCall& call : kNetworkHoleCalls) add_if_runs(call);
  }

  for (Hole& hole : holes) {
    for (size_t i = 0; i < policy.accepted_holes.size(); ++i) {
      const std::vector<int>& accepted = policy.accepted_holes[i].syscalls;
      if (std::find(accepted.begin(), accepted.end(), hole.syscall) !=
          accepted.end()) {
        hole.accepted = i;
        break;
      }
    }
  }
  auto key = [](const Hole& hole) {
    return std::make_tuple(hole.position.line, hole.position.column, hole.field,
                           static_cast<int>(hole.kind), hole.syscall);
  };
  std::stable_sort(
      holes.begin(), holes.end(),
      [&](const Hole& a, const Hole& b) { return key(a) < key(b); });
  return holes;
}

Status CheckHoles(const Policy& policy, std::string_view source) {
  const std::vector<Hole> holes = FindHoles(policy);
  std::vector<std::string> lines;

  // Unaccepted holes, one line per (rule, kind).
  for (size_t i = 0; i < holes.size();) {
    if (holes[i].accepted) {
      ++i;
      continue;
    }
    std::vector<const Hole*> group;
    size_t j = i;
    for (; j < holes.size() && holes[j].field == holes[i].field &&
           holes[j].kind == holes[i].kind;
         ++j) {
      if (!holes[j].accepted) group.push_back(&holes[j]);
    }
    std::vector<std::string> names;
    std::vector<std::string> details;
    for (const Hole* hole : group) {
      std::string name = SyscallName(hole->syscall);
      if (hole->kind != HoleKind::kUncheckedPath &&
          hole->kind != HoleKind::kUnixAddress) {
        details.push_back(fmt::format("{}: {}", name, hole->what));
      }
      names.push_back(std::move(name));
    }
    const Hole& first = *group.front();
    const bool plural = group.size() > 1;
    std::string list;
    for (size_t n = 0; n < names.size(); ++n) {
      if (n > 0) list += n + 1 == names.size() ? " and " : ", ";
      list += names[n];
    }
    std::string detail;
    for (const std::string& d : details) {
      detail += detail.empty() ? " (" : "; ";
      detail += d;
    }
    if (!detail.empty()) detail += ")";
    std::string rule =
        first.rule_id == first.field
            ? first.field
            : fmt::format("{} (rule '{}')", first.field, first.rule_id);
    const char* them = plural ? "them" : "it";
    std::string fix =
        first.kind == HoleKind::kUncheckedPath
            ? fmt::format(
                  "Check {} in a rule with paths{}, deny or kill {} "
                  "there",
                  plural ? "their paths" : "its path",
                  first.field == "syscalls.default" ? "" : " before this one",
                  them)
            : fmt::format(
                  "Deny or kill {} in a rule{}", them,
                  first.field == "syscalls.default" ? "" : " before this one");
    lines.push_back(fmt::format(
        "{}: {}: lets {} run, a hole: {}{}. {}, or accept {} with a reason: "
        "accepted_holes: [{{syscalls: [{}], reason: \"...\"}}]",
        Position(source, first.position), rule, list,
        KindText(policy, first.kind, plural), detail, fix, them,
        fmt::join(names, ", ")));
    i = j;
  }

  // Acceptances of calls that are no hole: stale entries would silently
  // accept a hole a later edit opens.
  for (size_t i = 0; i < policy.accepted_holes.size(); ++i) {
    const AcceptedHole& entry = policy.accepted_holes[i];
    for (size_t k = 0; k < entry.syscalls.size(); ++k) {
      const int number = entry.syscalls[k];
      bool is_hole =
          std::any_of(holes.begin(), holes.end(),
                      [&](const Hole& h) { return h.syscall == number; });
      if (is_hole) continue;
      lines.push_back(fmt::format(
          "{}: accepted_holes[{}].syscalls[{}]: '{}' is no hole of this "
          "policy (no rule lets it step around paths or network); remove it",
          Position(source, entry.position), i, k, SyscallName(number)));
    }
  }

  if (lines.empty()) return {};
  return Fail(ErrorCode::kPolicy, fmt::format("{}", fmt::join(lines, "\n")));
}

}  // namespace isoscope
