#include "tests/test_env.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/exec_args.h"
#include "base/unique_fd.h"

extern char** environ;

namespace isoscope::testing {
namespace {

std::filesystem::path FromEnv(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? value : fallback;
}

}  // namespace

std::filesystem::path SourceDir() {
  return FromEnv("ISOSCOPE_SOURCE_DIR", ISOSCOPE_TEST_SOURCE_DIR);
}
std::filesystem::path BuildDir() {
  return FromEnv("ISOSCOPE_BUILD_DIR", ISOSCOPE_TEST_BUILD_DIR);
}
std::filesystem::path IsoscopeBinary() { return BuildDir() / "isoscope"; }
std::filesystem::path BuiltWorkload(const std::string& relative) {
  return BuildDir() / "workloads" / relative;
}

namespace {

CommandResult Run(const std::vector<std::string>& argv,
                  const std::vector<std::string>& extra_env,
                  const std::function<void(pid_t)>& on_start) {
  CommandResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);

  // Everything the child needs is built before fork.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp = ExecArgs(env_strings);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv = ExecArgs(args);

  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return result;
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out_write.get(), 1);
    ::dup2(err_write.get(), 2);
    ::execve(cargv[0], cargv.data(), envp.data());
    ::_exit(127);
  }
  out_write.Reset();
  err_write.Reset();
  std::thread watcher;
  if (on_start) watcher = std::thread(on_start, pid);
  pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
  int open_fds = 2;
  char buffer[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buffer, n);
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (watcher.joinable()) watcher.join();
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  result.exit_status =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env) {
  return Run(argv, extra_env, {});
}

CommandResult RunAndSignalWhen(const std::vector<std::string>& argv,
                               const std::vector<std::string>& extra_env,
                               const std::function<bool()>& ready, int signal,
                               bool* signalled) {
  *signalled = false;
  return Run(argv, extra_env, [&](pid_t pid) {
    // Generous: a loaded CI machine starts a VM slowly; only a failing test
    // waits this long.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ready()) {
        *signalled = ::kill(pid, signal) == 0;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
}

std::string ReadProcFile(const std::filesystem::path& path) {
  std::string text;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  return n < 0 ? std::string() : text;
}

namespace {

// A process's arguments joined by spaces.
std::string CommandLineOf(const std::filesystem::path& proc_entry) {
  std::string args = ReadProcFile(proc_entry / "cmdline");
  while (!args.empty() && args.back() == '\0') args.pop_back();
  std::replace(args.begin(), args.end(), '\0', ' ');
  return args;
}

}  // namespace

std::string BackendUnavailable(const std::string& backend) {
  static std::mutex mutex;
  static std::map<std::string, std::string> asked;
  const std::lock_guard<std::mutex> lock(mutex);
  if (auto it = asked.find(backend); it != asked.end()) return it->second;
  CommandResult doctor =
      RunCommand({IsoscopeBinary().string(), "doctor", "--json"});
  const nlohmann::json json = nlohmann::json::parse(doctor.out, nullptr, false);
  if (doctor.exit_status != 0 || json.is_discarded()) {
    return "isoscope doctor failed: " + doctor.err;  // not kept: ask again
  }
  std::string why = "isoscope doctor does not list " + backend;
  for (const auto& entry : json["backends"]) {
    if (entry["name"] == backend) {
      why = entry["available"] == true ? "" : entry.value("reason", "");
    }
  }
  return asked[backend] = why;
}

std::set<std::string> DirectoryEntries(const std::filesystem::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

bool ProcessWithArgsExists(const std::string& needle) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string args = CommandLineOf(entry.path());
    if (args.find(needle) != std::string::npos &&
        args.find("isoscope") == std::string::npos) {
      return true;
    }
  }
  return false;
}

bool ProcessSleeping(const std::string& command) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    if (CommandLineOf(entry.path()) != command) continue;
    // "NR arg0 ...": the number of the syscall the process waits in.
    const std::string syscall = ReadProcFile(entry.path() / "syscall");
    long number = -1;  // NOLINT(google-runtime-int): the kernel prints a long
    if (std::sscanf(syscall.c_str(), "%ld", &number) == 1 &&
        (number == SYS_nanosleep || number == SYS_clock_nanosleep)) {
      return true;
    }
  }
  return false;
}

}  // namespace isoscope::testing
