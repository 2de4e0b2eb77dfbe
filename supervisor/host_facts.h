// What this host offers each backend, read from the kernel and sysfs. Used
// by `isoscope doctor`, by backends' Probe, and recorded with every run.
#ifndef ISOSCOPE_SUPERVISOR_HOST_FACTS_H_
#define ISOSCOPE_SUPERVISOR_HOST_FACTS_H_

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isoscope {

enum class CgroupLayout { kNone, kV1, kV2, kHybrid };
std::string_view CgroupLayoutName(CgroupLayout layout);  // "v1", "v2", ...

struct CgroupFacts {
  CgroupLayout layout = CgroupLayout::kNone;
  std::filesystem::path v2_root;            // cgroup2 mount, if any
  std::vector<std::string> v1_controllers;  // mounted v1 controllers
  std::vector<std::string> v2_controllers;  // cgroup.controllers of v2 root
  bool operator==(const CgroupFacts&) const = default;
};

// Reads the layout below `sysfs_cgroup_root` (normally /sys/fs/cgroup); a
// parameter so tests can point it at a fake tree.
CgroupFacts ReadCgroupFacts(const std::filesystem::path& sysfs_cgroup_root);

// Where cgroup2 is mounted below `sysfs_cgroup_root`: the root itself (pure
// v2) or its `unified` directory (systemd's hybrid layout), found with a
// stat or two; nullopt when there is none. ReadCgroupFacts' v2_root.
std::optional<std::filesystem::path> FindCgroupV2Root(
    const std::filesystem::path& sysfs_cgroup_root);

enum class VirtualizationKind { kNone, kVmx, kSvm, kPvm };
std::string_view VirtualizationKindName(VirtualizationKind kind);

// A host feature and, when missing, what the user can do about it.
struct Feature {
  bool available = false;
  std::string detail;  // what was found, or why it is missing and the fix
  bool operator==(const Feature&) const = default;
};

struct HostFacts {
  std::string kernel_release;  // uname -r
  std::string machine;         // uname -m
  std::string cpu_model;
  int cpus = 0;
  bool is_root = false;
  Feature seccomp;
  Feature seccomp_user_notif;
  Feature ptrace;
  Feature user_namespaces;
  Feature cpuid_faulting;
  // Whether RDTSC faults after prctl(PR_SET_TSC, PR_TSC_SIGSEGV); nullopt
  // when not known (a run recorded before isoscope probed it).
  std::optional<Feature> rdtsc_trapping;
  Feature kvm;  // /dev/kvm usable
  // Whether the kernel can count a workload's syscalls (syscall_counter.h);
  // nullopt when not probed: ReadHostFacts leaves it to those who count
  // (compare, doctor, `run --count-syscalls`), as the probe costs tens of
  // ms on some hosts; a run recorded before isoscope counted has none.
  std::optional<Feature> syscall_counter;
  VirtualizationKind virtualization = VirtualizationKind::kNone;
  CgroupFacts cgroups;
  bool operator==(const HostFacts&) const = default;
};

// Whether /dev/kvm opens and speaks the KVM API, and if not what to do
// (HostFacts::kvm; also the kvm backend's Probe).
Feature CheckKvm();

// Reads every fact; cheap enough to call once per run. The facts only a
// throw-away child can establish (ProbedHostFacts) are probed once per
// process and cached per boot.
HostFacts ReadHostFacts();

// ---------------------------------------------------------------------------
// Facts a throw-away child establishes: CPUID faulting and RDTSC trapping
// are per-thread settings that cannot be observed without using them, so a
// forked child tries them and this process's own CPUID and RDTSC stay
// intact. The decisions are pure functions of how the child ended.

// How a probe child ended (from its wait status).
struct ProbeChildEnd {
  bool signaled = false;
  int code = 0;  // the exit status, or the signal when `signaled`
  bool operator==(const ProbeChildEnd&) const = default;
};
ProbeChildEnd ProbeChildEndFrom(int wait_status);

// What the children exit with: kProbeExitOk when the setting took effect and
// the instruction ran, kProbeExitUnsupported when the kernel lacks the
// interface, kProbeExitErrnoBase + errno when setting it failed.
inline constexpr int kProbeExitOk = 0;
inline constexpr int kProbeExitUnsupported = 1;
inline constexpr int kProbeExitErrnoBase = 2;

// A probed feature. `conclusive`: a fact about this CPU, hypervisor and
// kernel, which holds until the next boot; not one about how isoscope was
// started (a seccomp filter refusing the call, a failed fork). Only
// conclusive facts are cached.
struct ProbedFeature {
  Feature feature;
  bool conclusive = false;
  bool operator==(const ProbedFeature&) const = default;
};

// The child: arch_prctl(ARCH_GET_CPUID), then arch_prctl(ARCH_SET_CPUID, 0).
ProbedFeature DecideCpuidFaulting(const ProbeChildEnd& end);
// The child: prctl(PR_SET_TSC, PR_TSC_SIGSEGV), then rdtsc. Dying of
// SIGSEGV means RDTSC traps; exiting normally means it ran.
ProbedFeature DecideRdtscTrapping(const ProbeChildEnd& end);

// Fork a child and decide (uncached).
ProbedFeature ProbeCpuidFaulting();
ProbedFeature ProbeRdtscTrapping();

struct ProbedFacts {
  Feature cpuid_faulting;
  Feature rdtsc_trapping;
  bool operator==(const ProbedFacts&) const = default;
};

// This host's probed facts: probed once per process, and cached per boot in
// kProbeCacheFile (read when it is valid for this boot and kernel; probing
// when it is missing, corrupt, stale, unreadable or unwritable).
const ProbedFacts& ProbedHostFacts();

// ---------------------------------------------------------------------------
// The per-boot cache of conclusive probed facts.

inline constexpr std::string_view kProbeCacheFile =
    "/run/isoscope/host-facts.json";

// What a cache entry is valid for.
struct BootKey {
  std::string boot_id;         // /proc/sys/kernel/random/boot_id
  std::string kernel_release;  // uname -r
  bool operator==(const BootKey&) const = default;
};
// This boot's key; nullopt (no caching) when the boot id is unreadable.
std::optional<BootKey> ReadBootKey();

// The facts a cache file holds; a fact absent from it is nullopt.
struct CachedFacts {
  std::optional<Feature> cpuid_faulting;
  std::optional<Feature> rdtsc_trapping;
  bool operator==(const CachedFacts&) const = default;
};
std::string EncodeProbeCache(const BootKey& key, const CachedFacts& facts);
// Empty for text that is not a cache of this boot and kernel (another boot,
// another kernel, a corrupt or truncated file).
CachedFacts DecodeProbeCache(std::string_view text, const BootKey& key);

// How each fact is probed when the cache does not hold it.
struct FactProbes {
  std::function<ProbedFeature()> cpuid_faulting;
  std::function<ProbedFeature()> rdtsc_trapping;
};

// The facts `cache_file` holds for `key`, with the rest probed; writes the
// file (atomically, through a temporary file and rename) when a conclusive
// fact was learned. Never fails: a cache that cannot be trusted, read or
// written only means probing. No key: no cache.
ProbedFacts LoadOrProbeFacts(const std::filesystem::path& cache_file,
                             const std::optional<BootKey>& key,
                             const FactProbes& probes);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_HOST_FACTS_H_
