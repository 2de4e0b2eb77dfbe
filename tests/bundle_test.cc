// OCI bundles as workloads (issue 19): `isoscope run|compare --bundle DIR`
// (and --image LAYOUT:TAG) runs the bundle's process in its rootfs on every
// process backend, with the policy's paths decided as the workload sees
// them there. The bundles are built here, without network: a rootfs holding
// Debian's static busybox (package busybox-static) and a config.json written
// by the test, or an image layout made with Debian's umoci.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kBusybox = "/bin/busybox";
constexpr const char* kUmoci = "/usr/bin/umoci";  // Debian's
// A file only the bundle has: what the workload prints proves whose root it
// runs in.
constexpr const char* kMarker = "/etc/isoscope-bundle-marker";

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st {};
    if (::stat(kBusybox, &st) != 0 || !S_ISREG(st.st_mode)) {
      GTEST_SKIP() << "needs a static busybox at " << kBusybox
                   << " (Debian package busybox-static)";
    }
    ASSERT_FALSE(fs::exists(kMarker)) << "the host must not have " << kMarker;
    auto dir = TempDir::Create("isoscope-bundle-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
    bundle_ = dir_->path() / "bundle";
    BuildRootfs(bundle_ / "rootfs");
  }

  // A small image's rootfs: busybox and its applets' links (one relative,
  // one absolute: both must resolve inside the rootfs), the directories a
  // container image has, a marker, and a secret the default policy does
  // not let a workload read.
  void BuildRootfs(const fs::path& rootfs) {
    for (const char* dir :
         {"bin", "etc", "dev", "proc", "tmp", "work", "srv"}) {
      fs::create_directories(rootfs / dir);
    }
    // Every directory traversable by the policy's uid (the temporary
    // directory is 0700).
    fs::permissions(rootfs.parent_path(), static_cast<fs::perms>(0755));
    fs::permissions(rootfs, static_cast<fs::perms>(0755));
    fs::copy_file(kBusybox, rootfs / "bin/busybox");
    fs::create_symlink("busybox", rootfs / "bin/sh");
    fs::create_symlink("/bin/busybox", rootfs / "bin/cat");
    std::ofstream(rootfs / "etc/isoscope-bundle-marker")
        << "the bundle's own file\n";
    std::ofstream(rootfs / "srv/secret") << "not for the workload\n";
    // An absolute link: in the rootfs it names the secret; on the host it
    // names nothing.
    fs::create_symlink("/srv/secret", rootfs / "etc/link-to-secret");
  }

  void WriteConfig(const std::string& process) {
    std::ofstream(bundle_ / "config.json") << fmt::format(
        R"({{"ociVersion": "1.0.2", "process": {}, "root": {{"path": "rootfs"}}}})",
        process);
  }

  // With the image cache in the test's directory.
  CommandResult Isoscope(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {IsoscopeBinary().string(), "--db", db_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv,
                      {"XDG_CACHE_HOME=" + (dir_->path() / "cache").string()});
  }

  // Runs umoci with `args`; false (and a failure) when it fails.
  bool Umoci(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kUmoci};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult result = RunCommand(argv);
    EXPECT_EQ(result.exit_status, 0) << fmt::format("{}", fmt::join(argv, " "))
                                     << ": " << result.err << result.out;
    return result.exit_status == 0;
  }

  std::optional<TempDir> dir_;
  std::string db_;
  fs::path bundle_;
};

// The process backends: they run Debian's busybox, a glibc program that
// the kvm guest cannot run on hosts whose KVM emulates every instruction
// without SSE (kvm is checked apart, with a freestanding program).
const std::vector<std::string>& ProcessBackends() {
  static const auto* backends =
      new std::vector<std::string>{"native", "ptrace", "container"};
  return *backends;
}

TEST_F(BundleTest, RunPrintsTheBundlesOwnFileOnEveryProcessBackend) {
  WriteConfig(R"({"args": ["cat", "/etc/isoscope-bundle-marker"],
                  "env": ["PATH=/bin"], "cwd": "/work"})");
  for (const std::string& backend : ProcessBackends()) {
    if (std::string why = BackendUnavailable(backend); !why.empty()) {
      ADD_FAILURE() << backend << " cannot run here: " << why;
      continue;
    }
    CommandResult run = Isoscope(
        {"run", "-q", "--backend", backend, "--bundle", bundle_.string()});
    EXPECT_EQ(run.exit_status, 0) << backend << ": " << run.err;
    EXPECT_EQ(run.out, "the bundle's own file\n") << backend;
  }
}

// The bundle's env, cwd and args reach the workload as they are.
TEST_F(BundleTest, ProcessEnvCwdAndArgsAreTheBundles) {
  WriteConfig(R"({"args": ["sh", "-c", "echo $GREETING $# $0; pwd", "x", "y"],
                  "env": ["PATH=/bin", "GREETING=hello"], "cwd": "/srv"})");
  for (const std::string& backend : ProcessBackends()) {
    if (!BackendUnavailable(backend).empty()) continue;
    CommandResult run =
        Isoscope({"run", "-q", "--backend", backend, "--policy", "permissive",
                  "--bundle", bundle_.string(), "--env", "EXTRA=1"});
    EXPECT_EQ(run.exit_status, 0) << backend << ": " << run.err;
    EXPECT_EQ(run.out, "hello 1 x\n/srv\n") << backend;
  }
}

TEST_F(BundleTest, CompareGivesIdenticalOutputOnEveryProcessBackend) {
  WriteConfig(R"({"args": ["cat", "/etc/isoscope-bundle-marker"],
                  "env": ["PATH=/bin"], "cwd": "/work"})");
  const fs::path report = dir_->path() / "report.json";
  CommandResult compare = Isoscope({"compare", "--bundle", bundle_.string(),
                                    "--backends", "native,ptrace,container",
                                    "-n", "1", "--report", report.string()});
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  nlohmann::json json = nlohmann::json::parse(std::ifstream(report), nullptr,
                                              /*allow_exceptions=*/false);
  ASSERT_FALSE(json.is_discarded());
  // The comparison says which bundle it ran.
  EXPECT_EQ(json["comparison"]["source"]["bundle"],
            fs::canonical(bundle_).string());
  EXPECT_EQ(json["comparison"]["source"]["image"], "");
  // Every run of every process backend printed the bundle's file: the
  // stored runs say so.
  for (const std::string& backend : ProcessBackends()) {
    if (!BackendUnavailable(backend).empty()) continue;
    CommandResult listed =
        Isoscope({"runs", "list", "--json", "--backend", backend, "-n", "0"});
    ASSERT_EQ(listed.exit_status, 0) << listed.err;
    nlohmann::json runs = nlohmann::json::parse(listed.out, nullptr, false);
    ASSERT_TRUE(runs.is_array()) << listed.out;
    ASSERT_EQ(runs.size(), 2U) << backend << " (warm-up and one measured)";
    for (const nlohmann::json& run : runs) {
      CommandResult shown = Isoscope(
          {"runs", "show", std::to_string(run["id"].get<int64_t>()), "--json"});
      nlohmann::json full = nlohmann::json::parse(shown.out, nullptr, false);
      ASSERT_FALSE(full.is_discarded()) << shown.out;
      EXPECT_EQ(full["output"]["stdout"], "the bundle's own file\n") << backend;
      EXPECT_EQ(full["termination"]["outcome"], "exited") << backend;
    }
  }
}

// On kvm too: one of isoscope's own freestanding programs (static, no SSE:
// what the kvm guest runs on every host) copied into the rootfs reads a
// file only the bundle has, with the same output on every backend, alone
// and in a comparison. (The probe reads the file $ISOSCOPE_CANARY_SECRET
// names and says how many bytes it read: "ESCAPED" is the probe's word
// for a file it could read.)
TEST_F(BundleTest, FreestandingProgramReadsTheBundlesFileOnEveryBackend) {
  const fs::path program = BuiltWorkload("probes/secret-file");
  ASSERT_TRUE(fs::exists(program)) << program;
  fs::copy_file(program, bundle_ / "rootfs/bin/secret-file");
  fs::permissions(bundle_ / "rootfs/bin/secret-file",
                  static_cast<fs::perms>(0755));
  WriteConfig(fmt::format(
      R"({{"args": ["secret-file"], "env": ["PATH=/bin",
          "ISOSCOPE_CANARY_SECRET={}"], "cwd": "/work"}})",
      kMarker));
  const std::string expected = "PROBE secret-file ESCAPED read 22 bytes\n";
  std::vector<std::string> backends;
  std::string kvm_unavailable;
  for (const char* backend : {"native", "ptrace", "container", "kvm"}) {
    if (std::string why = BackendUnavailable(backend); !why.empty()) {
      if (std::string_view(backend) == "kvm") {
        kvm_unavailable = why;
      } else {
        ADD_FAILURE() << backend << " cannot run here: " << why;
      }
      continue;
    }
    backends.emplace_back(backend);
    CommandResult run = Isoscope({"run", "-q", "--backend", backend, "--policy",
                                  "default", "--bundle", bundle_.string()});
    EXPECT_EQ(run.exit_status, 0) << backend << ": " << run.err;
    EXPECT_EQ(run.out, expected) << backend << ": " << run.err;
  }

  CommandResult compare = Isoscope({"compare", "--bundle", bundle_.string(),
                                    "--backends", "native,ptrace,container,kvm",
                                    "--policy", "default", "-n", "1"});
  ASSERT_EQ(compare.exit_status, 0) << compare.err;
  for (const std::string& backend : backends) {
    CommandResult listed =
        Isoscope({"runs", "list", "--json", "--backend", backend, "-n", "0"});
    nlohmann::json runs = nlohmann::json::parse(listed.out, nullptr, false);
    ASSERT_TRUE(runs.is_array()) << listed.out;
    // The single run, then the comparison's warm-up and measured run.
    ASSERT_EQ(runs.size(), 3U) << backend;
    for (const nlohmann::json& run : runs) {
      CommandResult shown = Isoscope(
          {"runs", "show", std::to_string(run["id"].get<int64_t>()), "--json"});
      nlohmann::json full = nlohmann::json::parse(shown.out, nullptr, false);
      ASSERT_FALSE(full.is_discarded()) << shown.out;
      EXPECT_EQ(full["output"]["stdout"], expected) << backend;
      // Each run records where its workload came from.
      EXPECT_EQ(full["source"]["bundle"], fs::canonical(bundle_).string())
          << backend;
    }
  }
  CommandResult shown = Isoscope({"runs", "show", "latest"});
  EXPECT_THAT(shown.out, HasSubstr("  from      bundle " +
                                   fs::canonical(bundle_).string() + "\n"));
  if (!kvm_unavailable.empty()) {
    EXPECT_THAT(compare.out, HasSubstr("kvm       unavailable"));
    GTEST_SKIP() << "kvm not checked: " << kvm_unavailable;
  }
}

// The policy's path rules are decided on the paths as the workload sees
// them in the rootfs: the default preset lets it read /etc/** and not
// /srv/**, symlinks resolved inside the rootfs, relative paths against its
// cwd there. (The bundle lies under /tmp, which the preset lets a workload
// read: a decision on host paths would let the secret through; one on
// another root would refuse the marker; a cwd read as a host path would
// name nothing in the root.)
TEST_F(BundleTest, PathRulesAreDecidedOnThePathsInsideTheRootfs) {
  WriteConfig(R"({"args": ["sh", "-c",
      "cat /etc/isoscope-bundle-marker ../etc/isoscope-bundle-marker; cat /srv/secret; cat /etc/link-to-secret; cat ../srv/secret; cat ../etc/link-to-secret; echo done"],
      "env": ["PATH=/bin"], "cwd": "/work"})");
  for (const char* backend : {"ptrace", "container"}) {
    if (!BackendUnavailable(backend).empty()) continue;
    CommandResult run = Isoscope({"run", "-q", "--backend", backend, "--policy",
                                  "default", "--bundle", bundle_.string()});
    EXPECT_EQ(run.exit_status, 0) << backend << ": " << run.err;
    EXPECT_EQ(run.out, "the bundle's own file\nthe bundle's own file\ndone\n")
        << backend;
    for (const char* path : {"/srv/secret", "/etc/link-to-secret",
                             "../srv/secret", "../etc/link-to-secret"}) {
      EXPECT_THAT(run.err,
                  HasSubstr(fmt::format("'{}': Permission denied", path)))
          << backend;
    }
    EXPECT_THAT(run.out + run.err, Not(HasSubstr("not for the workload")));
  }
}

// its entrypoint and cmd the process, on every process backend.
TEST_F(BundleTest, ImageFromALayoutRunsOnEveryProcessBackend) {
  if (::access(kUmoci, X_OK) != 0) {
    GTEST_SKIP() << "needs " << kUmoci << " (Debian package umoci)";
  }
  const std::string layout = (dir_->path() / "layout").string();
  const std::string work = (dir_->path() / "work-bundle").string();
  ASSERT_TRUE(Umoci({"init", "--layout", layout}));
  ASSERT_TRUE(Umoci({"new", "--image", layout + ":v1"}));
  ASSERT_TRUE(Umoci({"unpack", "--image", layout + ":v1", work}));
  fs::remove_all(fs::path(work) / "rootfs");
  BuildRootfs(fs::path(work) / "rootfs");
  ASSERT_TRUE(Umoci({"repack", "--image", layout + ":v1", work}));
  ASSERT_TRUE(
      Umoci({"config", "--image", layout + ":v1", "--config.entrypoint", "cat",
             "--config.cmd", kMarker, "--config.workingdir", "/work"}));
  for (const std::string& backend : ProcessBackends()) {
    if (!BackendUnavailable(backend).empty()) continue;
    CommandResult run = Isoscope(
        {"run", "-q", "--backend", backend, "--image", layout + ":v1"});
    EXPECT_EQ(run.exit_status, 0) << backend << ": " << run.err;
    EXPECT_EQ(run.out, "the bundle's own file\n") << backend;
  }
  // One unpacked bundle, nothing left beside it.
  const fs::path cache = dir_->path() / "cache/isoscope/images";
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(cache)) {
    names.push_back(entry.path().filename().string());
  }
  ASSERT_EQ(names.size(), 1U) << fmt::format("{}", fmt::join(names, " "));
  EXPECT_TRUE(names[0].starts_with("sha256-")) << names[0];
  // The run records the image it ran and the manifest that tag named.
  std::string digest = names[0];
  digest[6] = ':';
  CommandResult shown = Isoscope({"runs", "show", "latest", "--json"});
  nlohmann::json run = nlohmann::json::parse(shown.out, nullptr, false);
  ASSERT_FALSE(run.is_discarded()) << shown.out;
  EXPECT_EQ(run["source"]["image"], layout + ":v1");
  EXPECT_EQ(run["source"]["image_digest"], digest);
  EXPECT_EQ(run["source"]["bundle"], fs::canonical(cache / names[0]).string());
  EXPECT_THAT(Isoscope({"runs", "show", "latest"}).out,
              HasSubstr(fmt::format("  from      image {}:v1 ({}), unpacked "
                                    "in {}\n",
                                    layout, digest,
                                    fs::canonical(cache / names[0]).string())));

  // learn takes the image as run does, and learns its paths in the rootfs.
  const std::string learned = (dir_->path() / "image.yaml").string();
  CommandResult learn = Isoscope(
      {"learn", "--no-verify", "-o", learned, "--image", layout + ":v1"});
  EXPECT_EQ(learn.exit_status, 0) << learn.err;
  std::ifstream in(learned);
  const std::string yaml((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(yaml, HasSubstr(fmt::format("\"{}\"", kMarker)));
  EXPECT_THAT(yaml,
              HasSubstr(fmt::format("(from image {}:v1 ({})", layout, digest)));

  CommandResult no_tag = Isoscope({"run", "--image", layout + ":v2"});
  EXPECT_EQ(no_tag.exit_status, 64) << no_tag.err;
  EXPECT_THAT(no_tag.err, HasSubstr("the layout has no tag 'v2'"));
  CommandResult no_layout =
      Isoscope({"run", "--image", (dir_->path() / "none").string() + ":v1"});
  EXPECT_EQ(no_layout.exit_status, 64) << no_layout.err;
  CommandResult both =
      Isoscope({"run", "--image", layout + ":v1", "--bundle", work});
  EXPECT_EQ(both.exit_status, 64) << both.err;
}

// `learn --bundle`: busybox's script observed in the bundle's rootfs, the
// policy proven there; the learned paths are the rootfs's (the marker,
// which the host has not), and the policy refuses the same script reading
// one more file of the rootfs, named by its path there.
TEST_F(BundleTest, LearnsAPolicyForTheBundleInItsRootfs) {
  if (std::string why = BackendUnavailable("ptrace"); !why.empty()) {
    GTEST_SKIP() << "learn observes on ptrace, unavailable here: " << why;
  }
  const std::string script = "cat /etc/isoscope-bundle-marker; echo learned";
  const auto configure = [&](const std::string& body) {
    WriteConfig(fmt::format(R"({{"args": ["sh", "-c", "{}"],
                                 "env": ["PATH=/bin"], "cwd": "/work"}})",
                            body));
  };
  configure(script);
  const std::string policy = (dir_->path() / "learned.yaml").string();
  CommandResult learned =
      Isoscope({"learn", "-o", policy, "--bundle", bundle_.string()});
  // The proof's rows: ptrace and container agree with the observed run.
  // kvm agrees where it can run busybox (a glibc program); where its
  // hypervisor emulates every instruction (PVM hosts) busybox stops at its
  // first SSE instruction, a difference learn reports with exit status 1.
  bool kvm_cannot_run_busybox = false;
  std::istringstream rows(learned.err);
  for (std::string row; std::getline(rows, row);) {
    for (const char* backend : {"ptrace", "container"}) {
      if (row.starts_with(fmt::format("  {:<10} ", backend))) {
        EXPECT_THAT(row, HasSubstr("exited 0")) << learned.err;
        EXPECT_THAT(row, Not(HasSubstr("DIFFERS"))) << learned.err;
      }
    }
    if (row.starts_with("  kvm        signaled: killed by SIGIL")) {
      kvm_cannot_run_busybox = true;
    }
  }
  EXPECT_EQ(learned.exit_status, kvm_cannot_run_busybox ? 1 : 0) << learned.err;
  EXPECT_THAT(learned.err, HasSubstr("  ptrace     exited 0"));
  if (BackendUnavailable("container").empty()) {
    EXPECT_THAT(learned.err, HasSubstr("  container  exited 0"));
  }
  std::ifstream in(policy);
  const std::string yaml((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(yaml, HasSubstr("\"/etc/isoscope-bundle-marker\""));
  EXPECT_THAT(yaml, HasSubstr("\"/bin/busybox\""));
  // Nothing of the bundle's place on the host.
  EXPECT_THAT(yaml, Not(HasSubstr(fs::canonical(bundle_).string() + "/")));
  EXPECT_EQ(Isoscope({"policy", "check", policy}).exit_status, 0);

  // The same script reading one more file of the rootfs: refused, by its
  // path in the rootfs.
  configure(script + "; cat /srv/secret");
  CommandResult further = Isoscope({"run", "--backend", "ptrace", "--policy",
                                    policy, "--bundle", bundle_.string()});
  EXPECT_NE(further.exit_status, 0) << further.err;
  EXPECT_EQ(further.out, "the bundle's own file\nlearned\n");
  EXPECT_THAT(Isoscope({"runs", "show", "latest"}).out,
              HasSubstr("\"/srv/secret\" -> deny EACCES [files.else]"));
}

// What is wrong with a bundle is said before anything runs, with the
// CLI's exit statuses: 64 for bad input, 127/126 for the entrypoint.
TEST_F(BundleTest, BadBundlesAreRefusedWithTheirExitStatus) {
  const auto run = [&](const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"run", "-q", "--bundle", bundle_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Isoscope(args);
  };
  CommandResult no_config = run();
  EXPECT_EQ(no_config.exit_status, 64) << no_config.err;
  EXPECT_THAT(no_config.err, HasSubstr("config.json"));

  std::ofstream(bundle_ / "config.json") << "{\"process\": ";
  CommandResult malformed = run();
  EXPECT_EQ(malformed.exit_status, 64) << malformed.err;
  EXPECT_THAT(malformed.err, HasSubstr("not a JSON object"));

  WriteConfig(R"({"args": []})");
  CommandResult no_args = run();
  EXPECT_EQ(no_args.exit_status, 64) << no_args.err;
  EXPECT_THAT(no_args.err, HasSubstr("process.args: empty"));

  WriteConfig(R"({"args": ["/bin/missing"]})");
  CommandResult missing = run();
  EXPECT_EQ(missing.exit_status, 127) << missing.err;
  EXPECT_THAT(missing.err, HasSubstr("'/bin/missing' not found in the "
                                     "bundle's root"));
  // On the host's PATH, not on the bundle's: not found either.
  WriteConfig(R"({"args": ["true"], "env": ["PATH=/bin"]})");
  EXPECT_EQ(run().exit_status, 127);

  WriteConfig(R"({"args": ["/etc/isoscope-bundle-marker"]})");
  CommandResult not_executable = run();
  EXPECT_EQ(not_executable.exit_status, 126) << not_executable.err;

  WriteConfig(R"({"args": ["/bin/sh"], "cwd": "/nowhere"})");
  CommandResult no_cwd = run();
  EXPECT_EQ(no_cwd.exit_status, 64) << no_cwd.err;
  EXPECT_THAT(no_cwd.err, HasSubstr("process.cwd '/nowhere'"));

  WriteConfig(R"({"args": ["/bin/sh"]})");
  CommandResult with_command = run({"--", "/bin/true"});
  EXPECT_EQ(with_command.exit_status, 64) << with_command.err;
  EXPECT_THAT(with_command.err, HasSubstr("give no command after --"));
  CommandResult compare_with_command =
      Isoscope({"compare", "--bundle", bundle_.string(), "--", "/bin/true"});
  EXPECT_EQ(compare_with_command.exit_status, 64) << compare_with_command.err;

  fs::remove_all(bundle_ / "rootfs");
  CommandResult no_rootfs = run();
  EXPECT_EQ(no_rootfs.exit_status, 64) << no_rootfs.err;
  EXPECT_THAT(no_rootfs.err, HasSubstr("root.path 'rootfs'"));

  CommandResult no_dir =
      Isoscope({"run", "--bundle", (dir_->path() / "none").string()});
  EXPECT_EQ(no_dir.exit_status, 64) << no_dir.err;
  // Nothing ran, nothing was recorded.
  CommandResult listed = Isoscope({"runs", "list", "--json"});
  EXPECT_EQ(listed.out.find("\"id\""), std::string::npos) << listed.out;
}

}  // namespace
}  // namespace isoscope::testing
