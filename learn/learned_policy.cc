#include "learn/learned_policy.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "learn/path_globs.h"
#include "policies/holes.h"
#include "policies/loader.h"
#include "policies/plan.h"
#include "policies/syscalls.h"
#include "policies/yaml_text.h"
#include "reports/text.h"
#include "supervisor/run_result.h"

namespace isoscope {
namespace {

using report_text::FormatBytes;

constexpr uint64_t kMiB = uint64_t{1024} * 1024;

// Names for the selector values people know by name; hex otherwise.
std::string ValueName(int syscall, const Selector& selector, uint64_t value) {
  static const std::map<std::pair<int, uint64_t>, std::string_view> kNames = {
      {{SYS_ioctl, 0x5401}, "TCGETS"},
      {{SYS_ioctl, 0x5402}, "TCSETS"},
      {{SYS_ioctl, 0x5403}, "TCSETSW"},
      {{SYS_ioctl, 0x540f}, "TIOCGPGRP"},
      {{SYS_ioctl, 0x5410}, "TIOCSPGRP"},
      {{SYS_ioctl, 0x5413}, "TIOCGWINSZ"},
      {{SYS_ioctl, 0x541b}, "FIONREAD"},
      {{SYS_ioctl, 0x5421}, "FIONBIO"},
      {{SYS_ioctl, 0x5450}, "FIONCLEX"},
      {{SYS_ioctl, 0x5451}, "FIOCLEX"},
      {{SYS_prctl, 1}, "PR_SET_PDEATHSIG"},
      {{SYS_prctl, 3}, "PR_GET_DUMPABLE"},
      {{SYS_prctl, 4}, "PR_SET_DUMPABLE"},
      {{SYS_prctl, 15}, "PR_SET_NAME"},
      {{SYS_prctl, 16}, "PR_GET_NAME"},
      {{SYS_prctl, 22}, "PR_SET_SECCOMP"},
      {{SYS_prctl, 23}, "PR_CAPBSET_READ"},
      {{SYS_prctl, 36}, "PR_SET_CHILD_SUBREAPER"},
      {{SYS_prctl, 38}, "PR_SET_NO_NEW_PRIVS"},
      {{SYS_prctl, 39}, "PR_GET_NO_NEW_PRIVS"},
      {{SYS_prctl, 0x53564d41}, "PR_SET_VMA"},
  };
  static const std::map<uint64_t, std::string_view> kFamilies = {
      {AF_UNIX, "AF_UNIX"},     {AF_INET, "AF_INET"},
      {AF_INET6, "AF_INET6"},   {AF_NETLINK, "AF_NETLINK"},
      {AF_PACKET, "AF_PACKET"},
  };
  static const std::map<uint64_t, std::string_view> kTypes = {
      {SOCK_STREAM, "SOCK_STREAM"},
      {SOCK_DGRAM, "SOCK_DGRAM"},
      {SOCK_RAW, "SOCK_RAW"},
      {SOCK_RDM, "SOCK_RDM"},
      {SOCK_SEQPACKET, "SOCK_SEQPACKET"},
  };
  // Flags in the order people write them; what is left is shown in hex.
  using Flags = std::vector<std::pair<uint64_t, std::string_view>>;
  static const Flags kCloneFlags = {
      {CLONE_VM, "CLONE_VM"},
      {CLONE_FS, "CLONE_FS"},
      {CLONE_FILES, "CLONE_FILES"},
      {CLONE_SIGHAND, "CLONE_SIGHAND"},
      {CLONE_PIDFD, "CLONE_PIDFD"},
      {CLONE_PTRACE, "CLONE_PTRACE"},
      {CLONE_VFORK, "CLONE_VFORK"},
      {CLONE_PARENT, "CLONE_PARENT"},
      {CLONE_THREAD, "CLONE_THREAD"},
      {CLONE_NEWNS, "CLONE_NEWNS"},
      {CLONE_SYSVSEM, "CLONE_SYSVSEM"},
      {CLONE_SETTLS, "CLONE_SETTLS"},
      {CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"},
      {CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"},
      {CLONE_UNTRACED, "CLONE_UNTRACED"},
      {CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"},
      {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
      {CLONE_NEWUTS, "CLONE_NEWUTS"},
      {CLONE_NEWIPC, "CLONE_NEWIPC"},
      {CLONE_NEWUSER, "CLONE_NEWUSER"},
      {CLONE_NEWPID, "CLONE_NEWPID"},
      {CLONE_NEWNET, "CLONE_NEWNET"},
      {CLONE_IO, "CLONE_IO"},
  };
  static const Flags kProtections = {
      {PROT_READ, "PROT_READ"},
      {PROT_WRITE, "PROT_WRITE"},
      {PROT_EXEC, "PROT_EXEC"},
  };
  const auto flag_names = [value](const Flags& flags, std::string_view none) {
    std::vector<std::string> names;
    uint64_t rest = value;
    for (const auto& [bit, name] : flags) {
      if ((rest & bit) == 0) continue;
      names.emplace_back(name);
      rest &= ~bit;
    }
    if (rest != 0) names.push_back(fmt::format("{:#x}", rest));
    if (names.empty()) return std::string(none);
    return fmt::format("{}", fmt::join(names, "|"));
  };
  std::string_view named;
  const std::string_view what = selector.what;
  if ((syscall == SYS_socket || syscall == SYS_socketpair) &&
      what == "family") {
    if (auto found = kFamilies.find(value); found != kFamilies.end()) {
      named = found->second;
    }
  } else if ((syscall == SYS_socket || syscall == SYS_socketpair) &&
             what == "type") {
    if (auto found = kTypes.find(value); found != kTypes.end()) {
      named = found->second;
    }
  } else if (syscall == SYS_clone) {
    return fmt::format("{} ({:#x})", flag_names(kCloneFlags, "none"), value);
  } else if (what == "protection") {
    return flag_names(kProtections, "PROT_NONE");
  } else if (auto found = kNames.find({syscall, value});
             found != kNames.end()) {
    named = found->second;
  }
  if (!named.empty()) return fmt::format("{} ({:#x})", named, value);
  return fmt::format("{:#x}", value);
}

// The argument conditions that hold for `values` of `selectors`.
std::vector<ArgCondition> Conditions(const Selectors& selectors,
                                     const std::vector<uint64_t>& values) {
  std::vector<ArgCondition> conditions;
  for (size_t i = 0; i < selectors.args.size(); ++i) {
    const Selector& selector = selectors.args[i];
    if (selector.mask == ~uint64_t{0}) {
      conditions.push_back(
          ArgCondition{selector.index, CompareOp::kEq, values[i]});
    } else {
      conditions.push_back(ArgCondition{selector.index, CompareOp::kMaskedEq,
                                        values[i], selector.mask});
    }
  }
  return conditions;
}

// The answer to a value of a conditioned call never seen: what the kernel
// itself says to a request it does not support.
int RefusalErrno(int syscall) {
  switch (syscall) {
    case SYS_ioctl:
      return ENOTTY;
    case SYS_socket:
    case SYS_socketpair:
      return EAFNOSUPPORT;
    case SYS_clone:
      // As the base presets refuse a clone that makes namespaces, and as
      // the ptrace backend refuses CLONE_UNTRACED: a permission the
      // sandbox withholds, not flags the kernel lacks (EINVAL would say
      // the program is wrong).
      return EPERM;
    default:
      return EINVAL;
  }
}

std::string Calls(uint64_t count) {
  return fmt::format("{} call{}", count, count == 1 ? "" : "s");
}

// What is allowed, before it becomes rules: every item with the comment
// that says why. Built from an observation and from a policy learned
// before, and united.
struct Allowed {
  std::map<int, std::string> plain;  // calls allowed whatever their args
  // (syscall, selector values): calls allowed with those argument values.
  std::map<std::pair<int, std::vector<uint64_t>>, std::string> selected;
  // Memory protections (mmap, mprotect, pkey_mprotect): whether any call
  // asked for executable memory, and for memory writable and executable at
  // once; what was seen, for the comment.
  bool protection_exec = false;
  bool protection_write_exec = false;
  std::vector<std::string> protections_seen;
  // clone3 refused ENOSYS because clone has conditions (the comment).
  std::string clone3_refused;
  std::map<int, std::string> path_calls;  // decided by the `files` rule
  // newfstatat and statx with AT_EMPTY_PATH: a descriptor's own metadata.
  std::map<int, std::string> by_descriptor;
  std::array<std::map<std::string, std::string>, 3> globs;  // by intent
  NetworkMode network = NetworkMode::kNone;
  std::string network_comment;
  // network.connect and network.bind patterns (absent: the mode decides),
  // each with a comment saying what needed it.
  std::optional<std::map<std::string, std::string>> connect;
  std::optional<std::map<std::string, std::string>> bind;
  std::string endpoints_comment;
  Resources resources;
  std::map<std::string, std::string> resource_comments;
  FaultPolicy faults;
  std::vector<std::string> fault_comments;
  FilesystemView filesystem;
  std::vector<std::string> filesystem_comments;
};

size_t IntentIndex(PathIntent intent) { return static_cast<size_t>(intent); }

uint64_t RoundUp(uint64_t value, uint64_t unit) {
  return (value + unit - 1) / unit * unit;
}

void LearnSyscalls(const Observation& observation, Allowed& allowed,
                   std::vector<std::string>& notes) {
  for (const auto& [number, use] : observation.syscalls) {
    const std::string name = SyscallName(number);
    if (name.empty()) {
      notes.push_back(fmt::format(
          "syscall {} has no x86-64 name: a policy cannot name it, so the "
          "default decides it ({} calls)",
          number, use.count));
      continue;
    }
    if (!PathArguments(number).empty()) {
      allowed.path_calls[number] =
          use.example_path.empty()
              ? fmt::format("{} x{}", name, use.count)
              : fmt::format("{} x{} ({})", name, use.count,
                            YamlCommentText(use.example_path));
      continue;
    }
    const std::optional<Selectors> selectors = SelectorsFor(number);
    if (selectors && selectors->each_value && !use.selector_varies) {
      for (const auto& [values, count] : use.selector_values) {
        std::vector<std::string> parts;
        for (size_t i = 0; i < selectors->args.size(); ++i) {
          parts.push_back(
              fmt::format("{} {}", selectors->args[i].what,
                          ValueName(number, selectors->args[i], values[i])));
        }
        allowed.selected[{number, values}] = fmt::format(
            "{} with {}: {}", name, fmt::join(parts, ", "), Calls(count));
      }
      continue;
    }
    const auto& a = use.example_args;
    std::string detail;
    if (selectors && !selectors->each_value) {
      std::vector<std::string> seen;
      for (const auto& [values, count] : use.selector_values) {
        const uint64_t prot = values.front();
        allowed.protection_exec =
            allowed.protection_exec || (prot & PROT_EXEC) != 0;
        allowed.protection_write_exec =
            allowed.protection_write_exec ||
            (prot & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC);
        seen.push_back(fmt::format(
            "{} x{}", ValueName(number, selectors->args.front(), prot), count));
      }
      if (use.selector_varies) {
        // Never more than eight values under a mask of three bits.
        allowed.protection_exec = allowed.protection_write_exec = true;
      }
      allowed.protections_seen.push_back(
          fmt::format("{}: {}", name, fmt::join(seen, ", ")));
      detail = fmt::format("; protections {}", fmt::join(seen, ", "));
    } else if (selectors) {
      detail = fmt::format(" ({} varies: not a condition)",
                           selectors->args.front().what);
    }
    allowed.plain[number] =
        fmt::format("{} x{}, e.g. {}({:#x}, {:#x}, {:#x}){}", name, use.count,
                    name, a[0], a[1], a[2], detail);
  }
  if (observation.task_creation_inferred) {
    const std::string why = fmt::format(
        "{} processes and threads at most: the container backend let the "
        "clone family run unobserved (a notified fork fails with EINTR when "
        "a signal comes first), so all three are allowed",
        observation.max_tasks);
    allowed.plain.try_emplace(SYS_clone, "clone: " + why);
    allowed.plain.try_emplace(SYS_fork, "fork: " + why);
    allowed.plain.try_emplace(SYS_vfork, "vfork: " + why);
  }
  // clone3's flags are in memory no filter reads: while unshare is not
  // plainly allowed, Decide answers clone3 ENOSYS and glibc falls back to
  // clone, which must then be allowed as clone3 was.
  if (observation.syscalls.contains(SYS_clone3) &&
      !observation.syscalls.contains(SYS_clone) &&
      !allowed.plain.contains(SYS_unshare)) {
    allowed.plain.try_emplace(
        SYS_clone,
        "clone: glibc's fallback when clone3 gets ENOSYS (clone3 ran; "
        "unshare is not allowed)");
  }
  // A task made ends with exit (or exit_group): one killed first (a server
  // thread when its process is killed) leaves no call to observe.
  if (observation.max_tasks > 1) {
    allowed.plain.try_emplace(
        SYS_exit,
        "exit: how the tasks it made end, observed or not (one killed first "
        "never calls it)");
    allowed.plain.try_emplace(SYS_exit_group,
                              "exit_group: how its processes end");
  }
  for (const auto& [number, use] : observation.descriptor_calls) {
    const auto& [count, example] = use;
    if (number == SYS_newfstatat || number == SYS_statx) {
      allowed.by_descriptor[number] = fmt::format(
          "{} on a descriptor itself (AT_EMPTY_PATH) x{}, e.g. {}: its "
          "metadata, as glibc's fstat asks",
          SyscallLabel(Abi::kX86_64, number), count, YamlCommentText(example));
    } else {
      notes.push_back(fmt::format(
          "{} on a descriptor without a path ({} x{}): no path rule can "
          "allow it, so the learned policy refuses it",
          SyscallLabel(Abi::kX86_64, number), YamlCommentText(example), count));
    }
  }
  for (const auto& [abi, count] : observation.foreign_abi_calls) {
    notes.push_back(fmt::format(
        "{} calls through the {} ABI: not allowed (isoscope decodes only "
        "x86-64 arguments), syscalls.abi keeps the base's answer",
        count, abi));
  }
}

void LearnPaths(const Observation& observation, Allowed& allowed,
                std::vector<std::string>& notes) {
  std::array<std::vector<ObservedPath>, 3> by_intent;
  for (const auto& [key, use] : observation.paths) {
    by_intent[IntentIndex(key.first)].push_back(
        ObservedPath{key.second, use.count});
  }
  for (PathIntent intent :
       {PathIntent::kRead, PathIntent::kWrite, PathIntent::kExec}) {
    GeneralisedPaths generalised =
        GeneralisePaths(intent, by_intent[IntentIndex(intent)]);
    for (auto& [glob, use] : generalised.globs) {
      allowed.globs[IntentIndex(intent)][glob] =
          use.paths == 1
              ? Calls(use.calls)
              : fmt::format("{} paths, {}, e.g. {}", use.paths,
                            Calls(use.calls), YamlCommentText(use.example));
    }
    for (std::string& note : generalised.notes) notes.push_back(note);
  }
  if (observation.paths_not_kept > 0) {
    notes.push_back(fmt::format(
        "{} distinct paths beyond the first {} were not kept: the policy "
        "does not allow them (learn on a narrower run)",
        observation.paths_not_kept, observation.paths.size()));
  }
}

// The ports Linux picks for a bind to port 0 by default
// (net.ipv4.ip_local_port_range in a new network namespace).
constexpr uint16_t kEphemeralLow = 32768;
constexpr uint16_t kEphemeralHigh = 60999;

// network.connect and network.bind from the endpoints seen: each exactly,
// except that when the workload bound port 0 (the kernel picked a port it
// never named), a connect to a port in the ephemeral range on a host it
// bound is taken as reaching such a port of its own, and allowed as the
// range on that host.
void LearnEndpoints(const Observation& observation, const Policy& base,
                    Allowed& allowed) {
  for (std::string_view held : {"CAP_NET_RAW", "CAP_NET_ADMIN"}) {
    if (std::find(base.capabilities.begin(), base.capabilities.end(), held) !=
        base.capabilities.end()) {
      allowed.endpoints_comment = fmt::format(
          "No endpoint lists: the base keeps {}, with which none holds.", held);
      return;
    }
  }
  if (observation.syscalls.contains(SYS_sendmmsg)) {
    allowed.endpoints_comment =
        "No endpoint lists: the workload called sendmmsg, which they "
        "refuse.";
    return;
  }
  const auto text = [](const InetEndpoint& endpoint, std::string port) {
    return endpoint.address.find(':') != std::string::npos
               ? fmt::format("[{}]:{}", endpoint.address, port)
               : fmt::format("{}:{}", endpoint.address, port);
  };
  std::set<std::string> ephemeral_hosts;  // bound with port 0
  allowed.connect.emplace();
  allowed.bind.emplace();
  for (const auto& [endpoint, count] : observation.endpoints) {
    if (!endpoint.bound) continue;
    if (endpoint.port == 0) ephemeral_hosts.insert(endpoint.address);
    allowed.bind->try_emplace(
        text(endpoint, std::to_string(endpoint.port)),
        fmt::format(
            "bind x{}{}", count,
            endpoint.port == 0 ? " (port 0: the kernel picks one)" : ""));
  }
  for (const auto& [endpoint, count] : observation.endpoints) {
    if (endpoint.bound) continue;
    const bool own_port =
        endpoint.port >= kEphemeralLow && endpoint.port <= kEphemeralHigh &&
        (ephemeral_hosts.contains(endpoint.address) ||
         ephemeral_hosts.contains("0.0.0.0") || ephemeral_hosts.contains("::"));
    if (own_port) {
      allowed.connect->try_emplace(
          text(endpoint, fmt::format("{}-{}", kEphemeralLow, kEphemeralHigh)),
          fmt::format("connect or send to {} x{}: a port the kernel picked "
                      "for a bind to port 0, so any of its range",
                      text(endpoint, std::to_string(endpoint.port)), count));
    } else {
      allowed.connect->try_emplace(
          text(endpoint, std::to_string(endpoint.port)),
          fmt::format("connect or send x{}", count));
    }
  }
  allowed.endpoints_comment =
      "Endpoints: what connect, sendto and sendmsg reached, and what bind "
      "bound; others are refused (EACCES).";
}

void LearnNetwork(const Observation& observation, const Policy& base,
                  Allowed& allowed) {
  const bool inet = observation.socket_families.contains(AF_INET) ||
                    observation.socket_families.contains(AF_INET6) ||
                    !observation.endpoints.empty();
  if (!inet) {
    allowed.network = NetworkMode::kNone;
    allowed.network_comment = "no IPv4 or IPv6 socket was opened";
    return;
  }
  bool remote = false;
  std::vector<std::string> seen;
  for (const auto& [endpoint, count] : observation.endpoints) {
    remote = remote || !endpoint.loopback;
    if (seen.size() < 8) {
      seen.push_back(fmt::format("{}:{} x{}",
                                 endpoint.address.find(':') != std::string::npos
                                     ? fmt::format("[{}]", endpoint.address)
                                     : endpoint.address,
                                 endpoint.port, count));
    }
  }
  if (observation.endpoints.size() > seen.size()) {
    seen.push_back(
        fmt::format("and {} more", observation.endpoints.size() - seen.size()));
  }
  allowed.network = remote ? NetworkMode::kHost : NetworkMode::kLoopback;
  LearnEndpoints(observation, base, allowed);
  allowed.network_comment =
      seen.empty()
          ? "IP sockets were opened, but no address was seen "
            "(connect, bind, sendto)"
          : fmt::format("{} reached: {}",
                        remote ? "hosts beyond loopback" : "only loopback",
                        fmt::join(seen, ", "));
}

void LearnResources(const Observation& observation, const Policy& base,
                    Allowed& allowed) {
  Resources& r = allowed.resources;
  r = base.resources;
  auto& comments = allowed.resource_comments;
  const std::string runs = observation.runs == 1
                               ? "one run"
                               : fmt::format("{} runs", observation.runs);
  if (observation.max_rss_kib) {
    const uint64_t peak =
        static_cast<uint64_t>(*observation.max_rss_kib) * 1024;
    const uint64_t twice = RoundUp(std::max(2 * peak, 64 * kMiB), kMiB);
    // The ptrace backend limits address space (RLIMIT_AS), which runtimes
    // such as V8 or the JVM reserve far beyond what they touch: a limit
    // below the base's would stop them however little they use.
    r.memory_bytes = base.resources.memory_bytes
                         ? std::max(twice, *base.resources.memory_bytes)
                         : twice;
    comments["memory"] = fmt::format(
        "peak resident memory {} over {}: twice that, at least 64 MiB, or "
        "the base's limit when higher (ptrace limits address space, which "
        "runtimes reserve beyond what they use)",
        FormatBytes(peak), runs);
  } else {
    comments["memory"] =
        "peak memory unknown on the backend observed: the base's limit";
  }
  // On ptrace the limit is RLIMIT_NPROC, which counts every task of the
  // workload's uid on the host: never below the base's.
  r.processes =
      std::max<uint64_t>(std::max<uint64_t>(4 * observation.max_tasks, 32),
                         base.resources.processes.value_or(0));
  comments["processes"] = fmt::format(
      "{} processes and threads started in a run at most: four times that, "
      "at least 32, or the base's limit when higher (ptrace's RLIMIT_NPROC "
      "counts every task of the workload's uid on the host)",
      observation.max_tasks);
  const uint64_t cpu_ms = static_cast<uint64_t>(observation.max_cpu_us) / 1000;
  r.cpu_time_ms = RoundUp(std::max<uint64_t>(4 * cpu_ms, 10000), 1000);
  comments["cpu_time"] = fmt::format(
      "{} ms of CPU at most: four times that, at least 10 s", cpu_ms);
  const auto wall_ms = static_cast<uint64_t>(observation.max_wall_ms);
  r.wall_time_ms = RoundUp(std::max<uint64_t>(4 * wall_ms, 30000), 1000);
  comments["wall_time"] = fmt::format(
      "{} ms of wall time at most: four times that, at least 30 s", wall_ms);
  r.output_bytes =
      RoundUp(std::max<uint64_t>(4 * observation.max_output_bytes, kMiB), kMiB);
  comments["output"] =
      fmt::format("{} of output at most: four times that, at least 1 MiB",
                  FormatBytes(observation.max_output_bytes));
}

void LearnFaults(const Observation& observation, const Policy& base,
                 Allowed& allowed) {
  allowed.faults = base.faults;
  for (const auto& [kind, count] : observation.faults) {
    const bool was_kill = allowed.faults.For(kind) == Action::kKill;
    if (was_kill) allowed.faults.Set(kind, Action::kReport);
    allowed.fault_comments.push_back(fmt::format(
        "{}: seen {} times{}", FaultKindName(kind), count,
        was_kill ? fmt::format(" (the base kills it; learned: report)") : ""));
  }
}

bool Covers(const std::vector<std::string>& entries, const std::string& dir) {
  return std::any_of(
      entries.begin(), entries.end(), [&dir](const std::string& entry) {
        return entry == dir || entry == "/" || dir.starts_with(entry + "/");
      });
}

// Adds `dir` to `entries` unless one of them covers it, dropping the
// entries it covers; whether it was added.
bool AddCovering(std::vector<std::string>& entries, const std::string& dir) {
  if (Covers(entries, dir)) return false;
  std::erase_if(entries, [&dir](const std::string& entry) {
    return entry.starts_with(dir + "/");
  });
  entries.push_back(dir);
  return true;
}

bool IsUnder(std::string_view path, std::string_view dir) {
  return path == dir || (path.starts_with(dir) && path.size() > dir.size() &&
                         path[dir.size()] == '/');
}

// Whether any path of `observation` lies below `dir`.
bool HasPathsBelow(const Observation& observation, const std::string& dir) {
  const std::string prefix = dir + "/";
  for (PathIntent intent :
       {PathIntent::kRead, PathIntent::kWrite, PathIntent::kExec}) {
    auto next = observation.paths.lower_bound({intent, prefix});
    if (next != observation.paths.end() && next->first.first == intent &&
        next->first.second.starts_with(prefix)) {
      return true;
    }
  }
  return false;
}

// The container's view: the base's, with the directory of each file the
// workload read (or ran) that the view does not show read-only or
// writable, and of each it wrote outside what the view lets it write. A
// file under a tmpfs of the view (/tmp) that the workload did not write
// was there before it ran, so the tmpfs does not show it: the file itself
// is shown read-only (a directory there would clash with the tmpfs).
void LearnFilesystem(const Observation& observation, const Policy& base,
                     Allowed& allowed) {
  FilesystemView& view = allowed.filesystem;
  view = base.filesystem;
  std::set<std::string> written;
  for (const auto& [key, use] : observation.paths) {
    if (key.first == PathIntent::kWrite) written.insert(key.second);
  }
  const auto provided = [](const std::string& path) {
    return !path.starts_with('/') || path == "/" || IsUnder(path, "/proc") ||
           IsUnder(path, "/dev") || IsUnder(path, "/sys") || !IsUtf8(path);
  };
  for (const auto& [key, use] : observation.paths) {
    const std::string& path = key.second;
    if (provided(path)) continue;  // "{workdir}/..." included
    std::error_code ec;
    const bool write = key.first == PathIntent::kWrite;
    if (!write && written.contains(path)) continue;  // made by the run
    // Only what is there was reached: a probe of a name that does not
    // exist (libselinux's /selinux, curl's ~/.curlrc) needs no view.
    const std::filesystem::path host(path);
    const std::filesystem::path reached = write ? host.parent_path() : host;
    if (!std::filesystem::exists(
            std::filesystem::symlink_status(reached, ec))) {
      continue;
    }
    const bool is_directory = std::filesystem::is_directory(reached, ec);
    if (is_directory && !write) {
      // A directory looked at: a tmpfs of the view is one, and one whose
      // files the workload reached is shown by their directories (what a
      // bind of the whole directory would show more of is not needed).
      if (Covers(view.tmpfs, path) || HasPathsBelow(observation, path)) {
        continue;
      }
    }
    std::string dir =
        is_directory ? reached.string() : reached.parent_path().string();
    if (!write && !is_directory && Covers(view.tmpfs, dir)) dir = path;
    if (dir == "/" || provided(dir)) continue;
    if (write) {
      if (Covers(view.writable, dir) || Covers(view.tmpfs, dir)) continue;
      std::erase(view.readonly, dir);
      if (AddCovering(view.writable, dir)) {
        allowed.filesystem_comments.push_back(
            fmt::format("{} writable: the workload wrote {}",
                        YamlCommentText(dir), YamlCommentText(path)));
      }
    } else {
      if (Covers(view.readonly, dir) || Covers(view.writable, dir)) continue;
      if (AddCovering(view.readonly, dir)) {
        allowed.filesystem_comments.push_back(
            fmt::format("{} read-only: the workload read {}",
                        YamlCommentText(dir), YamlCommentText(path)));
      }
    }
    // A hidden entry the same as a shown one would be a conflict; a deeper
    // shown one wins over it by itself.
    if (std::erase(view.hidden, dir) > 0) {
      allowed.filesystem_comments.push_back(fmt::format(
          "{} is not hidden, as the base has it: the workload reached {}",
          YamlCommentText(dir), YamlCommentText(path)));
    }
  }
}

// The selector values a rule learn wrote allows (one call, each selector
// compared as SelectorsFor says); nullopt for any other rule.
std::optional<std::vector<uint64_t>> SelectedValues(const Rule& rule) {
  if (rule.syscalls.size() != 1) return std::nullopt;
  const std::optional<Selectors> selectors = SelectorsFor(rule.syscalls[0]);
  if (!selectors || !selectors->each_value ||
      rule.args.size() != selectors->args.size()) {
    return std::nullopt;
  }
  std::vector<uint64_t> values;
  values.reserve(rule.args.size());
  for (const ArgCondition& condition : rule.args) {
    values.push_back(condition.value);
  }
  if (Conditions(*selectors, values) != rule.args) return std::nullopt;
  return values;
}

// The protection bits whose combination the rule learn writes refuses
// for `number` (PROT_EXEC, or PROT_WRITE|PROT_EXEC), if the first rule of
// `policy` naming it is one.
std::optional<uint64_t> RefusedProtections(const Policy& policy, int number) {
  for (const Rule& rule : policy.syscalls.rules) {
    if (std::find(rule.syscalls.begin(), rule.syscalls.end(), number) ==
        rule.syscalls.end()) {
      continue;
    }
    if (rule.action.action != Action::kDeny || rule.args.size() != 1 ||
        rule.otherwise || rule.paths) {
      return std::nullopt;
    }
    const ArgCondition& c = rule.args.front();
    if (c.index == 2 && c.op == CompareOp::kMaskedEq && c.mask == c.value &&
        (c.value == PROT_EXEC || c.value == (PROT_WRITE | PROT_EXEC))) {
      return c.value;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// What a policy learned before allows, as items of `allowed` it lacks.
void KeepMerged(const Policy& prior, Allowed& allowed,
                std::vector<std::string>& notes) {
  const std::string from = fmt::format("kept from {}", prior.name);
  for (const Rule& rule : prior.syscalls.rules) {
    if (rule.action.action != Action::kAllow) continue;
    if (rule.paths) {
      for (int number : rule.syscalls) {
        allowed.path_calls.try_emplace(number, from);
      }
      const std::array<const std::vector<std::string>*, 3> lists = {
          &rule.paths->read, &rule.paths->write, &rule.paths->exec};
      for (size_t i = 0; i < lists.size(); ++i) {
        for (const std::string& glob : *lists[i]) {
          allowed.globs[i].try_emplace(glob, from);
        }
      }
      continue;
    }
    if (rule.args.empty()) {
      for (int number : rule.syscalls) allowed.plain.try_emplace(number, from);
      continue;
    }
    if (rule.syscalls.size() == 1 && rule.args.size() == 1 &&
        rule.args[0] == ArgCondition{rule.syscalls[0] == SYS_newfstatat ? 3 : 2,
                                     CompareOp::kMaskedEq,
                                     uint64_t{AT_EMPTY_PATH},
                                     uint64_t{AT_EMPTY_PATH}} &&
        (rule.syscalls[0] == SYS_newfstatat || rule.syscalls[0] == SYS_statx)) {
      allowed.by_descriptor.try_emplace(rule.syscalls[0], from);
      continue;
    }
    if (std::optional<std::vector<uint64_t>> values = SelectedValues(rule)) {
      allowed.selected.try_emplace({rule.syscalls[0], *std::move(values)},
                                   from);
    } else {
      notes.push_back(fmt::format(
          "rule '{}' of {} has conditions learn does not write: not kept",
          rule.id, prior.name));
    }
  }
  // The protections it refuses (none: all were seen, if it allows them).
  for (int number : {SYS_mmap, SYS_mprotect, SYS_pkey_mprotect}) {
    bool allows = false;
    for (const Rule& rule : prior.syscalls.rules) {
      if (rule.action.action != Action::kAllow || !rule.args.empty() ||
          rule.paths) {
        continue;
      }
      allows = allows || std::find(rule.syscalls.begin(), rule.syscalls.end(),
                                   number) != rule.syscalls.end();
    }
    if (!allows) continue;
    const std::optional<uint64_t> refused = RefusedProtections(prior, number);
    allowed.protection_exec =
        allowed.protection_exec || !refused || *refused != PROT_EXEC;
    allowed.protection_write_exec = allowed.protection_write_exec || !refused;
    allowed.protections_seen.push_back(
        fmt::format("{}: {}", SyscallName(number), from));
  }
  if (prior.network > allowed.network) {
    allowed.network = prior.network;
    allowed.network_comment +=
        fmt::format("; {} from {}", NetworkModeName(prior.network), prior.name);
  }
  // A list either policy lacks lets the mode decide: the wider answer. A
  // run that opened no IP socket learned no list (and no comment): the
  // prior's stand.
  const bool learned_lists = !allowed.endpoints_comment.empty();
  const auto merge_list =
      [&prior, learned_lists](
          std::optional<std::map<std::string, std::string>>& mine,
          const std::optional<std::vector<EndpointPattern>>& theirs) {
        if (!theirs) {
          if (prior.network != NetworkMode::kNone) mine.reset();
          return;
        }
        if (!mine && !learned_lists) mine.emplace();
        if (!mine) return;
        for (const EndpointPattern& pattern : *theirs) {
          mine->try_emplace(pattern.text,
                            fmt::format("kept from {}", prior.name));
        }
      };
  merge_list(allowed.connect, prior.endpoints.connect);
  merge_list(allowed.bind, prior.endpoints.bind);
  if (!allowed.connect && !allowed.bind && learned_lists &&
      prior.network != NetworkMode::kNone) {
    allowed.endpoints_comment =
        fmt::format("No endpoint lists: {} has none.", prior.name);
  } else if (!learned_lists && !prior.endpoints.empty()) {
    allowed.endpoints_comment =
        fmt::format("Endpoints kept from {}.", prior.name);
  }
  const auto widen = [&](std::optional<uint64_t>& mine,
                         const std::optional<uint64_t>& theirs,
                         const char* key) {
    if (!mine) return;
    if (!theirs || *theirs > *mine) {
      mine = theirs;
      allowed.resource_comments[key] +=
          fmt::format("; {}'s, which is wider", prior.name);
    }
  };
  Resources& r = allowed.resources;
  const Resources& p = prior.resources;
  widen(r.memory_bytes, p.memory_bytes, "memory");
  widen(r.processes, p.processes, "processes");
  widen(r.cpu_time_ms, p.cpu_time_ms, "cpu_time");
  widen(r.wall_time_ms, p.wall_time_ms, "wall_time");
  widen(r.output_bytes, p.output_bytes, "output");
  for (FaultKind kind : kAllFaultKinds) {
    if (allowed.faults.For(kind) == Action::kKill &&
        prior.faults.For(kind) != Action::kKill) {
      allowed.fault_comments.push_back(
          fmt::format("{}: {} as in {}", FaultKindName(kind),
                      ActionName(prior.faults.For(kind)), prior.name));
      allowed.faults.Set(kind, prior.faults.For(kind));
    }
  }
  // Writable wins over read-only; an entry covering others replaces them.
  FilesystemView& view = allowed.filesystem;
  for (const std::string& entry : prior.filesystem.writable) {
    std::erase(view.readonly, entry);
    AddCovering(view.writable, entry);
  }
  for (const std::string& entry : prior.filesystem.tmpfs) {
    std::erase(view.readonly, entry);
    std::erase(view.writable, entry);
    AddCovering(view.tmpfs, entry);
  }
  for (const std::string& entry : prior.filesystem.readonly) {
    if (Covers(view.writable, entry) || Covers(view.tmpfs, entry)) continue;
    AddCovering(view.readonly, entry);
  }
  std::erase_if(allowed.filesystem.hidden, [&prior](const std::string& h) {
    return std::find(prior.filesystem.hidden.begin(),
                     prior.filesystem.hidden.end(),
                     h) == prior.filesystem.hidden.end();
  });
}

// What the items of `allowed` say of each other, once all are in: a call
// allowed whatever its arguments (by a merged policy, or the container's
// unobserved clones) needs no rule for its values, whose `else` would
// refuse the others; clone with conditions makes clone3 fail ENOSYS.
void Reconcile(Allowed& allowed) {
  std::erase_if(allowed.selected, [&allowed](const auto& entry) {
    return allowed.plain.contains(entry.first.first);
  });
  const bool clone_conditioned = std::any_of(
      allowed.selected.begin(), allowed.selected.end(),
      [](const auto& entry) { return entry.first.first == SYS_clone; });
  if (clone_conditioned && allowed.plain.erase(SYS_clone3) > 0) {
    allowed.clone3_refused =
        "clone3 (its flags are in memory, which no filter reads): ENOSYS, "
        "as on a kernel without it, so that libc falls back to clone, whose "
        "flags the rules above check";
  }
}

// Comments by what they stand above: a rule's id, or "<intent> <glob>".
using Comments = std::map<std::string, std::vector<std::string>>;

std::string GlobKey(PathIntent intent, const std::string& glob) {
  return fmt::format("{} {}", PathIntentName(intent), glob);
}

// The rules, in an order where no rule hides a later one: conditioned calls
// (the last rule of each call refusing other values), plain calls, path
// calls, then the base's refusals of calls never seen.
void BuildRules(const Allowed& allowed, const Policy& base,
                const std::string& base_name, Policy& policy,
                Comments& comments) {
  std::vector<Rule>& rules = policy.syscalls.rules;
  for (auto it = allowed.selected.begin(); it != allowed.selected.end(); ++it) {
    const auto& [number, values] = it->first;
    Rule rule;
    rule.id = SyscallName(number);
    for (uint64_t value : values) rule.id += fmt::format("-{:#x}", value);
    rule.syscalls = {number};
    rule.args = Conditions(*SelectorsFor(number), values);
    rule.action = ActionSpec{Action::kAllow};
    const auto next = std::next(it);
    if (next == allowed.selected.end() || next->first.first != number) {
      rule.otherwise = ActionSpec{Action::kDeny, RefusalErrno(number)};
    }
    comments[rule.id] = {it->second};
    rules.push_back(std::move(rule));
  }
  if (!allowed.clone3_refused.empty()) {
    Rule rule;
    rule.id = "clone3-fallback";
    rule.syscalls = {SYS_clone3};
    rule.action = ActionSpec{Action::kDeny, ENOSYS};
    comments[rule.id] = {allowed.clone3_refused};
    rules.push_back(std::move(rule));
  }
  // Memory the workload never asked to be executable (or writable and
  // executable at once) it may not have: refused with EACCES, what the
  // kernel answers for PROT_EXEC on a noexec mount and SELinux for execmem,
  // which JITs and libffi expect. Every other protection stays allowed by
  // the plain rule below.
  std::vector<int> protection_calls;
  for (int number : {SYS_mmap, SYS_mprotect, SYS_pkey_mprotect}) {
    if (allowed.plain.contains(number)) protection_calls.push_back(number);
  }
  if (!protection_calls.empty() && !allowed.protection_write_exec) {
    const uint64_t refused = allowed.protection_exec
                                 ? uint64_t{PROT_WRITE | PROT_EXEC}
                                 : uint64_t{PROT_EXEC};
    Rule rule;
    rule.id = allowed.protection_exec ? "no-writable-executable-memory"
                                      : "no-executable-memory";
    rule.syscalls = protection_calls;
    rule.args = {ArgCondition{2, CompareOp::kMaskedEq, refused, refused}};
    rule.action = ActionSpec{Action::kDeny, EACCES};
    auto& lines = comments[rule.id];
    lines.push_back(fmt::format(
        "No call asked for memory {} (the protections seen below): refused "
        "EACCES, as SELinux refuses execmem; the rest is allowed by 'calls'.",
        allowed.protection_exec ? "both writable and executable"
                                : "executable"));
    for (const std::string& seen : allowed.protections_seen) {
      lines.push_back("  " + seen);
    }
    rules.push_back(std::move(rule));
  }
  if (!allowed.plain.empty()) {
    Rule rule;
    rule.id = "calls";
    auto& lines = comments[rule.id];
    lines.push_back("Calls made, with how often and a first example:");
    for (const auto& [number, comment] : allowed.plain) {
      rule.syscalls.push_back(number);
      lines.push_back("  " + comment);
    }
    rule.action = ActionSpec{Action::kAllow};
    rules.push_back(std::move(rule));
  }
  for (const auto& [number, comment] : allowed.by_descriptor) {
    Rule rule;
    rule.id = fmt::format("{}-by-descriptor", SyscallName(number));
    rule.syscalls = {number};
    const int flags_index = number == SYS_newfstatat ? 3 : 2;
    rule.args = {ArgCondition{flags_index, CompareOp::kMaskedEq,
                              uint64_t{AT_EMPTY_PATH},
                              uint64_t{AT_EMPTY_PATH}}};
    rule.action = ActionSpec{Action::kAllow};
    comments[rule.id] = {comment};
    rules.push_back(std::move(rule));
  }
  if (!allowed.path_calls.empty()) {
    Rule rule;
    rule.id = "files";
    auto& lines = comments[rule.id];
    lines.push_back(
        "Calls on paths, each path checked against the globs of its intent "
        "(read, write, exec; creating is writing); any other path EACCES:");
    PathGlobs globs;
    for (const auto& [number, comment] : allowed.path_calls) {
      rule.syscalls.push_back(number);
      lines.push_back("  " + comment);
    }
    const std::array<std::vector<std::string>*, 3> lists = {
        &globs.read, &globs.write, &globs.exec};
    for (size_t i = 0; i < lists.size(); ++i) {
      for (const auto& [glob, comment] : allowed.globs[i]) {
        lists[i]->push_back(glob);
        comments[GlobKey(static_cast<PathIntent>(i), glob)] = {comment};
      }
    }
    rule.paths = std::move(globs);
    rule.action = ActionSpec{Action::kAllow};
    rule.otherwise = ActionSpec{Action::kDeny, EACCES};
    rules.push_back(std::move(rule));
  }
  // Never seen and refused by the base by name: the base's answer, so a
  // call a careful author refuses (mount: EPERM) is not just unknown.
  std::set<int> used;
  for (const Rule& rule : rules) {
    used.insert(rule.syscalls.begin(), rule.syscalls.end());
  }
  const CompiledPlan plan =
      CompiledPlan::Compile(std::make_shared<const Policy>(base));
  std::map<std::tuple<std::string, Disposition, int>, std::vector<int>> refused;
  for (int number : AllSyscallNumbers()) {
    if (used.contains(number)) continue;
    const SyscallPlan& decided = plan.For(number);
    if (decided.rule_id.empty() || decided.rule_id == "syscalls.default") {
      continue;
    }
    if (decided.disposition != Disposition::kErrno &&
        decided.disposition != Disposition::kKill) {
      continue;
    }
    refused[{decided.rule_id, decided.disposition, decided.errno_value}]
        .push_back(number);
  }
  for (const auto& [key, numbers] : refused) {
    const auto& [rule_id, disposition, errno_value] = key;
    Rule rule;
    rule.id = fmt::format("refused-{}", rule_id);
    rule.syscalls = numbers;
    rule.action = disposition == Disposition::kKill
                      ? ActionSpec{Action::kKill}
                      : ActionSpec{Action::kDeny, errno_value};
    comments[rule.id] = {
        fmt::format("Never seen, and refused as {} refuses them (its rule {}).",
                    YamlCommentText(base_name), YamlCommentText(rule_id))};
    rules.push_back(std::move(rule));
  }
}

// Accepts each hole of `policy` by name, saying the workload needed it.
// Accepts each hole of `policy` by name, saying what the workload did that
// needed it; each is a note too, so that it is read, not only written.
void AcceptHoles(const Observation& observation, Policy& policy,
                 std::vector<std::string>& notes) {
  std::map<int, std::vector<std::string>> reasons;
  for (const Hole& hole : FindHoles(policy)) {
    reasons[hole.syscall].push_back(
        hole.rule_id.ends_with("-by-descriptor")
            ? "fstat by descriptor (AT_EMPTY_PATH); with a named path it "
              "shows any file's metadata (type, size, owner, times), never "
              "its contents, as the default preset accepts"
            : fmt::format("{} ({})", hole.what, HoleKindName(hole.kind)));
  }
  for (const auto& [number, whats] : reasons) {
    const auto use = observation.syscalls.find(number);
    const uint64_t count =
        use == observation.syscalls.end() ? 0 : use->second.count;
    AcceptedHole accepted;
    accepted.syscalls = {number};
    accepted.reason =
        fmt::format("learned: the workload made {} {} calls; {}", count,
                    SyscallLabel(Abi::kX86_64, number), fmt::join(whats, "; "));
    notes.push_back(fmt::format("accepted hole: {}", accepted.reason));
    policy.accepted_holes.push_back(std::move(accepted));
  }
}

std::string ActionYaml(const ActionSpec& spec) {
  switch (spec.action) {
    case Action::kDeny:
      return fmt::format("{{action: deny, errno: {}}}",
                         ErrnoName(spec.errno_value));
    case Action::kEmulate:
      return fmt::format("{{action: emulate, value: {}}}", spec.emulate_value);
    default:
      return std::string(ActionName(spec.action));
  }
}

void CommentLines(std::string& out, const std::vector<std::string>& lines,
                  std::string_view indent) {
  for (const std::string& line : lines) {
    out += fmt::format("{}# {}\n", indent, YamlCommentText(line));
  }
}

std::string NameList(const std::vector<int>& numbers) {
  std::vector<std::string> names;
  names.reserve(numbers.size());
  for (int number : numbers) {
    names.push_back(SyscallLabel(Abi::kX86_64, number));
  }
  return fmt::format("[{}]", fmt::join(names, ", "));
}

std::string QuotedList(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  quoted.reserve(items.size());
  for (const std::string& item : items) quoted.push_back(YamlQuoted(item));
  return fmt::format("[{}]", fmt::join(quoted, ", "));
}

std::string Render(const Policy& policy, const Allowed& allowed,
                   const Comments& comments, const std::string& header) {
  std::string out = header;
  out += "version: 1\n\nsyscalls:\n";
  out += fmt::format("  default: {}\n",
                     ActionYaml(policy.syscalls.default_action));
  out += fmt::format("  abi: {{i386: {}, x32: {}}}\n",
                     ActionYaml(policy.syscalls.abi.i386),
                     ActionYaml(policy.syscalls.abi.x32));
  out += "  rules:\n";
  for (const Rule& rule : policy.syscalls.rules) {
    if (auto found = comments.find(rule.id); found != comments.end()) {
      CommentLines(out, found->second, "    ");
    }
    out += fmt::format("    - id: {}\n      syscalls: {}\n",
                       YamlQuoted(rule.id), NameList(rule.syscalls));
    if (!rule.args.empty()) {
      out += "      args:\n";
      for (const ArgCondition& c : rule.args) {
        out += fmt::format("        - {{index: {}, op: {}, value: {:#x}",
                           c.index, CompareOpName(c.op), c.value);
        if (c.op == CompareOp::kMaskedEq) {
          out += fmt::format(", mask: {:#x}", c.mask);
        }
        out += "}\n";
      }
    }
    if (rule.paths) {
      out += "      paths:\n";
      const std::array<const std::vector<std::string>*, 3> lists = {
          &rule.paths->read, &rule.paths->write, &rule.paths->exec};
      for (size_t i = 0; i < lists.size(); ++i) {
        if (lists[i]->empty()) continue;
        const auto intent = static_cast<PathIntent>(i);
        out += fmt::format("        {}:\n", PathIntentName(intent));
        for (const std::string& glob : *lists[i]) {
          if (auto found = comments.find(GlobKey(intent, glob));
              found != comments.end()) {
            CommentLines(out, found->second, "          ");
          }
          out += fmt::format("          - {}\n", YamlQuoted(glob));
        }
      }
    }
    if (rule.action.action == Action::kDeny) {
      out += fmt::format("      action: deny\n      errno: {}\n",
                         ErrnoName(rule.action.errno_value));
    } else {
      out += fmt::format("      action: {}\n", ActionName(rule.action.action));
    }
    if (rule.otherwise) {
      out += fmt::format("      else: {}\n", ActionYaml(*rule.otherwise));
    }
  }

  out += "\nfaults:\n";
  CommentLines(out, allowed.fault_comments, "  ");
  for (FaultKind kind : kAllFaultKinds) {
    out += fmt::format("  {}: {}\n", FaultKindName(kind),
                       ActionName(policy.faults.For(kind)));
  }
  out += fmt::format("  hide_hypervisor: {}\n",
                     policy.faults.hide_hypervisor ? "true" : "false");

  out += "\nresources:\n";
  const auto resource = [&](const char* key,
                            const std::optional<uint64_t>& value,
                            std::string_view unit) {
    if (!value) return;
    if (auto found = allowed.resource_comments.find(key);
        found != allowed.resource_comments.end()) {
      CommentLines(out, {found->second}, "  ");
    }
    out += fmt::format("  {}: {}{}\n", key, *value, unit);
  };
  const Resources& r = policy.resources;
  resource("memory", r.memory_bytes, "");
  resource("processes", r.processes, "");
  resource("cpu_time", r.cpu_time_ms, "ms");
  resource("wall_time", r.wall_time_ms, "ms");
  resource("open_files", r.open_files, "");
  resource("file_size", r.file_size_bytes, "");
  resource("output", r.output_bytes, "");

  out += "\n";
  CommentLines(out, allowed.filesystem_comments, "");
  const FilesystemView& view = policy.filesystem;
  out += fmt::format(
      "filesystem:\n  readonly: {}\n  writable: {}\n  tmpfs: {}\n  hidden: "
      "{}\n",
      QuotedList(view.readonly), QuotedList(view.writable),
      QuotedList(view.tmpfs), QuotedList(view.hidden));

  if (!allowed.connect && !allowed.bind) {
    out += fmt::format("\n# {}\n", YamlCommentText(allowed.network_comment));
    if (!allowed.endpoints_comment.empty()) {
      out += fmt::format("# {}\n", YamlCommentText(allowed.endpoints_comment));
    }
    out += fmt::format("network: {}\n", NetworkModeName(policy.network));
  } else {
    out += fmt::format("\n# {}\n# {}\nnetwork:\n  mode: {}\n",
                       YamlCommentText(allowed.network_comment),
                       YamlCommentText(allowed.endpoints_comment),
                       NetworkModeName(policy.network));
    const auto list = [&out](std::string_view key,
                             const std::map<std::string, std::string>& items) {
      if (items.empty()) {
        out += fmt::format("  {}: []  # none seen\n", key);
        return;
      }
      out += fmt::format("  {}:\n", key);
      for (const auto& [pattern, comment] : items) {
        out += fmt::format("    # {}\n    - {}\n", YamlCommentText(comment),
                           YamlQuoted(pattern));
      }
    };
    if (allowed.connect) list("connect", *allowed.connect);
    if (allowed.bind) list("bind", *allowed.bind);
  }

  const Identity& id = policy.identity;
  out += "\nidentity:\n";
  if (id.hostname) {
    out += fmt::format("  hostname: {}\n", YamlQuoted(*id.hostname));
  }
  if (id.uid) out += fmt::format("  uid: {}\n", *id.uid);
  if (id.gid) out += fmt::format("  gid: {}\n", *id.gid);
  out += fmt::format("  user_namespace: {}\n",
                     id.user_namespace ? "true" : "false");
  out += fmt::format("\ncapabilities: {}\n", QuotedList(policy.capabilities));

  if (!policy.accepted_holes.empty()) {
    out +=
        "\n# Calls allowed above that step around the path rules or the "
        "network mode\n# (policies/README.md, \"Holes\"): the workload made "
        "them.\naccepted_holes:\n";
    for (const AcceptedHole& hole : policy.accepted_holes) {
      out += fmt::format("  - syscalls: {}\n    reason: {}\n",
                         NameList(hole.syscalls), YamlQuoted(hole.reason));
    }
  }
  return out;
}

}  // namespace

Result<LearnedPolicy> LearnPolicy(const Observation& observation,
                                  const Policy& base,
                                  const LearnContext& context) {
  LearnedPolicy learned;
  Allowed allowed;
  LearnSyscalls(observation, allowed, learned.notes);
  LearnPaths(observation, allowed, learned.notes);
  LearnNetwork(observation, base, allowed);
  LearnResources(observation, base, allowed);
  LearnFaults(observation, base, allowed);
  LearnFilesystem(observation, base, allowed);
  if (context.merge != nullptr) {
    KeepMerged(*context.merge, allowed, learned.notes);
  }
  Reconcile(allowed);

  Policy policy;
  policy.syscalls.default_action = base.syscalls.default_action;
  policy.syscalls.abi = base.syscalls.abi;
  policy.faults = allowed.faults;
  policy.resources = allowed.resources;
  policy.filesystem = allowed.filesystem;
  policy.network = allowed.network;
  policy.identity = base.identity;
  policy.capabilities = base.capabilities;
  Comments comments;
  BuildRules(allowed, base, context.base_name, policy, comments);
  AcceptHoles(observation, policy, learned.notes);

  std::string header = fmt::format(
      "# isoscope policy learned from {} {} on the {} backend: it allows what\n"
      "# the workload was seen doing and nothing else (isoscope learn).\n"
      "# What was not observed comes from {}: the default answer, the\n"
      "# refusals of calls never made, identity, capabilities and the\n"
      "# container's filesystem view.\n",
      observation.runs, observation.runs == 1 ? "run" : "runs",
      YamlCommentText(context.backend), YamlCommentText(context.base_name));
  header += fmt::format("# Command: {}\n", YamlCommentText(context.command));
  if (context.merge != nullptr) {
    header += fmt::format("# Widened from {}.\n",
                          YamlCommentText(context.merge->name));
  }
  learned.yaml = Render(policy, allowed, comments, header);
  if (auto loaded = ParsePolicy(learned.yaml, "the learned policy"); !loaded) {
    return tl::unexpected(loaded.error().WithContext(
        "isoscope wrote a learned policy that does not load"));
  }
  return learned;
}

}  // namespace isoscope
