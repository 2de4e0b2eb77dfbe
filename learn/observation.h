// What `isoscope learn` saw a workload do: every syscall with the argument
// values a policy can name, every path by intent, every IP endpoint, every
// fault, and the peaks of its resource use, accumulated over one or more
// runs. A value type built from the events a run reports (Observer) and
// turned into a policy by LearnPolicy (learned_policy.h).
//
// Learning decides nothing: a workload observed doing something is allowed
// to do it, so what the Observation holds is only as trustworthy as the run
// it came from (run `learn` on the program, not on untrusted input), and the
// policy it gives is proven by running under it (`learn`'s verification).
#ifndef ISOSCOPE_LEARN_OBSERVATION_H_
#define ISOSCOPE_LEARN_OBSERVATION_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "policies/decide.h"
#include "policies/policy.h"
#include "supervisor/event.h"
#include "supervisor/event_sink.h"

namespace isoscope {

// One syscall as the workload used it.
struct SyscallUse {
  uint64_t count = 0;
  std::array<uint64_t, 6> example_args{};  // of the first call seen
  std::string example_path;  // its first path argument, if it had one
  // The values of the arguments a policy names for this call (SelectorsFor),
  // each masked, one per selector, with how often each combination was
  // seen: ioctl requests, socket families and types, prctl options, clone
  // flags, memory protections.
  std::map<std::vector<uint64_t>, uint64_t> selector_values;
  // More distinct values than a policy would list: no condition is learned.
  bool selector_varies = false;
  bool operator==(const SyscallUse&) const = default;
};

// One argument a learned rule compares: its bits under `mask`, the rest
// varying without meaning (clone's exit signal and the upper half the
// kernel ignores, socket's SOCK_NONBLOCK and SOCK_CLOEXEC).
struct Selector {
  int index = 0;
  const char* what = "";  // "request", "family", "type", "flags", ...
  uint64_t mask = ~uint64_t{0};
};

// The arguments a learned rule conditions on, and how. nullopt for calls
// whose arguments vary without meaning (read's length). clone's namespace
// flags are decided as unshare is, whatever its rules say (policies/
// README.md, "Namespaces"), and clone3's flags are in memory no filter
// reads: learn refuses clone3 where clone has conditions (ENOSYS, so libc
// falls back to clone).
struct Selectors {
  std::vector<Selector> args;
  // true: each combination seen is a rule, the last one refusing the rest
  // (ioctl, socket, socketpair, prctl, clone). false: the values seen say
  // which protections are refused (mmap, mprotect, pkey_mprotect: memory
  // both writable and executable, or executable at all, when never seen).
  bool each_value = true;
};
std::optional<Selectors> SelectorsFor(int syscall);

// The selector values of a call's arguments (masked, one per selector).
std::vector<uint64_t> SelectorValues(const Selectors& selectors,
                                     const std::array<uint64_t, 6>& args);

// One path reached with one intent.
struct PathUse {
  uint64_t count = 0;
  int first_syscall = 0;
  bool operator==(const PathUse&) const = default;
};

// An IPv4 or IPv6 endpoint the workload connected, bound or sent to.
struct InetEndpoint {
  std::string address;  // "127.0.0.1", "::1"
  uint16_t port = 0;
  bool loopback = false;
  bool bound = false;  // by bind; otherwise reached (connect, send)
  auto operator<=>(const InetEndpoint&) const = default;
};

struct Observation {
  int runs = 0;                        // how many runs it holds
  std::map<int, SyscallUse> syscalls;  // x86-64 numbers
  // Calls through another ABI (int 0x80, x32), by ABI name.
  std::map<std::string, uint64_t> foreign_abi_calls;
  std::map<std::pair<PathIntent, std::string>, PathUse> paths;
  uint64_t paths_not_kept = 0;  // distinct paths beyond the cap, uncounted
  // Calls on a descriptor itself whose target has no path ("pipe:[42]",
  // "anon_inode:[eventfd]": fstat of a pipe), by syscall, with an example.
  std::map<int, std::pair<uint64_t, std::string>> descriptor_calls;
  std::map<InetEndpoint, uint64_t> endpoints;  // with how many calls
  std::set<int> socket_families;               // socket()'s arg 0
  std::map<FaultKind, uint64_t> faults;
  // Peaks over the runs; nullopt when no run could tell.
  std::optional<int64_t> max_rss_kib;
  int64_t max_cpu_us = 0;
  int64_t max_wall_ms = 0;
  uint64_t max_output_bytes = 0;
  // Processes and threads the workload started in one run (its clone,
  // fork and vfork calls, plus the first): a bound on how many ran at once.
  uint64_t max_tasks = 1;
  // The runs let clone (without namespace flags), fork and vfork run in the
  // kernel unobserved, and new tasks were seen (Observer's
  // InferTaskCreation): which of the three made them is not known.
  bool task_creation_inferred = false;
  bool operator==(const Observation&) const = default;

  // Widens this observation by `other` (counts add, peaks take the max).
  void Merge(const Observation& other);
};

// Reads the socket address a connect, bind, sendto, sendmsg or sendmmsg
// names (sendto's args 4 and 5; the first message's msg_name for the
// others) from the workload while its call waits; nullopt when there is
// none, it cannot be read or it is no IPv4/IPv6 address. Supplied by the
// caller, which knows how to reach the workload's memory.
using SockaddrReader =
    std::function<std::optional<InetEndpoint>(const SyscallEvent&)>;

// Turns the events of one run into an Observation: an EventSink for
// SupervisorOptions::observer. Finish() with the run's result figures.
class Observer : public EventSink {
 public:
  // Paths under `workdir` (the run's fresh working directory) are kept as
  // "{workdir}/...", which the next run's workdir replaces.
  Observer(const std::string& workdir, SockaddrReader read_sockaddr);

  void Append(const Event& event) override;

  // For a run whose policy lets the clone family run in the kernel: a task
  // seen for the first time (not the first one) counts as created.
  void InferTaskCreation() { infer_tasks_ = true; }

  // The run's observation, its peaks and output size added.
  Observation Finish(int64_t wall_ms, uint64_t output_bytes);

 private:
  void OnSyscall(const SyscallEvent& event);
  std::string AsObserved(const std::string& path) const;

  std::string workdir_;
  SockaddrReader read_sockaddr_;
  Observation observation_;
  uint64_t tasks_ = 1;
  bool infer_tasks_ = false;
  std::set<int> pids_seen_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_LEARN_OBSERVATION_H_
