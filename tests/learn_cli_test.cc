// `isoscope learn` on real Debian programs (issue 17): for each, the learned
// policy loads (`policy check`), runs the program identically on every
// backend that can run it (learn's own proof, which exits non-zero
// otherwise), and refuses that same program reaching one step further: a
// file it never read, a program it never ran, a port it never connected
// to; each refusal names the learned policy's rule.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

namespace fs = std::filesystem;

struct Program {
  std::string name;
  std::vector<std::string> needs;  // from scripts/install-deps.sh
  std::string script;              // run by /bin/sh -c in the workdir
  // A step that uses an argument value the program never did (a memory
  // protection, a socket type), and what its run records for it.
  std::string unseen_step = "";
  std::string unseen_denial = "";
};

std::vector<Program> Programs() {
  return {
      {"coreutils-pipeline",
       {"/usr/bin/sort", "/usr/bin/sha256sum"},
       "seq 100 | sort -rn | head -3 | tr '\\n' ' '; "
       "echo x | sha256sum | cut -c1-16; mkdir -p a/b && echo z > a/b/f && "
       "cp -r a c && ls c/b"},
      {"python3-sqlite3-subprocess",
       {"/usr/bin/python3"},
       "python3 -c 'import sqlite3, subprocess\n"
       "c = sqlite3.connect(\"t.db\")\n"
       "c.execute(\"create table t(a)\")\n"
       "c.executemany(\"insert into t values(?)\", [(i,) for i in range(4)])\n"
       "c.commit()\n"
       "print(c.execute(\"select sum(a) from t\").fetchone()[0])\n"
       "print(subprocess.run([\"echo\", \"child\"], capture_output=True, "
       "text=True).stdout.strip())'",
       // Memory both writable and executable, which it never asked for.
       "python3 -c 'import mmap; mmap.mmap(-1, 4096, prot=7)'",
       "-> deny EACCES [no-writable-executable-memory]"},
      {"gcc-make",
       {"/usr/bin/gcc", "/usr/bin/make"},
       "printf '#include <stdio.h>\\nint main(void){puts(\"built\");"
       "return 0;}\\n' > hello.c && "
       "printf 'hello: hello.c\\n\\tgcc -O1 -o hello hello.c\\n' > Makefile "
       "&& make -s && ./hello"},
      {"git-commit",
       {"/usr/bin/git"},
       "git init -q r && cd r && echo a > f && git add f && "
       "git -c user.name=t -c user.email=t@example.org commit -qm first && "
       "git log --format=%s"},
      {"node",
       {"/usr/bin/node"},
       "node -e 'const fs = require(\"fs\"); "
       "fs.writeFileSync(\"n.txt\", \"node\"); "
       "console.log(fs.readFileSync(\"n.txt\", \"utf8\"), "
       "[1, 2, 3].map(x => x * 2))'"},
      {"curl-loopback",
       {"/usr/bin/curl", "/usr/bin/python3"},
       "echo served > page.txt; "
       "python3 -u -m http.server 0 --bind 127.0.0.1 > server.log 2>&1 & "
       "for i in $(seq 100); do "
       "port=$(sed -n 's/.*port \\([0-9]*\\).*/\\1/p' server.log); "
       "[ -n \"$port\" ] && break; sleep 0.1; done; "
       "curl -s \"http://127.0.0.1:$port/page.txt\"; status=$?; kill $!; "
       "test $status = 0",
       // A UDP socket, where it only ever made TCP ones.
       "python3 -c 'import socket; socket.socket(socket.AF_INET, "
       "socket.SOCK_DGRAM)'",
       "-> deny EAFNOSUPPORT [socket-"},
  };
}

class LearnCliTest : public ::testing::TestWithParam<Program> {
 protected:
  void SetUp() override {
    for (const std::string& path : GetParam().needs) {
      ASSERT_TRUE(fs::exists(path))
          << path << " is missing: run scripts/install-deps.sh";
    }
    if (std::string why = BackendUnavailable("ptrace"); !why.empty()) {
      GTEST_SKIP() << "learn observes on ptrace, unavailable here: " << why;
    }
    auto dir = TempDir::Create("isoscope-learn-test-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
    policy_ = (dir_->path() / "learned.yaml").string();
  }

  CommandResult Isoscope(std::vector<std::string> args) {
    args.insert(args.begin(), {IsoscopeBinary().string(), "--db", db_});
    return RunCommand(args);
  }

  // Runs the program, then `step` after it, under the learned policy.
  CommandResult RunStepFurther(const std::string& step) {
    return Isoscope({"run", "--backend", "ptrace", "--policy", policy_, "--",
                     "/bin/sh", "-c",
                     fmt::format("{}\n{}", GetParam().script, step)});
  }

  std::optional<TempDir> dir_;
  std::string db_;
  std::string policy_;
};

TEST_P(LearnCliTest, LearnsAPolicyThatRunsItEverywhereAndNoFurther) {
  const CommandResult learned = Isoscope(
      {"learn", "-o", policy_, "--", "/bin/sh", "-c", GetParam().script});
  ASSERT_EQ(learned.exit_status, 0) << learned.err;
  // learn's proof table: the same stdout and exit on each backend it ran.
  EXPECT_NE(learned.err.find("ptrace     exited 0"), std::string::npos)
      << learned.err;
  if (BackendUnavailable("container").empty()) {
    EXPECT_NE(learned.err.find("container  exited 0"), std::string::npos)
        << learned.err;
  }
  EXPECT_EQ(learned.err.find("DIFFERS"), std::string::npos) << learned.err;

  const CommandResult check = Isoscope({"policy", "check", policy_});
  EXPECT_EQ(check.exit_status, 0) << check.out << check.err;

  // The program again, then one file further: its shell opens a file the
  // program never read.
  // The recorded run is read, not run's summary, which names only the
  // three most frequent denials (a learned policy may refuse what the
  // observed run happened not to do, such as a server thread's exit).
  const CommandResult file = RunStepFurther("read -r x < /etc/debian_version");
  EXPECT_NE(file.exit_status, 0) << file.err;
  const CommandResult file_run = Isoscope({"runs", "show", "latest"});
  EXPECT_NE(file_run.out.find(
                "arg1=\"/etc/debian_version\" -> deny EACCES [files.else]"),
            std::string::npos)
      << file_run.out;

  // One program further: a program it never ran.
  const CommandResult program = RunStepFurther("/usr/bin/id -u");
  EXPECT_NE(program.exit_status, 0) << program.err;
  const CommandResult program_run = Isoscope({"runs", "show", "latest"});
  EXPECT_NE(program_run.out.find("execve"), std::string::npos)
      << program_run.out;
  EXPECT_NE(program_run.out.find("\"/usr/bin/id\" -> deny EACCES [files.else]"),
            std::string::npos)
      << program_run.out;

  if (!GetParam().unseen_step.empty()) {
    const CommandResult unseen = RunStepFurther(GetParam().unseen_step);
    EXPECT_NE(unseen.exit_status, 0) << unseen.err;
    const CommandResult unseen_run = Isoscope({"runs", "show", "latest"});
    EXPECT_NE(unseen_run.out.find(GetParam().unseen_denial), std::string::npos)
        << unseen_run.out;
  }

  if (GetParam().name != "curl-loopback") return;
  // One port further: the learned network.connect allows the ports of the
  // server the script started (bound to port 0, so the kernel's range),
  // not another one.
  const CommandResult port =
      RunStepFurther("curl -s http://127.0.0.1:8080/page.txt");
  EXPECT_NE(port.exit_status, 0) << port.err;
  const CommandResult port_run = Isoscope({"runs", "show", "latest"});
  EXPECT_NE(port_run.out.find("connect"), std::string::npos) << port_run.out;
  EXPECT_NE(port_run.out.find("-> deny EACCES [network.connect]"),
            std::string::npos)
      << port_run.out;
}

// `policy diff default learned.yaml` lists what learning found by section,
// and `--merge` widens a learned policy by a run with other inputs, which
// then still refuses what neither run did.
TEST(LearnMergeTest, MergeWidensAndDiffNamesSections) {
  if (std::string why = BackendUnavailable("ptrace"); !why.empty()) {
    GTEST_SKIP() << "learn observes on ptrace, unavailable here: " << why;
  }
  auto dir = TempDir::Create("isoscope-learn-merge-test-");
  ASSERT_TRUE(dir) << dir.error().message();
  const std::string db = (dir->path() / "runs.db").string();
  const std::string first = (dir->path() / "first.yaml").string();
  const std::string widened = (dir->path() / "widened.yaml").string();
  const auto isoscope = [&db](std::vector<std::string> args) {
    args.insert(args.begin(), {IsoscopeBinary().string(), "--db", db});
    return RunCommand(args);
  };
  const auto cat = [](const std::string& file) {
    return std::vector<std::string>{"--", "/bin/cat", file};
  };
  std::vector<std::string> learn = {"learn", "--no-verify", "-o", first};
  for (const std::string& arg : cat("/etc/hostname")) learn.push_back(arg);
  const CommandResult learned = isoscope(learn);
  ASSERT_EQ(learned.exit_status, 0) << learned.err;

  const CommandResult diff = isoscope({"policy", "diff", "default", first});
  EXPECT_EQ(diff.exit_status, 1) << diff.err;
  EXPECT_NE(diff.out.find("syscalls:"), std::string::npos) << diff.out;
  EXPECT_NE(diff.out.find("resources:"), std::string::npos) << diff.out;

  learn = {"learn", "--merge", first, "-o", widened};
  for (const std::string& arg : cat("/etc/os-release")) learn.push_back(arg);
  const CommandResult merged = isoscope(learn);
  ASSERT_EQ(merged.exit_status, 0) << merged.err;
  for (const char* file : {"/etc/hostname", "/etc/os-release"}) {
    std::vector<std::string> run = {"run",    "-q",       "--backend",
                                    "ptrace", "--policy", widened};
    for (const std::string& arg : cat(file)) run.push_back(arg);
    EXPECT_EQ(isoscope(run).exit_status, 0) << file;
  }
  std::vector<std::string> run = {"run", "--backend", "ptrace", "--policy",
                                  widened};
  for (const std::string& arg : cat("/etc/debian_version")) run.push_back(arg);
  const CommandResult refused = isoscope(run);
  EXPECT_NE(refused.exit_status, 0);
  EXPECT_NE(refused.err.find("[files.else]"), std::string::npos) << refused.err;
}

// On a host whose /dev/kvm is a software hypervisor (kvm_pvm), the kvm
// guest stops at glibc's first SSE instruction: the proof shows kvm as not
// run, naming the instruction, and learn still exits 0; with hardware
// virtualization kvm runs the program and must agree.
TEST(LearnProofTest, KvmThatCannotRunAStaticProgramIsNotADifference) {
  constexpr const char* kBusybox = "/bin/busybox";  // busybox-static
  if (std::string why = BackendUnavailable("ptrace"); !why.empty()) {
    GTEST_SKIP() << "learn observes on ptrace, unavailable here: " << why;
  }
  if (std::string why = BackendUnavailable("kvm"); !why.empty()) {
    GTEST_SKIP() << "needs the kvm backend (/dev/kvm): " << why;
  }
  if (!fs::exists(kBusybox)) {
    GTEST_SKIP() << "needs a static busybox at " << kBusybox
                 << " (Debian package busybox-static)";
  }
  auto dir = TempDir::Create("isoscope-learn-kvm-test-");
  ASSERT_TRUE(dir) << dir.error().message();
  const CommandResult learned = RunCommand(
      {IsoscopeBinary().string(), "--db", (dir->path() / "runs.db").string(),
       "learn", "-o", (dir->path() / "learned.yaml").string(), "--", kBusybox,
       "echo", "hi"});
  EXPECT_EQ(learned.exit_status, 0) << learned.err;
  EXPECT_EQ(learned.err.find("DIFFERS"), std::string::npos) << learned.err;
  const bool ran = learned.err.find("kvm        exited 0") != std::string::npos;
  const bool not_run =
      learned.err.find("kvm        not run (run ") != std::string::npos &&
      learned.err.find("the backend cannot execute ") != std::string::npos;
  EXPECT_TRUE(ran || not_run) << learned.err;
}

INSTANTIATE_TEST_SUITE_P(Programs, LearnCliTest,
                         ::testing::ValuesIn(Programs()), [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace isoscope::testing
