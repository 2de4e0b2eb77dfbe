#include "supervisor/canaries.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>

#include <fmt/format.h>
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

int ConnectTcp(uint16_t port, uint32_t address = INADDR_LOOPBACK) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(address);
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
  EXPECT_EQ(env.size(), canaries->remote_address() ? 8u : 6u)
      << canaries->remote_unavailable();
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
  // The secret: 32 hex characters, 0644 (path rules, not the mode, must
  // keep a workload of another uid out), outside any workdir.
  std::string token = ReadSecret(canaries->secret_path());
  EXPECT_EQ(token.size(), 33u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), 32u);
  using std::filesystem::perms;
  EXPECT_EQ(std::filesystem::status(canaries->secret_path()).permissions(),
            perms::owner_read | perms::owner_write | perms::group_read |
                perms::others_read);
  if (canaries->remote_address()) {
    EXPECT_EQ(env["ISOSCOPE_CANARY_NET_ADDR"], *canaries->remote_address());
    EXPECT_THAT(env["ISOSCOPE_CANARY_NET_ADDR"],
                ::testing::StartsWith("198.19."));
    EXPECT_EQ(env["ISOSCOPE_CANARY_NET_PORT"],
              std::to_string(canaries->remote_port()));
  }
}

// The secret and its directory are open without close-on-exec: every child
// isoscope starts inherits them unless its backend closes them.
TEST(CanariesTest, SecretAndDirectoryAreInheritable) {
  auto canaries = Canaries::Create();
  ASSERT_TRUE(canaries.has_value()) << canaries.error().ToString();
  for (int fd :
       {canaries->inherited_secret_fd(), canaries->inherited_directory_fd()}) {
    const int flags = ::fcntl(fd, F_GETFD);
    ASSERT_GE(flags, 0) << fd;
    EXPECT_EQ(flags & FD_CLOEXEC, 0) << fd;
  }
  struct stat by_fd {};
  struct stat by_path {};
  ASSERT_EQ(::fstat(canaries->inherited_secret_fd(), &by_fd), 0);
  ASSERT_EQ(::stat(canaries->secret_path().c_str(), &by_path), 0);
  EXPECT_EQ(by_fd.st_ino, by_path.st_ino);
  EXPECT_FALSE(canaries->SecretRead());  // opening is not reading
}

std::string Routes() {
  std::ifstream routes("/proc/net/route");
  return {std::istreambuf_iterator<char>(routes), {}};
}

// The destination field of the /30 route to `address` in /proc/net/route,
// which prints the in_addr's 32 bits as the host stores them, in hex.
std::string RouteTo(in_addr address) {
  return fmt::format("\t{:08X}\t", address.s_addr & htonl(0xfffffffcU));
}

// The non-loopback listener is reachable from here through its veth pair,
// a connection is seen, and the pair goes with the canaries.
TEST(CanariesTest, RemoteListenerIsReachableAndRemoved) {
  std::string address;
  uint16_t port = 0;
  {
    auto canaries = Canaries::Create();
    ASSERT_TRUE(canaries.has_value()) << canaries.error().ToString();
    if (!canaries->remote_address()) {
      GTEST_SKIP() << "no veth pair or network namespace here: "
                   << canaries->remote_unavailable();
    }
    address = *canaries->remote_address();
    port = canaries->remote_port();
    in_addr in{};
    ASSERT_EQ(::inet_pton(AF_INET, address.c_str(), &in), 1);
    EXPECT_FALSE(canaries->RemoteTouched());
    EXPECT_EQ(ConnectTcp(port, ntohl(in.s_addr)), 0);
    EXPECT_TRUE(canaries->RemoteTouched());
    ASSERT_TRUE(canaries->Reset().has_value());
    EXPECT_FALSE(canaries->RemoteTouched());
    EXPECT_NE(Routes().find(RouteTo(in)), std::string::npos);
  }
  in_addr in{};
  ASSERT_EQ(::inet_pton(AF_INET, address.c_str(), &in), 1);
  EXPECT_NE(ConnectTcp(port, ntohl(in.s_addr)), 0);  // no route any more
  // Nor its /30 route. (Other isoscope processes, a concurrent test among
  // them, may have canaries of their own: "isocan" alone is not this
  // instance's.)
  const std::string routes = Routes();
  EXPECT_EQ(routes.find(RouteTo(in)), std::string::npos) << routes;
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
