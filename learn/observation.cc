#include "learn/observation.h"

#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <filesystem>
#include <type_traits>
#include <variant>

#include "policies/syscalls.h"

namespace isoscope {
namespace {

// Beyond these the workload is told apart no further: a selector with more
// distinct values is taken to vary without meaning, and paths past the cap
// are counted, not kept (a `find /` must not hold the host in memory).
constexpr size_t kMaxSelectorValues = 64;
constexpr size_t kMaxPaths = 100000;

template <typename Map, typename Key>
void AddCount(Map& map, const Key& key, uint64_t count) {
  map[key] += count;
}

}  // namespace

std::optional<Selectors> SelectorsFor(int syscall) {
  // The bits of socket's type that name it (SOCK_STREAM, SOCK_DGRAM, ...):
  // all of the int the kernel reads but the two flags any type may carry.
  constexpr uint64_t kSocketTypeMask =
      uint64_t{0xffffffff} & ~uint64_t{SOCK_NONBLOCK | SOCK_CLOEXEC};
  // clone's flags: the kernel reads the lower 32 bits, of which the lowest
  // byte is the signal the parent gets when the child ends (CSIGNAL).
  constexpr uint64_t kCloneFlagsMask =
      uint64_t{0xffffffff} & ~uint64_t{CSIGNAL};
  constexpr uint64_t kProtectionMask = PROT_READ | PROT_WRITE | PROT_EXEC;
  switch (syscall) {
    case SYS_ioctl:
      return Selectors{{{1, "request"}}};
    case SYS_socket:
    case SYS_socketpair:
      return Selectors{{{0, "family"}, {1, "type", kSocketTypeMask}}};
    case SYS_prctl:
      return Selectors{{{0, "option"}}};
    case SYS_clone:
      return Selectors{{{0, "flags", kCloneFlagsMask}}};
    case SYS_mmap:
    case SYS_mprotect:
    case SYS_pkey_mprotect:
      return Selectors{{{2, "protection", kProtectionMask}},
                       /*each_value=*/false};
    default:
      return std::nullopt;
  }
}

std::vector<uint64_t> SelectorValues(const Selectors& selectors,
                                     const std::array<uint64_t, 6>& args) {
  std::vector<uint64_t> values;
  values.reserve(selectors.args.size());
  for (const Selector& selector : selectors.args) {
    values.push_back(args[static_cast<size_t>(selector.index)] & selector.mask);
  }
  return values;
}

void Observation::Merge(const Observation& other) {
  runs += other.runs;
  for (const auto& [number, use] : other.syscalls) {
    auto [it, added] = syscalls.try_emplace(number, use);
    if (added) continue;
    SyscallUse& mine = it->second;
    mine.count += use.count;
    if (mine.example_path.empty()) mine.example_path = use.example_path;
    for (const auto& [value, count] : use.selector_values) {
      AddCount(mine.selector_values, value, count);
    }
    mine.selector_varies = mine.selector_varies || use.selector_varies ||
                           mine.selector_values.size() > kMaxSelectorValues;
  }
  for (const auto& [abi, count] : other.foreign_abi_calls) {
    AddCount(foreign_abi_calls, abi, count);
  }
  for (const auto& [key, use] : other.paths) {
    auto [it, added] = paths.try_emplace(key, use);
    if (!added) it->second.count += use.count;
  }
  paths_not_kept += other.paths_not_kept;
  for (const auto& [number, use] : other.descriptor_calls) {
    auto [it, added] = descriptor_calls.try_emplace(number, use);
    if (!added) it->second.first += use.first;
  }
  for (const auto& [endpoint, count] : other.endpoints) {
    AddCount(endpoints, endpoint, count);
  }
  socket_families.insert(other.socket_families.begin(),
                         other.socket_families.end());
  for (const auto& [kind, count] : other.faults) AddCount(faults, kind, count);
  if (other.max_rss_kib) {
    max_rss_kib = std::max(max_rss_kib.value_or(0), *other.max_rss_kib);
  }
  max_cpu_us = std::max(max_cpu_us, other.max_cpu_us);
  max_wall_ms = std::max(max_wall_ms, other.max_wall_ms);
  max_output_bytes = std::max(max_output_bytes, other.max_output_bytes);
  max_tasks = std::max(max_tasks, other.max_tasks);
  task_creation_inferred =
      task_creation_inferred || other.task_creation_inferred;
}

void Observer::Append(const Event& event) {
  std::visit(
      [this](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, SyscallEvent>) {
          OnSyscall(e);
        } else if constexpr (std::is_same_v<T, FaultEvent>) {
          ++observation_.faults[e.kind];
        } else if constexpr (std::is_same_v<T, ExitEvent>) {
          observation_.max_rss_kib = e.usage.max_rss_kib;
          observation_.max_cpu_us = e.usage.user_cpu_us + e.usage.system_cpu_us;
        }
      },
      event);
}

Observer::Observer(const std::string& workdir, SockaddrReader read_sockaddr)
    : read_sockaddr_(std::move(read_sockaddr)) {
  // The paths the workload's calls name are resolved ones (its cwd as the
  // kernel shows it), so the workdir is compared resolved too.
  std::error_code ec;
  const std::filesystem::path resolved =
      workdir.empty() ? std::filesystem::path()
                      : std::filesystem::weakly_canonical(workdir, ec);
  workdir_ = ec || workdir.empty() ? workdir : resolved.string();
}

std::string Observer::AsObserved(const std::string& path) const {
  std::string normal = NormalizePath(path);
  if (workdir_.empty() || !normal.starts_with(workdir_)) return normal;
  if (normal.size() == workdir_.size()) return "{workdir}";
  if (normal[workdir_.size()] != '/') return normal;
  return "{workdir}" + normal.substr(workdir_.size());
}

void Observer::OnSyscall(const SyscallEvent& event) {
  const SyscallRequest& request = event.request;
  if (infer_tasks_ && event.pid != 0 && pids_seen_.insert(event.pid).second &&
      pids_seen_.size() > 1) {
    ++tasks_;
    observation_.task_creation_inferred = true;
  }
  if (request.abi != Abi::kX86_64) {
    ++observation_.foreign_abi_calls[std::string(AbiName(request.abi))];
    return;
  }
  SyscallUse& use = observation_.syscalls[request.number];
  if (use.count++ == 0) {
    use.example_args = request.args;
    if (!request.paths.empty()) {
      use.example_path = AsObserved(request.paths[0].path);
    }
  }
  if (const std::optional<Selectors> selectors = SelectorsFor(request.number)) {
    std::vector<uint64_t> value = SelectorValues(*selectors, request.args);
    if (use.selector_values.size() < kMaxSelectorValues ||
        use.selector_values.contains(value)) {
      ++use.selector_values[std::move(value)];
    } else {
      use.selector_varies = true;
    }
  }
  for (const PathArgSpec& spec : PathArguments(request.number)) {
    const auto argument =
        std::find_if(request.paths.begin(), request.paths.end(),
                     [&spec](const PathArgument& candidate) {
                       return candidate.arg_index == spec.path_index;
                     });
    if (argument == request.paths.end()) continue;
    // openat2 whose flags could not be read: Decide fails any path rule on
    // it closed whatever is learned, so it is learned as the least, a read.
    const PathIntent intent =
        PathIntentOf(request, spec).value_or(PathIntent::kRead);
    if (!argument->path.starts_with('/')) {
      auto& [count, example] = observation_.descriptor_calls[request.number];
      if (count++ == 0) example = argument->path;
      continue;
    }
    auto key = std::pair{intent, AsObserved(argument->path)};
    auto found = observation_.paths.find(key);
    if (found != observation_.paths.end()) {
      ++found->second.count;
    } else if (observation_.paths.size() < kMaxPaths) {
      observation_.paths.emplace(std::move(key), PathUse{1, request.number});
    } else {
      ++observation_.paths_not_kept;
    }
  }
  switch (request.number) {
    case SYS_socket:
      observation_.socket_families.insert(static_cast<int>(request.args[0]));
      break;
    case SYS_connect:
    case SYS_bind:
    case SYS_sendto:
    case SYS_sendmsg:
    case SYS_sendmmsg:
      if (read_sockaddr_) {
        if (std::optional<InetEndpoint> endpoint = read_sockaddr_(event)) {
          endpoint->bound = request.number == SYS_bind;
          ++observation_.endpoints[*endpoint];
        }
      }
      break;
    case SYS_clone:
    case SYS_clone3:
    case SYS_fork:
    case SYS_vfork:
      ++tasks_;
      break;
    default:
      break;
  }
}

Observation Observer::Finish(int64_t wall_ms, uint64_t output_bytes) {
  observation_.runs = 1;
  observation_.max_wall_ms = wall_ms;
  observation_.max_output_bytes = output_bytes;
  observation_.max_tasks = tasks_;
  return std::move(observation_);
}

}  // namespace isoscope
