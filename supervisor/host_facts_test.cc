#include "supervisor/host_facts.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/temp_dir.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Files in a temporary directory.
class TempTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-cgroup-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
  }

  const fs::path& root() const { return dir_->path(); }

  void WriteFile(const fs::path& relative, const std::string& content) {
    std::error_code ec;
    fs::create_directories((root() / relative).parent_path(), ec);
    ASSERT_FALSE(ec) << ec.message();
    std::ofstream out(root() / relative);
    out << content;
    ASSERT_TRUE(out.good());
  }

 private:
  std::optional<TempDir> dir_;
};

// Builds fake /sys/fs/cgroup trees in a temporary directory.
class CgroupTreeTest : public TempTreeTest {
 protected:
  // A mounted v1 hierarchy: a directory with the files every one has.
  void AddV1Hierarchy(const std::string& name) {
    WriteFile(fs::path(name) / "tasks", "");
    WriteFile(fs::path(name) / "cgroup.procs", "");
  }

  void Symlink(const std::string& target, const std::string& name) {
    std::error_code ec;
    fs::create_directory_symlink(target, root() / name, ec);
    ASSERT_FALSE(ec) << ec.message();
  }

  // memory/, pids/, cpu,cpuacct/ with cpu and cpuacct symlinks to it.
  void AddV1Controllers() {
    AddV1Hierarchy("memory");
    AddV1Hierarchy("pids");
    AddV1Hierarchy("cpu,cpuacct");
    Symlink("cpu,cpuacct", "cpu");
    Symlink("cpu,cpuacct", "cpuacct");
  }
};

TEST(HostFactsNamesTest, CgroupLayoutNames) {
  EXPECT_EQ(CgroupLayoutName(CgroupLayout::kNone), "none");
  EXPECT_EQ(CgroupLayoutName(CgroupLayout::kV1), "v1");
  EXPECT_EQ(CgroupLayoutName(CgroupLayout::kV2), "v2");
  EXPECT_EQ(CgroupLayoutName(CgroupLayout::kHybrid), "hybrid");
}

TEST(HostFactsNamesTest, VirtualizationKindNames) {
  EXPECT_EQ(VirtualizationKindName(VirtualizationKind::kNone), "none");
  EXPECT_EQ(VirtualizationKindName(VirtualizationKind::kVmx), "vmx");
  EXPECT_EQ(VirtualizationKindName(VirtualizationKind::kSvm), "svm");
  EXPECT_EQ(VirtualizationKindName(VirtualizationKind::kPvm), "pvm");
}

TEST_F(CgroupTreeTest, PureV2) {
  WriteFile("cgroup.controllers", "cpu memory pids\n");
  WriteFile("cgroup.procs", "");
  // A child cgroup named like a v1 controller must not make it look hybrid.
  WriteFile("memory/cgroup.procs", "");
  WriteFile("memory/cgroup.controllers", "memory\n");

  const CgroupFacts facts = ReadCgroupFacts(root());
  EXPECT_EQ(facts.layout, CgroupLayout::kV2);
  EXPECT_EQ(facts.v2_root, root());
  EXPECT_THAT(facts.v2_controllers, ElementsAre("cpu", "memory", "pids"));
  EXPECT_THAT(facts.v1_controllers, IsEmpty());
}

TEST_F(CgroupTreeTest, PureV1FollowsCoMountSymlinks) {
  AddV1Controllers();

  const CgroupFacts facts = ReadCgroupFacts(root());
  EXPECT_EQ(facts.layout, CgroupLayout::kV1);
  EXPECT_TRUE(facts.v2_root.empty());
  EXPECT_THAT(facts.v1_controllers,
              ElementsAre("cpu", "cpuacct", "memory", "pids"));
  EXPECT_THAT(facts.v2_controllers, IsEmpty());
}

TEST_F(CgroupTreeTest, Hybrid) {
  AddV1Controllers();
  WriteFile("unified/cgroup.controllers", "hugetlb\n");
  WriteFile("unified/cgroup.procs", "");

  const CgroupFacts facts = ReadCgroupFacts(root());
  EXPECT_EQ(facts.layout, CgroupLayout::kHybrid);
  EXPECT_EQ(facts.v2_root, root() / "unified");
  EXPECT_THAT(facts.v2_controllers, ElementsAre("hugetlb"));
  EXPECT_THAT(facts.v1_controllers,
              ElementsAre("cpu", "cpuacct", "memory", "pids"));
}

TEST_F(CgroupTreeTest, NamedHierarchiesAndPlainDirectoriesAreNotControllers) {
  AddV1Hierarchy("memory");
  AddV1Hierarchy("systemd");  // name=systemd: a hierarchy without controllers
  ASSERT_TRUE(fs::create_directory(root() / "pids"));  // not a mount
  WriteFile("notes", "a regular file\n");

  const CgroupFacts facts = ReadCgroupFacts(root());
  EXPECT_EQ(facts.layout, CgroupLayout::kV1);
  EXPECT_THAT(facts.v1_controllers, ElementsAre("memory"));
}

TEST_F(CgroupTreeTest, UnifiedWithoutV1ControllersIsV2) {
  AddV1Hierarchy("systemd");
  WriteFile("unified/cgroup.controllers", "cpu io memory pids\n");

  const CgroupFacts facts = ReadCgroupFacts(root());
  EXPECT_EQ(facts.layout, CgroupLayout::kV2);
  EXPECT_EQ(facts.v2_root, root() / "unified");
  EXPECT_THAT(facts.v2_controllers, ElementsAre("cpu", "io", "memory", "pids"));
  EXPECT_THAT(facts.v1_controllers, IsEmpty());
}

TEST_F(CgroupTreeTest, EmptyDirectoryIsNone) {
  EXPECT_EQ(ReadCgroupFacts(root()), CgroupFacts{});
}

TEST(CgroupFactsTest, MissingRootIsNone) {
  EXPECT_EQ(ReadCgroupFacts("/nonexistent/isoscope/cgroup"), CgroupFacts{});
}

// This host: hybrid (v1 controllers plus cgroup2 at unified/), but the test
// accepts any recognisable layout and only insists on hybrid where the tree
// shows one.
TEST(CgroupFactsTest, RealHost) {
  const fs::path root = "/sys/fs/cgroup";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) GTEST_SKIP() << "no /sys/fs/cgroup";
  const CgroupFacts facts = ReadCgroupFacts(root);
  EXPECT_NE(facts.layout, CgroupLayout::kNone);
  const bool unified = fs::exists(root / "unified" / "cgroup.controllers", ec);
  const bool v1_dirs = fs::exists(root / "memory" / "tasks", ec) ||
                       fs::exists(root / "pids" / "tasks", ec) ||
                       fs::exists(root / "cpu" / "tasks", ec);
  if (unified && v1_dirs) {
    EXPECT_EQ(facts.layout, CgroupLayout::kHybrid);
    EXPECT_EQ(facts.v2_root, root / "unified");
    EXPECT_FALSE(facts.v1_controllers.empty());
  }
}

TEST(HostFactsTest, RealHostBasics) {
  const HostFacts facts = ReadHostFacts();
  EXPECT_FALSE(facts.kernel_release.empty());
  EXPECT_EQ(facts.machine, "x86_64");
  EXPECT_GT(facts.cpus, 0);
  EXPECT_EQ(facts.is_root, geteuid() == 0);
  // These machines run a 6.x kernel with seccomp filters.
  EXPECT_TRUE(facts.seccomp.available) << facts.seccomp.detail;
  EXPECT_EQ(facts.seccomp.detail, "filter mode available");
  EXPECT_TRUE(facts.seccomp_user_notif.available)
      << facts.seccomp_user_notif.detail;
  EXPECT_NE(facts.cgroups.layout, CgroupLayout::kNone);
}

TEST(HostFactsTest, EveryFeatureSaysWhat) {
  const HostFacts facts = ReadHostFacts();
  const Feature* const features[] = {
      &facts.seccomp,         &facts.seccomp_user_notif, &facts.ptrace,
      &facts.user_namespaces, &facts.cpuid_faulting,     &facts.kvm,
  };
  for (const Feature* feature : features) {
    EXPECT_FALSE(feature->detail.empty()) << "available=" << feature->available;
  }
}

TEST(HostFactsTest, KvmMatchesDevice) {
  const HostFacts facts = ReadHostFacts();
  std::error_code ec;
  if (!fs::exists("/dev/kvm", ec)) {
    EXPECT_FALSE(facts.kvm.available);
    EXPECT_THAT(facts.kvm.detail, ::testing::HasSubstr("/dev/kvm"));
    return;
  }
  if (access("/dev/kvm", R_OK | W_OK) != 0) {
    EXPECT_FALSE(facts.kvm.available);
    EXPECT_THAT(facts.kvm.detail, ::testing::HasSubstr("group kvm"));
    return;
  }
  EXPECT_TRUE(facts.kvm.available) << facts.kvm.detail;
}

TEST(HostFactsTest, PvmModuleMeansSomeVirtualization) {
  std::error_code ec;
  if (!fs::exists("/sys/module/kvm_pvm", ec)) {
    GTEST_SKIP() << "kvm_pvm is not loaded on this host";
  }
  EXPECT_NE(ReadHostFacts().virtualization, VirtualizationKind::kNone);
}

// ---------------------------------------------------------------------------
// The probe decisions, for every way a child can end.

TEST(ProbeChildEndTest, FromWaitStatus) {
  EXPECT_EQ(ProbeChildEndFrom(0), (ProbeChildEnd{false, 0}));
  EXPECT_EQ(ProbeChildEndFrom(3 << 8), (ProbeChildEnd{false, 3}));
  EXPECT_EQ(ProbeChildEndFrom(SIGSEGV), (ProbeChildEnd{true, SIGSEGV}));
  EXPECT_EQ(ProbeChildEndFrom(SIGSEGV | 0x80),  // core dumped
            (ProbeChildEnd{true, SIGSEGV}));
}

TEST(RdtscTrappingDecisionTest, DyingOfSigsegvMeansItTraps) {
  const ProbedFeature probed = DecideRdtscTrapping({true, SIGSEGV});
  EXPECT_TRUE(probed.feature.available);
  EXPECT_TRUE(probed.conclusive);
  EXPECT_THAT(probed.feature.detail, HasSubstr("PR_SET_TSC"));
}

// The PVM guests' case: the prctl returns 0 and RDTSC still runs.
TEST(RdtscTrappingDecisionTest, RunningOnAfterThePrctlMeansItDoesNot) {
  const ProbedFeature probed = DecideRdtscTrapping({false, kProbeExitOk});
  EXPECT_FALSE(probed.feature.available);
  EXPECT_TRUE(probed.conclusive);
  EXPECT_THAT(probed.feature.detail, HasSubstr("RDTSC still runs"));
  EXPECT_THAT(probed.feature.detail, HasSubstr("hypervisor"));  // the fix
}

TEST(RdtscTrappingDecisionTest, AKernelWithoutPrSetTscIsAFact) {
  const ProbedFeature probed =
      DecideRdtscTrapping({false, kProbeExitErrnoBase + EINVAL});
  EXPECT_FALSE(probed.feature.available);
  EXPECT_TRUE(probed.conclusive);
  EXPECT_THAT(probed.feature.detail, HasSubstr("not supported"));
}

// A refused prctl or another signal says how isoscope was started (a
// seccomp filter), not what the host offers: never cached.
TEST(RdtscTrappingDecisionTest, RefusalsAreNotFactsAboutTheHost) {
  const ProbedFeature refused =
      DecideRdtscTrapping({false, kProbeExitErrnoBase + EPERM});
  EXPECT_FALSE(refused.feature.available);
  EXPECT_FALSE(refused.conclusive);
  EXPECT_THAT(refused.feature.detail, HasSubstr("EPERM"));
  const ProbedFeature killed = DecideRdtscTrapping({true, SIGSYS});
  EXPECT_FALSE(killed.feature.available);
  EXPECT_FALSE(killed.conclusive);
  EXPECT_THAT(killed.feature.detail, HasSubstr("seccomp"));
}

TEST(CpuidFaultingDecisionTest, EveryEnding) {
  const ProbedFeature works = DecideCpuidFaulting({false, kProbeExitOk});
  EXPECT_TRUE(works.feature.available);
  EXPECT_TRUE(works.conclusive);
  const ProbedFeature no_cpu =
      DecideCpuidFaulting({false, kProbeExitErrnoBase + ENODEV});
  EXPECT_FALSE(no_cpu.feature.available);
  EXPECT_TRUE(no_cpu.conclusive);
  EXPECT_THAT(no_cpu.feature.detail, HasSubstr("ENODEV"));
  const ProbedFeature old_kernel =
      DecideCpuidFaulting({false, kProbeExitUnsupported});
  EXPECT_FALSE(old_kernel.feature.available);
  EXPECT_TRUE(old_kernel.conclusive);
  const ProbedFeature refused =
      DecideCpuidFaulting({false, kProbeExitErrnoBase + EPERM});
  EXPECT_FALSE(refused.feature.available);
  EXPECT_FALSE(refused.conclusive);
  const ProbedFeature killed = DecideCpuidFaulting({true, SIGSYS});
  EXPECT_FALSE(killed.feature.available);
  EXPECT_FALSE(killed.conclusive);
}

// The real probes reach a conclusion here (nothing filters isoscope's
// tests), and the per-process answer is the probes' answer.
TEST(HostProbeTest, RealProbesAreConclusiveAndMatchTheCachedFacts) {
  const ProbedFeature rdtsc = ProbeRdtscTrapping();
  const ProbedFeature cpuid = ProbeCpuidFaulting();
  EXPECT_TRUE(rdtsc.conclusive) << rdtsc.feature.detail;
  EXPECT_TRUE(cpuid.conclusive) << cpuid.feature.detail;
  EXPECT_EQ(ProbedHostFacts().rdtsc_trapping, rdtsc.feature);
  EXPECT_EQ(ProbedHostFacts().cpuid_faulting, cpuid.feature);
  const HostFacts facts = ReadHostFacts();
  ASSERT_TRUE(facts.rdtsc_trapping.has_value());
  EXPECT_EQ(*facts.rdtsc_trapping, rdtsc.feature);
}

// ---------------------------------------------------------------------------
// The per-boot cache.

const BootKey kBoot{"0c8a9b6e-3f0e-4a57-bd95-ca61e72781de", "6.18.44-test"};
const Feature kTraps{true, "rdtsc traps"};
const Feature kNoCpuid{false, "no cpuid faulting"};

TEST(ProbeCacheTest, RoundTrips) {
  const CachedFacts facts{kNoCpuid, kTraps};
  EXPECT_EQ(DecodeProbeCache(EncodeProbeCache(kBoot, facts), kBoot), facts);
  const CachedFacts partial{std::nullopt, kTraps};
  EXPECT_EQ(DecodeProbeCache(EncodeProbeCache(kBoot, partial), kBoot), partial);
}

TEST(ProbeCacheTest, AnotherBootOrKernelIsIgnored) {
  const std::string text = EncodeProbeCache(kBoot, {kNoCpuid, kTraps});
  EXPECT_EQ(DecodeProbeCache(text, {"another-boot", kBoot.kernel_release}),
            CachedFacts{});
  EXPECT_EQ(DecodeProbeCache(text, {kBoot.boot_id, "6.19.0"}), CachedFacts{});
}

TEST(ProbeCacheTest, CorruptTextIsIgnored) {
  const std::string text = EncodeProbeCache(kBoot, {kNoCpuid, kTraps});
  for (const std::string& bad : {
           std::string(),
           text.substr(0, text.size() / 2),  // truncated
           std::string("[1, 2]"),
           std::string("\x01\xff garbage"),
       }) {
    EXPECT_EQ(DecodeProbeCache(bad, kBoot), CachedFacts{}) << bad;
  }
  // A field of the wrong type, or an empty detail, drops that fact only.
  nlohmann::json json = nlohmann::json::parse(text);
  json["rdtsc_trapping"]["available"] = "yes";
  json["cpuid_faulting"]["detail"] = "";
  EXPECT_EQ(DecodeProbeCache(json.dump(), kBoot), CachedFacts{});
  json = nlohmann::json::parse(text);
  json["version"] = 2;
  EXPECT_EQ(DecodeProbeCache(json.dump(), kBoot), CachedFacts{});
}

class ProbeCacheFileTest : public TempTreeTest {
 protected:
  // Probes that count their calls and answer `rdtsc`.
  FactProbes Counting(const ProbedFeature& rdtsc) {
    return {[this] {
              ++cpuid_probes_;
              return ProbedFeature{kNoCpuid, true};
            },
            [this, rdtsc] {
              ++rdtsc_probes_;
              return rdtsc;
            }};
  }
  fs::path cache() const { return root() / "isoscope" / "host-facts.json"; }

  int cpuid_probes_ = 0;
  int rdtsc_probes_ = 0;
};

TEST_F(ProbeCacheFileTest, ProbesOncePerBoot) {
  const ProbedFacts first =
      LoadOrProbeFacts(cache(), kBoot, Counting({kTraps, true}));
  EXPECT_EQ(first, (ProbedFacts{kNoCpuid, kTraps}));
  EXPECT_EQ(cpuid_probes_, 1);
  EXPECT_EQ(rdtsc_probes_, 1);
  ASSERT_TRUE(fs::exists(cache()));
  EXPECT_EQ(fs::status(cache()).permissions() & fs::perms::others_write,
            fs::perms::none);

  const ProbedFacts again =
      LoadOrProbeFacts(cache(), kBoot, Counting({kTraps, true}));
  EXPECT_EQ(again, first);
  EXPECT_EQ(cpuid_probes_, 1);  // read from the file
  EXPECT_EQ(rdtsc_probes_, 1);

  // After a reboot (or another kernel) the file says nothing.
  LoadOrProbeFacts(cache(), BootKey{"next-boot", kBoot.kernel_release},
                   Counting({kTraps, true}));
  EXPECT_EQ(cpuid_probes_, 2);
  EXPECT_EQ(rdtsc_probes_, 2);
}

TEST_F(ProbeCacheFileTest, InconclusiveFactsAreNotCached) {
  const Feature refused{false, "prctl: EPERM"};
  EXPECT_EQ(LoadOrProbeFacts(cache(), kBoot, Counting({refused, false}))
                .rdtsc_trapping,
            refused);
  LoadOrProbeFacts(cache(), kBoot, Counting({kTraps, true}));
  EXPECT_EQ(cpuid_probes_, 1);  // cached the first time
  EXPECT_EQ(rdtsc_probes_, 2);  // probed again
}

TEST_F(ProbeCacheFileTest, CorruptOrUntrustedFilesAreProbedOver) {
  WriteFile("isoscope/host-facts.json", "{\"version\": 1, \"boot_id\": ");
  ASSERT_EQ(::chmod(cache().c_str(), 0644), 0);
  EXPECT_EQ(LoadOrProbeFacts(cache(), kBoot, Counting({kTraps, true})),
            (ProbedFacts{kNoCpuid, kTraps}));
  EXPECT_EQ(rdtsc_probes_, 1);
  // Rewritten: valid now.
  LoadOrProbeFacts(cache(), kBoot, Counting({kTraps, true}));
  EXPECT_EQ(rdtsc_probes_, 1);

  // A valid file that anyone could have written is not believed.
  const Feature forged{false, "forged"};
  WriteFile("isoscope/host-facts.json",
            EncodeProbeCache(kBoot, {kNoCpuid, forged}));
  ASSERT_EQ(::chmod(cache().c_str(), 0666), 0);
  EXPECT_EQ(
      LoadOrProbeFacts(cache(), kBoot, Counting({kTraps, true})).rdtsc_trapping,
      kTraps);
  EXPECT_EQ(rdtsc_probes_, 2);

  // Nor is a symlink to one.
  WriteFile("elsewhere.json", EncodeProbeCache(kBoot, {kNoCpuid, forged}));
  ASSERT_EQ(::chmod((root() / "elsewhere.json").c_str(), 0644), 0);
  fs::remove(cache());
  fs::create_symlink(root() / "elsewhere.json", cache());
  EXPECT_EQ(
      LoadOrProbeFacts(cache(), kBoot, Counting({kTraps, true})).rdtsc_trapping,
      kTraps);
}

TEST_F(ProbeCacheFileTest, NoBootIdOrUnwritableDirectoryMeansProbing) {
  LoadOrProbeFacts(cache(), std::nullopt, Counting({kTraps, true}));
  LoadOrProbeFacts(cache(), std::nullopt, Counting({kTraps, true}));
  EXPECT_EQ(rdtsc_probes_, 2);
  EXPECT_FALSE(fs::exists(cache()));

  const fs::path unwritable = root() / "missing" / "dir" / "facts.json";
  EXPECT_EQ(LoadOrProbeFacts(unwritable, kBoot, Counting({kTraps, true})),
            (ProbedFacts{kNoCpuid, kTraps}));
  EXPECT_FALSE(fs::exists(unwritable));
}

TEST(BootKeyTest, ReadsThisBoot) {
  const std::optional<BootKey> key = ReadBootKey();
  std::error_code ec;
  if (!fs::exists("/proc/sys/kernel/random/boot_id", ec)) {
    EXPECT_FALSE(key.has_value());
    return;
  }
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->boot_id.size(), 36u) << key->boot_id;  // a UUID
  EXPECT_EQ(key->kernel_release, ReadHostFacts().kernel_release);
}

#if defined(__x86_64__)
// Leaf 0: the highest standard leaf and the vendor string. Traps (SIGSEGV)
// if CPUID faulting is enabled for this thread.
uint32_t CpuidMaxLeaf() {
  uint32_t eax = 0;
  uint32_t ebx = 0;
  uint32_t ecx = 0;
  uint32_t edx = 0;
  asm volatile("cpuid"
               : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx)
               : "a"(0), "c"(0));
  return eax;
}

TEST(HostFactsTest, CpuidFaultingProbeLeavesOurCpuidAlone) {
  const uint32_t before = CpuidMaxLeaf();
  const HostFacts facts = ReadHostFacts();
  EXPECT_FALSE(facts.cpuid_faulting.detail.empty());
  // Would die with SIGSEGV had the probe enabled faulting in this process.
  EXPECT_EQ(CpuidMaxLeaf(), before);
  constexpr int kArchGetCpuid = 0x1011;
  const int64_t cpuid_enabled = syscall(SYS_arch_prctl, kArchGetCpuid, 0);
  if (cpuid_enabled >= 0) {
    EXPECT_EQ(cpuid_enabled, 1) << "CPUID faulting is on in this process";
  }
}
#endif

}  // namespace
}  // namespace isoscope
