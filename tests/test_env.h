// Where tests find the source and build trees (compiled in, see
// isoscope_test_paths in cmake/isoscope.cmake; the environment variables
// ISOSCOPE_SOURCE_DIR and ISOSCOPE_BUILD_DIR override them), and a small
// process helper for integration tests.
#ifndef ISOSCOPE_TESTS_TEST_ENV_H_
#define ISOSCOPE_TESTS_TEST_ENV_H_

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace isoscope::testing {

std::filesystem::path SourceDir();
std::filesystem::path BuildDir();
// The isoscope binary of this build.
std::filesystem::path IsoscopeBinary();
// A built-in workload of this build ("bench/hello").
std::filesystem::path BuiltWorkload(const std::string& relative);

struct CommandResult {
  int exit_status = -1;  // exit code, or 128 + signal
  std::string out;
  std::string err;
  double seconds = 0;
};

// Runs argv (no shell) with extra environment entries, capturing stdout and
// stderr; stdin is /dev/null.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env = {});

// Like RunCommand, and sends `signal` to the command once `ready()` holds
// (polled every 5 ms for at most 10 s), so a test signals a supervisor only
// after its workload really runs, however loaded the machine is.
// `signalled` says whether the signal was sent.
CommandResult RunAndSignalWhen(const std::vector<std::string>& argv,
                               const std::vector<std::string>& extra_env,
                               const std::function<bool()>& ready, int signal,
                               bool* signalled);

// Why `isoscope doctor --json` says `backend` cannot run on this host
// ("isoscope doctor failed: ..." if it could not be asked); empty when it
// can. Asked once per backend and test process.
std::string BackendUnavailable(const std::string& backend);

// The contents of a file (a /proc file), empty when it cannot be read: a
// process may exit between listing /proc and reading it (ESRCH), where an
// ifstream would throw out of the test.
std::string ReadProcFile(const std::filesystem::path& path);

// The names in `dir` (empty when it cannot be listed). A test that SIGKILLs
// an isoscope takes them of its own TMPDIR while that isoscope runs: what
// the killed one leaves there. Any isoscope that starts meanwhile (another
// test's) sweeps the directories a dead leftover mark names, this TMPDIR
// included, so what is gone before the test's next start is said, not
// failed on; what is left after that start is a failure.
std::set<std::string> DirectoryEntries(const std::filesystem::path& dir);

// Whether a process (other than isoscope itself) has `needle` in its
// command line (arguments joined by spaces).
bool ProcessWithArgsExists(const std::string& needle);

// Whether a process whose command line is exactly `command` (arguments
// joined by spaces) waits in nanosleep or clock_nanosleep: a `sleep` that
// got there is past its start-up, so killing its supervisor now tests
// whether it dies with it, not whether it fails to start.
bool ProcessSleeping(const std::string& command);

}  // namespace isoscope::testing

#endif  // ISOSCOPE_TESTS_TEST_ENV_H_
