#include "bench/bench_process.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "base/exec_args.h"
#include "bench/bench_report.h"

namespace isoscope::bench {

using Clock = std::chrono::steady_clock;

void Fail(std::string_view variant, const std::string& what) {
  fmt::print(stderr, "benchmark FAILED: {}: {}\n", variant, what);
}

std::optional<double> BareRunMicros(std::string_view variant,
                                    const std::vector<std::string>& argv,
                                    double* cpu_micros) {
  std::vector<std::string> copy = argv;
  std::vector<char*> c_argv = ExecArgs(copy);
  char* envp[] = {nullptr};
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    Fail(variant, "fork failed");
    return std::nullopt;
  }
  if (pid == 0) {
    const int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 1);
    ::execve(c_argv[0], c_argv.data(), envp);
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  if (::wait4(pid, &status, 0, &usage) != pid) {
    Fail(variant, "wait4 failed");
    return std::nullopt;
  }
  const double micros =
      std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  if (cpu_micros != nullptr) {
    *cpu_micros =
        static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) *
            1e6 +
        static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return micros;
  Fail(variant,
       fmt::format(
           "{} {}", argv[0],
           WIFEXITED(status)
               ? fmt::format("exited with status {}", WEXITSTATUS(status))
               : fmt::format("died of signal {}", WTERMSIG(status))));
  return std::nullopt;
}

std::optional<std::string> FindProgram(std::string_view name) {
  const char* path_env = std::getenv("PATH");
  std::string path = path_env != nullptr ? path_env : "/usr/bin:/bin";
  path += ":/usr/bin";
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    const std::string dir = path.substr(begin, end - begin);
    if (!dir.empty() && dir[0] == '/') {
      std::string candidate = fmt::format("{}/{}", dir, name);
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    begin = end + 1;
  }
  return std::nullopt;
}

bool RunInterleaved(std::vector<Variant>& variants, int repeat) {
  for (Variant& variant : variants) {
    if (!variant.run()) return false;
  }
  for (int i = 0; i < repeat; ++i) {
    for (size_t k = 0; k < variants.size(); ++k) {
      Variant& variant =
          variants[(static_cast<size_t>(i) + k) % variants.size()];
      std::optional<double> micros = variant.run();
      if (!micros) return false;
      variant.samples.push_back(*micros);
    }
  }
  return true;
}

const std::vector<double>& SamplesOf(const std::vector<Variant>& variants,
                                     std::string_view name) {
  static const std::vector<double> kNone;
  for (const Variant& variant : variants) {
    if (variant.name == name) return variant.samples;
  }
  return kNone;
}

Spread PerCall(const std::vector<double>& with, const std::vector<double>& base,
               uint64_t n) {
  std::vector<double> per_call;
  for (size_t i = 0; i < with.size() && i < base.size(); ++i) {
    per_call.push_back((with[i] - base[i]) / static_cast<double>(n));
  }
  return Summarize(per_call);
}

void PrintTarget(std::string_view name, double measured, double target) {
  PrintRatio(name, measured, target);
  fmt::print("# {}: {:.3f}, target <= {:.3f}: {}\n", name, measured, target,
             measured <= target ? "met" : "MISSED");
}

}  // namespace isoscope::bench
