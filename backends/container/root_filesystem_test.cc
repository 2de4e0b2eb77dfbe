#include "backends/container/root_filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& text,
               mode_t mode = 0644) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

// "ok" or the errno's name, for a call that returned `rc`.
std::string Outcome(int rc) {
  if (rc >= 0) return "ok";
  std::string_view name = ErrnoName(errno);
  return name.empty() ? fmt::format("errno {}", errno) : std::string(name);
}

// What the child in the new root reports: key=value lines over a pipe
// (gtest assertions cannot run there).
class Probe {
 public:
  explicit Probe(int fd) : fd_(fd) {}
  void Put(const std::string& key, const std::string& value) {
    std::string line = key + "=" + value + "\n";
    [[maybe_unused]] ssize_t n = ::write(fd_, line.data(), line.size());
  }
  void PutCall(const std::string& key, int rc) { Put(key, Outcome(rc)); }

  // Opens, writes a byte and closes.
  void PutWrite(const std::string& key, const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return PutCall(key, -1);
    int rc = ::write(fd, "x", 1) == 1 ? 0 : -1;
    PutCall(key, rc);
    ::close(fd);
  }
  // How many bytes a read of up to 64 gives, or the errno.
  void PutRead(const std::string& key, const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PutCall(key, -1);
    char buffer[64];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    Put(key, n < 0 ? Outcome(-1) : std::to_string(n));
    ::close(fd);
  }
  // The number of entries in a directory, or the errno.
  void PutCount(const std::string& key, const std::string& path,
                bool digits_only = false) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return PutCall(key, -1);
    int count = 0;
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (digits_only &&
          name.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      ++count;
    }
    ::closedir(dir);
    Put(key, std::to_string(count));
  }
  void PutNoexec(const std::string& key, const std::string& path) {
    struct statvfs vfs {};
    if (::statvfs(path.c_str(), &vfs) != 0) return PutCall(key, -1);
    Put(key, (vfs.f_flag & ST_NOEXEC) ? "noexec" : "exec");
  }

 private:
  int fd_;
};

using Report = std::map<std::string, std::string>;

enum class Namespaces { kMountPid, kUserMountPid };

// Applies `plan` in a child that is PID 1 of new mount and pid namespaces
// (with kUserMountPid, in a new user namespace too, mapping only
// `userns_id` to itself, the child running as that id with its
// capabilities), then runs `body` there. Returns what the child reported;
// "apply" is "ok" or the failed step.
Report RunInRoot(const RootFilesystemPlan& plan,
                 const std::function<void(Probe&)>& body,
                 Namespaces namespaces = Namespaces::kMountPid,
                 uint32_t userns_id = 65534) {
  int report[2];
  int go[2];
  if (::pipe2(report, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return {};
  }
  bool userns = namespaces == Namespaces::kUserMountPid;
  pid_t outer = ::fork();
  if (outer == 0) {
    ::close(report[0]);
    ::close(go[1]);
    Probe probe(report[1]);
    int flags = CLONE_NEWNS | CLONE_NEWPID | (userns ? CLONE_NEWUSER : 0);
    if (::unshare(flags) != 0) {
      probe.PutCall("unshare", -1);
      ::_exit(1);
    }
    char byte;
    if (::write(report[1], "!", 1) != 1 || ::read(go[0], &byte, 1) != 1) {
      ::_exit(1);
    }
    pid_t inner = ::fork();
    if (inner == 0) {
      if (userns) {
        // Only the workload's ids exist in the namespace: files the set-up
        // creates (in its own tmpfs) need an owner that is mapped. uid 0 is
        // unmapped, so changing ids keeps the capabilities.
        if (::setresgid(userns_id, userns_id, userns_id) != 0 ||
            ::setresuid(userns_id, userns_id, userns_id) != 0) {
          probe.PutCall("setresuid", -1);
          ::_exit(1);
        }
      }
      RootFilesystemFailure failure;
      int rc = ApplyRootFilesystem(plan, &failure);
      if (rc != 0) {
        probe.Put("apply", fmt::format("{} {}: {}", failure.step_name,
                                       failure.path, ErrnoName(-rc)));
        probe.Put("step", std::to_string(failure.step));
        probe.Put("errno", std::to_string(failure.error));
        ::_exit(1);
      }
      probe.Put("apply", "ok");
      body(probe);
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(inner, &status, 0);
    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
  }
  ::close(report[1]);
  ::close(go[0]);
  std::string text;
  char buffer[4096];
  bool released = false;
  for (;;) {
    ssize_t n = ::read(report[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, n);
    if (!released && !text.empty() && text[0] == '!') {
      text.erase(0, 1);
      if (userns) {
        // Maps written from outside: the child's own id, nothing else.
        std::string map = fmt::format("{} {} 1\n", userns_id, userns_id);
        WriteFile(fmt::format("/proc/{}/uid_map", outer), map);
        WriteFile(fmt::format("/proc/{}/gid_map", outer), map);
      }
      [[maybe_unused]] ssize_t w = ::write(go[1], "g", 1);
      released = true;
    }
  }
  ::close(report[0]);
  ::close(go[1]);
  int status = 0;
  ::waitpid(outer, &status, 0);
  Report values;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) {
      values[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return values;
}

class RootFilesystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespaces)";
    mountinfo_before_ = ReadFile("/proc/self/mountinfo");
    auto dir = TempDir::Create("isoscope-rootfs-test-");
    ASSERT_TRUE(dir) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    root_ = dir_->path().string();
    for (const char* sub :
         {"ro", "ro/sub", "ro/hidden_dir", "rw", "work", "exe", "empty"}) {
      ASSERT_EQ(::mkdir((root_ + "/" + sub).c_str(), 0755), 0) << sub;
    }
    ::chmod((root_ + "/work").c_str(), 0700);
    WriteFile(root_ + "/ro/file.txt", "hello");
    WriteFile(root_ + "/ro/hidden_dir/secret", "secret");
    WriteFile(root_ + "/ro/hidden_file", "secret");
    WriteFile(root_ + "/ro/tool", "#!/bin/sh\n", 0755);
    WriteFile(root_ + "/work/tool", "#!/bin/sh\n", 0755);
    WriteFile(root_ + "/exe/prog", "#!/bin/sh\n", 0755);
    WriteFile(root_ + "/exe/other", "other", 0755);
  }

  void TearDown() override {
    if (!dir_) return;
    dir_.reset();
    // Nothing the child did may reach the host's mount table.
    EXPECT_EQ(ReadFile("/proc/self/mountinfo"), mountinfo_before_);
  }

  std::string P(const std::string& sub) const { return root_ + "/" + sub; }

  RootFilesystemInputs Inputs() const {
    RootFilesystemInputs in;
    in.workdir = P("work");
    in.executable = "/usr/bin/true";
    in.exec_globs = {"/usr/**", P("work") + "/**"};
    return in;
  }

  std::optional<TempDir> dir_;
  std::string root_;
  std::string mountinfo_before_;
};

TEST_F(RootFilesystemTest, RejectsBadViews) {
  struct Case {
    FilesystemView view;
    ErrorCode code;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{.readonly = {"usr"}},
       ErrorCode::kInvalidArgument,
       "filesystem.readonly: 'usr' is not an absolute path"},
      {{.readonly = {"/usr/"}},
       ErrorCode::kInvalidArgument,
       "'/usr/' is not normalised"},
      {{.writable = {"/usr/../etc"}},
       ErrorCode::kInvalidArgument,
       "filesystem.writable: '/usr/../etc' is not normalised"},
      {{.tmpfs = {"//tmp"}},
       ErrorCode::kInvalidArgument,
       "filesystem.tmpfs: '//tmp' is not normalised"},
      {{.writable = {"/"}},
       ErrorCode::kInvalidArgument,
       "'/' itself can only be listed in filesystem.readonly"},
      {{.hidden = {"relative"}},
       ErrorCode::kInvalidArgument,
       "filesystem.hidden: 'relative'"},
      {{.readonly = {"/no/such/isoscope/path"}},
       ErrorCode::kNotFound,
       "filesystem.readonly: '/no/such/isoscope/path' does not exist"},
      {{.writable = {"/no/such/isoscope/path"}},
       ErrorCode::kNotFound,
       "filesystem.writable: '/no/such/isoscope/path' does not exist"},
      {{.readonly = {"/proc/sys"}},
       ErrorCode::kInvalidArgument,
       "inside /dev or /proc"},
      {{.tmpfs = {"/dev/shm"}},
       ErrorCode::kInvalidArgument,
       "inside /dev or /proc"},
      {{.readonly = {"/usr"}, .writable = {"/usr"}},
       ErrorCode::kInvalidArgument,
       "filesystem.writable: '/usr' is also listed in filesystem.readonly"},
      {{.readonly = {"/usr"}, .hidden = {"/usr"}},
       ErrorCode::kInvalidArgument,
       "filesystem.hidden: '/usr' is also listed in filesystem.readonly"},
      // A mount point cannot be made inside a read-only bind.
      {{.readonly = {P("ro")}, .tmpfs = {P("ro/missing")}},
       ErrorCode::kInvalidArgument,
       "a mount point cannot be created"},
  };
  for (const Case& c : cases) {
    auto plan = PlanRootFilesystem(c.view, Inputs());
    ASSERT_FALSE(plan) << c.needle;
    EXPECT_EQ(plan.error().code(), c.code) << plan.error().ToString();
    EXPECT_THAT(plan.error().ToString(), HasSubstr(c.needle));
  }

  RootFilesystemInputs in = Inputs();
  in.workdir = P("no-such-workdir");
  auto plan = PlanRootFilesystem({}, in);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(plan.error().ToString(), HasSubstr("workdir"));

  in = Inputs();
  in.executable = P("exe/missing");
  plan = PlanRootFilesystem({}, in);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(plan.error().ToString(), HasSubstr("exe/missing"));

  // A hidden path that does not exist hides nothing: not an error.
  EXPECT_TRUE(PlanRootFilesystem(
      {.readonly = {"/usr"}, .hidden = {"/no/such/isoscope/path"}}, Inputs()));
}

TEST_F(RootFilesystemTest, BuildsTheListedViewOnly) {
  FilesystemView view{
      .readonly = {"/usr", "/lib", P("ro")},
      .writable = {P("rw")},
      .tmpfs = {P("scratch"), "/tmp"},
      .hidden = {P("ro/hidden_dir"), P("ro/hidden_file"), "/home"}};
  RootFilesystemInputs in = Inputs();
  auto plan = PlanRootFilesystem(view, in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_FALSE(plan->idmapped_workdir());
  EXPECT_EQ(plan->executable(), "/usr/bin/true");

  struct stat lib {};
  bool lib_is_link = ::lstat("/lib", &lib) == 0 && S_ISLNK(lib.st_mode);
  std::string root = root_;
  Report r = RunInRoot(*plan, [&](Probe& probe) {
    probe.PutCall("usr", ::access("/usr/bin/true", X_OK));
    probe.PutCall("home", ::access("/home", F_OK));
    probe.PutCall("etc", ::access("/etc", F_OK));
    probe.PutCall("sys", ::access("/sys", F_OK));
    probe.PutCall("oldroot", ::access("/.oldroot", F_OK));
    probe.PutCall("mkdir_root", ::mkdir("/newdir", 0755));
    probe.PutWrite("write_root", "/newfile");
    probe.PutRead("ro_file", root + "/ro/file.txt");
    probe.PutWrite("write_ro", root + "/ro/new");
    probe.PutWrite("write_usr", "/usr/isoscope-test");
    probe.PutWrite("write_rw", root + "/rw/made");
    probe.PutCount("scratch_entries", root + "/scratch");
    probe.PutWrite("write_scratch", root + "/scratch/x");
    probe.PutWrite("write_tmp", "/tmp/x");
    probe.PutCount("hidden_dir_entries", root + "/ro/hidden_dir");
    probe.PutCall("hidden_secret",
                  ::access((root + "/ro/hidden_dir/secret").c_str(), F_OK));
    probe.PutWrite("write_hidden_dir", root + "/ro/hidden_dir/x");
    probe.PutRead("hidden_file", root + "/ro/hidden_file");
    probe.PutWrite("write_dev_null", "/dev/null");
    probe.PutRead("dev_zero", "/dev/zero");
    probe.PutRead("dev_urandom", "/dev/urandom");
    probe.PutCall("dev_sda", ::access("/dev/sda", F_OK));
    probe.PutCall("dev_tty", ::access("/dev/tty", F_OK));
    probe.PutCall("dev_fd", ::access("/dev/fd/0", F_OK));
    probe.PutWrite("write_dev_shm", "/dev/shm/x");
    probe.PutWrite("write_dev", "/dev/newfile");
    // Masked (OCI's list; some are missing from some kernels).
    for (const char* path : {"/proc/kcore", "/proc/keys", "/proc/timer_list"}) {
      probe.PutRead(path, path);
    }
    probe.PutCall("proc_sys_write",
                  ::open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC));
    probe.PutWrite("/proc/sysrq-trigger", "/proc/sysrq-trigger");
    probe.PutCount("proc_pids", "/proc", /*digits_only=*/true);
    probe.Put("pid", std::to_string(::getpid()));
    char cwd[PATH_MAX] = {};
    probe.Put("cwd", ::getcwd(cwd, sizeof cwd) ? cwd : "?");
    probe.PutNoexec("noexec_ro", root + "/ro");
    probe.PutCall("exec_ro_tool", ::access((root + "/ro/tool").c_str(), X_OK));
    probe.PutNoexec("noexec_usr", "/usr");
    probe.PutNoexec("noexec_scratch", root + "/scratch");
    probe.PutNoexec("noexec_work", root + "/work");
    probe.PutCall("exec_work_tool",
                  ::access((root + "/work/tool").c_str(), X_OK));
    probe.PutNoexec("noexec_root", "/");
    char link[64] = {};
    probe.Put("lib", ::readlink("/lib", link, sizeof link - 1) > 0
                         ? link
                         : Outcome(-1));
    probe.PutCall("lib_contents", ::access("/lib/x86_64-linux-gnu", F_OK));
  });
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_EQ(r["usr"], "ok");
  EXPECT_EQ(r["home"], "ENOENT");
  EXPECT_EQ(r["etc"], "ENOENT");
  EXPECT_EQ(r["sys"], "ENOENT");
  EXPECT_EQ(r["oldroot"], "ENOENT");
  EXPECT_EQ(r["mkdir_root"], "EROFS");
  EXPECT_EQ(r["write_root"], "EROFS");
  EXPECT_EQ(r["ro_file"], "5");
  EXPECT_EQ(r["write_ro"], "EROFS");
  EXPECT_EQ(r["write_usr"], "EROFS");
  EXPECT_EQ(r["write_rw"], "ok");
  EXPECT_EQ(r["scratch_entries"], "0");
  EXPECT_EQ(r["write_scratch"], "ok");
  EXPECT_EQ(r["write_tmp"], "ok");
  EXPECT_EQ(r["hidden_dir_entries"], "0");
  EXPECT_EQ(r["hidden_secret"], "ENOENT");
  EXPECT_EQ(r["write_hidden_dir"], "EROFS");
  EXPECT_EQ(r["hidden_file"], "0");  // /dev/null
  EXPECT_EQ(r["write_dev_null"], "ok");
  EXPECT_EQ(r["dev_zero"], "64");
  EXPECT_EQ(r["dev_urandom"], "64");
  EXPECT_EQ(r["dev_sda"], "ENOENT");
  EXPECT_EQ(r["dev_tty"], "ENOENT");  // not asked for
  EXPECT_EQ(r["dev_fd"], "ok");
  EXPECT_EQ(r["write_dev_shm"], "ok");
  EXPECT_EQ(r["write_dev"], "EROFS");
  for (const char* path : {"/proc/kcore", "/proc/keys", "/proc/timer_list"}) {
    bool on_host = ::access(path, F_OK) == 0;
    EXPECT_EQ(r[path], on_host ? "0" : "ENOENT") << path;
  }
  ASSERT_EQ(::access("/proc/keys", F_OK), 0) << "nothing masked was probed";
  EXPECT_EQ(r["proc_sys_write"], "EROFS");
  if (::access("/proc/sysrq-trigger", F_OK) == 0) {
    EXPECT_EQ(r["/proc/sysrq-trigger"], "EROFS");
  }
  EXPECT_EQ(r["proc_pids"], "1");
  EXPECT_EQ(r["pid"], "1");
  EXPECT_EQ(r["cwd"], P("work"));
  EXPECT_EQ(r["noexec_ro"], "noexec");
  EXPECT_EQ(r["exec_ro_tool"], "EACCES");
  EXPECT_EQ(r["noexec_usr"], "exec");
  EXPECT_EQ(r["noexec_scratch"], "noexec");
  EXPECT_EQ(r["noexec_work"], "exec");
  EXPECT_EQ(r["exec_work_tool"], "ok");
  EXPECT_EQ(r["noexec_root"], "noexec");
  if (lib_is_link) {
    EXPECT_EQ(r["lib"], "usr/lib");  // recreated, not a second bind
  } else {
    EXPECT_EQ(r["lib"], "EINVAL");  // a bound directory
  }
  EXPECT_EQ(r["lib_contents"], "ok");
  // Writes through the writable bind reach the host.
  EXPECT_EQ(ReadFile(P("rw/made")), "x");
  EXPECT_NE(::access(P("ro/new").c_str(), F_OK), 0);
}

TEST_F(RootFilesystemTest, WritablePathsInsideAReadonlyBindStayWritable) {
  // Parents are mounted before children: the read-only bind of the whole
  // tree does not cover the writable bind and the workdir inside it.
  RootFilesystemInputs in = Inputs();
  in.executable = P("exe/other");  // no interpreter to show
  auto plan =
      PlanRootFilesystem({.readonly = {root_}, .writable = {P("rw")}}, in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  std::string root = root_;
  Report r = RunInRoot(*plan, [&](Probe& probe) {
    probe.PutWrite("write_ro", root + "/ro/new");
    probe.PutWrite("write_top", root + "/new");
    probe.PutWrite("write_rw", root + "/rw/made");
    probe.PutWrite("write_work", root + "/work/made");
  });
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_EQ(r["write_ro"], "EROFS");
  EXPECT_EQ(r["write_top"], "EROFS");
  EXPECT_EQ(r["write_rw"], "ok");
  EXPECT_EQ(r["write_work"], "ok");
}

// The default preset's view, with a shell run in it.
TEST_F(RootFilesystemTest, RunsAShellInTheDefaultPresetsView) {
  RootFilesystemInputs in = Inputs();
  in.executable = "/bin/sh";
  in.exec_globs = {"/usr/**", "/bin/**", "/sbin/**", P("work") + "/**"};
  auto plan = PlanRootFilesystem(
      {.readonly = {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"},
       .writable = {P("work")},
       .tmpfs = {"/tmp"},
       .hidden = {"/root", "/home"}},
      in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  std::string executable = plan->executable();
  Report r = RunInRoot(*plan, [&](Probe& probe) {
    pid_t pid = ::fork();
    if (pid == 0) {
      const char* argv[] = {"sh", "-c",
                            "echo hi > out && test -r /etc/passwd && "
                            "! test -e /home && test -d /tmp",
                            nullptr};
      ::execv(executable.c_str(), const_cast<char* const*>(argv));
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    probe.Put("status", std::to_string(status));
  });
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_EQ(r["status"], "0");
  EXPECT_EQ(ReadFile(P("work/out")), "hi\n");
}

TEST_F(RootFilesystemTest, WorkdirIsIdmappedToTheWorkload) {
  RootFilesystemInputs in = Inputs();
  in.workload_uid = 65534;
  in.workload_gid = 65534;
  auto plan = PlanRootFilesystem(
      {.readonly = {"/usr"}, .writable = {P("rw"), P("work")}}, in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  ASSERT_TRUE(plan->idmapped_workdir());
  std::string root = root_;
  Report r = RunInRoot(*plan, [&](Probe& probe) {
    struct stat st {};
    ::stat(root.c_str(), &st);
    if (::stat((root + "/work").c_str(), &st) == 0) {
      probe.Put("owner", fmt::format("{}:{}", st.st_uid, st.st_gid));
    }
    probe.PutCall("setresgid", ::setresgid(65534, 65534, 65534));
    probe.PutCall("setresuid", ::setresuid(65534, 65534, 65534));
    probe.PutWrite("write_work", root + "/work/made");
    probe.PutWrite("write_rw", root + "/rw/made");  // root's, not mapped
    probe.PutRead("read_tool", root + "/work/tool");
  });
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_EQ(r["owner"], "65534:65534");
  EXPECT_EQ(r["setresuid"], "ok");
  EXPECT_EQ(r["write_work"], "ok");
  EXPECT_EQ(r["write_rw"], "EACCES");
  EXPECT_EQ(r["read_tool"], "10");
  // On the host the new file belongs to the workdir's owner.
  struct stat made {};
  ASSERT_EQ(::stat(P("work/made").c_str(), &made), 0);
  EXPECT_EQ(made.st_uid, 0u);
  EXPECT_EQ(made.st_gid, 0u);

  // Same ids as the owner: a plain bind.
  in.workload_uid = 0;
  in.workload_gid = 0;
  auto plain = PlanRootFilesystem({.readonly = {"/usr"}}, in);
  ASSERT_TRUE(plain) << plain.error().ToString();
  EXPECT_FALSE(plain->idmapped_workdir());
}

// readonly ["/"]: the host's root, read-only, is the base; the other
// lists go on top; /dev (with a private devpts), /proc and an empty /sys
// are the container's; the old root is gone. In a user namespace too,
// where the host's /dev, /proc and /sys mounts cannot be detached.
TEST_F(RootFilesystemTest, HostRootIsTheBaseOfTheView) {
  FilesystemView view{.readonly = {"/", P("ro")},
                      .writable = {P("rw")},
                      .tmpfs = {P("empty")},
                      .hidden = {P("ro/hidden_dir"), P("ro/hidden_file")}};
  auto plan = PlanRootFilesystem(view, Inputs());
  ASSERT_TRUE(plan) << plan.error().ToString();
  std::string root = root_;
  auto body = [&](Probe& probe) {
    probe.PutRead("etc_passwd", "/etc/passwd");
    probe.PutWrite("write_etc", "/etc/isoscope-test");
    probe.PutWrite("write_root", "/isoscope-test");
    probe.PutRead("ro_file", root + "/ro/file.txt");
    probe.PutWrite("write_ro", root + "/ro/new");
    probe.PutWrite("write_rw", root + "/rw/made");
    probe.PutWrite("write_tmpfs", root + "/empty/x");
    probe.PutCall("hidden_secret",
                  ::access((root + "/ro/hidden_dir/secret").c_str(), F_OK));
    probe.PutRead("hidden_file", root + "/ro/hidden_file");
    probe.PutCount("sys_entries", "/sys");
    probe.PutCount("proc_pids", "/proc", /*digits_only=*/true);
    probe.PutCall("dev_kmsg", ::access("/dev/kmsg", F_OK));
    probe.PutCall("dev_ptmx", ::access("/dev/pts/ptmx", F_OK));
    probe.PutWrite("write_dev", "/dev/newfile");
    probe.PutCall("old_root", ::access("/dev/.oldroot", F_OK));
    probe.PutNoexec("noexec_root", "/");
    char cwd[PATH_MAX] = {};
    probe.Put("cwd", ::getcwd(cwd, sizeof cwd) ? cwd : "?");
  };
  Report r = RunInRoot(*plan, body);
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_NE(r["etc_passwd"], "ENOENT");
  EXPECT_EQ(r["write_etc"], "EROFS");
  EXPECT_EQ(r["write_root"], "EROFS");
  EXPECT_EQ(r["ro_file"], "5");
  EXPECT_EQ(r["write_ro"], "EROFS");
  EXPECT_EQ(r["write_rw"], "ok");
  EXPECT_EQ(r["write_tmpfs"], "ok");
  EXPECT_EQ(r["hidden_secret"], "ENOENT");
  EXPECT_EQ(r["hidden_file"], "0");
  EXPECT_EQ(r["sys_entries"], "0");
  EXPECT_EQ(r["proc_pids"], "1");
  EXPECT_EQ(r["dev_kmsg"], "ENOENT");
  EXPECT_EQ(r["dev_ptmx"], "ok");
  EXPECT_EQ(r["write_dev"], "EROFS");
  EXPECT_EQ(r["old_root"], "ENOENT");
  EXPECT_EQ(r["noexec_root"], "exec");  // the exec globs reach into it
  EXPECT_EQ(r["cwd"], P("work"));
  EXPECT_EQ(ReadFile(P("rw/made")), "x");
  EXPECT_NE(::access("/isoscope-test", F_OK), 0);

  // The set-up runs as the workload's id there: it must be able to walk to
  // what it mounts on.
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  RootFilesystemInputs in = Inputs();
  in.workload_uid = 65534;
  in.workload_gid = 65534;
  auto in_userns = PlanRootFilesystem(view, in);
  ASSERT_TRUE(in_userns) << in_userns.error().ToString();
  r = RunInRoot(*in_userns, body, Namespaces::kUserMountPid);
  if (r["unshare"] == "EINVAL" || r["unshare"] == "EPERM") {
    GTEST_SKIP() << "no user namespaces here: " << r["unshare"];
  }
  EXPECT_EQ(r["apply"], "ok") << in_userns->Describe();
  EXPECT_NE(r["etc_passwd"], "ENOENT");
  EXPECT_EQ(r["write_etc"], "EROFS");
  EXPECT_EQ(r["sys_entries"], "0");
  EXPECT_EQ(r["proc_pids"], "1");
  EXPECT_EQ(r["dev_kmsg"], "ENOENT");
  EXPECT_EQ(r["dev_ptmx"], "ok");
  EXPECT_EQ(r["old_root"], "ENOENT");
}

// A workload root of its own (an OCI bundle's rootfs) is the base of the
// view as the host's root is with "/" in `readonly`: the view's paths are
// paths in it, resolved there (an absolute symlink in it points into it),
// what it lacks is left out, and nothing of the host's root shows.
TEST_F(RootFilesystemTest, AWorkloadRootIsTheBaseOfTheView) {
  const std::string rootfs = P("rootfs");
  for (const char* sub : {"", "/dev", "/proc", "/etc", "/usr", "/data", "/tmp",
                          "/bin", "/hidden_dir"}) {
    ASSERT_EQ(::mkdir((rootfs + sub).c_str(), 0755), 0) << sub;
  }
  WriteFile(rootfs + "/etc/file", "bundle");
  ASSERT_EQ(::symlink("/etc/file", (rootfs + "/etc/abs-link").c_str()), 0);
  WriteFile(rootfs + "/hidden_dir/secret", "secret");
  WriteFile(rootfs + "/bin/prog", "not a script", 0755);
  FilesystemView view{.readonly = {"/usr", "/lib64", "/etc"},
                      .writable = {"/data"},
                      .tmpfs = {"/tmp", "/missing"},
                      .hidden = {"/hidden_dir"}};
  RootFilesystemInputs in;
  in.workdir = "/data";
  in.executable = "/bin/prog";
  in.exec_globs = {"/bin/**"};
  in.root = rootfs;
  auto plan = PlanRootFilesystem(view, in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_EQ(plan->executable(), "/bin/prog");
  auto body = [](Probe& probe) {
    probe.PutRead("file", "/etc/file");
    probe.PutRead("abs_link", "/etc/abs-link");
    probe.PutRead("host_passwd", "/etc/passwd");
    probe.PutWrite("write_etc", "/etc/new");
    probe.PutWrite("write_root", "/new");
    probe.PutWrite("write_data", "/data/made");
    probe.PutWrite("write_tmp", "/tmp/made");
    probe.PutCall("hidden", ::access("/hidden_dir/secret", F_OK));
    probe.PutCall("lib64", ::access("/lib64", F_OK));
    probe.PutCall("prog", ::access("/bin/prog", X_OK));
    probe.PutCall("old_root", ::access("/dev/.oldroot", F_OK));
    char cwd[PATH_MAX] = {};
    probe.Put("cwd", ::getcwd(cwd, sizeof cwd) ? cwd : "?");
  };
  Report r = RunInRoot(*plan, body);
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_EQ(r["file"], "6");
  EXPECT_EQ(r["abs_link"], "6");
  EXPECT_EQ(r["host_passwd"], "ENOENT");
  EXPECT_EQ(r["write_etc"], "EROFS");
  EXPECT_EQ(r["write_root"], "EROFS");
  EXPECT_EQ(r["write_data"], "ok");
  EXPECT_EQ(r["write_tmp"], "ok");
  EXPECT_EQ(r["hidden"], "ENOENT");
  EXPECT_EQ(r["lib64"], "ENOENT");
  EXPECT_EQ(r["prog"], "ok");
  EXPECT_EQ(r["old_root"], "ENOENT");
  EXPECT_EQ(r["cwd"], "/data");
  EXPECT_EQ(ReadFile(rootfs + "/data/made"), "x");
  EXPECT_NE(::access((rootfs + "/tmp/made").c_str(), F_OK), 0);

  // "/" in `writable` (a policy's "{workdir}" when the bundle's cwd is "/")
  // makes the root itself writable; the workdir may be "/".
  view.writable = {"/"};
  in.workdir = "/";
  auto writable = PlanRootFilesystem(view, in);
  ASSERT_TRUE(writable) << writable.error().ToString();
  r = RunInRoot(*writable, body);
  EXPECT_EQ(r["apply"], "ok") << writable->Describe();
  EXPECT_EQ(r["write_root"], "ok");
  EXPECT_EQ(r["write_etc"], "EROFS");  // listed read-only on top
  EXPECT_EQ(r["cwd"], "/");
  EXPECT_EQ(ReadFile(rootfs + "/new"), "x");

  // The container mounts its /proc in the root and never creates it there.
  ASSERT_EQ(::rmdir((rootfs + "/proc").c_str()), 0);
  auto no_proc = PlanRootFilesystem(view, in);
  ASSERT_FALSE(no_proc);
  EXPECT_EQ(no_proc.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(no_proc.error().ToString(), HasSubstr("has no /proc directory"));
}

// When the policy lets exec reach any path ("/**"), no mount the view
// makes is noexec, /tmp and /dev/shm included; otherwise /dev/shm is.
TEST_F(RootFilesystemTest, ExecAnywhereLeavesEveryMountExecutable) {
  RootFilesystemInputs in = Inputs();
  in.exec_globs = {"/**"};
  FilesystemView view{.readonly = {"/usr", P("ro")}, .tmpfs = {P("scratch")}};
  auto plan = PlanRootFilesystem(view, in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  std::string root = root_;
  auto body = [&](Probe& probe) {
    probe.PutNoexec("ro", root + "/ro");
    probe.PutNoexec("tmp", root + "/scratch");
    probe.PutNoexec("shm", "/dev/shm");
    probe.PutNoexec("work", root + "/work");
  };
  Report r = RunInRoot(*plan, body);
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_EQ(r["ro"], "exec");
  EXPECT_EQ(r["tmp"], "exec");
  EXPECT_EQ(r["shm"], "exec");
  EXPECT_EQ(r["work"], "exec");

  auto restricted = PlanRootFilesystem(view, Inputs());
  ASSERT_TRUE(restricted) << restricted.error().ToString();
  r = RunInRoot(*restricted, body);
  EXPECT_EQ(r["ro"], "noexec");
  EXPECT_EQ(r["tmp"], "noexec");
  EXPECT_EQ(r["shm"], "noexec");
  EXPECT_EQ(r["work"], "exec");
}

// A program whose interpreter the view does not show is a planning error
// naming the interpreter and the field to change; a static one, or one
// whose interpreter shows, plans fine.
TEST_F(RootFilesystemTest, MissingInterpreterIsNamed) {
  RootFilesystemInputs in = Inputs();
  in.executable = P("exe/prog");  // "#!/bin/sh"
  auto plan = PlanRootFilesystem({}, in);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(plan.error().ToString(),
              HasSubstr("/bin/sh (the interpreter of " + P("exe/prog") +
                        ") is not in the container's filesystem view (policy "
                        "'filesystem.readonly' does not include /bin)"));
  EXPECT_TRUE(PlanRootFilesystem({.readonly = {"/"}}, in));
  in.executable = P("exe/other");  // neither ELF nor a script
  EXPECT_TRUE(PlanRootFilesystem({}, in));
}

TEST_F(RootFilesystemTest, BindsTheExecutableAloneWhenNothingShowsIt) {
  RootFilesystemInputs in = Inputs();
  in.executable = P("exe/prog");
  in.exec_globs = {P("work") + "/**"};
  auto plan = PlanRootFilesystem({.readonly = {"/usr"}}, in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_EQ(plan->executable(), P("exe/prog"));
  std::string root = root_;
  Report r = RunInRoot(*plan, [&](Probe& probe) {
    probe.PutCall("prog", ::access((root + "/exe/prog").c_str(), X_OK));
    probe.PutCall("other", ::access((root + "/exe/other").c_str(), F_OK));
    probe.PutWrite("write_prog", root + "/exe/prog");
    probe.PutNoexec("noexec_usr", "/usr");  // no exec glob reaches it
  });
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_EQ(r["prog"], "ok");
  EXPECT_EQ(r["other"], "ENOENT");
  EXPECT_EQ(r["write_prog"], "EROFS");
  EXPECT_EQ(r["noexec_usr"], "noexec");

  // Shown by a bind under another name: exec it where it shows.
  struct stat bin {};
  if (::lstat("/bin", &bin) == 0 && S_ISLNK(bin.st_mode)) {
    in.executable = "/bin/true";
    auto through_link = PlanRootFilesystem({.readonly = {"/usr"}}, in);
    ASSERT_TRUE(through_link) << through_link.error().ToString();
    EXPECT_EQ(through_link->executable(), "/usr/bin/true");
  }
}

TEST_F(RootFilesystemTest, ReportsTheFailedStep) {
  ASSERT_EQ(::mkdir(P("gone").c_str(), 0755), 0);
  RootFilesystemInputs in = Inputs();
  in.executable = P("exe/other");  // no interpreter to show
  auto plan = PlanRootFilesystem({.readonly = {P("gone")}}, in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  ASSERT_EQ(::rmdir(P("gone").c_str()), 0);
  Report r = RunInRoot(*plan, [](Probe&) {});
  EXPECT_THAT(r["apply"], HasSubstr("bind readonly"));
  EXPECT_THAT(r["apply"], HasSubstr(P("gone")));
  RootFilesystemFailure failure{.step = std::stoi(r["step"]),
                                .error = std::stoi(r["errno"])};
  Error error = plan->FailureError(failure);
  EXPECT_EQ(error.code(), ErrorCode::kSystem);
  EXPECT_EQ(error.sys_errno(), ENOENT);
  EXPECT_THAT(error.ToString(), HasSubstr(P("gone")));
}

TEST_F(RootFilesystemTest, WorksInANewUserNamespace) {
  // The set-up runs as the workload's id there, with capabilities over
  // nothing the host owns: it must be able to walk to what it binds.
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  RootFilesystemInputs in = Inputs();
  in.workload_uid = 65534;
  in.workload_gid = 65534;
  auto plan = PlanRootFilesystem(
      {.readonly = {"/usr", P("ro")}, .tmpfs = {"/tmp"}}, in);
  ASSERT_TRUE(plan) << plan.error().ToString();
  std::string root = root_;
  Report r = RunInRoot(
      *plan,
      [&](Probe& probe) {
        probe.PutCall("usr", ::access("/usr/bin/true", X_OK));
        probe.PutWrite("write_ro", root + "/ro/new");
        probe.PutWrite("write_work", root + "/work/made");
        probe.PutWrite("write_tmp", "/tmp/x");
        probe.PutWrite("write_root", "/newfile");
        probe.PutRead("proc_keys", "/proc/keys");
        probe.PutCount("proc_pids", "/proc", /*digits_only=*/true);
      },
      Namespaces::kUserMountPid);
  EXPECT_EQ(r["apply"], "ok") << plan->Describe();
  EXPECT_EQ(r["usr"], "ok");
  EXPECT_EQ(r["write_ro"], "EROFS");
  EXPECT_EQ(r["write_work"], "ok");
  EXPECT_EQ(r["write_tmp"], "ok");
  EXPECT_EQ(r["write_root"], "EROFS");
  EXPECT_EQ(r["proc_keys"], "0");
  EXPECT_EQ(r["proc_pids"], "1");
  struct stat made {};
  ASSERT_EQ(::stat(P("work/made").c_str(), &made), 0);
  EXPECT_EQ(made.st_uid, 0u);
}

}  // namespace
}  // namespace isoscope
