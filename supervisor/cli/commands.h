// The subcommands of `isoscope`; each returns the process exit status.
#ifndef ISOSCOPE_SUPERVISOR_CLI_COMMANDS_H_
#define ISOSCOPE_SUPERVISOR_CLI_COMMANDS_H_

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "policies/policy.h"
#include "supervisor/backend_registry.h"
#include "supervisor/store.h"

namespace isoscope::cli {

// What every subcommand may need.
struct Context {
  const BackendRegistry* backends = nullptr;
  std::string db_path;  // empty: DefaultStorePath()
};

struct RunOptions {
  std::string backend = "native";
  std::string policy = "default";
  std::string json_path;
  std::string workdir;
  std::vector<std::string> env;      // KEY=VALUE added to the workload's env
  std::vector<std::string> command;  // empty: the built-in `hello`
  // An OCI bundle directory whose process runs in its rootfs (no command
  // then, and no --workdir).
  std::string bundle;
  // An OCI image layout's LAYOUT:TAG, unpacked (oci_image.h) and run as
  // --bundle runs a bundle.
  std::string image;
  bool quiet = false;
  // Count every syscall the workload makes (Workload::count_syscalls).
  bool count_syscalls = false;
};
int RunCommand(const Context& context, const RunOptions& options);

// `isoscope probe`.
struct ProbeOptionsCli {
  std::string backends = "native";  // comma-separated
  std::string policy = "default";
  bool noisy = false;
  std::string probes;  // comma-separated probe names; empty: all built-in
  std::string json_path;
};
int ProbeCommand(const Context& context, const ProbeOptionsCli& options);

// `isoscope compare`.
struct CompareOptionsCli {
  std::string backends = "all";  // comma-separated, or "all"
  std::string policy = "default";
  int repeat = 5;  // measured runs per backend, after one warm-up
  std::string report_path;
  bool probes = false;
  std::vector<std::string> command;
  std::string bundle;  // as RunOptions::bundle
  std::string image;   // as RunOptions::image
};
int CompareCommand(const Context& context, const CompareOptionsCli& options);

// `isoscope learn`: observe the workload with everything allowed, write the
// policy that allows what it did, then prove it on every backend.
struct LearnOptions {
  std::string backend = "ptrace";  // where it is observed
  std::string base = "default";    // what is not observed comes from here
  int runs = 1;
  std::string output;  // empty: stdout
  std::string merge;   // a policy learned before, to widen
  bool no_verify = false;
  std::vector<std::string> env;
  std::string bundle;  // as RunOptions::bundle
  std::string image;   // as RunOptions::image
  std::vector<std::string> command;
};
int LearnCommand(const Context& context, const LearnOptions& options);

int PolicyCheckCommand(const std::string& policy);
struct ExplainOptions {
  std::string policy;
  std::string syscall;
  std::vector<std::string> args;
  std::string workdir = "/work";
};
// With a syscall or fault kind: which rule decides it. Without: the
// enforcement matrix, what each backend enforces of the policy on this host.
int PolicyExplainCommand(const Context& context, const ExplainOptions& options);
int PolicyShowCommand(const std::string& preset);
// An OCI runtime config.json (or a bundle directory) as a policy: YAML to
// stdout or `output`, what did not carry over to stderr.
int PolicyImportCommand(const std::string& config, const std::string& output);
// What each policy allows that the other does not, by section: exit 0 when
// they do not differ, 1 when they do (as diff(1)), 2 for a bad policy.
int PolicyDiffCommand(const std::string& a, const std::string& b);

int DoctorCommand(const Context& context, bool json);

// `isoscope runs list`.
struct RunsListOptions {
  int limit = 20;       // newest first; 0: all that match
  std::string backend;  // empty: any
  std::string outcome;  // an OutcomeName; empty: any
  std::string since;    // ParseSince's forms; empty: any time
  bool wide = false;    // whole commands whatever the terminal's width
  bool json = false;
};
int RunsListCommand(const Context& context, const RunsListOptions& options);
int RunsShowCommand(const Context& context, const std::string& id, bool json);

int WorkloadsCommand();

// `isoscope report ID|latest [--format html|md|json] [-o FILE]`.
struct ReportOptions {
  std::string id;      // a comparison id or "latest"
  std::string format;  // empty: from -o's extension, else html
  std::string output;  // empty: stdout
};
int ReportCommand(const Context& context, const ReportOptions& options);

// Shared by the commands: prints `isoscope: <error>` (policy errors as they
// are: they start with their file:line:column) and returns its exit status.
int ReportError(const Error& error);
Result<Store> OpenStore(const Context& context);
// `--policy X` for a command that applies it on this host (run, compare,
// probe, policy check): a preset or file whose limits this host can set
// (host_limits.h); kPolicy otherwise.
Result<Policy> LoadPolicyForThisHost(const std::string& name_or_path);

}  // namespace isoscope::cli

#endif  // ISOSCOPE_SUPERVISOR_CLI_COMMANDS_H_
