// Containment against a hostile workload, end to end through the isoscope
// binary (issue 14): nothing isoscope inherited reaches the workload on any
// backend; under ptrace the workload has the policy's identity and
// capabilities, the policy's network, and cannot name isoscope or any other
// host process.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ProbeProgram() {
  return (BuildDir() / "tests" / "containment_probe").string();
}

// A process the test starts and always kills: a canary, or a server.
class Background {
 public:
  // Starts argv with stdout on a pipe; waits (2 s at most) for `ready` on
  // it when not empty.
  Background(const std::vector<std::string>& argv, const std::string& ready) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      std::vector<char*> args;
      for (const std::string& arg : argv) {
        args.push_back(const_cast<char*>(arg.c_str()));
      }
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string seen;
    pollfd p{out[0], POLLIN, 0};
    while (!ready.empty() && seen.find(ready) == std::string::npos &&
           ::poll(&p, 1, 2000) == 1) {
      char buffer[256];
      ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n <= 0) break;
      seen.append(buffer, static_cast<size_t>(n));
    }
    ready_ = ready.empty() || seen.find(ready) != std::string::npos;
    ::close(out[0]);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  ~Background() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  bool ready() const { return ready_; }
  // Still running (not exited, not a zombie).
  bool Alive() const {
    siginfo_t info{};
    return pid_ > 0 &&
           ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
  }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
};

class ContainmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-containment-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
  }

  std::vector<std::string> Isoscope(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {IsoscopeBinary().string(), "--db", db_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // The permissive preset (nothing stops the workload but what is under
  // test) with `extra` replacing its network, identity and capabilities.
  // permissive logs (so allows) the calls that step around a network
  // namespace; a permissive policy with a network mode must say so.
  static constexpr std::string_view kNetworkHolesAccepted =
      "accepted_holes:\n"
      "  - syscalls: [ptrace, process_vm_writev, pidfd_getfd, io_uring_setup, "
      "setns]\n"
      "    reason: permissive logs them; this test is about the namespace\n";

  std::string PermissiveWith(const std::string& name,
                             const std::string& extra) {
    std::ifstream preset(SourceDir() / "policies/presets/permissive.yaml");
    std::string line;
    std::string yaml;
    bool replaced = false;  // inside a replaced key's value
    while (std::getline(preset, line)) {
      if (line.starts_with("network:") || line.starts_with("identity:") ||
          line.starts_with("capabilities:")) {
        replaced = true;
        continue;
      }
      // A replaced key's value may go on over indented lines.
      if (replaced && (line.starts_with(" ") || line.starts_with("-"))) {
        continue;
      }
      replaced = false;
      yaml += line + "\n";
    }
    std::string path = (dir_->path() / name).string();
    std::ofstream(path) << yaml << extra;
    return path;
  }

  nlohmann::json LatestRun() {
    CommandResult shown =
        RunCommand(Isoscope({"runs", "show", "latest", "--json"}));
    EXPECT_EQ(shown.exit_status, 0) << shown.err;
    return nlohmann::json::parse(shown.out, nullptr, false);
  }

  std::optional<TempDir> dir_;
  std::string db_;
};

// --- Nothing inherited -----------------------------------------------------

class InheritedDescriptorTest
    : public ContainmentTest,
      public ::testing::WithParamInterface<const char*> {};

// isoscope started with fd 8 on a secret file and fd 7 on its directory,
// neither close-on-exec (`isoscope run ... 8<secret 7<dir`): the workload
// reads neither, directly nor through /proc/self/fd/7/secret, and finds no
// descriptor above 2 it did not open.
TEST_P(InheritedDescriptorTest, NeverReachTheWorkload) {
  const std::string backend = GetParam();
  if (backend == "kvm" && ::access("/dev/kvm", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "/dev/kvm is not usable on this host";
  }
  const std::filesystem::path secret_dir = dir_->path() / "secret-dir";
  std::filesystem::create_directory(secret_dir);
  const std::string secret = fmt::format("isoscope-secret-{}", ::getpid());
  std::ofstream(secret_dir / "secret") << secret;
  // Exactly fds 7 and 8, without O_CLOEXEC, for the isoscope this test runs.
  ASSERT_EQ(::fcntl(7, F_GETFD), -1) << "fd 7 is already in use";
  ASSERT_EQ(::fcntl(8, F_GETFD), -1) << "fd 8 is already in use";
  int dir_fd = ::open(secret_dir.c_str(), O_RDONLY | O_DIRECTORY);
  int file_fd = ::open((secret_dir / "secret").c_str(), O_RDONLY);
  ASSERT_GE(dir_fd, 0);
  ASSERT_GE(file_fd, 0);
  ASSERT_EQ(::dup2(dir_fd, 7), 7);
  ASSERT_EQ(::dup2(file_fd, 8), 8);
  ::close(dir_fd);
  ::close(file_fd);
  CommandResult run = RunCommand(
      Isoscope({"run", "-q", "--backend", backend, "--policy", "permissive",
                "--", BuiltWorkload("test-programs/inherited-fds").string()}));
  ::close(7);
  ::close(8);
  if (run.exit_status == 69) GTEST_SKIP() << run.err;
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, Not(HasSubstr(secret)));
  EXPECT_THAT(run.out, HasSubstr("fd8=EBADF"));
  EXPECT_THAT(run.out, HasSubstr("fd7=EBADF"));
  EXPECT_THAT(run.out, HasSubstr("\nopen=\n"));
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, InheritedDescriptorTest,
                         ::testing::Values("native", "ptrace", "container",
                                           "kvm"));

// --- The workload's own namespaces, also where isoscope opens for it ------

class NamespacedProcfsTest : public ContainmentTest,
                             public ::testing::WithParamInterface<const char*> {
};

// Under /proc/sys the kernel picks a file by the namespaces of whoever looks
// it up, and isoscope opens the workload's checked paths itself. With
// `network: none`, /proc/sys/net/ipv4/conf lists the workload's interfaces
// (its loopback), not the host's; kernel.pid_max is the one of its pid
// namespace (what a new pid namespace reads on this host), the bound of the
// pids it gets.
TEST_P(NamespacedProcfsTest, SysctlsAreTheWorkloadsNotTheHosts) {
  const std::string backend = GetParam();
  if (std::string why = BackendUnavailable(backend); !why.empty()) {
    GTEST_SKIP() << backend << " backend unavailable: " << why;
  }
  // tests/policies/hostile-clients.yaml (no network, uid 1000, every path
  // call checked) with the sysctl tree readable.
  std::ifstream source(SourceDir() / "tests/policies/hostile-clients.yaml");
  std::string text((std::istreambuf_iterator<char>(source)),
                   std::istreambuf_iterator<char>());
  const std::string anchor = "/proc/sys/kernel/tainted, ";
  const size_t at = text.find(anchor);
  ASSERT_NE(at, std::string::npos) << "hostile-clients.yaml changed";
  text.insert(at + anchor.size(), "\"/proc/sys/**\", ");
  const std::string policy = (dir_->path() / "sysctl.yaml").string();
  std::ofstream(policy) << text;
  // As uid 1000, the ptrace workload reaches its workdir through these.
  const std::filesystem::path tmp = dir_->path() / "tmp";
  std::filesystem::create_directory(tmp);
  for (const std::filesystem::path& dir : {dir_->path(), tmp}) {
    ::chmod(dir.c_str(), 0711);
  }
  CommandResult fresh =
      RunCommand({"/usr/bin/unshare", "--pid", "--fork", "--mount-proc",
                  "/bin/cat", "/proc/sys/kernel/pid_max"});
  ASSERT_EQ(fresh.exit_status, 0) << fresh.err;

  CommandResult run =
      RunCommand(Isoscope({"run", "-q", "--backend", backend, "--policy",
                           policy, "--", "/bin/sh", "-c",
                           "ls /proc/sys/net/ipv4/conf; echo pid_max=$(cat "
                           "/proc/sys/kernel/pid_max)"}),
                 {"TMPDIR=" + tmp.string()});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  std::string host_interfaces;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/sys/net/ipv4/conf")) {
    host_interfaces += entry.path().filename().string() + " ";
  }
  EXPECT_EQ(run.out, "all\ndefault\nlo\npid_max=" + fresh.out)
      << "the host has: " << host_interfaces;
}

INSTANTIATE_TEST_SUITE_P(ProcessBackends, NamespacedProcfsTest,
                         ::testing::Values("ptrace", "container"));

// --- container: a workdir that belongs to someone else --------------------

// A workload that runs as another uid than the workdir's owner writes there
// through an idmapped mount: its new files are the owner's (root's) on the
// host. It must not give one a set-id bit, by any call (chmod, fchmod, a
// creating open with the mode), or it would leave a set-user-ID-root program
// on the host; other modes change as asked.
TEST_F(ContainmentTest, ContainerIdmappedWorkdirGetsNoSetidFiles) {
  ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
  const std::filesystem::path workdir = dir_->path() / "root-owned";
  ASSERT_TRUE(std::filesystem::create_directory(workdir));
  ASSERT_EQ(::chmod(workdir.c_str(), 0755), 0);
  const std::string policy = PermissiveWith(
      "uid-1000.yaml", "network: host\nidentity: {uid: 1000, gid: 1000}\n");
  const std::string script =
      "echo uid=$(id -u); cp /bin/true by-chmod && chmod 4755 by-chmod; "
      "echo chmod=$?; cp /bin/true by-chmod-g && chmod g+s by-chmod-g; "
      "echo chmod-g=$?; cp /bin/true plain && chmod 0700 plain; "
      "echo chmod-plain=$?; "
      "perl -e 'use Fcntl; print \"open=\", (sysopen(my $f, \"by-open\", "
      "O_WRONLY | O_CREAT, 04755) ? \"OK\" : \"$!\"), \"\\n\"; "
      "open(my $g, \">\", \"by-fchmod\") or die; "
      "print \"fchmod=\", (chmod(02755, $g) ? \"OK\" : \"$!\"), "
      "\"\\n\"'; "
      // Around the mode: an ACL (or a file capability) by extended
      // attribute, and a user namespace, in which the workload would hold
      // CAP_FSETID and CAP_SETFCAP over the workdir's files.
      "python3 -c 'import os\ntry:\n os.setxattr(\"plain\", "
      "\"system.posix_acl_access\", b\"\\x02\\0\\0\\0\")\n "
      "print(\"xattr=OK\")\nexcept OSError as e:\n "
      "print(\"xattr=\" + os.strerror(e.errno))'; "
      "unshare -U true 2>/dev/null; echo userns=$?";
  CommandResult run = RunCommand(
      Isoscope({"run", "-q", "--backend", "container", "--policy", policy,
                "--workdir", workdir.string(), "--", "/bin/sh", "-c", script}));
  if (run.exit_status == 69) GTEST_SKIP() << run.err;
  ASSERT_EQ(run.exit_status, 0) << run.err << run.out;
  EXPECT_THAT(run.out, HasSubstr("uid=1000\n"));
  EXPECT_THAT(run.out, HasSubstr("chmod=1\n"));
  EXPECT_THAT(run.out, HasSubstr("chmod-g=1\n"));
  EXPECT_THAT(run.out, HasSubstr("chmod-plain=0\n"));
  EXPECT_THAT(run.out, HasSubstr("open=Operation not permitted\n"));
  EXPECT_THAT(run.out, HasSubstr("fchmod=Operation not permitted\n"));
  EXPECT_THAT(run.out, HasSubstr("xattr=Operation not supported\n"));
  EXPECT_THAT(run.out, HasSubstr("userns=1\n"));
  EXPECT_FALSE(std::filesystem::exists(workdir / "by-open"));
  for (const char* name : {"by-chmod", "by-chmod-g", "plain", "by-fchmod"}) {
    struct stat st {};
    const std::filesystem::path file = workdir / name;
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << name;
    // The owner's on the host: the workdir was idmapped.
    EXPECT_EQ(st.st_uid, 0U) << name;
    EXPECT_EQ(st.st_mode & (S_ISUID | S_ISGID), 0U)
        << name << fmt::format(" {:o}", st.st_mode);
  }
  struct stat plain {};
  ASSERT_EQ(::stat((workdir / "plain").c_str(), &plain), 0);
  EXPECT_EQ(plain.st_mode & 07777, 0700U);
}

// A set-id program already in such a workdir would be the workload's to
// rewrite: a write through a shared mapping keeps the bit, which no filter
// can stop. The run is refused, naming the file; without it, it runs.
TEST_F(ContainmentTest, ContainerIdmappedWorkdirWithASetidFileIsRefused) {
  ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
  const std::filesystem::path workdir = dir_->path() / "root-owned";
  ASSERT_TRUE(std::filesystem::create_directories(workdir / "bin"));
  const std::filesystem::path setid = workdir / "bin" / "setid";
  std::filesystem::copy_file("/bin/true", setid);
  ASSERT_EQ(::chmod(setid.c_str(), 04755), 0);
  const auto run = [&] {
    return RunCommand(
        Isoscope({"run", "-q", "--backend", "container", "--policy", "default",
                  "--workdir", workdir.string(), "--", "/bin/true"}));
  };
  CommandResult refused = run();
  if (refused.exit_status == 69) GTEST_SKIP() << refused.err;
  EXPECT_EQ(refused.exit_status, 64) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr(setid.string()));
  EXPECT_THAT(refused.err,
              HasSubstr("run the workload as the workdir's owner"));
  ASSERT_EQ(::chmod(setid.c_str(), 0755), 0);
  CommandResult plain = run();
  EXPECT_EQ(plain.exit_status, 0) << plain.err;
}

// The capabilities that would keep set-id bits (or write file
// capabilities) where the kernel clears them are refused with such a
// workdir, naming the fix.
TEST_F(ContainmentTest, ContainerIdmappedWorkdirRefusesSetidCapabilities) {
  ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
  const std::filesystem::path workdir = dir_->path() / "root-owned";
  ASSERT_TRUE(std::filesystem::create_directory(workdir));
  const std::string policy =
      PermissiveWith("fsetid.yaml",
                     "network: host\nidentity: {uid: 1000, gid: 1000}\n"
                     "capabilities: [CAP_FSETID]\n");
  CommandResult run = RunCommand(
      Isoscope({"run", "-q", "--backend", "container", "--policy", policy,
                "--workdir", workdir.string(), "--", "/bin/true"}));
  if (run.exit_status == 69) GTEST_SKIP() << run.err;
  EXPECT_EQ(run.exit_status, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("CAP_FSETID and CAP_SETFCAP cannot be kept"));
  // The same policy with a workdir the workload's uid owns runs.
  ASSERT_EQ(::chown(workdir.c_str(), 1000, 1000), 0);
  CommandResult owned = RunCommand(
      Isoscope({"run", "-q", "--backend", "container", "--policy", policy,
                "--workdir", workdir.string(), "--", "/bin/true"}));
  EXPECT_EQ(owned.exit_status, 0) << owned.err;
}

// --- ptrace: the policy's identity ----------------------------------------

TEST_F(ContainmentTest, PtraceWorkloadHasThePolicysIdentity) {
  const std::string policy = PermissiveWith(
      "identity.yaml",
      "network: host\nidentity: {hostname: contained, uid: 1000, gid: 1000}\n");
  const std::string script =
      "echo ids=$(id -u)/$(id -g)/$(id -G); echo host=$(hostname); "
      "grep -E '^(Cap|NoNewPrivs)' /proc/self/status; "
      "touch in-workdir && echo workdir=OK";
  CommandResult run =
      RunCommand(Isoscope({"run", "-q", "--backend", "ptrace", "--policy",
                           policy, "--", "/bin/sh", "-c", script}));
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("ids=1000/1000/1000\n"));
  EXPECT_THAT(run.out, HasSubstr("host=contained\n"));
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_THAT(run.out, HasSubstr(fmt::format("{}:\t0000000000000000", set)));
  }
  EXPECT_THAT(run.out, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(run.out, HasSubstr("workdir=OK"));
}

// uid 0 without capabilities: root's files are its own, but nothing that
// needs a capability works. The same calls with the capabilities kept work,
// so the test sees the difference.
TEST_F(ContainmentTest, PtraceRootWithoutCapabilitiesCannotReachForeignFiles) {
  std::ifstream hardlinks("/proc/sys/fs/protected_hardlinks");
  int protected_hardlinks = 0;
  if (!(hardlinks >> protected_hardlinks) || protected_hardlinks != 1) {
    GTEST_SKIP() << "fs.protected_hardlinks is not 1 on this host";
  }
  const std::filesystem::path foreign = dir_->path() / "foreign";
  std::ofstream(foreign) << "not yours";
  ASSERT_EQ(::chown(foreign.c_str(), 1234, 1234), 0);
  ASSERT_EQ(::chmod(foreign.c_str(), 0600), 0);
  const auto run = [&](const std::string& policy, const std::string& target) {
    return RunCommand(
        Isoscope({"run", "-q", "--backend", "ptrace", "--policy", policy, "--",
                  "/bin/sh", "-c",
                  fmt::format("{0} handle /etc/hostname; {0} link {1} {2}; "
                              "cat {1} >/dev/null 2>&1 && echo read=OK || "
                              "echo read=EACCES",
                              ProbeProgram(), foreign.string(),
                              (dir_->path() / target).string())}));
  };
  CommandResult bare =
      run(PermissiveWith("root.yaml", "network: host\n"), "link-without-caps");
  ASSERT_EQ(bare.exit_status, 0) << bare.err;
  EXPECT_THAT(bare.out, HasSubstr("open_by_handle_at=EPERM"));
  EXPECT_THAT(bare.out, HasSubstr("link=EPERM"));
  EXPECT_THAT(bare.out, HasSubstr("read=EACCES"));

  CommandResult kept =
      run(PermissiveWith("caps.yaml",
                         "network: host\ncapabilities: [CAP_DAC_READ_SEARCH, "
                         "CAP_FOWNER]\n"),
          "link-with-caps");
  ASSERT_EQ(kept.exit_status, 0) << kept.err;
  EXPECT_THAT(kept.out, HasSubstr("open_by_handle_at=OK"));
  EXPECT_THAT(kept.out, HasSubstr("link=OK"));
  EXPECT_THAT(kept.out, HasSubstr("read=OK"));
}

// The same where isoscope performs the workload's opens itself (the
// `default` preset's path rules; uid 1000): as the workload's ids and kept
// capabilities, not with its own.
TEST_F(ContainmentTest, PtraceCheckedOpenHasTheWorkloadsCredentials) {
  const std::filesystem::path root_only = dir_->path() / "root-only";
  std::ofstream(root_only) << "root's";
  ASSERT_EQ(::chmod(root_only.c_str(), 0600), 0);
  // Only the file's own mode may stop uid 1000 (default reads /tmp/**).
  ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
  CommandResult run = RunCommand(Isoscope(
      {"run", "-q", "--backend", "ptrace", "--policy", "default", "--",
       "/bin/sh", "-c",
       fmt::format("cat {} >/dev/null 2>&1 && echo read=OK || echo read=EACCES",
                   root_only.string())}));
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("read=EACCES"));
}

// --- ptrace: what an exec runs besides the named file -----------------------

// A directory under /tmp (where `default` lets the workload write but not
// exec), owned by uid 1000, removed with everything in it.
class WritableNoExecDir {
 public:
  WritableNoExecDir() {
    char name[] = "/tmp/isoscope-ld-XXXXXX";
    if (::mkdtemp(name) == nullptr) return;
    path_ = name;
    if (::chown(name, 1000, 1000) != 0) path_.clear();
  }
  WritableNoExecDir(const WritableNoExecDir&) = delete;
  WritableNoExecDir& operator=(const WritableNoExecDir&) = delete;
  ~WritableNoExecDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The copy of `program` at `to` with its PT_INTERP (the dynamic loader's
// path) replaced by `interpreter`, which must not be longer.
bool CopyWithInterpreter(const std::string& program, const std::string& to,
                         const std::string& interpreter) {
  std::ifstream in(program, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  const std::string loader = "/lib64/ld-linux-x86-64.so.2";
  const size_t at = bytes.find(loader + '\0');
  if (at == std::string::npos || interpreter.size() > loader.size()) {
    return false;
  }
  bytes.replace(
      at, loader.size(),
      interpreter + std::string(loader.size() - interpreter.size(), '\0'));
  std::ofstream(to, std::ios::binary) << bytes;
  return ::chmod(to.c_str(), 0755) == 0 && ::chown(to.c_str(), 1000, 1000) == 0;
}

// `default` runs programs from /usr, /bin, /sbin and the workdir, not from
// /tmp, which it may write. A program it may run must not start one from
// /tmp as its `#!` interpreter or as its ELF loader: the kernel opens those
// itself, so the ptrace backend decides them after the exec and ends the
// process. The same with an allowed interpreter runs.
TEST_F(ContainmentTest, PtraceExecRunsNoInterpreterThePolicyRefuses) {
  ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
  const std::filesystem::path workdir = dir_->path() / "wd";
  ASSERT_TRUE(std::filesystem::create_directory(workdir));
  ASSERT_EQ(::chown(workdir.c_str(), 1000, 1000), 0);
  WritableNoExecDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string loader = tmp.path() + "/ld";
  ASSERT_TRUE(
      CopyWithInterpreter("/bin/echo", (workdir / "echo-ld").string(), loader));
  // A non-PIE loader (the kernel's AT_BASE is 0 for one): isoscope's
  // static `hello`, which says so if it runs.
  const std::string static_loader = tmp.path() + "/ld2";
  ASSERT_TRUE(CopyWithInterpreter("/bin/echo", (workdir / "echo-ld2").string(),
                                  static_loader));
  std::filesystem::copy_file(BuiltWorkload("bench/hello"), static_loader);
  ASSERT_EQ(::chmod(static_loader.c_str(), 0755), 0);
  const std::string script = fmt::format(
      "cp /bin/echo {0}/echo && cp /usr/lib/x86_64-linux-gnu/"
      "ld-linux-x86-64.so.2 {1} && printf '#!{0}/echo\\n' > by-tmp && "
      "printf '#!/bin/echo\\n' > by-bin && chmod +x by-tmp by-bin || exit 9; "
      "./by-tmp ran-by-tmp; echo tmp=$?; ./echo-ld ran-by-loader; "
      "echo loader=$?; ./echo-ld2 ran-by-loader2; echo loader2=$?; "
      "./by-bin ran-by-bin; echo bin=$?",
      tmp.path(), loader);
  CommandResult run = RunCommand(
      Isoscope({"run", "-q", "--backend", "ptrace", "--policy", "default",
                "--workdir", workdir.string(), "--", "/bin/sh", "-c", script}));
  ASSERT_EQ(run.exit_status, 0) << run.err << run.out;
  EXPECT_THAT(run.out, Not(HasSubstr("ran-by-tmp")));
  EXPECT_THAT(run.out, HasSubstr("tmp=137\n"));
  EXPECT_THAT(run.out, Not(HasSubstr("ran-by-loader")));
  EXPECT_THAT(run.out, HasSubstr("loader=137\n"));
  EXPECT_THAT(run.out, Not(HasSubstr("hello from isoscope")));
  EXPECT_THAT(run.out, HasSubstr("loader2=137\n"));
  EXPECT_THAT(run.out, HasSubstr("ran-by-bin\n"));
  EXPECT_THAT(run.out, HasSubstr("bin=0\n"));
  // Recorded, with the file the kernel ran.
  nlohmann::json latest = LatestRun();
  std::string refused;
  for (const nlohmann::json& event : latest["events"]) {
    if (event.contains("verdict") && event["verdict"].is_object() &&
        event["verdict"]["action"] == "deny") {
      refused += event.dump() + "\n";
    }
  }
  EXPECT_THAT(refused, HasSubstr(tmp.path() + "/echo"));
  EXPECT_THAT(refused, HasSubstr(loader));
  EXPECT_THAT(refused, HasSubstr("checked after the exec"));

  // The run's own program (allowed: in the workdir) with its loader in
  // /tmp: decided the same before it runs.
  CommandResult own =
      RunCommand(Isoscope({"run", "-q", "--backend", "ptrace", "--policy",
                           "default", "--workdir", workdir.string(), "--",
                           (workdir / "echo-ld2").string(), "ran-as-the-run"}));
  EXPECT_EQ(own.exit_status, 137) << own.err << own.out;
  EXPECT_THAT(own.out, Not(HasSubstr("hello from isoscope")));
  EXPECT_THAT(own.out, Not(HasSubstr("ran-as-the-run")));
}

// --- ptrace: the policy's network -----------------------------------------

// Two network namespaces this test makes and always removes, joined by a
// veth pair: "client" (10.200.77.1/30), where isoscope runs, and "server"
// (10.200.77.2/30). Nothing outside them is touched or contacted.
class NetworkPair {
 public:
  NetworkPair() {
    const std::string tag = std::to_string(::getpid());
    client_ = "isoscope-test-cli-" + tag;
    server_ = "isoscope-test-srv-" + tag;
    const std::string veth = "isov" + tag;
    const std::vector<std::vector<std::string>> steps = {
        {"ip", "netns", "add", client_},
        {"ip", "netns", "add", server_},
        {"ip", "-n", client_, "link", "add", veth + "c", "type", "veth", "peer",
         "name", veth + "s", "netns", server_},
        {"ip", "-n", client_, "addr", "add", "10.200.77.1/30", "dev",
         veth + "c"},
        {"ip", "-n", server_, "addr", "add", "10.200.77.2/30", "dev",
         veth + "s"},
        {"ip", "-n", client_, "link", "set", veth + "c", "up"},
        {"ip", "-n", server_, "link", "set", veth + "s", "up"},
        {"ip", "-n", client_, "link", "set", "lo", "up"},
        {"ip", "-n", server_, "link", "set", "lo", "up"},
    };
    for (const auto& step : steps) {
      CommandResult done = RunCommand(Ip(step));
      if (done.exit_status != 0) {
        error_ = fmt::format("{}: {}", fmt::join(step, " "), done.err);
        return;
      }
    }
  }
  NetworkPair(const NetworkPair&) = delete;
  NetworkPair& operator=(const NetworkPair&) = delete;
  ~NetworkPair() {
    RunCommand(Ip({"ip", "netns", "del", client_}));
    RunCommand(Ip({"ip", "netns", "del", server_}));
  }

  static std::string IpPath() {
    for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"}) {
      if (::access(path, X_OK) == 0) return path;
    }
    return "";
  }
  const std::string& error() const { return error_; }
  std::vector<std::string> InClient(const std::vector<std::string>& argv) {
    return InNamespace(client_, argv);
  }
  std::vector<std::string> InServer(const std::vector<std::string>& argv) {
    return InNamespace(server_, argv);
  }

 private:
  static std::vector<std::string> Ip(std::vector<std::string> argv) {
    argv[0] = IpPath();
    return argv;
  }
  static std::vector<std::string> InNamespace(
      const std::string& name, const std::vector<std::string>& argv) {
    std::vector<std::string> full = {IpPath(), "netns", "exec", name};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }
  std::string client_;
  std::string server_;
  std::string error_;
};

TEST_F(ContainmentTest, PtraceWorkloadHasThePolicysNetwork) {
  if (NetworkPair::IpPath().empty()) {
    GTEST_SKIP() << "iproute2's `ip` is not installed";
  }
  NetworkPair pair;
  ASSERT_EQ(pair.error(), "");
  Background server(
      pair.InServer({ProbeProgram(), "serve", "10.200.77.2", "7777"}),
      "listening");
  ASSERT_TRUE(server.ready()) << "the test server did not start";
  const auto run = [&](const std::string& mode) {
    const std::string policy = PermissiveWith(
        mode + ".yaml",
        fmt::format("network: {}\n{}", mode,
                    mode == "host" ? "" : kNetworkHolesAccepted));
    return RunCommand(pair.InClient(
        Isoscope({"run", "-q", "--backend", "ptrace", "--policy", policy, "--",
                  "/bin/sh", "-c",
                  fmt::format("{0} connect 10.200.77.2 7777; {0} loopback",
                              ProbeProgram())})));
  };
  // The control: isoscope's own network reaches the server.
  CommandResult host = run("host");
  ASSERT_EQ(host.exit_status, 0) << host.err;
  EXPECT_THAT(host.out, HasSubstr("connect=OK\nreply=hello"));
  EXPECT_THAT(host.out, HasSubstr("loopback=OK"));

  CommandResult loopback = run("loopback");
  ASSERT_EQ(loopback.exit_status, 0) << loopback.err;
  EXPECT_THAT(loopback.out, HasSubstr("connect=ENETUNREACH"));
  EXPECT_THAT(loopback.out, HasSubstr("loopback=OK"));

  CommandResult none = run("none");
  ASSERT_EQ(none.exit_status, 0) << none.err;
  EXPECT_THAT(none.out, HasSubstr("connect=ENETUNREACH"));
  EXPECT_THAT(none.out, Not(HasSubstr("loopback=OK")));
}

// --- ptrace: no host process within reach ---------------------------------

// Root without capabilities may signal any root process of its own pid
// namespace: the workload's namespace holds only its own. SIGKILL to
// isoscope and to a canary both find no such process, and the run is
// recorded as usual.
TEST_F(ContainmentTest, PtraceWorkloadCannotKillIsoscopeOrAHostProcess) {
  Background canary({"/bin/sleep", "600"}, "");
  ASSERT_GT(canary.pid(), 0);
  // `exec`: the shell's $$ is the pid isoscope then has.
  const std::string command = fmt::format(
      "exec {} --db {} run -q --backend ptrace --policy permissive -- {} "
      "kill $$ {}",
      IsoscopeBinary().string(), db_, ProbeProgram(), canary.pid());
  CommandResult run = RunCommand({"/bin/sh", "-c", command});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, Not(HasSubstr("=OK")));
  EXPECT_THAT(run.out, HasSubstr(fmt::format("kill {}=ESRCH", canary.pid())));
  EXPECT_TRUE(canary.Alive());
  nlohmann::json latest = LatestRun();
  EXPECT_EQ(latest["termination"]["outcome"], "exited") << latest.dump();
  EXPECT_EQ(latest["backend"], "ptrace");
}

// The control: native isolates nothing, so the same canary dies there.
TEST_F(ContainmentTest, NativeWorkloadCanKillACanary) {
  Background canary({"/bin/sleep", "600"}, "");
  CommandResult run = RunCommand(
      Isoscope({"run", "-q", "--backend", "native", "--policy", "permissive",
                "--", ProbeProgram(), "kill", std::to_string(canary.pid())}));
  ASSERT_EQ(run.exit_status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr(fmt::format("kill {}=OK", canary.pid())));
}

}  // namespace
}  // namespace isoscope::testing
