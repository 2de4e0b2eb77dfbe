#include "supervisor/host_facts.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Builds fake /sys/fs/cgroup trees in a temporary directory.
class CgroupTreeTest : public ::testing::Test {
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

 private:
  std::optional<TempDir> dir_;
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
