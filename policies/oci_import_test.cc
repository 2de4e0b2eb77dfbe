#include "policies/oci_import.h"

#include <cerrno>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "policies/loader.h"
#include "policies/syscalls.h"

namespace isoscope {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What `runc spec` writes (trimmed of the long masked and read-only lists).
constexpr std::string_view kRuncSpec = R"json({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "runc",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}],
                  "memory": {"limit": 268435456}, "pids": {"limit": 64}},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                   {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/sys"]
  }
})json";

Policy Imported(std::string_view config, ImportedPolicy* out = nullptr) {
  auto imported = ImportOciConfig(config, "config.json");
  EXPECT_TRUE(imported.has_value())
      << (imported ? "" : imported.error().ToString());
  if (!imported) return {};
  auto policy = ParsePolicy(imported->yaml, "imported");
  EXPECT_TRUE(policy.has_value()) << policy.error().ToString() << "\n"
                                  << imported->yaml;
  if (out != nullptr) *out = *imported;
  return policy ? *policy : Policy{};
}

TEST(OciImport, WhatRuncSpecPromisesIsAPolicyTheLoaderAccepts) {
  ImportedPolicy imported;
  const Policy policy = Imported(kRuncSpec, &imported);
  // No seccomp: every syscall runs.
  EXPECT_EQ(policy.syscalls.default_action.action, Action::kAllow);
  EXPECT_TRUE(policy.syscalls.rules.empty());
  EXPECT_EQ(policy.network, NetworkMode::kLoopback);
  EXPECT_EQ(policy.identity.hostname, "runc");
  EXPECT_EQ(policy.identity.uid, 0u);
  EXPECT_FALSE(policy.identity.user_namespace);
  EXPECT_EQ(policy.resources.memory_bytes, 268435456u);
  EXPECT_EQ(policy.resources.processes, 64u);
  EXPECT_EQ(policy.resources.open_files, 1024u);
  EXPECT_THAT(policy.filesystem.readonly, ElementsAre("/"));
  EXPECT_THAT(policy.filesystem.tmpfs, ElementsAre("/dev/shm"));
  EXPECT_TRUE(policy.filesystem.hidden.empty());
  EXPECT_EQ(policy.capabilities.size(), 3u);
  // What did not carry over is said, in the notes and in the YAML.
  EXPECT_THAT(imported.notes,
              Contains(HasSubstr("mqueue mount at /dev/mqueue")));
  EXPECT_THAT(imported.notes, Contains(HasSubstr("linux.resources.devices")));
  EXPECT_THAT(imported.notes, Contains(HasSubstr("maskedPaths under /proc")));
  EXPECT_THAT(imported.notes, Contains(HasSubstr("no linux.seccomp")));
  EXPECT_THAT(imported.yaml, HasSubstr("# Not carried over:"));
}

TEST(OciImport, SeccompActionsErrnosAndArgumentsCarryOver) {
  constexpr std::string_view kConfig = R"json({
    "linux": {"seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      "syscalls": [
        {"names": ["read", "write", "not_a_syscall"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                   "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"}
      ]}}})json";
  ImportedPolicy imported;
  const Policy policy = Imported(kConfig, &imported);
  EXPECT_EQ(policy.syscalls.default_action.action, Action::kDeny);
  EXPECT_EQ(policy.syscalls.default_action.errno_value, ENOSYS);
  // The config admits i386 under its rules, which isoscope cannot decode.
  EXPECT_EQ(policy.syscalls.abi.i386.action, Action::kDeny);
  EXPECT_EQ(policy.syscalls.abi.x32.action, Action::kKill);
  ASSERT_EQ(policy.syscalls.rules.size(), 6u);
  const auto& rules = policy.syscalls.rules;
  EXPECT_THAT(rules[0].syscalls,
              ElementsAre(*SyscallNumber("read"), *SyscallNumber("write")));
  // Two conditions on one argument are alternatives, as runc builds them.
  EXPECT_EQ(rules[1].args.size(), 1u);
  EXPECT_EQ(rules[2].args.size(), 1u);
  EXPECT_EQ(rules[1].args[0].value, 0u);
  EXPECT_EQ(rules[2].args[0].value, 8u);
  // MASKED_EQ: the spec's value is the mask, valueTwo the datum.
  ASSERT_EQ(rules[3].args.size(), 1u);
  EXPECT_EQ(rules[3].args[0].op, CompareOp::kMaskedEq);
  EXPECT_EQ(rules[3].args[0].mask, 2114060288u);
  EXPECT_EQ(rules[3].args[0].value, 0u);
  EXPECT_EQ(rules[4].action.action, Action::kDeny);
  EXPECT_EQ(rules[4].action.errno_value, EPERM);
  EXPECT_EQ(rules[5].action.action, Action::kKill);
  EXPECT_THAT(imported.notes, Contains(HasSubstr("not_a_syscall")));
  EXPECT_THAT(imported.notes, Contains(HasSubstr("32-bit")));
}

TEST(OciImport, BadConfigsSayWhatAndWhere) {
  const auto error = [](std::string_view config) {
    auto imported = ImportOciConfig(config, "b.json");
    EXPECT_FALSE(imported.has_value()) << config;
    if (imported) return std::string();
    EXPECT_EQ(imported.error().code(), ErrorCode::kPolicy);
    return imported.error().message();
  };
  EXPECT_THAT(error("{"), HasSubstr("b.json: not valid JSON"));
  EXPECT_THAT(error("[]"), HasSubstr("expected a JSON object, found array"));
  EXPECT_THAT(error(R"({"process": 5})"),
              HasSubstr("config.process: expected object, found number"));
  EXPECT_THAT(
      error(R"({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_MAYBE"}}})"),
      HasSubstr("linux.seccomp.defaultAction: unknown seccomp action "
                "'SCMP_ACT_MAYBE'"));
  EXPECT_THAT(
      error(R"({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}}})"),
      HasSubstr("linux.seccomp.syscalls[0].args[0].index: expected 0 to 5"));
  EXPECT_THAT(error(std::string(kMaxOciConfigBytes + 1, ' ')),
              HasSubstr("more than"));
}

// Names and paths from the config land in comments: a newline in one cannot
// end the comment and add a key that widens the policy.
TEST(OciImport, ConfigTextCannotWriteYaml) {
  constexpr std::string_view kConfig = R"json({
    "linux": {"namespaces": [{"type": "network"}],
      "seccomp": {"defaultAction": "SCMP_ACT_KILL",
        "syscalls": [{"names": ["x\nnetwork: host\ncapabilities: [CAP_SYS_ADMIN]"],
                      "action": "SCMP_ACT_ALLOW"}]}},
    "mounts": [{"destination": "/a\nnetwork: host", "type": "weird"}]})json";
  ImportedPolicy imported;
  const Policy policy = Imported(kConfig, &imported);
  EXPECT_EQ(policy.network, NetworkMode::kLoopback);
  EXPECT_TRUE(policy.capabilities.empty());
  EXPECT_EQ(policy.syscalls.default_action.action, Action::kKill);
}

// What `isoscope run --bundle` takes of a config: the process and the root.
TEST(OciBundle, ProcessAndRootOfRuncSpec) {
  auto bundle = ParseOciBundleConfig(kRuncSpec, "config.json");
  ASSERT_TRUE(bundle) << bundle.error().ToString();
  EXPECT_THAT(bundle->args, ElementsAre("sh"));
  EXPECT_THAT(bundle->env,
              ElementsAre("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                          "/usr/bin:/sbin:/bin"));
  EXPECT_EQ(bundle->cwd, "/");
  EXPECT_EQ(bundle->uid, 0U);
  EXPECT_EQ(bundle->gid, 0U);
  EXPECT_EQ(bundle->rootfs, "rootfs");

  auto minimal = ParseOciBundleConfig(
      R"({"process": {"args": ["/bin/true"], "cwd": "/srv/./app/"}})", "c");
  ASSERT_TRUE(minimal) << minimal.error().ToString();
  EXPECT_EQ(minimal->cwd, "/srv/app");
  EXPECT_EQ(minimal->rootfs, "rootfs");  // the spec's usual name
  EXPECT_TRUE(minimal->env.empty());
  EXPECT_FALSE(minimal->uid.has_value());
}

TEST(OciBundle, BadProcessIsAUsageErrorNamingTheField) {
  const auto error = [](std::string_view text) {
    auto bundle = ParseOciBundleConfig(text, "b/config.json");
    EXPECT_FALSE(bundle) << text;
    if (bundle) return std::string();
    EXPECT_EQ(bundle.error().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_THAT(bundle.error().ToString(), HasSubstr("b/config.json")) << text;
    return bundle.error().ToString();
  };
  EXPECT_THAT(error("{"), HasSubstr("not a JSON object"));
  EXPECT_THAT(error("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(error("{}"), HasSubstr("process: missing"));
  EXPECT_THAT(error(R"({"process": {"args": []}})"),
              HasSubstr("process.args: empty"));
  EXPECT_THAT(error(R"({"process": {}})"), HasSubstr("process.args: empty"));
  EXPECT_THAT(error(R"({"process": {"args": "sh"}})"),
              HasSubstr("process.args: expected array"));
  EXPECT_THAT(error(R"({"process": {"args": ["sh", 1]}})"),
              HasSubstr("process.args[1]: expected string"));
  EXPECT_THAT(error(R"({"process": {"args": ["sh"], "cwd": "work"}})"),
              HasSubstr("process.cwd: 'work' is not an absolute path"));
  EXPECT_THAT(error(R"({"process": {"args": ["sh"], "env": ["PATH"]}})"),
              HasSubstr("process.env[0]: 'PATH' is not KEY=VALUE"));
  EXPECT_THAT(
      error(R"({"process": {"args": ["sh"], "user": {"uid": 4294967295}}})"),
      HasSubstr("process.user.uid: 4294967295 is not a valid id"));
  EXPECT_THAT(error(R"({"process": {"args": ["sh"]}, "root": {"path": 1}})"),
              HasSubstr("root.path: expected string"));
}

TEST(OciBundle, LoadChecksTheDirectoryConfigAndRootfs) {
  auto dir = TempDir::Create("oci-bundle-test-");
  ASSERT_TRUE(dir) << dir.error().ToString();
  const std::filesystem::path base = dir->path();
  const auto load = [&] { return LoadOciBundle(base.string()); };

  auto missing_config = load();
  ASSERT_FALSE(missing_config);
  EXPECT_EQ(missing_config.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(missing_config.error().ToString(), HasSubstr("config.json"));

  std::ofstream(base / "config.json")
      << R"({"process": {"args": ["/bin/sh"]}, "root": {"path": "fs"}})";
  auto missing_rootfs = load();
  ASSERT_FALSE(missing_rootfs);
  EXPECT_EQ(missing_rootfs.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(missing_rootfs.error().ToString(), HasSubstr("root.path 'fs'"));

  std::filesystem::create_directories(base / "real-fs");
  std::filesystem::create_directory_symlink("real-fs", base / "fs");
  auto loaded = load();
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ(loaded->rootfs,
            std::filesystem::canonical(base / "real-fs").string());
  EXPECT_EQ(loaded->dir, std::filesystem::canonical(base).string());
  EXPECT_THAT(loaded->args, ElementsAre("/bin/sh"));

  auto not_a_dir = LoadOciBundle((base / "config.json").string());
  ASSERT_FALSE(not_a_dir);
  EXPECT_EQ(not_a_dir.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(not_a_dir.error().ToString(), HasSubstr("not a directory"));
}

}  // namespace
}  // namespace isoscope
