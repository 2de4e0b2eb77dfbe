#include "supervisor/probe_runner.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "base/io.h"
#include "base/temp_dir.h"
#include "base/wall_clock.h"
#include "supervisor/canaries.h"
#include "supervisor/host_facts.h"
#include "supervisor/recorded_run.h"
#include "supervisor/supervisor.h"
#include "supervisor/workload_env.h"
#include "workloads/catalog.h"

namespace isoscope {
namespace {

constexpr std::string_view kProbePrefix = "probes/";

std::string SignalText(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? fmt::format("signal {} (SIG{})", signal, abbrev)
                           : fmt::format("signal {}", signal);
}

bool IsProbeVerdict(std::string_view verdict) {
  return verdict == kVerdictBlocked || verdict == kVerdictReachable ||
         verdict == kVerdictEscaped || verdict == kVerdictNa;
}

// The PROBE ids a probe program prints.
std::vector<std::string> ExpectedIds(const ProbeSpec& probe) {
  if (ProbeCases(probe.probe_id).empty()) return {probe.probe_id};
  std::vector<std::string> ids;
  for (const std::string& c : probe.args) {
    ids.push_back(fmt::format("{}.{}", probe.probe_id, c));
  }
  return ids;
}

// The finding when the probe printed no line for `id`: what the run's end
// says about it.
ProbeFinding FindingFromTermination(const std::string& id,
                                    const Termination& term) {
  ProbeFinding f;
  f.probe_id = id;
  switch (term.outcome) {
    case Outcome::kViolation:
      f.verdict = kVerdictBlocked;
      f.detail = fmt::format("killed by rule {}", term.rule_id);
      break;
    case Outcome::kLimit:
      if (term.limit == LimitKind::kWallTime) {
        f.verdict = kVerdictNa;
        f.detail = "timed out";
      } else {
        // The sandbox's limit stopped it (a memory or fork bomb).
        f.verdict = kVerdictBlocked;
        f.detail = fmt::format("stopped at the {} limit",
                               term.limit ? LimitKindName(*term.limit)
                                          : std::string_view("resource"));
      }
      break;
    case Outcome::kInterrupted:
      f.verdict = kVerdictNa;
      f.detail = "interrupted";
      break;
    case Outcome::kError:
    case Outcome::kRunning:
      f.verdict = kVerdictError;
      f.detail = fmt::format("isoscope failed: {}", term.reason);
      break;
    case Outcome::kSignaled:
      // SIGSYS is what a seccomp filter kills with: the sandbox stopped it.
      // Any other signal without a PROBE line is a probe that broke.
      f.verdict = term.signal == SIGSYS ? kVerdictBlocked : kVerdictError;
      f.detail =
          fmt::format("killed by {} before reporting", SignalText(term.signal));
      break;
    case Outcome::kExited:
      f.verdict = kVerdictError;
      f.detail = fmt::format("exited with status {} without a PROBE line",
                             term.exit_code);
      break;
  }
  return f;
}

}  // namespace

const std::vector<std::string>& ProbeCases(std::string_view probe_id) {
  // Keep in step with each program's case table (workloads/probes/).
  static const std::map<std::string, std::vector<std::string>, std::less<>>
      kCases = {
          {"fault-map",
           {"syscall", "unmapped", "hlt", "cli", "out", "rdmsr", "cpuid",
            "rdtsc", "int3", "ud2", "div0"}},
          {"magic-links",
           {"proc-self-root", "thread-self-root", "proc-pid-root",
            "proc-ppid-root", "proc-self-cwd", "proc-fd-dir", "o-path-reopen",
            "map-files", "proc-self-exe", "workdir-symlink",
            "workdir-symlink-dir", "symlink-dotdot"}},
          {"checked-arg",
           {"thread-flip", "shared-flip", "proc-mem", "vm-writev"}},
          {"identity",
           {"ids", "setuid0", "capset", "kill-canary", "kill-supervisor"}},
          {"network", {"loopback", "nonloopback"}},
          {"pathless-open", {"io-uring", "handle"}},
          {"ns-flags",
           {"clone-newuser", "clone3-newuser", "clone-newnet",
            "unshare-user-mnt", "setns"}},
          {"checked-call",
           {"o-path", "emfile", "long-path", "wild-pointer", "fifo"}},
          {"sensitive",
           {"pushf", "popf-if", "popf-iopl", "sgdt", "sidt", "sldt", "str",
            "smsw", "lar", "lsl", "verr", "verw", "cs", "ss", "rdpid", "rdtscp",
            "cpuid-1", "cpuid-40000000", "xgetbv"}},
      };
  static const std::vector<std::string> kNone;
  auto it = kCases.find(probe_id);
  return it == kCases.end() ? kNone : it->second;
}

bool IsNoisyProbe(std::string_view probe_id) {
  return probe_id == "fork-bomb" || probe_id == "memory-bomb" ||
         probe_id == "disk-fill" || probe_id == "cpu-spin";
}

std::vector<ProbeSpec> BuiltinProbes(bool noisy) {
  std::vector<ProbeSpec> probes;
  for (const BuiltinWorkload& workload : ListBuiltinWorkloads()) {
    std::string_view name = workload.name;
    if (!name.starts_with(kProbePrefix)) continue;
    name.remove_prefix(kProbePrefix.size());
    if (!noisy && IsNoisyProbe(name)) continue;
    const std::vector<std::string>& cases = ProbeCases(name);
    for (const std::string& c : cases) {
      probes.push_back(ProbeSpec{std::string(name), workload.path, {c}});
    }
    if (!cases.empty()) continue;
    probes.push_back(ProbeSpec{std::string(name), workload.path, {}});
  }
  return probes;
}

Result<std::vector<ProbeSpec>> SelectBuiltinProbes(std::string_view list) {
  const std::vector<ProbeSpec> all = BuiltinProbes(/*noisy=*/true);
  std::vector<std::string_view> names;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    const std::string_view name = list.substr(start, comma - start);
    if (name.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("--probes '{}': empty probe name", list));
    }
    const bool known = std::any_of(all.begin(), all.end(), [&](const auto& p) {
      return p.probe_id == name;
    });
    if (!known) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("no built-in probe named '{}' (isoscope "
                              "workloads lists them, as probes/NAME)",
                              name));
    }
    names.push_back(name);
    start = comma + 1;
  }
  std::vector<ProbeSpec> selected;
  for (const ProbeSpec& probe : all) {
    if (std::find(names.begin(), names.end(), probe.probe_id) != names.end()) {
      selected.push_back(probe);
    }
  }
  return selected;
}

std::vector<ProbeFinding> FindingsFromRun(const std::vector<std::string>& ids,
                                          const RunResult& run) {
  std::vector<ProbeFinding> findings;
  const std::string_view out = run.output.stdout_bytes;
  for (const std::string& id : ids) {
    const std::string prefix = fmt::format("PROBE {} ", id);
    std::optional<std::string_view> last;
    size_t start = 0;
    while (start < out.size()) {
      size_t end = out.find('\n', start);
      if (end == std::string_view::npos) end = out.size();
      std::string_view line = out.substr(start, end - start);
      if (line.starts_with(prefix)) last = line.substr(prefix.size());
      start = end + 1;
    }
    if (!last) {
      findings.push_back(FindingFromTermination(id, run.termination));
      continue;
    }
    ProbeFinding f;
    f.probe_id = id;
    const size_t space = last->find(' ');
    const std::string_view verdict = last->substr(0, space);
    const std::string_view detail =
        space == std::string_view::npos ? "" : last->substr(space + 1);
    if (IsProbeVerdict(verdict)) {
      f.verdict = verdict;
      f.detail = detail;
    } else {
      f.verdict = kVerdictError;
      f.detail = fmt::format("unknown verdict in: {}", *last);
    }
    findings.push_back(std::move(f));
  }
  return findings;
}

ProbeRunner::ProbeRunner(const BackendRegistry& registry, Store& store,
                         ProbeOptions options)
    : registry_(registry), store_(store), options_(std::move(options)) {}

Result<ProbeSession> ProbeRunner::Run() {
  if (options_.policy == nullptr) {
    return Fail(ErrorCode::kInternal, "probe runner started without a policy");
  }
  ProbeSession session;
  session.started_at_unix_ms = NowUnixMs();
  session.policy_name = options_.policy->name;
  session.backends = options_.backends;

  // Every backend name is checked before anything runs.
  for (const std::string& name : options_.backends) {
    auto backend = registry_.Create(name);
    if (!backend) return tl::unexpected(backend.error());
  }
  std::vector<ProbeSpec> probes =
      options_.probes.empty() ? BuiltinProbes(options_.noisy) : options_.probes;
  if (probes.empty()) {
    return Fail(ErrorCode::kNotFound,
                "no built-in probe programs found next to isoscope; build the "
                "project (scripts/build.sh) or set ISOSCOPE_WORKLOADS_DIR");
  }

  const HostFacts host = ReadHostFacts();  // once, not per probe
  {
    auto canaries = Canaries::Create();
    if (!canaries) {
      return tl::unexpected(canaries.error().WithContext("planting canaries"));
    }
    for (const std::string& backend_name : options_.backends) {
      ProbeResult availability{true, ""};
      if (auto backend = registry_.Create(backend_name)) {
        availability = (*backend)->Probe();
      }
      for (const ProbeSpec& probe : probes) {
        if (!availability.available) {
          for (const std::string& id : ExpectedIds(probe)) {
            ProbeFinding f{id,
                           backend_name,
                           std::string(kVerdictNa),
                           "backend unavailable: " + availability.reason,
                           false,
                           0,
                           std::nullopt};
            if (options_.on_finding) options_.on_finding(f);
            session.findings.push_back(std::move(f));
          }
          continue;
        }
        if (IsReadable(options_.interrupt_fd)) {
          session.interrupted = true;
          break;
        }
        auto findings = RunOne(backend_name, probe, *canaries, host);
        if (!findings) return tl::unexpected(findings.error());
        for (ProbeFinding& f : *findings) {
          if (f.outcome == Outcome::kInterrupted) session.interrupted = true;
          if (options_.on_finding) options_.on_finding(f);
          session.findings.push_back(std::move(f));
        }
        if (session.interrupted) break;
      }
      if (session.interrupted) break;
    }
    // The canaries go here, before the session is recorded.
  }
  auto id = store_.RecordProbeSession(session);
  if (!id) return tl::unexpected(id.error());
  session.id = *id;
  return session;
}

Result<std::vector<ProbeFinding>> ProbeRunner::RunOne(
    const std::string& backend_name, const ProbeSpec& probe, Canaries& canaries,
    const HostFacts& host) {
  if (auto reset = canaries.Reset(); !reset) {
    return tl::unexpected(reset.error().WithContext("re-arming canaries"));
  }
  const std::vector<std::string> ids = ExpectedIds(probe);
  // Errors that stop this probe but not the session become ERROR findings.
  const auto error_findings = [&](const Error& error) {
    std::vector<ProbeFinding> findings;
    for (const std::string& id : ids) {
      findings.push_back(
          ProbeFinding{id, backend_name, std::string(kVerdictError),
                       error.ToString(), false, 0, std::nullopt});
    }
    return findings;
  };

  auto backend = registry_.Create(backend_name);
  if (!backend) return tl::unexpected(backend.error());
  auto workdir = TempDir::Create("isoscope-probe-");
  if (!workdir) return tl::unexpected(workdir.error());
  const std::string dir = workdir->path().string();

  Policy policy = WithWorkdir(*options_.policy, dir);
  const auto cap = static_cast<uint64_t>(options_.per_probe_timeout.count());
  policy.resources.wall_time_ms =
      std::min(policy.resources.wall_time_ms.value_or(cap), cap);

  // The probe runs from its workdir, where a user's own program would be:
  // the policy decides its exec like any other (strict execs only there and
  // below /usr), and no probe depends on where isoscope was built.
  auto program = CopyProgramIntoWorkdir(probe.program.string(), dir);
  if (!program) return tl::unexpected(program.error());
  Workload workload;
  workload.executable = *program;
  workload.argv.push_back(*program);
  workload.argv.insert(workload.argv.end(), probe.args.begin(),
                       probe.args.end());
  workload.env = WorkloadEnvironment(dir, canaries.Environment());
  workload.workdir = dir;
  workload.scratch_workdir = true;

  SupervisorOptions supervisor_options;
  supervisor_options.interrupt_fd = options_.interrupt_fd;
  supervisor_options.host_facts = host;
  if (const BackendRegistry::Entry* entry = registry_.Find(backend_name)) {
    supervisor_options.routing = entry->RoutingOn(host);
  }
  RecordedRun recorded =
      RunRecorded(std::make_shared<const Policy>(std::move(policy)),
                  std::move(supervisor_options), **backend, workload, store_);
  backend->reset();  // reaps and cleans up before the canaries are read
  // Evidence the store cannot keep ends the session.
  if (!recorded.recorded) return tl::unexpected(recorded.recorded.error());
  Result<RunResult>& run = recorded.run;
  if (!run && run.error().code() == ErrorCode::kStore) {
    return tl::unexpected(run.error());
  }
  if (!run) return error_findings(run.error());
  const int64_t run_id = run->id;

  std::vector<ProbeFinding> findings = FindingsFromRun(ids, *run);
  // The run's events were streamed to the store as they happened: what
  // isoscope intercepted is read back from there.
  Result<RunResult> stored = store_.Get(run_id);
  if (!stored) return tl::unexpected(stored.error());
  const RunResult& recorded_run = *stored;
  std::vector<Canary> touched;
  for (Canary canary : kAllCanaries) {
    if (canaries.Touched(canary)) touched.push_back(canary);
  }
  std::string touched_text;
  for (Canary canary : touched) {
    if (!touched_text.empty()) touched_text += ", ";
    touched_text += CanaryTouchedText(canary);
  }
  utsname uts{};
  ::uname(&uts);
  for (ProbeFinding& f : findings) {
    f.backend = backend_name;
    f.run_id = run_id;
    f.outcome = run->termination.outcome;
    JudgeHostname(f, uts.nodename);
    JudgeIdentity(f, *options_.policy);
    RecordTraps(f, recorded_run);
    if (touched.empty()) continue;
    // Whatever the probe said, the runner saw a canary touched during its
    // run: that is an escape, attributed to this probe.
    if (f.verdict == kVerdictEscaped) {
      f.detail += fmt::format(" (confirmed: {})", touched_text);
    } else {
      f.detail = fmt::format("{} (probe said {} {})", touched_text, f.verdict,
                             f.detail);
      f.verdict = kVerdictEscaped;
      f.overridden = true;
    }
  }
  return findings;
}

void RecordTraps(ProbeFinding& finding, const RunResult& run) {
  if (!std::string_view{finding.probe_id}.starts_with(kSensitiveProbePrefix)) {
    return;
  }
  const std::string forged = fmt::format("{}=", kTrappedKey);
  std::string detail;
  for (std::string_view rest = finding.detail; !rest.empty();) {
    const size_t end = std::min(rest.find(' '), rest.size());
    const std::string_view word = rest.substr(0, end);
    if (!word.empty() && !word.starts_with(forged)) {
      if (!detail.empty()) detail += ' ';
      detail += word;
    }
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  const std::string_view reason = run.termination.reason;
  if (finding.verdict == kVerdictError && !reason.empty() &&
      detail.find(reason) == std::string::npos) {
    detail += fmt::format(" ({})", reason);
  }
  std::vector<std::string> entries;  // each instruction:action once
  for (const RecordedEvent& event : run.events) {
    const auto* fault = std::get_if<FaultEvent>(&event);
    if (fault == nullptr) continue;
    std::string what;
    for (char c : fault->mnemonic) {
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) what += c;
    }
    if (what.empty()) what = FaultKindName(fault->kind);
    const std::string entry =
        fmt::format("{}:{}", what,
                    fault->verdict ? ActionName(fault->verdict->action.action)
                                   : std::string_view("undecided"));
    if (std::find(entries.begin(), entries.end(), entry) == entries.end()) {
      entries.push_back(entry);
    }
  }
  std::string record;
  for (const std::string& entry : entries) {
    if (!record.empty()) record += ',';
    record += entry;
  }
  finding.detail = fmt::format("{}{}{}={}", detail, detail.empty() ? "" : " ",
                               kTrappedKey, record.empty() ? "none" : record);
  // The run ended at an instruction isoscope intercepted (a hypervisor
  // that cannot emulate it): the sandbox stopped it, the probe did not
  // break.
  if (finding.verdict == kVerdictError && !record.empty()) {
    finding.verdict = kVerdictBlocked;
  }
}

void JudgeHostname(ProbeFinding& finding, std::string_view host_name) {
  constexpr std::string_view kSeen = "nodename=";
  if (finding.probe_id != "hostname" || finding.verdict != kVerdictNa ||
      !finding.detail.starts_with(kSeen)) {
    return;
  }
  std::string_view seen = std::string_view{finding.detail}.substr(kSeen.size());
  if (seen == host_name) {
    finding.verdict = kVerdictReachable;
    finding.detail = fmt::format("sees the host's name '{}'", seen);
  } else {
    finding.verdict = kVerdictBlocked;
    finding.detail = fmt::format("sees '{}', not the host's name", seen);
  }
}

void JudgeIdentity(ProbeFinding& finding, const Policy& policy) {
  if (finding.probe_id != "identity.ids" || finding.verdict != kVerdictNa) {
    return;
  }
  const std::string_view detail = finding.detail;
  const auto uid = DetailWord(detail, "uid");
  const auto gid = DetailWord(detail, "gid");
  const auto capeff = DetailWord(detail, "capeff");
  if (!uid || !gid || !capeff) return;
  std::vector<std::string> wrong;
  // "R/E": both the real and the effective id must be the policy's.
  const auto differs = [](std::string_view ids, uint32_t want) {
    const std::string expected = fmt::format("{}/{}", want, want);
    return ids != expected;
  };
  if (policy.identity.uid && differs(*uid, *policy.identity.uid)) {
    wrong.push_back(
        fmt::format("uid {}, the policy says {}", *uid, *policy.identity.uid));
  }
  if (policy.identity.gid && differs(*gid, *policy.identity.gid)) {
    wrong.push_back(
        fmt::format("gid {}, the policy says {}", *gid, *policy.identity.gid));
  }
  // "0x…", or "?" when it could not be read.
  if (policy.capabilities.empty() && *capeff != "0x0" && *capeff != "?") {
    wrong.push_back(fmt::format(
        "effective capabilities {}, the policy grants none", *capeff));
  }
  if (wrong.empty()) {
    finding.verdict = kVerdictBlocked;
    finding.detail = fmt::format("as the policy says: {}", detail);
    return;
  }
  std::string text;
  for (const std::string& w : wrong) {
    if (!text.empty()) text += "; ";
    text += w;
  }
  finding.verdict = kVerdictReachable;
  finding.detail = fmt::format("{} ({})", text, detail);
}

}  // namespace isoscope
