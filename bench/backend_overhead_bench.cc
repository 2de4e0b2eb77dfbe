// What a sandboxing backend (ptrace or container) costs, measured in one
// run with every variant interleaved (round-robin per repetition, the
// starting variant rotating) so that the machine's drift hits all of them
// alike:
//   1. syscall-storm STORM_N natively (bare fork/exec/wait) and under the
//      backend with getppid statically allowed (`default: allow`): the
//      seccomp filter keeps it in the kernel. Target (issues 4 and 5):
//      backend / native <= 1.05.
//   2. the cost of one inspected getppid (a `log` rule: seccomp user
//      notification to the supervisor) against one getppid traced by
//      `strace -f -e trace=getppid`. Per-call cost = (inspected run - the
//      statically allowed run) / n, and (strace run - native run) / n,
//      paired within each repetition; n = max(10000, STORM_N / 10) so the
//      strace runs stay short. Target: inspected / strace <= 0.25. And the
//      floor of this design, a bare user-notification listener with
//      SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP built by this benchmark
//      (notify_floor.h), per call (listener run - native run) / n, the
//      faster of its two ways of waiting. Target (issue 16): inspected /
//      floor <= 1.15.
//   3. start-to-exit of `startup`: native, the backend, and the backend's
//      peer: `strace -f` for ptrace (no target); for the container,
//      `bwrap --unshare-all --die-with-parent` with the same view (the
//      program, the workdir, /dev, /proc), target container / bwrap <= 1.0
//      for the backend's own start-up, timed inside this process
//      (neither with a cgroup: the container backend makes one only for a
//      policy with limits, whose cost `startup.container_limited` shows).
// What a user waits for, whole `isoscope run` processes, is
// whole_process_bench's.
// For kvm (issue 6), where every syscall is a VM exit decided by the
// supervisor, instead:
//   1. start-to-exit of `startup` under the kvm backend (VM creation, ELF
//      load, the VMM thread and its seccomp filter included). Target: median
//      <= 2 ms.
//   2. one forwarded getppid, (syscall-storm n under kvm - startup under
//      kvm) / n paired per repetition, against the bare round trip of one
//      `out` exit of a VM that loops on it (the floor of this design),
//      measured in the same process. Target: forwarded / bare <= 2.
// Every run's exit status (and, under the supervisor, outcome, output and
// trap counters) is checked: a failed run aborts the benchmark.
// Usage: backend_overhead_bench BACKEND [REPEAT] [STORM_N]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backends/builtin_backends.h"
#include "backends/kvm/guest_layout.h"
#include "backends/kvm/kvm_vm.h"
#include "base/temp_dir.h"
#include "bench/bench_process.h"
#include "bench/bench_report.h"
#include "bench/notify_floor.h"
#include "policies/loader.h"
#include "supervisor/backend_registry.h"
#include "supervisor/supervisor.h"

namespace isoscope::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kStaticPolicy = R"(version: 1
syscalls:
  default: allow
)";

// The static policy with resource limits: the container backend then puts
// the workload in a cgroup of its own, whose set-up cost this shows.
constexpr std::string_view kLimitedPolicy = R"(version: 1
syscalls:
  default: allow
resources:
  memory: 256MiB
  processes: 64
)";

constexpr std::string_view kInspectedPolicy = R"(version: 1
syscalls:
  default: allow
  rules:
    - {id: log-getppid, syscalls: [getppid], action: log}
)";

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start)
      .count();
}

// What a supervised run must show besides a clean exit.
struct Expect {
  bool storm_ok = false;  // stdout says ok=1 (syscall-storm)
  // getppid calls the supervisor must (at least) or may (at most) decide.
  std::optional<uint64_t> min_trapped;
  std::optional<uint64_t> max_trapped;
};

// The backend through the supervisor, a fresh one per run. The RunResult is
// a local: it is dropped before the next run.
std::optional<double> SupervisedRunMicros(
    std::string_view variant, const BackendRegistry& registry,
    std::string_view backend_name, const std::shared_ptr<const Policy>& p,
    const HostFacts& facts, const std::vector<std::string>& argv,
    const std::string& workdir, const Expect& expect) {
  SupervisorOptions options;
  options.host_facts = facts;
  Supervisor supervisor(p, options);
  auto backend = registry.Create(backend_name);
  if (!backend) {
    Fail(variant, backend.error().ToString());
    return std::nullopt;
  }
  auto start = Clock::now();
  auto result = supervisor.Run(**backend, Workload{argv[0], argv, {}, workdir});
  double micros = MicrosSince(start);
  if (!result) {
    Fail(variant, result.error().ToString());
    return std::nullopt;
  }
  const Termination& end = result->termination;
  if (end.outcome != Outcome::kExited || end.exit_code != 0) {
    Fail(variant,
         fmt::format("{}: outcome {}, exit status {}: {}", argv[0],
                     OutcomeName(end.outcome), end.ExitStatus(), end.reason));
    return std::nullopt;
  }
  if (expect.storm_ok &&
      result->output.stdout_bytes.find("ok=1") == std::string::npos) {
    Fail(variant, fmt::format("syscall-storm did not report ok=1: '{}'",
                              result->output.stdout_bytes));
    return std::nullopt;
  }
  uint64_t trapped = result->counters.syscalls_trapped;
  if (expect.min_trapped && trapped < *expect.min_trapped) {
    Fail(variant, fmt::format("only {} syscalls reached the supervisor, "
                              "expected at least {} (getppid not inspected?)",
                              trapped, *expect.min_trapped));
    return std::nullopt;
  }
  if (expect.max_trapped && trapped > *expect.max_trapped) {
    Fail(variant, fmt::format("{} syscalls reached the supervisor, expected "
                              "at most {} (getppid not kept in the kernel?)",
                              trapped, *expect.max_trapped));
    return std::nullopt;
  }
  return micros;
}

// `exits` round trips of a VM whose guest loops on `out %al, $0x99`: the
// VMM reads each exit and resumes at once. Only the loop is timed.
std::optional<double> BareOutExitsMicros(std::string_view variant,
                                         uint64_t exits) {
  auto vm = kvm::Vm::Create(kvm::VmConfig{});
  if (!vm) {
    Fail(variant, vm.error().ToString());
    return std::nullopt;
  }
  constexpr uint8_t kLoop[] = {0xe6, 0x99, 0xeb, 0xfc};  // out; jmp back
  if (!(*vm)->memory().Write(kvm::kWorkloadBase, kLoop, sizeof(kLoop))) {
    Fail(variant, "writing the guest loop");
    return std::nullopt;
  }
  kvm_regs& regs = (*vm)->regs();
  regs.rip = kvm::kWorkloadBase;
  regs.rsp = kvm::StackRegionFor(kvm::kDefaultGuestMemory).top;
  regs.rflags = 0x2;
  (*vm)->MarkRegsDirty();
  auto start = Clock::now();
  for (uint64_t i = 0; i < exits; ++i) {
    auto exit = (*vm)->Run();
    if (!exit || exit->kind != kvm::VcpuExit::Kind::kIo || exit->port != 0x99) {
      Fail(variant, exit ? "unexpected exit " + kvm::DescribeExit(*exit)
                         : exit.error().ToString());
      return std::nullopt;
    }
  }
  return MicrosSince(start);
}

std::optional<uint64_t> ParseCount(const char* text) {
  char* end = nullptr;
  uint64_t value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || value == 0 || text[0] == '-') {
    return std::nullopt;
  }
  return value;
}

// The backend's peer for start-to-exit, as the issue names it.
struct StartupPeer {
  std::string name;               // "strace", "bwrap"
  std::vector<std::string> argv;  // runs `startup`
  std::optional<double> target;   // backend / peer
};

std::optional<StartupPeer> PeerFor(std::string_view backend,
                                   const std::string& startup,
                                   const std::string& workdir) {
  if (backend == "container") {
    std::optional<std::string> bwrap = FindProgram("bwrap");
    if (!bwrap) return std::nullopt;
    // The view the container backend builds for a policy without a
    // filesystem section: the program, the workdir, /dev and /proc.
    return StartupPeer{
        "bwrap",
        {*bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", startup,
         startup, "--bind", workdir, workdir, "--dev", "/dev", "--proc",
         "/proc", "--chdir", workdir, startup},
        1.0};
  }
  std::optional<std::string> strace = FindProgram("strace");
  if (!strace) return std::nullopt;
  return StartupPeer{
      "strace", {*strace, "-f", "-o", "/dev/null", startup}, std::nullopt};
}

int Main(int argc, char** argv) {
  BackendRegistry registry;
  RegisterBuiltinBackends(registry);
  const std::string backend = argc > 1 ? argv[1] : "";
  int repeat = argc > 2 ? std::atoi(argv[2]) : 15;
  std::optional<uint64_t> storm_n =
      argc > 3 ? ParseCount(argv[3]) : std::optional<uint64_t>(1000000);
  if ((backend != "ptrace" && backend != "container" && backend != "kvm") ||
      repeat < 1 || !storm_n) {
    fmt::print(stderr,
               "usage: backend_overhead_bench ptrace|container|kvm "
               "[REPEAT>=1] [STORM_N>=1]\n");
    return 2;
  }
  const bool kvm = backend == "kvm";
  uint64_t small_n = std::max<uint64_t>(10000, *storm_n / 10);
  // Every getppid of a kvm run is a VM exit: the storm uses the short n.
  if (kvm) storm_n = small_n;
  std::string build = ISOSCOPE_BENCH_BUILD_DIR;
  std::string startup = build + "/workloads/bench/startup";
  std::string storm = build + "/workloads/bench/syscall-storm";
  for (const std::string& program : {startup, storm}) {
    if (::access(program.c_str(), X_OK) != 0) {
      fmt::print(stderr, "backend_overhead_bench: {} not built\n", program);
      return 1;
    }
  }

  auto probe = registry.Create(backend);
  if (!probe) {
    fmt::print(stderr, "{}\n", probe.error().ToString());
    return 1;
  }
  if (ProbeResult probed = (*probe)->Probe(); !probed.available) {
    fmt::print("SKIP backend_overhead_bench {}: backend unavailable: {}\n",
               backend, probed.reason);
    return 0;
  }
  probe->reset();
  // kvm has no peer run here: its floor is measured in process.
  std::optional<std::string> strace =
      kvm ? std::nullopt : FindProgram("strace");
  if (!strace && !kvm) {
    fmt::print(
        "SKIP {0}.getppid.strace: strace not found (Debian package strace; "
        "scripts/install-deps.sh installs it)\n",
        backend);
  }

  auto scratch = TempDir::Create("isoscope-bench-");
  if (!scratch) {
    fmt::print(stderr, "{}\n", scratch.error().ToString());
    return 1;
  }
  std::string workdir = scratch->path().string();
  std::optional<StartupPeer> peer =
      kvm ? std::nullopt : PeerFor(backend, startup, workdir);
  if (!peer && !kvm) {
    fmt::print(
        "SKIP {}.startup peer: {} not found (scripts/install-deps.sh "
        "installs it)\n",
        backend, backend == "container" ? "bwrap" : "strace");
  }
  auto load = [&](std::string_view yaml,
                  std::string_view name) -> std::shared_ptr<const Policy> {
    // Overhead benchmarks run open policies on purpose (holes.h).
    auto parsed = ParsePolicy(yaml, name, {.refuse_holes = false});
    if (!parsed) {
      fmt::print(stderr, "{}\n", parsed.error().ToString());
      return nullptr;
    }
    return std::make_shared<const Policy>(WithWorkdir(*parsed, workdir));
  };
  auto static_policy = load(kStaticPolicy, "bench-static.yaml");
  auto inspected_policy = load(kInspectedPolicy, "bench-inspected.yaml");
  auto limited_policy = load(kLimitedPolicy, "bench-limited.yaml");
  if (!static_policy || !inspected_policy || !limited_policy) return 1;
  HostFacts facts = ReadHostFacts();
  std::string big = std::to_string(*storm_n);
  std::string small = std::to_string(small_n);
  // The statically allowed runs may trap a few other syscalls, never the
  // storm's getppid calls; the inspected run traps every one of them (n + 1).
  Expect kept_in_kernel{.storm_ok = true, .max_trapped = small_n / 2};
  Expect inspected{.storm_ok = true, .min_trapped = small_n};

  // The floor needs SYNC_WAKE_UP: without it, its ratio is not the one the
  // target is about.
  const std::string sync_wake_up_missing =
      kvm ? std::string() : MissingSyncWakeUp();
  if (!kvm && !sync_wake_up_missing.empty()) {
    fmt::print("SKIP {}.getppid.listener_floor: this kernel lacks {}\n",
               backend, sync_wake_up_missing);
  }

  std::vector<Variant> variants;
  auto name = [&](std::string_view what) {
    return fmt::format("{}.{}", backend, what);
  };
  auto add = [&](const std::string& what,
                 std::function<std::optional<double>()> f) {
    variants.push_back({name(what), std::move(f), {}});
  };
  auto bare = [&](const std::string& what,
                  const std::vector<std::string>& args) {
    add(what, [&, what, args] { return BareRunMicros(name(what), args); });
  };
  auto supervised = [&](const std::string& what,
                        const std::shared_ptr<const Policy>& policy,
                        const std::vector<std::string>& args, Expect expect) {
    add(what, [&, what, policy, args, expect] {
      return SupervisedRunMicros(name(what), registry, backend, policy, facts,
                                 args, workdir, expect);
    });
  };
  if (kvm) {
    // Every call reaches the supervisor: n getppid plus a few others.
    Expect forwarded{.storm_ok = true, .min_trapped = small_n};
    bare("startup.native", {startup});
    supervised("startup.kvm", static_policy, {startup}, Expect{});
    supervised("getppid.forwarded", static_policy, {storm, small}, forwarded);
    add("getppid.bare_out", [&, small_n] {
      return BareOutExitsMicros(name("getppid.bare_out"), small_n);
    });
  } else {
    bare("syscall_storm.native", {storm, big});
    supervised("syscall_storm.static", static_policy, {storm, big},
               kept_in_kernel);
    bare("getppid.native", {storm, small});
    supervised("getppid.static", static_policy, {storm, small}, kept_in_kernel);
    supervised("getppid.inspected", inspected_policy, {storm, small},
               inspected);
    if (strace) {
      bare("getppid.strace", {*strace, "-f", "-e", "trace=getppid", "-o",
                              "/dev/null", storm, small});
    }
    if (sync_wake_up_missing.empty()) {
      add("getppid.listener_recv", [&, storm, small] {
        return BareListenerRunMicros(name("getppid.listener_recv"),
                                     {storm, small}, ListenerWait::kReceive);
      });
      add("getppid.listener_poll", [&, storm, small] {
        return BareListenerRunMicros(name("getppid.listener_poll"),
                                     {storm, small},
                                     ListenerWait::kPollThenReceive);
      });
    }
    bare("startup.native", {startup});
    supervised("startup." + backend, static_policy, {startup}, Expect{});
    supervised("startup." + backend + "_limited", limited_policy, {startup},
               Expect{});
    if (peer) bare("startup." + peer->name, peer->argv);
  }

  fmt::print(
      "# backend_overhead_bench {}: {} repetitions, variants interleaved; "
      "syscall_storm n={}, getppid per-call runs n={} (smaller so the strace "
      "runs stay short){}{}\n",
      backend, repeat, *storm_n, small_n,
      strace ? fmt::format("; strace: {}", *strace) : std::string(),
      peer ? fmt::format("; startup peer: {}", fmt::join(peer->argv, " "))
           : std::string());
  if (!RunInterleaved(variants, repeat)) return 1;

  auto samples = [&](std::string_view what) -> const std::vector<double>& {
    return SamplesOf(variants, name(what));
  };
  auto median = [&](std::string_view what) {
    return Summarize(samples(what)).median;
  };
  for (const Variant& variant : variants) {
    PrintBenchSpread(variant.name, Summarize(variant.samples), "us");
  }
  if (kvm) {
    Spread forwarded_call =
        PerCall(samples("getppid.forwarded"), samples("startup.kvm"), small_n);
    Spread bare_call = PerCall(samples("getppid.bare_out"),
                               std::vector<double>(repeat, 0.0), small_n);
    PrintBenchSpread(name("getppid.forwarded_per_call"), forwarded_call, "us");
    PrintBenchSpread(name("getppid.bare_out_per_exit"), bare_call, "us");
    PrintBench(name("startup.kvm_over_native"),
               median("startup.kvm") / median("startup.native"), "x");
    PrintTarget(name("startup.kvm_ms"), median("startup.kvm") / 1000.0, 2.0);
    PrintTarget(name("getppid.forwarded_over_bare_out"),
                forwarded_call.median / bare_call.median, 2.0);
    return 0;
  }
  Spread inspected_call =
      PerCall(samples("getppid.inspected"), samples("getppid.static"), small_n);
  PrintBenchSpread(name("getppid.inspected_per_call"), inspected_call, "us");
  std::optional<Spread> strace_call;
  if (strace) {
    strace_call =
        PerCall(samples("getppid.strace"), samples("getppid.native"), small_n);
    PrintBenchSpread(name("getppid.strace_per_call"), *strace_call, "us");
  }

  std::optional<Spread> floor_call;
  if (sync_wake_up_missing.empty()) {
    const Spread recv_call = PerCall(samples("getppid.listener_recv"),
                                     samples("getppid.native"), small_n);
    const Spread poll_call = PerCall(samples("getppid.listener_poll"),
                                     samples("getppid.native"), small_n);
    PrintBenchSpread(name("getppid.listener_recv_per_call"), recv_call, "us");
    PrintBenchSpread(name("getppid.listener_poll_per_call"), poll_call, "us");
    floor_call = recv_call.median <= poll_call.median ? recv_call : poll_call;
    PrintBenchSpread(name("getppid.listener_floor_per_call"), *floor_call,
                     "us");
  }

  PrintTarget(name("syscall_storm.static_over_native"),
              median("syscall_storm.static") / median("syscall_storm.native"),
              1.05);
  if (strace_call) {
    PrintTarget(name("getppid.inspected_over_strace"),
                inspected_call.median / strace_call->median, 0.25);
  } else {
    fmt::print("SKIP {}: no strace\n", name("getppid.inspected_over_strace"));
  }
  if (floor_call) {
    PrintTarget(name("getppid.inspected_over_listener_floor"),
                inspected_call.median / floor_call->median, 1.15);
  } else {
    fmt::print("SKIP {}: no SYNC_WAKE_UP listener floor\n",
               name("getppid.inspected_over_listener_floor"));
  }
  const double startup_backend = median("startup." + backend);
  PrintBench(name(fmt::format("startup.{}_over_native", backend)),
             startup_backend / median("startup.native"), "x");
  // Not a target: what the limits (a cgroup, for the container) add.
  PrintBench(
      name(fmt::format("startup.{0}_limited_over_{0}", backend)),
      median(fmt::format("startup.{}_limited", backend)) / startup_backend,
      "x");
  if (peer) {
    std::string ratio =
        name(fmt::format("startup.in_process_{}_over_{}", backend, peer->name));
    double measured = startup_backend / median("startup." + peer->name);
    if (peer->target) {
      PrintTarget(ratio, measured, *peer->target);
    } else {
      PrintBench(ratio, measured, "x");
    }
  }
  return 0;
}

}  // namespace
}  // namespace isoscope::bench

int main(int argc, char** argv) { return isoscope::bench::Main(argc, argv); }
