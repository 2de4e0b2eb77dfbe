#include "supervisor/canaries.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/unique_fd.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;

std::map<std::string, std::string> EnvMap(const std::vector<std::string>& env) {
  std::map<std::string, std::string> out;
  for (const std::string& entry : env) {
    const size_t eq = entry.find('=');
    out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

// What each probe does from the host side.
std::string ReadSecret(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

int ConnectTcp(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0) {
    return errno;
  }
  return 0;
}

int ConnectAbstract(const std::string& name) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path + 1, name.data(), name.size());
  const auto length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&un), length) != 0) {
    return errno;
  }
  return 0;
}

bool AttachShm(int key) {
  const int id = ::shmget(key, 0, 0);
  if (id < 0) return false;
  void* p = ::shmat(id, nullptr, SHM_RDONLY);
  // shmat reports failure as (void*)-1.
  if (reinterpret_cast<intptr_t>(p) == -1) return false;
  ::shmdt(p);
  return true;
}

bool ProcessExists(pid_t pid) {
  return std::filesystem::exists("/proc/" + std::to_string(pid));
}

void ExpectNothingTouched(Canaries& canaries) {
  EXPECT_FALSE(canaries.SecretRead());
  EXPECT_FALSE(canaries.LoopbackTouched());
  EXPECT_FALSE(canaries.AbstractTouched());
  EXPECT_FALSE(canaries.CanarySignaled());
  EXPECT_FALSE(canaries.ShmTouched());
}

TEST(CanariesTest, EnvironmentNamesEveryCanary) {
  auto canaries = Canaries::Create();
  ASSERT_TRUE(canaries.has_value()) << canaries.error().ToString();
  auto env = EnvMap(canaries->Environment());
  EXPECT_EQ(env.size(), 6u);
  EXPECT_EQ(env["ISOSCOPE_CANARY_SECRET"], canaries->secret_path().string());
  EXPECT_EQ(env["ISOSCOPE_CANARY_TCP_PORT"],
            std::to_string(canaries->tcp_port()));
  EXPECT_THAT(env["ISOSCOPE_CANARY_ABSTRACT"], HasSubstr("isoscope-canary-"));
  EXPECT_EQ(env["ISOSCOPE_CANARY_PID"], std::to_string(canaries->canary_pid()));
  EXPECT_EQ(env["ISOSCOPE_CANARY_SHM_KEY"],
            std::to_string(canaries->shm_key()));
  EXPECT_EQ(env["ISOSCOPE_SUPERVISOR_PID"], std::to_string(::getpid()));
  EXPECT_NE(canaries->shm_key(), 0);  // never IPC_PRIVATE
  EXPECT_GT(canaries->canary_pid(), 1);
  // The secret: 32 hex characters, 0600, outside any workdir.
  std::string token = ReadSecret(canaries->secret_path());
  EXPECT_EQ(token.size(), 33u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), 32u);
  EXPECT_EQ(
      std::filesystem::status(canaries->secret_path()).permissions(),
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(CanariesTest, EachDetectorSeesWhatAProbeDoesAndResetRearms) {
  auto canaries = Canaries::Create();
  ASSERT_TRUE(canaries.has_value()) << canaries.error().ToString();
  ExpectNothingTouched(*canaries);

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    EXPECT_FALSE(ReadSecret(canaries->secret_path()).empty());
    EXPECT_TRUE(canaries->SecretRead());

    EXPECT_EQ(ConnectTcp(canaries->tcp_port()), 0);
    EXPECT_TRUE(canaries->LoopbackTouched());
    EXPECT_TRUE(canaries->LoopbackTouched());  // latched until Reset

    EXPECT_EQ(ConnectAbstract(canaries->abstract_name()), 0);
    EXPECT_TRUE(canaries->AbstractTouched());

    const pid_t old_pid = canaries->canary_pid();
    const int old_key = canaries->shm_key();
    ASSERT_EQ(::kill(old_pid, SIGUSR1), 0);
    EXPECT_TRUE(canaries->CanarySignaled());
    EXPECT_TRUE(ProcessExists(old_pid));  // blocked: still sleeping

    ASSERT_TRUE(AttachShm(canaries->shm_key()));
    EXPECT_TRUE(canaries->ShmTouched());

    ASSERT_TRUE(canaries->Reset().has_value());
    ExpectNothingTouched(*canaries);
    EXPECT_NE(canaries->canary_pid(), old_pid);
    EXPECT_FALSE(ProcessExists(old_pid));  // killed and reaped
    EXPECT_NE(canaries->shm_key(), old_key);
    EXPECT_EQ(::shmget(old_key, 0, 0), -1);  // the old segment is gone
  }
}

TEST(CanariesTest, CanaryKilledByAWorkloadCountsAsTouched) {
  auto canaries = Canaries::Create();
  ASSERT_TRUE(canaries.has_value()) << canaries.error().ToString();
  EXPECT_FALSE(canaries->CanarySignaled());
  ::kill(canaries->canary_pid(), SIGKILL);
  for (int i = 0; i < 100 && !canaries->CanarySignaled(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(canaries->CanarySignaled());
  ASSERT_TRUE(canaries->Reset().has_value());
  EXPECT_FALSE(canaries->CanarySignaled());
  EXPECT_TRUE(ProcessExists(canaries->canary_pid()));
}

TEST(CanariesTest, DestructionRemovesEverything) {
  pid_t pid = 0;
  int key = 0;
  uint16_t port = 0;
  std::string abstract;
  std::filesystem::path dir;
  {
    auto canaries = Canaries::Create();
    ASSERT_TRUE(canaries.has_value()) << canaries.error().ToString();
    pid = canaries->canary_pid();
    key = canaries->shm_key();
    port = canaries->tcp_port();
    abstract = canaries->abstract_name();
    dir = canaries->directory();
    ASSERT_TRUE(ProcessExists(pid));
    ASSERT_TRUE(std::filesystem::exists(dir));
    ASSERT_GE(::shmget(key, 0, 0), 0);
    Canaries moved = std::move(*canaries);  // ownership moves with it
    EXPECT_EQ(moved.canary_pid(), pid);
  }
  EXPECT_FALSE(ProcessExists(pid));
  errno = 0;
  EXPECT_EQ(::shmget(key, 0, 0), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(ConnectTcp(port), ECONNREFUSED);
  EXPECT_EQ(ConnectAbstract(abstract), ECONNREFUSED);
}

TEST(CanariesTest, ProbeIdsMapToTheirCanaries) {
  EXPECT_EQ(CanaryTargetedBy("secret-file"), Canary::kSecretFile);
  EXPECT_EQ(CanaryTargetedBy("loopback-connect"), Canary::kLoopback);
  EXPECT_EQ(CanaryTargetedBy("abstract-socket"), Canary::kAbstract);
  EXPECT_EQ(CanaryTargetedBy("signal-canary"), Canary::kSignal);
  EXPECT_EQ(CanaryTargetedBy("sysv-shm"), Canary::kShm);
  EXPECT_EQ(CanaryTargetedBy("bpf"), std::nullopt);
}

}  // namespace
}  // namespace isoscope
