// What the benchmarks share: running a program as a whole process (fork,
// execve, wait) and timing it, finding peers on $PATH, and running variants
// interleaved so the machine's drift hits all of them alike.
#ifndef ISOSCOPE_BENCH_BENCH_PROCESS_H_
#define ISOSCOPE_BENCH_BENCH_PROCESS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/stats.h"

namespace isoscope::bench {

// Says on stderr that `variant` failed and why.
void Fail(std::string_view variant, const std::string& what);

// fork + execve + wait4 of `argv` (argv[0] a path) with an empty
// environment, stdout to /dev/null: microseconds from before the fork to
// after the wait. nullopt (after saying why) unless it exited with status 0.
// With `cpu_micros`, also the CPU time (user + system) the process and the
// children it waited for used: unlike the wall time, hardly moved by other
// load on the machine.
std::optional<double> BareRunMicros(std::string_view variant,
                                    const std::vector<std::string>& argv,
                                    double* cpu_micros = nullptr);

// An executable `name` on $PATH (or /usr/bin), if any.
std::optional<std::string> FindProgram(std::string_view name);

struct Variant {
  std::string name;
  std::function<std::optional<double>()> run;  // one sample, or nullopt
  std::vector<double> samples;
};

// One unrecorded round first (page cache, lazy binding, CPU frequency), then
// `repeat` rounds, each running every variant once, the starting variant
// rotating. false as soon as a run fails.
bool RunInterleaved(std::vector<Variant>& variants, int repeat);

// The samples of the variant called `name` (none if there is no such one).
const std::vector<double>& SamplesOf(const std::vector<Variant>& variants,
                                     std::string_view name);

// Medians of per-repetition paired differences (with[i] - base[i]) divided
// by `n`: the cost of one of n calls.
Spread PerCall(const std::vector<double>& with, const std::vector<double>& base,
               uint64_t n);

// A RATIO line, and a comment saying whether `measured` <= `target`.
void PrintTarget(std::string_view name, double measured, double target);

}  // namespace isoscope::bench

#endif  // ISOSCOPE_BENCH_BENCH_PROCESS_H_
