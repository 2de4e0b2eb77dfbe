// The fidelity matrix (issue 15): ordinary Debian programs, run through the
// isoscope binary on every available backend under the three presets. Each
// cell has an expected result: the program's stdout and exit status exactly
// as natively, or a denial by the preset for a stated reason, which the
// recorded run must name (the rule that killed the workload, or a recorded
// denied call with that rule). The programs come from
// scripts/install-deps.sh; a missing one fails the test with that hint.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
#include "supervisor/host_facts.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

namespace fs = std::filesystem;

// What a cell must show.
struct Expect {
  enum class Kind {
    kNative,     // stdout and exit status exactly as natively
    kKilled,     // killed by isoscope; the run names `rule`
    kDenied,     // exits non-zero after a denied call recorded with `rule`
    kNotStatic,  // the kvm backend refuses a dynamically linked program
  };
  Kind kind = Kind::kNative;
  std::string rule;
  std::string why;      // the stated reason, printed with a failure
  int exit_status = 0;  // kDenied: how the program gives up
};

Expect Native() { return {}; }
Expect Killed(std::string rule, std::string why) {
  return {Expect::Kind::kKilled, std::move(rule), std::move(why)};
}
Expect Denied(std::string rule, std::string why, int exit_status) {
  return {Expect::Kind::kDenied, std::move(rule), std::move(why), exit_status};
}

struct Program {
  std::string name;
  // The host programs it needs (from scripts/install-deps.sh).
  std::vector<std::string> needs;
  // Run by /bin/sh -c in the workdir; empty: the static read-workdir
  // program, copied into the workdir.
  std::string script;
  Expect under_default;
  Expect under_strict;
};

// Under strict most programs are killed at their first unlisted call
// (pipe2, socket, clone3, ...): the preset is for computations, not tools.
const char kStrictKills[] =
    "strict allows no pipes, sockets, id changes or other tools' calls";

std::vector<Program> Programs() {
  return {
      {"coreutils",
       {"/usr/bin/sha256sum", "/usr/bin/mkfifo", "/usr/bin/timeout"},
       "seq 100 | sort -rn | head -3 | tr '\\n' ' '; "
       "echo x | sha256sum | cut -c1-16; "
       "mkdir -p a/b && echo z > a/b/f && cp -r a c && mv c e && rm -r e && "
       "ln -s a l && readlink l && stat -c '%F %s' a/b/f && "
       "touch -d 2020-01-01T00:00:00Z t && TZ=UTC date -r t +%Y-%m-%d && "
       "df . >/dev/null && nproc >/dev/null && find . -name f | sort && "
       "ls -la / >/dev/null && du -s a | cut -f2 && chmod 600 a/b/f && "
       "stat -c %a a/b/f && mkfifo p && stat -c %F p && "
       "timeout 5 sleep 0.01 && tee x < a/b/f >/dev/null && wc -c < x && "
       "grep -c NAME /etc/os-release",
       Native(),
       Killed("syscalls.default", kStrictKills)},
      {"python3-multiprocessing-sqlite3",
       {"/usr/bin/python3"},
       "python3 -c 'import multiprocessing as m, sqlite3\n"
       "def sq(x): return x * x\n"
       "if __name__ == \"__main__\":\n"
       "    with m.Pool(2) as p: print(p.map(sq, range(5)))\n"
       "    c = sqlite3.connect(\"t.db\")\n"
       "    c.execute(\"create table t(a)\")\n"
       "    c.executemany(\"insert into t values(?)\", "
       "[(i,) for i in range(4)])\n"
       "    c.commit()\n"
       "    print(c.execute(\"select sum(a) from t\").fetchone()[0])'",
       Native(),
       Killed("syscalls.default", kStrictKills)},
      {"gcc-make",
       {"/usr/bin/gcc", "/usr/bin/make"},
       "printf '#include <stdio.h>\\nint main(void){puts(\"built\");"
       "return 0;}\\n' > hello.c && "
       "printf 'hello: hello.c\\n\\tgcc -O1 -o hello hello.c\\n' > Makefile "
       "&& make -s && ./hello",
       Native(),
       Killed("syscalls.default", kStrictKills)},
      {"git",
       {"/usr/bin/git"},
       "git init -q r && cd r && echo a > f && git add f && "
       "git -c user.name=t -c user.email=t@example.org commit -qm first && "
       "git log --format=%s && git status --porcelain | wc -l",
       Native(),
       Denied("files.else",
              "strict lets nothing outside the workdir and the "
              "system directories be opened: git opens "
              "/dev/null",
              128)},
      {"tar",
       {"/usr/bin/tar", "/usr/bin/gzip"},
       "mkdir -p d/s && echo one > d/s/f && tar czf d.tgz d && rm -r d && "
       "tar xzf d.tgz && cat d/s/f && tar tzf d.tgz | sort",
       Native(),
       Killed("syscalls.default", kStrictKills)},
      {"node",
       {"/usr/bin/node"},
       "node -e 'const fs = require(\"fs\"); "
       "fs.writeFileSync(\"n.txt\", \"node\"); "
       "console.log(fs.readFileSync(\"n.txt\", \"utf8\"), "
       "[1, 2, 3].map(x => x * 2))'",
       Native(),
       Killed("syscalls.default", kStrictKills)},
      {"perl",
       {"/usr/bin/perl"},
       "perl -e 'open(my $f, \">\", \"p.txt\") or die; print $f \"perl\\n\"; "
       "close $f; open($f, \"<\", \"p.txt\") or die; print scalar(<$f>); "
       "print 6 * 7, \"\\n\"'",
       Native(),
       Denied("files.else",
              "strict lets nothing outside the workdir and the "
              "system directories be opened: perl opens "
              "/dev/null",
              13)},
      {"sqlite3",
       {"/usr/bin/sqlite3"},
       "sqlite3 d.db 'create table t(a); insert into t values(1),(2); "
       "select sum(a) from t;'",
       Native(),
       Killed("syscalls.default", kStrictKills)},
      // A server and its client on loopback: the host's under native and
      // permissive, the sandbox's own under default.
      {"curl-loopback",
       {"/usr/bin/curl", "/usr/bin/python3"},
       "echo served > page.txt; "
       "python3 -u -m http.server 0 --bind 127.0.0.1 > server.log 2>&1 & "
       "for i in $(seq 100); do "
       "port=$(sed -n 's/.*port \\([0-9]*\\).*/\\1/p' server.log); "
       "[ -n \"$port\" ] && break; sleep 0.1; done; "
       "curl -s \"http://127.0.0.1:$port/page.txt\"; status=$?; kill $!; "
       "exit $status",
       Native(),
       Killed("syscalls.default", kStrictKills)},
      // strict's three.
      {"python3-compute",
       {"/usr/bin/python3"},
       "python3 -c 'print(sum(x * x for x in range(1000)))'",
       Native(),
       Native()},
      {"sh-echo", {"/bin/sh"}, "echo hi", Native(), Native()},
      {"static-read-workdir", {}, "", Native(), Native()},
  };
}

// gtest prints a parameter with this, not as bytes.
void PrintTo(const Program& program, std::ostream* out) {
  *out << program.name;
}

// One run's result: the workload's stdout and exit status and what the
// recorded run says (its --json file). The implicit members may throw
// only where nlohmann::json allocates, which a test may let escape.
struct Cell {  // NOLINT(bugprone-exception-escape)
  CommandResult command;
  nlohmann::json run;
};

using Param = std::tuple<Program, std::string>;  // (program, backend)

class FidelityTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-fidelity-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    // The presets' uids (1000, 65534) reach their workdirs through it.
    fs::permissions(dir_->path(),
                    fs::perms::others_exec | fs::perms::group_exec,
                    fs::perm_options::add);
    db_ = (dir_->path() / "runs.db").string();
    for (const std::string& needed : program().needs) {
      ASSERT_EQ(::access(needed.c_str(), X_OK), 0)
          << needed << " is missing: run scripts/install-deps.sh";
    }
  }

  // Runs the program in a fresh workdir (writable by the presets' uids,
  // holding input.txt and the static program) and returns its cell.
  Cell Run(const std::string& backend, const std::string& preset) {
    const fs::path workdir =
        dir_->path() / fmt::format("{}-{}-{}", backend, preset, ++runs_);
    fs::create_directory(workdir);
    fs::permissions(workdir, fs::perms::all);
    std::ofstream(workdir / "input.txt") << "alpha\nbeta gamma\n";
    const fs::path program = workdir / "read-workdir";
    fs::copy_file(BuildDir() / "tests" / "fidelity_read_workdir", program);
    const std::string json_path = (workdir.string() + ".json");
    std::vector<std::string> argv = {IsoscopeBinary().string(),
                                     "--db",
                                     db_,
                                     "run",
                                     "-q",
                                     "--backend",
                                     backend,
                                     "--policy",
                                     preset,
                                     "--workdir",
                                     workdir.string(),
                                     "--json",
                                     json_path,
                                     "--"};
    if (this->program().script.empty()) {
      argv.push_back(program.string());
    } else {
      argv.insert(argv.end(), {"/bin/sh", "-c", this->program().script});
    }
    Cell cell;
    cell.command = RunCommand(argv);
    std::ifstream in(json_path);
    cell.run = nlohmann::json::parse(in, nullptr, false);
    return cell;
  }

  const Program& program() const { return std::get<0>(GetParam()); }
  const std::string& backend() const { return std::get<1>(GetParam()); }

  static std::string Describe(const std::string& backend,
                              const std::string& preset, const Cell& cell) {
    return fmt::format("{} under {}: exit {}\nstdout: {}\nstderr: {}", backend,
                       preset, cell.command.exit_status, cell.command.out,
                       cell.command.err);
  }

  // Whether the recorded run names `rule`: as the rule that ended it, or as
  // the verdict of a recorded call.
  static bool NamesRule(const nlohmann::json& run, const std::string& rule) {
    if (run.is_discarded()) return false;
    if (run["termination"].value("rule_id", "") == rule) return true;
    for (const auto& event : run["events"]) {
      if (event.contains("verdict") &&
          event["verdict"].value("rule_id", "") == rule) {
        return true;
      }
    }
    return false;
  }

  void Check(const std::string& backend, const std::string& preset,
             const Expect& expect, const Cell& native) {
    const Cell cell = Run(backend, preset);
    const std::string where = Describe(backend, preset, cell);
    switch (expect.kind) {
      case Expect::Kind::kNative:
        EXPECT_EQ(cell.command.exit_status, native.command.exit_status)
            << where;
        EXPECT_EQ(cell.command.out, native.command.out) << where;
        return;
      case Expect::Kind::kKilled:
        EXPECT_EQ(cell.command.exit_status, 128 + SIGKILL) << where;
        ASSERT_FALSE(cell.run.is_discarded()) << where;
        EXPECT_EQ(cell.run["termination"].value("outcome", ""), "violation")
            << where;
        EXPECT_EQ(cell.run["termination"].value("rule_id", ""), expect.rule)
            << expect.why << "\n"
            << where;
        return;
      case Expect::Kind::kDenied:
        EXPECT_EQ(cell.command.exit_status, expect.exit_status) << where;
        EXPECT_TRUE(NamesRule(cell.run, expect.rule))
            << "no recorded call denied by " << expect.rule << " ("
            << expect.why << ")\n"
            << where;
        return;
      case Expect::Kind::kNotStatic:
        EXPECT_EQ(cell.command.exit_status, 69) << where;
        EXPECT_THAT(cell.command.err,
                    ::testing::HasSubstr("runs static executables only"))
            << where;
        return;
    }
  }

  std::optional<TempDir> dir_;
  std::string db_;
  int runs_ = 0;
};

TEST_P(FidelityTest, EveryPresetGivesItsExpectedResult) {
  const std::string unavailable = BackendUnavailable(backend());
  if (!unavailable.empty()) {
    GTEST_SKIP() << backend() << " backend unavailable: " << unavailable;
  }
  const Cell native = Run("native", "permissive");
  ASSERT_EQ(native.command.exit_status, 0)
      << "the program fails natively: " << Describe("native", "", native);

  for (const auto& [preset, expect] :
       std::vector<std::pair<std::string, Expect>>{
           {"permissive", Native()},
           {"default", program().under_default},
           {"strict", program().under_strict}}) {
    SCOPED_TRACE(
        fmt::format("{} / {} / {}", program().name, backend(), preset));
    if (backend() != "kvm") {
      Check(backend(), preset, expect, native);
    } else if (!program().script.empty()) {
      Check("kvm", preset,
            {Expect::Kind::kNotStatic, "",
             "the kvm backend loads static executables only"},
            native);
    } else if (ReadHostFacts().virtualization == VirtualizationKind::kPvm) {
      // A software hypervisor cannot emulate SSE, which static glibc uses
      // at once; the run says so and names the fix.
      const Cell cell = Run("kvm", preset);
      EXPECT_EQ(cell.command.exit_status, 128 + SIGILL)
          << Describe("kvm", preset, cell);
      ASSERT_FALSE(cell.run.is_discarded());
      EXPECT_THAT(cell.run["termination"].value("reason", ""),
                  ::testing::HasSubstr("SSE"));
    } else {
      Check("kvm", preset, expect, native);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Programs, FidelityTest,
    ::testing::Combine(::testing::ValuesIn(Programs()),
                       ::testing::Values("ptrace", "container", "kvm")),
    [](const ::testing::TestParamInfo<Param>& info) {
      std::string name =
          std::get<0>(info.param).name + "_" + std::get<1>(info.param);
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace isoscope::testing
