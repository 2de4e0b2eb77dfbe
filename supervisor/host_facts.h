// What this host offers each backend, read from the kernel and sysfs. Used
// by `isoscope doctor`, by backends' Probe, and recorded with every run.
#ifndef ISOSCOPE_SUPERVISOR_HOST_FACTS_H_
#define ISOSCOPE_SUPERVISOR_HOST_FACTS_H_

#include <filesystem>
#include <string>
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
  Feature kvm;  // /dev/kvm usable
  VirtualizationKind virtualization = VirtualizationKind::kNone;
  CgroupFacts cgroups;
  bool operator==(const HostFacts&) const = default;
};

// Whether /dev/kvm opens and speaks the KVM API, and if not what to do
// (HostFacts::kvm; also the kvm backend's Probe).
Feature CheckKvm();

// Reads every fact; cheap enough to call once per run (no process is
// started except for the CPUID-faulting check, which forks once).
HostFacts ReadHostFacts();

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_HOST_FACTS_H_
