#include "backends/container/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "supervisor/host_facts.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool Exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

uint64_t OwnStartTime() {
  // Parsed independently of ProcessStartTime: field 22, counted after the
  // last ')' (field 2, comm, ends there).
  const std::string stat = ReadText("/proc/self/stat");
  std::istringstream in(stat.substr(stat.rfind(')') + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) in >> field;
  return std::stoull(field);
}

uint64_t OwnPidNamespaceInode() {
  struct stat st {};
  EXPECT_EQ(::stat("/proc/self/ns/pid", &st), 0);
  return st.st_ino;
}

// Plays the kernel's part on a fake tree: the control files of a cgroup
// vanish with it, so before rmdir the test deletes the regular files.
void DropControlFiles(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path());
  }
  for (const fs::path& file : files) fs::remove(file, ec);
}

// A forked child that waits for Go() before running its body, so the parent
// can put it in a cgroup first. The body only makes async-signal-safe calls.
class WaitingChild {
 public:
  template <typename Body>
  static WaitingChild Fork(Body body) {
    WaitingChild child;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return child;
    child.pid_ = ::fork();
    if (child.pid_ == 0) {
      ::close(fds[1]);
      char byte;
      if (::read(fds[0], &byte, 1) != 1) ::_exit(120);
      body();
      ::_exit(0);
    }
    ::close(fds[0]);
    child.go_ = fds[1];
    return child;
  }
  WaitingChild(WaitingChild&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        go_(std::exchange(other.go_, -1)) {}
  ~WaitingChild() {
    if (go_ >= 0) ::close(go_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  bool Go() {
    const bool ok = ::write(go_, "g", 1) == 1;
    ::close(go_);
    go_ = -1;
    return ok;
  }
  // The wait status.
  int Wait() {
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return status;
  }

 private:
  WaitingChild() = default;
  pid_t pid_ = -1;
  int go_ = -1;
};

void SleepMs(int64_t ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// ---------------------------------------------------------------------------
// Names and owners.

TEST(RunCgroupNameTest, RoundTrips) {
  const RunCgroupOwner owner{1234, 987654321, 7, 4026531836};
  EXPECT_EQ(RunCgroupName(owner), "run-1234-987654321-7-4026531836");
  EXPECT_EQ(ParseRunCgroupName("run-1234-987654321-7-4026531836"), owner);
  // An older isoscope's name, without its pid namespace.
  const RunCgroupOwner older{1234, 987654321, 7};
  EXPECT_EQ(RunCgroupName(older), "run-1234-987654321-7");
  EXPECT_EQ(ParseRunCgroupName("run-1234-987654321-7"), older);
}

TEST(RunCgroupNameTest, RejectsAnythingElse) {
  for (const char* name : {"",
                           "run-",
                           "run-1-2",
                           "run-1-2-3-4-5",
                           "run-1-2-3-0",
                           "run-1-2-3-",
                           "run-1-2-3-4x",
                           "run-a-2-3",
                           "run--1-2-3",
                           "run-0-1-2",
                           "xrun-1-2-3",
                           "run-1-2-3x",
                           "run-+1-2-3",
                           "run-1-2-",
                           "run-1--3",
                           "run- 1-2-3",
                           "run-99999999999-1-2",
                           "run-1-99999999999999999999999-2",
                           "Run-1-2-3",
                           "isoscope"}) {
    EXPECT_EQ(ParseRunCgroupName(name), std::nullopt) << name;
  }
}

// ---------------------------------------------------------------------------
// Fake trees.

class FakeTreeTest : public ::testing::Test {
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

  void AddV1Hierarchy(const std::string& name) {
    WriteFile(fs::path(name) / "tasks", "");
    WriteFile(fs::path(name) / "cgroup.procs", "");
  }

  void Symlink(const std::string& target, const std::string& name) {
    std::error_code ec;
    fs::create_directory_symlink(target, root() / name, ec);
    ASSERT_FALSE(ec) << ec.message();
  }

  // memory/, pids/, cpu,cpuacct/ with cpu and cpuacct symlinks to it, as
  // systemd mounts them.
  void AddV1Controllers() {
    AddV1Hierarchy("memory");
    AddV1Hierarchy("pids");
    AddV1Hierarchy("cpu,cpuacct");
    Symlink("cpu,cpuacct", "cpu");
    Symlink("cpu,cpuacct", "cpuacct");
  }

  void AddV2Root(const fs::path& relative, const std::string& controllers) {
    WriteFile(relative / "cgroup.controllers", controllers + "\n");
    WriteFile(relative / "cgroup.procs", "");
  }

  CgroupFacts Facts() const { return ReadCgroupFacts(root()); }

 private:
  std::optional<TempDir> dir_;
};

TEST_F(FakeTreeTest, PureV2WritesLimitsAndEnablesControllers) {
  AddV2Root("", "cpuset cpu io memory hugetlb pids rdma");
  // The kernel accounts swap: the parent has memory.swap.max.
  WriteFile("isoscope/memory.swap.max", "max\n");
  const CgroupFacts facts = Facts();
  ASSERT_EQ(facts.layout, CgroupLayout::kV2);

  Result<RunCgroup> cgroup = RunCgroup::Create(
      root(), facts, {.memory_bytes = 64 * kMiB, .processes = 10});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const fs::path dir = root() / "isoscope" / cgroup->name();
  ASSERT_EQ(cgroup->directories(), std::vector<fs::path>{dir});
  EXPECT_EQ(ParseRunCgroupName(cgroup->name())->pid, ::getpid());
  EXPECT_EQ(ParseRunCgroupName(cgroup->name())->start_time, OwnStartTime());
  EXPECT_EQ(ParseRunCgroupName(cgroup->name())->pid_namespace,
            OwnPidNamespaceInode());
  EXPECT_EQ(cgroup->DirectoryFor(CgroupController::kMemory), dir);
  EXPECT_EQ(cgroup->DirectoryFor(CgroupController::kPids), dir);
  EXPECT_EQ(cgroup->DirectoryFor(CgroupController::kCpu), dir);

  EXPECT_EQ(ReadText(dir / "memory.max"), "67108864");
  EXPECT_EQ(ReadText(dir / "memory.swap.max"), "0");
  EXPECT_EQ(ReadText(dir / "pids.max"), "10");
  EXPECT_EQ(ReadText(root() / "cgroup.subtree_control"), "+memory +pids +cpu");
  EXPECT_EQ(ReadText(root() / "isoscope" / "cgroup.subtree_control"),
            "+memory +pids +cpu");

  Result<UniqueFd> fd = cgroup->OpenV2Directory();
  ASSERT_TRUE(fd.has_value()) << fd.error().ToString();
  EXPECT_TRUE(fd->valid());

  // The kernel's files, as 6.x writes them.
  WriteFile(dir / "memory.events",
            "low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n");
  WriteFile(dir / "memory.peak", "33546240\n");
  WriteFile(dir / "pids.events", "max 3\n");
  WriteFile(dir / "cpu.stat",
            "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n"
            "nr_periods 0\n");
  Result<CgroupEvents> events = cgroup->Events();
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  EXPECT_EQ(*events, (CgroupEvents{.oom_kills = 1,
                                   .pids_max_hits = 3,
                                   .peak_memory_bytes = 33546240,
                                   .cpu_usage_us = 1234}));

  DropControlFiles(dir);
  ASSERT_TRUE(cgroup->Remove().has_value());
  EXPECT_FALSE(Exists(dir));
  EXPECT_TRUE(cgroup->directories().empty());
  EXPECT_EQ(cgroup->DirectoryFor(CgroupController::kMemory), std::nullopt);
  EXPECT_TRUE(cgroup->Remove().has_value());  // idempotent
}

TEST_F(FakeTreeTest, V2WithoutSwapAccountingOrPeak) {
  AddV2Root("", "memory pids");
  Result<RunCgroup> cgroup =
      RunCgroup::Create(root(), Facts(), {.memory_bytes = 8 * kMiB});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const fs::path dir = cgroup->directories().at(0);
  EXPECT_EQ(ReadText(dir / "memory.max"), "8388608");
  EXPECT_FALSE(Exists(dir / "memory.swap.max"));
  EXPECT_FALSE(Exists(dir / "pids.max"));  // no limit asked for
  // cpu is not offered: not asked for, yet usage comes from core cpu.stat.
  EXPECT_EQ(ReadText(root() / "cgroup.subtree_control"), "+memory +pids");

  WriteFile(dir / "memory.events", "oom_kill 0\n");
  WriteFile(dir / "pids.events", "max 0\n");
  WriteFile(dir / "cpu.stat", "usage_usec 5\n");
  Result<CgroupEvents> events = cgroup->Events();
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  EXPECT_EQ(events->peak_memory_bytes, std::nullopt);  // before 5.19
  EXPECT_EQ(events->cpu_usage_us, 5u);
  DropControlFiles(dir);
}

TEST_F(FakeTreeTest, V2KeepsControllersAlreadyEnabled) {
  AddV2Root("", "cpu memory pids");
  WriteFile("cgroup.subtree_control", "cpu memory pids\n");
  Result<RunCgroup> cgroup = RunCgroup::Create(root(), Facts(), {});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  // Nothing missing, nothing written.
  EXPECT_EQ(ReadText(root() / "cgroup.subtree_control"), "cpu memory pids\n");
  EXPECT_EQ(ReadText(root() / "isoscope" / "cgroup.subtree_control"),
            "+memory +pids +cpu");
}

TEST_F(FakeTreeTest, PureV1UsesEachMountAndCoMountedCpuacct) {
  AddV1Controllers();
  WriteFile("memory/isoscope/memory.memsw.limit_in_bytes",
            "9223372036854771712\n");
  const CgroupFacts facts = Facts();
  ASSERT_EQ(facts.layout, CgroupLayout::kV1);

  Result<RunCgroup> cgroup = RunCgroup::Create(
      root(), facts, {.memory_bytes = 32 * kMiB, .processes = 4});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const std::string& name = cgroup->name();
  const fs::path memory = fs::canonical(root()) / "memory/isoscope" / name;
  const fs::path pids = fs::canonical(root()) / "pids/isoscope" / name;
  const fs::path cpu = fs::canonical(root()) / "cpu,cpuacct/isoscope" / name;
  EXPECT_EQ(cgroup->directories(), (std::vector<fs::path>{memory, pids, cpu}));
  EXPECT_EQ(cgroup->DirectoryFor(CgroupController::kCpu), cpu);

  EXPECT_EQ(ReadText(memory / "memory.limit_in_bytes"), "33554432");
  EXPECT_EQ(ReadText(memory / "memory.memsw.limit_in_bytes"), "33554432");
  EXPECT_EQ(ReadText(pids / "pids.max"), "4");
  EXPECT_FALSE(Exists(root() / "cgroup.subtree_control"));
  EXPECT_FALSE(Exists(root() / "unified"));
  Result<UniqueFd> fd = cgroup->OpenV2Directory();
  ASSERT_FALSE(fd.has_value());
  EXPECT_EQ(fd.error().code(), ErrorCode::kUnavailable);

  WriteFile(memory / "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  WriteFile(memory / "memory.max_usage_in_bytes", "33554432\n");
  WriteFile(pids / "pids.events", "max 5\n");
  WriteFile(cpu / "cpuacct.usage", "5000999\n");
  Result<CgroupEvents> events = cgroup->Events();
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  EXPECT_EQ(*events, (CgroupEvents{.oom_kills = 2,
                                   .pids_max_hits = 5,
                                   .peak_memory_bytes = 33554432,
                                   .cpu_usage_us = 5000}));

  for (const fs::path& dir : cgroup->directories()) DropControlFiles(dir);
  ASSERT_TRUE(cgroup->Remove().has_value());
  EXPECT_FALSE(Exists(memory));
  EXPECT_FALSE(Exists(pids));
  EXPECT_FALSE(Exists(cpu));
  // Unused parents go too; memory/isoscope holds a file here, as a parent
  // another run uses holds that run, and stays.
  EXPECT_FALSE(Exists(root() / "pids/isoscope"));
  EXPECT_TRUE(Exists(root() / "memory/isoscope"));
}

TEST_F(FakeTreeTest, V1WithoutSwapAccountingSkipsMemsw) {
  AddV1Controllers();
  Result<RunCgroup> cgroup =
      RunCgroup::Create(root(), Facts(), {.memory_bytes = 32 * kMiB});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const fs::path memory = *cgroup->DirectoryFor(CgroupController::kMemory);
  EXPECT_EQ(ReadText(memory / "memory.limit_in_bytes"), "33554432");
  EXPECT_FALSE(Exists(memory / "memory.memsw.limit_in_bytes"));
}

TEST_F(FakeTreeTest, V1CoMountWithoutSymlinks) {
  AddV1Hierarchy("memory,pids");
  AddV1Hierarchy("cpuacct,cpu");
  const CgroupFacts facts = Facts();
  Result<RunCgroup> cgroup =
      RunCgroup::Create(root(), facts, {.memory_bytes = kMiB, .processes = 2});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  // memory and pids share one hierarchy, so one directory.
  const fs::path shared = root() / "memory,pids/isoscope" / cgroup->name();
  EXPECT_EQ(cgroup->directories(),
            (std::vector<fs::path>{
                shared, root() / "cpuacct,cpu/isoscope" / cgroup->name()}));
  EXPECT_EQ(ReadText(shared / "memory.limit_in_bytes"), "1048576");
  EXPECT_EQ(ReadText(shared / "pids.max"), "2");
}

// This host's layout: v1 controllers plus a cgroup2 mount offering none of
// them. Nothing goes to v2.
TEST_F(FakeTreeTest, HybridLikeThisHostUsesV1) {
  AddV1Hierarchy("memory");
  AddV1Hierarchy("pids");
  AddV1Hierarchy("cpu");
  AddV1Hierarchy("cpuacct");
  AddV2Root("unified", "hugetlb");
  const CgroupFacts facts = Facts();
  ASSERT_EQ(facts.layout, CgroupLayout::kHybrid);

  Result<RunCgroup> cgroup = RunCgroup::Create(
      root(), facts, {.memory_bytes = 16 * kMiB, .processes = 8});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const std::string& name = cgroup->name();
  const fs::path base = fs::canonical(root());
  EXPECT_EQ(cgroup->directories(),
            (std::vector<fs::path>{base / "memory/isoscope" / name,
                                   base / "pids/isoscope" / name,
                                   base / "cpuacct/isoscope" / name}));
  EXPECT_FALSE(Exists(root() / "cpu/isoscope"));
  EXPECT_FALSE(Exists(root() / "unified/isoscope"));
  EXPECT_FALSE(Exists(root() / "unified/cgroup.subtree_control"));
  EXPECT_EQ(
      ReadText(root() / "memory/isoscope" / name / "memory.limit_in_bytes"),
      "16777216");
  EXPECT_EQ(ReadText(root() / "pids/isoscope" / name / "pids.max"), "8");
}

// A hybrid whose cgroup2 offers memory and pids: those go to v2, CPU usage
// to the v1 cpuacct mount (v2 does not offer cpu).
TEST_F(FakeTreeTest, HybridPicksPerController) {
  AddV1Hierarchy("cpuacct");
  AddV1Hierarchy("freezer");
  AddV2Root("unified", "memory pids");
  WriteFile("unified/isoscope/memory.swap.max", "max\n");
  const CgroupFacts facts = Facts();
  ASSERT_EQ(facts.layout, CgroupLayout::kHybrid);

  Result<RunCgroup> cgroup = RunCgroup::Create(
      root(), facts, {.memory_bytes = 16 * kMiB, .processes = 8});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const fs::path v2 = root() / "unified/isoscope" / cgroup->name();
  const fs::path cpuacct =
      fs::canonical(root()) / "cpuacct/isoscope" / cgroup->name();
  EXPECT_EQ(cgroup->directories(), (std::vector<fs::path>{v2, cpuacct}));
  EXPECT_EQ(cgroup->DirectoryFor(CgroupController::kMemory), v2);
  EXPECT_EQ(cgroup->DirectoryFor(CgroupController::kPids), v2);
  EXPECT_EQ(cgroup->DirectoryFor(CgroupController::kCpu), cpuacct);
  EXPECT_EQ(ReadText(v2 / "memory.max"), "16777216");
  EXPECT_EQ(ReadText(v2 / "memory.swap.max"), "0");
  EXPECT_EQ(ReadText(v2 / "pids.max"), "8");
  EXPECT_EQ(ReadText(root() / "unified/cgroup.subtree_control"),
            "+memory +pids");
  EXPECT_FALSE(Exists(root() / "freezer/isoscope"));
  EXPECT_TRUE(cgroup->OpenV2Directory().has_value());
}

// The inode of `path` (0 when it cannot be read).
ino_t InodeOf(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}
ino_t InodeOf(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

// A child enters the v2 directory by clone3 and each v1 directory through
// its `tasks` file (which the kernel makes with the directory; here the
// test does).
TEST_F(FakeTreeTest, EntranceIsTheV2DirectoryAndEachV1TasksFile) {
  AddV1Hierarchy("cpuacct");
  AddV2Root("unified", "memory pids");
  Result<RunCgroup> cgroup =
      RunCgroup::Create(root(), Facts(), {.memory_bytes = 16 * kMiB});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  ASSERT_EQ(cgroup->directories().size(), 2U);
  const fs::path v2 = cgroup->directories()[0];
  const fs::path cpuacct = cgroup->directories()[1];
  // No `tasks` file: not a cgroup, and nothing is made in its place.
  Result<CgroupEntrance> refused = cgroup->OpenEntrance();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().sys_errno(), ENOENT);
  EXPECT_FALSE(Exists(cpuacct / "tasks"));

  std::ofstream(cpuacct / "tasks").close();
  Result<CgroupEntrance> entrance = cgroup->OpenEntrance();
  ASSERT_TRUE(entrance.has_value()) << entrance.error().ToString();
  EXPECT_EQ(InodeOf(entrance->v2_directory.get()), InodeOf(v2));
  ASSERT_EQ(entrance->v1_tasks.size(), 1U);
  EXPECT_EQ(InodeOf(entrance->v1_tasks[0].get()), InodeOf(cpuacct / "tasks"));
  ASSERT_EQ(::write(entrance->v1_tasks[0].get(), "0", 1), 1);
  EXPECT_EQ(ReadText(cpuacct / "tasks"), "0");
  EXPECT_EQ(::fcntl(entrance->v1_tasks[0].get(), F_GETFD), FD_CLOEXEC);
  for (const fs::path& dir : cgroup->directories()) DropControlFiles(dir);
  ASSERT_TRUE(cgroup->Remove().has_value());
}

TEST_F(FakeTreeTest, PureV1EntranceIsEachHierarchysTasksFile) {
  AddV1Controllers();
  Result<RunCgroup> cgroup =
      RunCgroup::Create(root(), Facts(), {.processes = 4});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  for (const fs::path& dir : cgroup->directories()) {
    std::ofstream(dir / "tasks").close();
  }
  Result<CgroupEntrance> entrance = cgroup->OpenEntrance();
  ASSERT_TRUE(entrance.has_value()) << entrance.error().ToString();
  EXPECT_FALSE(entrance->v2_directory.valid());
  ASSERT_EQ(entrance->v1_tasks.size(), cgroup->directories().size());
  for (size_t i = 0; i < entrance->v1_tasks.size(); ++i) {
    EXPECT_EQ(InodeOf(entrance->v1_tasks[i].get()),
              InodeOf(cgroup->directories()[i] / "tasks"))
        << cgroup->directories()[i];
  }
  for (const fs::path& dir : cgroup->directories()) DropControlFiles(dir);
  ASSERT_TRUE(cgroup->Remove().has_value());
}

TEST_F(FakeTreeTest, MissingControllerIsUnavailableAndNamed) {
  AddV1Hierarchy("cpuacct");
  AddV2Root("unified", "hugetlb");
  const CgroupFacts facts = Facts();

  // What the container backend's Probe asks first.
  EXPECT_FALSE(
      CgroupControllerAvailable(root(), facts, CgroupController::kMemory));
  EXPECT_FALSE(
      CgroupControllerAvailable(root(), facts, CgroupController::kPids));
  EXPECT_TRUE(CgroupControllerAvailable(root(), facts, CgroupController::kCpu));

  Result<RunCgroup> memory =
      RunCgroup::Create(root(), facts, {.memory_bytes = kMiB});
  ASSERT_FALSE(memory.has_value());
  EXPECT_EQ(memory.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(memory.error().message(), HasSubstr("'memory'"));
  EXPECT_THAT(memory.error().message(), HasSubstr("memory limit"));

  Result<RunCgroup> pids = RunCgroup::Create(root(), facts, {.processes = 3});
  ASSERT_FALSE(pids.has_value());
  EXPECT_EQ(pids.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(pids.error().message(), HasSubstr("'pids'"));
  EXPECT_FALSE(Exists(root() / "cpuacct/isoscope"));  // nothing was made

  // Without limits the run still gets what there is (CPU usage).
  Result<RunCgroup> none = RunCgroup::Create(root(), facts, {});
  ASSERT_TRUE(none.has_value()) << none.error().ToString();
  EXPECT_EQ(none->directories().size(), 1u);
  EXPECT_EQ(none->DirectoryFor(CgroupController::kMemory), std::nullopt);
  WriteFile(none->directories()[0] / "cpuacct.usage", "1000\n");
  Result<CgroupEvents> events = none->Events();
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  EXPECT_EQ(*events, (CgroupEvents{.cpu_usage_us = 1}));
}

TEST_F(FakeTreeTest, ZeroLimitsAreInvalid) {
  AddV1Controllers();
  for (const CgroupLimits& limits :
       {CgroupLimits{.memory_bytes = 0}, CgroupLimits{.processes = 0}}) {
    Result<RunCgroup> cgroup = RunCgroup::Create(root(), Facts(), limits);
    ASSERT_FALSE(cgroup.has_value());
    EXPECT_EQ(cgroup.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST_F(FakeTreeTest, FailurePartWayRemovesWhatWasMade) {
  AddV1Controllers();
  // pids/isoscope is a file: the run's pids directory cannot be made, after
  // its memory directory was.
  WriteFile("pids/isoscope", "in the way\n");
  Result<RunCgroup> cgroup =
      RunCgroup::Create(root(), Facts(), {.memory_bytes = kMiB});
  ASSERT_FALSE(cgroup.has_value());
  EXPECT_THAT(cgroup.error().message(), HasSubstr("pids/isoscope"));
  EXPECT_FALSE(Exists(root() / "memory/isoscope"));
}

TEST_F(FakeTreeTest, JunkInEventFilesIsAnError) {
  AddV2Root("", "cpu memory pids");
  Result<RunCgroup> cgroup = RunCgroup::Create(root(), Facts(), {});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const fs::path dir = cgroup->directories().at(0);
  const struct {
    const char* file;
    const char* junk;
  } cases[] = {
      {"memory.events", "oom_kill lots\n"},
      {"memory.events", "oom 1\n"},  // no oom_kill line
      {"memory.events", ""},
      {"memory.events", "oom_kill -1\n"},
      {"memory.events", "oom_kill 99999999999999999999999\n"},
      {"memory.events", "oom_kill\n"},
      {"memory.peak", "12abc\n"},
      {"memory.peak", "\n"},
      {"pids.events", "max.imposed 3\n"},
      {"pids.events", "\x01\x02\xff"},
      {"cpu.stat", "usage_usec 1.5\n"},
      {"cpu.stat", "user_usec 5\n"},
  };
  for (const auto& c : cases) {
    WriteFile(dir / "memory.events", "oom_kill 0\n");
    WriteFile(dir / "memory.peak", "4096\n");
    WriteFile(dir / "pids.events", "max 0\n");
    WriteFile(dir / "cpu.stat", "usage_usec 1\n");
    ASSERT_TRUE(cgroup->Events().has_value());
    WriteFile(dir / c.file, c.junk);
    Result<CgroupEvents> events = cgroup->Events();
    ASSERT_FALSE(events.has_value()) << c.file << ": " << c.junk;
    EXPECT_THAT(events.error().message(), HasSubstr(c.file));
  }
  fs::remove(dir / "pids.events");
  Result<CgroupEvents> missing = cgroup->Events();
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
  DropControlFiles(dir);
}

TEST_F(FakeTreeTest, AddProcessAndKillAll) {
  AddV1Controllers();
  Result<RunCgroup> cgroup = RunCgroup::Create(root(), Facts(), {});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  WaitingChild child = WaitingChild::Fork([] {});
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cgroup->AddProcess(child.pid()).has_value());
  for (const fs::path& dir : cgroup->directories()) {
    EXPECT_EQ(ReadText(dir / "cgroup.procs"), std::to_string(child.pid()));
  }
  EXPECT_FALSE(cgroup->AddProcess(0).has_value());

  // The fake cgroup.procs never empties, so KillAll gives up, but the
  // process it lists was killed.
  Status killed = cgroup->KillAll(std::chrono::milliseconds(50));
  EXPECT_FALSE(killed.has_value());
  const int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  // Junk, our own pid and init are never killed.
  for (const fs::path& dir : cgroup->directories()) {
    std::ofstream(dir / "cgroup.procs") << "junk\n1\n"
                                        << ::getpid() << "\n-5\n\n";
  }
  EXPECT_FALSE(cgroup->KillAll(std::chrono::milliseconds(20)).has_value());

  // Once the kernel's part is played, KillAll and Remove succeed.
  for (const fs::path& dir : cgroup->directories()) {
    std::ofstream(dir / "cgroup.procs", std::ios::trunc);
  }
  EXPECT_TRUE(cgroup->KillAll().has_value());
  for (const fs::path& dir : cgroup->directories()) DropControlFiles(dir);
  EXPECT_TRUE(cgroup->Remove().has_value());
}

TEST_F(FakeTreeTest, RemoveFailsOnLeftoversAndRetriesLater) {
  AddV1Controllers();
  Result<RunCgroup> cgroup =
      RunCgroup::Create(root(), Facts(), {.processes = 5});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const std::vector<fs::path> dirs = cgroup->directories();
  // pids.max is a regular file here: rmdir fails (ENOTEMPTY, no retry).
  Status removed = cgroup->Remove(std::chrono::milliseconds(50));
  ASSERT_FALSE(removed.has_value());
  EXPECT_EQ(removed.error().sys_errno(), ENOTEMPTY);
  // The empty ones went; the pids directory is kept for another try.
  const fs::path pids = *cgroup->DirectoryFor(CgroupController::kPids);
  EXPECT_EQ(cgroup->directories(), std::vector<fs::path>{pids});
  for (const fs::path& dir : dirs) EXPECT_EQ(Exists(dir), dir == pids);

  // Cgroups the workload made below its own go too, deepest first.
  fs::create_directories(pids / "child" / "grandchild");
  fs::create_directories(pids / "child2");
  DropControlFiles(pids);
  EXPECT_TRUE(cgroup->Remove().has_value());
  EXPECT_FALSE(Exists(pids));
}

TEST_F(FakeTreeTest, MoveTransfersOwnership) {
  AddV1Controllers();
  Result<RunCgroup> cgroup = RunCgroup::Create(root(), Facts(), {});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const std::vector<fs::path> dirs = cgroup->directories();
  {
    RunCgroup moved = std::move(*cgroup);
    EXPECT_TRUE(cgroup->directories().empty());
    EXPECT_EQ(moved.directories(), dirs);
    RunCgroup target = std::move(moved);
    EXPECT_EQ(target.directories(), dirs);
  }  // the last owner removes (the fake directories are empty)
  for (const fs::path& dir : dirs) EXPECT_FALSE(Exists(dir)) << dir;
}

TEST_F(FakeTreeTest, RemoveAbandonedTouchesOnlyDeadOwners) {
  AddV1Controllers();
  AddV2Root("unified", "hugetlb");
  const CgroupFacts facts = Facts();
  // A fake /proc: process 100 started at tick 5000; 300 is unreadable junk.
  auto proc_dir = TempDir::Create("isoscope-proc-");
  ASSERT_TRUE(proc_dir.has_value());
  const fs::path proc = proc_dir->path();
  fs::create_directories(proc / "100");
  std::ofstream(proc / "100/stat")
      << "100 (isoscope) S 1 100 100 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5000 1\n";
  fs::create_directories(proc / "300");
  std::ofstream(proc / "300/stat") << "junk";
  // Ended but not yet reaped: it holds nothing, its cgroup is abandoned.
  fs::create_directories(proc / "400");
  std::ofstream(proc / "400/stat")
      << "400 (isoscope) Z 1 400 400 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 7 1\n";
  // A zombie leader with a thread still counted: cannot tell yet.
  fs::create_directories(proc / "500");
  std::ofstream(proc / "500/stat")
      << "500 (isoscope) Z 1 500 500 0 -1 0 0 0 0 0 0 0 0 0 20 0 2 0 8 1\n";

  const std::string own_namespace = std::to_string(OwnPidNamespaceInode());
  const std::string other_namespace =
      std::to_string(OwnPidNamespaceInode() + 1);
  const std::vector<std::string> gone = {
      "memory/isoscope/run-100-4999-0",  // pid reused: another start time
      "memory/isoscope/run-200-1-3-" + own_namespace,  // no such process
      "memory/isoscope/run-400-7-0",                   // a zombie
      "pids/isoscope/run-200-1-0",                     // no such process
      "cpu,cpuacct/isoscope/run-200-1-1",              // nor here
      "unified/isoscope/run-200-1-2",
  };
  const std::vector<std::string> kept = {
      "memory/isoscope/run-100-5000-0",  // alive
      "memory/isoscope/run-300-1-0",     // cannot tell: left alone
      "memory/isoscope/run-500-8-0",     // nor here
      // An isoscope's of another pid namespace: pid 200 says nothing here.
      "memory/isoscope/run-200-1-4-" + other_namespace,
      "memory/isoscope/run-200-1",  // not our name
      "memory/isoscope/other-200-1-0", "pids/isoscope/run-200-1-0x",
      "unified/run-200-1-3",  // not below isoscope/
  };
  for (const auto& dir : gone) fs::create_directories(root() / dir);
  for (const auto& dir : kept) fs::create_directories(root() / dir);
  // Neither a symlink nor a file named like ours is followed or removed.
  fs::create_directories(root() / "elsewhere/run-200-1-9");
  Symlink("../../elsewhere/run-200-1-9", "memory/isoscope/run-200-1-5");
  WriteFile("pids/isoscope/run-200-1-6", "a file\n");

  const SweepResult first = RemoveAbandonedCgroups(root(), facts, proc);
  EXPECT_EQ(first.removed, 6);
  // An owner that could not be checked (run-300, run-500) may be gone: not
  // complete.
  EXPECT_FALSE(first.complete);
  for (const auto& dir : gone) EXPECT_FALSE(Exists(root() / dir)) << dir;
  for (const auto& dir : kept) EXPECT_TRUE(Exists(root() / dir)) << dir;
  EXPECT_TRUE(Exists(root() / "memory/isoscope/run-200-1-5"));
  EXPECT_TRUE(Exists(root() / "elsewhere/run-200-1-9"));
  EXPECT_TRUE(Exists(root() / "pids/isoscope/run-200-1-6"));
  EXPECT_EQ(RemoveAbandonedCgroups(root(), facts, proc).removed, 0);
  fs::remove_all(root() / "memory/isoscope/run-300-1-0");
  EXPECT_FALSE(RemoveAbandonedCgroups(root(), facts, proc).complete);
  fs::remove_all(root() / "memory/isoscope/run-500-8-0");
  EXPECT_TRUE(RemoveAbandonedCgroups(root(), facts, proc).complete);
}

TEST_F(FakeTreeTest, OwnV2CgroupIsTheUnifiedLineBelowTheRoot) {
  const fs::path v2 = root() / "unified";
  auto own = [&](const std::string& text) {
    WriteFile("self-cgroup", text);
    return OwnV2Cgroup(v2, root() / "self-cgroup");
  };
  EXPECT_EQ(own("12:memory:/a\n0::/user.slice/s.scope\n"),
            v2 / "user.slice/s.scope");
  EXPECT_EQ(own("0::/\n"), v2);
  EXPECT_EQ(own("12:memory:/a\n1:name=systemd:/b\n"), std::nullopt);
  // Outside this cgroup namespace's root: nothing of ours to name.
  EXPECT_EQ(own("0::/../../other\n"), std::nullopt);
  EXPECT_EQ(OwnV2Cgroup(v2, root() / "missing"), std::nullopt);
}

TEST_F(FakeTreeTest, RemoveAbandonedLooksInRecordedParentsBelowTheV2Root) {
  AddV2Root("unified", "");
  const CgroupFacts facts = Facts();
  auto proc_dir = TempDir::Create("isoscope-proc-");
  ASSERT_TRUE(proc_dir.has_value());
  const fs::path nested = "unified/user.slice/s.scope/isoscope/run-200-1-0";
  const std::vector<std::string> kept = {
      "elsewhere/isoscope/run-200-1-1",      // not below the v2 root
      "unified/x/not-isoscope/run-200-1-2",  // not an `isoscope` directory
      "unified/never-recorded/isoscope/run-200-1-3",
  };
  fs::create_directories(root() / nested);
  for (const auto& dir : kept) fs::create_directories(root() / dir);
  const std::vector<fs::path> recorded = {
      root() / "unified/user.slice/s.scope/isoscope",
      root() / "elsewhere/isoscope",
      root() / "unified/x/not-isoscope",
      root() / "unified/../elsewhere/isoscope",
  };
  EXPECT_EQ(
      RemoveAbandonedCgroups(root(), facts, proc_dir->path(), recorded).removed,
      1);
  EXPECT_FALSE(Exists(root() / nested));
  // Its parent went with its last run.
  EXPECT_FALSE(Exists(root() / nested.parent_path()));
  for (const auto& dir : kept) EXPECT_TRUE(Exists(root() / dir)) << dir;
}

TEST_F(FakeTreeTest, RemoveAbandonedKeepsOurOwnLiveRun) {
  AddV1Controllers();
  const CgroupFacts facts = Facts();
  Result<RunCgroup> live = RunCgroup::Create(root(), facts, {});
  ASSERT_TRUE(live.has_value()) << live.error().ToString();
  const std::string dead = RunCgroupName(
      {::getpid(), OwnStartTime() + 1, 0});  // our pid, another process
  fs::create_directories(root() / "memory/isoscope" / dead);
  EXPECT_EQ(RemoveAbandonedCgroups(root(), facts).removed, 1);
  EXPECT_FALSE(Exists(root() / "memory/isoscope" / dead));
  for (const fs::path& dir : live->directories()) EXPECT_TRUE(Exists(dir));
}

TEST_F(FakeTreeTest, AbandonedCgroupsAreLookedForOnlyBelowAParent) {
  AddV1Controllers();
  AddV2Root("unified", "hugetlb");
  EXPECT_FALSE(MayHaveAbandonedCgroups(root()));
  for (const char* parent :
       {"memory/isoscope", "cpu,cpuacct/isoscope", "unified/isoscope",
        "isoscope"}) {  // the last: a pure v2 root's own
    fs::create_directories(root() / parent);
    EXPECT_TRUE(MayHaveAbandonedCgroups(root())) << parent;
    fs::remove(root() / parent);
    EXPECT_FALSE(MayHaveAbandonedCgroups(root())) << parent;
  }
  // Only a directory counts, and only one level down.
  WriteFile("pids/isoscope", "");
  fs::create_directories(root() / "memory/sub/isoscope");
  EXPECT_FALSE(MayHaveAbandonedCgroups(root()));
  EXPECT_FALSE(MayHaveAbandonedCgroups(root() / "missing"));
}

// ---------------------------------------------------------------------------
// This host's real cgroups.

// Skips unless this host lets us make cgroups with memory and pids. Checks
// afterwards that no run cgroup of this process is left, and removes the
// `isoscope` parents the test made if they are empty again.
class RealCgroupTest : public ::testing::Test {
 protected:
  static constexpr const char* kRoot = "/sys/fs/cgroup";

  void SetUp() override {
    facts_ = ReadCgroupFacts(kRoot);
    auto offers = [&](const std::string& name) {
      auto has = [&](const std::vector<std::string>& v) {
        return std::find(v.begin(), v.end(), name) != v.end();
      };
      return has(facts_.v2_controllers) || has(facts_.v1_controllers);
    };
    if (facts_.layout == CgroupLayout::kNone) {
      GTEST_SKIP() << "no cgroup hierarchy under " << kRoot;
    }
    if (!offers("memory") || !offers("pids")) {
      GTEST_SKIP() << "the memory or pids cgroup controller is missing ("
                   << CgroupLayoutName(facts_.layout) << " layout)";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "making cgroups needs root";
    if (!facts_.v2_root.empty()) mounts_.push_back(facts_.v2_root);
    for (const std::string& controller : facts_.v1_controllers) {
      std::error_code ec;
      const fs::path mount = fs::canonical(fs::path(kRoot) / controller, ec);
      if (!ec &&
          std::find(mounts_.begin(), mounts_.end(), mount) == mounts_.end()) {
        mounts_.push_back(mount);
      }
    }
    for (const fs::path& mount : mounts_) {
      if (!Exists(mount / "isoscope")) {
        parents_made_.push_back(mount / "isoscope");
      }
    }
    Result<RunCgroup> probe = RunCgroup::Create(kRoot, facts_, {});
    if (!probe.has_value()) {
      const int err = probe.error().sys_errno();
      if (err == EACCES || err == EROFS || err == EPERM) {
        GTEST_SKIP() << kRoot
                     << " is not writable: " << probe.error().ToString();
      }
      FAIL() << probe.error().ToString();
    }
  }

  void TearDown() override {
    const std::string ours = "run-" + std::to_string(::getpid()) + "-";
    for (const fs::path& mount : mounts_) {
      std::error_code ec;
      for (fs::directory_iterator it(mount / "isoscope", ec), end;
           !ec && it != end; it.increment(ec)) {
        if (it->path().filename().string().starts_with(ours)) {
          ADD_FAILURE() << "left behind: " << it->path();
          ::rmdir(it->path().c_str());
        }
      }
    }
    // A failed test's own directories (its processes are dead by now).
    for (const fs::path& dir : extra_dirs_) {
      if (Exists(dir)) {
        ADD_FAILURE() << "left behind: " << dir;
        ::rmdir(dir.c_str());
      }
    }
    // Fails harmlessly while another run uses the parent.
    for (const fs::path& parent : parents_made_) ::rmdir(parent.c_str());
  }

  CgroupFacts facts_;
  std::vector<fs::path> mounts_;
  std::vector<fs::path> parents_made_;
  std::vector<fs::path> extra_dirs_;  // made by hand, not by RunCgroup
};

size_t CountProcs(const fs::path& dir) {
  std::istringstream in(ReadText(dir / "cgroup.procs"));
  size_t count = 0;
  for (std::string line; std::getline(in, line);) count += !line.empty();
  return count;
}

TEST_F(RealCgroupTest, MemoryLimitOomKills) {
  constexpr uint64_t kLimit = 32 * kMiB;
  Result<RunCgroup> cgroup =
      RunCgroup::Create(kRoot, facts_, {.memory_bytes = kLimit});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const std::vector<fs::path> dirs = cgroup->directories();

  WaitingChild child = WaitingChild::Fork([] {
    constexpr size_t kSize = 128 * kMiB;
    void* memory = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) ::_exit(121);
    for (size_t i = 0; i < kSize; i += 4096) {
      static_cast<volatile char*>(memory)[i] = 1;
    }
    ::_exit(0);  // not reached: the OOM killer stops it first
  });
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cgroup->AddProcess(child.pid()).has_value());
  ASSERT_TRUE(child.Go());
  const int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << "wait status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  Result<CgroupEvents> events = cgroup->Events();
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  EXPECT_GE(events->oom_kills, 1u);
  ASSERT_TRUE(events->peak_memory_bytes.has_value());
  EXPECT_GE(*events->peak_memory_bytes, kLimit * 7 / 8);
  EXPECT_LE(*events->peak_memory_bytes, kLimit);
  EXPECT_EQ(events->pids_max_hits, 0u);

  ASSERT_TRUE(cgroup->Remove().has_value());
  for (const fs::path& dir : dirs) EXPECT_FALSE(Exists(dir)) << dir;
}

TEST_F(RealCgroupTest, PidsLimitRefusesForks) {
  Result<RunCgroup> cgroup = RunCgroup::Create(kRoot, facts_, {.processes = 4});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const std::vector<fs::path> dirs = cgroup->directories();
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);

  // The child and three forks fill the limit of 4; the next fork fails.
  WaitingChild child = WaitingChild::Fork([&report] {
    int result[2] = {0, 0};  // forks that worked, errno of the one that failed
    for (int i = 0; i < 8; ++i) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::pause();
        ::_exit(0);
      }
      if (pid < 0) {
        result[1] = errno;
        break;
      }
      ++result[0];
    }
    if (::write(report[1], result, sizeof(result)) != sizeof(result)) {
      ::_exit(122);
    }
  });
  ASSERT_GT(child.pid(), 0);
  ::close(report[1]);
  ASSERT_TRUE(cgroup->AddProcess(child.pid()).has_value());
  ASSERT_TRUE(child.Go());
  int result[2] = {-1, -1};
  ASSERT_EQ(::read(report[0], result, sizeof(result)),
            static_cast<ssize_t>(sizeof(result)));
  ::close(report[0]);
  EXPECT_EQ(result[0], 3);
  EXPECT_EQ(result[1], EAGAIN);
  const int status = child.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  Result<CgroupEvents> events = cgroup->Events();
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  EXPECT_GE(events->pids_max_hits, 1u);
  // The three grandchildren are still there, orphaned; Remove kills them.
  EXPECT_EQ(CountProcs(*cgroup->DirectoryFor(CgroupController::kPids)), 3u);
  ASSERT_TRUE(cgroup->Remove().has_value());
  for (const fs::path& dir : dirs) EXPECT_FALSE(Exists(dir)) << dir;
}

TEST_F(RealCgroupTest, KillAllStopsAForkingTree) {
  Result<RunCgroup> cgroup =
      RunCgroup::Create(kRoot, facts_, {.processes = 48});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  // Every process forks again and again (capped by pids.max), burning CPU.
  WaitingChild child = WaitingChild::Fork([] {
    for (;;) {
      ::fork();
      for (int i = 0; i < 200000; ++i) asm volatile("" ::: "memory");
    }
  });
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cgroup->AddProcess(child.pid()).has_value());
  ASSERT_TRUE(child.Go());
  const fs::path pids_dir = *cgroup->DirectoryFor(CgroupController::kPids);
  for (int i = 0; i < 200 && CountProcs(pids_dir) < 10; ++i) SleepMs(5);
  ASSERT_GE(CountProcs(pids_dir), 10u);

  const auto start = std::chrono::steady_clock::now();
  Status killed = cgroup->KillAll();
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(killed.has_value()) << killed.error().ToString();
  EXPECT_LT(took, std::chrono::seconds(1));
  for (const fs::path& dir : cgroup->directories()) {
    EXPECT_EQ(CountProcs(dir), 0u) << dir;
  }
  const int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  Result<CgroupEvents> events = cgroup->Events();
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  ASSERT_TRUE(events->cpu_usage_us.has_value());
  EXPECT_GT(*events->cpu_usage_us, 0u);
  ASSERT_TRUE(cgroup->Remove().has_value());
}

TEST_F(RealCgroupTest, FreshCgroupReportsNothing) {
  Result<RunCgroup> cgroup = RunCgroup::Create(
      kRoot, facts_, {.memory_bytes = 64 * kMiB, .processes = 16});
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  Result<CgroupEvents> events = cgroup->Events();
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  EXPECT_EQ(events->oom_kills, 0u);
  EXPECT_EQ(events->pids_max_hits, 0u);
  EXPECT_EQ(events->cpu_usage_us.value_or(0), 0u);
}

TEST_F(RealCgroupTest, DestructorKillsAndRemoves) {
  std::vector<fs::path> dirs;
  WaitingChild child = WaitingChild::Fork([] { ::pause(); });
  ASSERT_GT(child.pid(), 0);
  {
    Result<RunCgroup> cgroup =
        RunCgroup::Create(kRoot, facts_, {.processes = 8});
    ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
    dirs = cgroup->directories();
    ASSERT_TRUE(cgroup->AddProcess(child.pid()).has_value());
    ASSERT_TRUE(child.Go());
  }
  for (const fs::path& dir : dirs) EXPECT_FALSE(Exists(dir)) << dir;
  const int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST_F(RealCgroupTest, RemoveAbandonedKillsAndRemovesDeadOwnersOnly) {
  Result<RunCgroup> live = RunCgroup::Create(kRoot, facts_, {});
  ASSERT_TRUE(live.has_value()) << live.error().ToString();
  // What a supervisor killed outright leaves: its run's directories, with
  // the workload still running inside. A stand-in supervisor owns them
  // while they are set up (so no concurrent cleaner takes them early).
  WaitingChild owner = WaitingChild::Fork([] {});
  ASSERT_GT(owner.pid(), 0);
  Result<uint64_t> owner_start = ProcessStartTime(owner.pid());
  ASSERT_TRUE(owner_start.has_value()) << owner_start.error().ToString();
  const std::string name = RunCgroupName({owner.pid(), *owner_start, 0});
  std::vector<fs::path> dirs;
  for (const fs::path& dir : live->directories()) {
    dirs.push_back(dir.parent_path() / name);
    extra_dirs_.push_back(dirs.back());
    ASSERT_EQ(::mkdir(dirs.back().c_str(), 0755), 0) << dirs.back();
  }
  WaitingChild workload = WaitingChild::Fork([] { ::pause(); });
  ASSERT_GT(workload.pid(), 0);
  for (const fs::path& dir : dirs) {
    std::ofstream(dir / "cgroup.procs") << workload.pid();
    ASSERT_EQ(CountProcs(dir), 1u) << dir;
  }
  ASSERT_TRUE(workload.Go());

  // While the owner lives, nothing is touched.
  RemoveAbandonedCgroups(kRoot, facts_);
  for (const fs::path& dir : dirs) EXPECT_EQ(CountProcs(dir), 1u) << dir;

  // Killed, and not yet reaped (its parent has not waited): a zombie runs
  // nothing, so its run is abandoned already.
  ::kill(owner.pid(), SIGKILL);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, owner.pid(), &info, WEXITED | WNOWAIT), 0);
  // Not checking the count: a concurrent test process may clean first.
  RemoveAbandonedCgroups(kRoot, facts_);
  bool swept = true;
  for (const fs::path& dir : dirs) {
    EXPECT_FALSE(Exists(dir)) << dir;
    swept = swept && !Exists(dir);
  }
  owner.Wait();
  if (!swept) ::kill(workload.pid(), SIGKILL);  // a failure does not hang
  for (const fs::path& dir : live->directories()) EXPECT_TRUE(Exists(dir));
  const int status = workload.Wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

// ---------------------------------------------------------------------------
// A cgroup only for killing (the native backend's), on this host's cgroup v2
// hierarchy.

class KillGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "making cgroups needs root";
    v2_root_ = FindCgroupV2Root("/sys/fs/cgroup");
    if (!v2_root_) GTEST_SKIP() << "no cgroup v2 hierarchy on this host";
  }
  std::optional<fs::path> v2_root_;
};

TEST_F(KillGroupTest, IsOneDirectoryBelowOursGoneWithItsWatcher) {
  const std::optional<fs::path> own = OwnV2Cgroup(*v2_root_);
  ASSERT_TRUE(own.has_value()) << "this process is in no cgroup v2 directory";
  Result<RunCgroup> cgroup = RunCgroup::CreateForKilling(*v2_root_, *own);
  ASSERT_TRUE(cgroup.has_value()) << cgroup.error().ToString();
  const fs::path dir = *own / "isoscope" / cgroup->name();
  EXPECT_EQ(cgroup->directories(), std::vector<fs::path>{dir});
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(cgroup->post_mortem_watcher(), -1);
  ASSERT_TRUE(cgroup->KillWhenIsoscopeEnds());
  const pid_t watcher = cgroup->post_mortem_watcher();
  ASSERT_GT(watcher, 0);
  EXPECT_EQ(::kill(watcher, 0), 0);
  ASSERT_TRUE(cgroup->Remove());
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(cgroup->post_mortem_watcher(), -1);
  EXPECT_EQ(::kill(watcher, 0), -1) << "the watcher outlived its cgroup";
}

// What a process that made a kill group reports: a process born in the
// group, in a session of its own as a daemon's, and the group's name.
struct KillGroupReport {
  pid_t member = -1;
  char name[128] = {};
};

TEST_F(KillGroupTest, WhatWasBornInItDiesWithTheProcessThatMadeIt) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const UniqueFd report_read(fds[0]);
  UniqueFd report_write(fds[1]);
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    // Gone with the test, should an assertion end it first: its watcher
    // then kills the member.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    KillGroupReport report;
    const std::optional<fs::path> own = OwnV2Cgroup(*v2_root_);
    Result<RunCgroup> cgroup =
        own ? RunCgroup::CreateForKilling(*v2_root_, *own)
            : Result<RunCgroup>(Fail(ErrorCode::kNotFound, "no own cgroup"));
    Result<UniqueFd> dir =
        cgroup ? cgroup->OpenV2Directory()
               : Result<UniqueFd>(tl::unexpected(cgroup.error()));
    if (cgroup && dir && cgroup->KillWhenIsoscopeEnds()) {
      clone_args args{};
      args.flags = CLONE_INTO_CGROUP;
      args.cgroup = static_cast<uint64_t>(dir->get());
      args.exit_signal = SIGCHLD;
      const int64_t member = ::syscall(SYS_clone3, &args, sizeof args);
      if (member == 0) {
        ::setsid();
        while (true) ::pause();
      }
      report.member = static_cast<pid_t>(member);
      cgroup->name().copy(report.name, sizeof report.name - 1);
    }
    if (::write(report_write.get(), &report, sizeof report) !=
        static_cast<ssize_t>(sizeof report)) {
      _exit(1);
    }
    while (true) ::pause();
  }
  report_write.Reset();
  KillGroupReport report;
  ASSERT_EQ(::read(report_read.get(), &report, sizeof report),
            static_cast<ssize_t>(sizeof report));
  ASSERT_GT(report.member, 0) << "making the kill group failed";
  const UniqueFd member(
      static_cast<int>(::syscall(SYS_pidfd_open, report.member, 0)));
  ASSERT_TRUE(member);
  const fs::path dir = *OwnV2Cgroup(*v2_root_) / "isoscope" / report.name;
  EXPECT_THAT(
      ReadText(fs::path("/proc") / std::to_string(report.member) / "cgroup"),
      HasSubstr(std::string("/isoscope/") + report.name));

  ASSERT_EQ(::kill(owner, SIGKILL), 0);
  ASSERT_EQ(::waitpid(owner, nullptr, 0), owner);
  pollfd ended{member.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&ended, 1, 1000), 1)
      << "the group's member outlived the SIGKILLed process by a second";

  // The directory is left for the next isoscope's sweep, which removes it
  // (told where by the dead owner's leftover mark when it is nested below
  // the root).
  EXPECT_TRUE(fs::is_directory(dir));
  RemoveAbandonedCgroups("/sys/fs/cgroup", ReadCgroupFacts("/sys/fs/cgroup"),
                         "/proc", {dir.parent_path()});
  EXPECT_FALSE(fs::exists(dir));
  if (::poll(&ended, 1, 0) != 1) {  // the test failed: leave nothing
    ::syscall(SYS_pidfd_send_signal, member.get(), SIGKILL, nullptr, 0);
  }
}

}  // namespace
}  // namespace isoscope
