// The objects `isoscope probe` plants outside the sandbox so that an escape
// leaves a trace the runner sees whatever the probe prints: a secret file
// (readable by anyone, in a directory outside every preset's paths, and held
// open without close-on-exec, with its directory, so that every workload
// isoscope starts inherits them unless the backend closes them), a loopback
// TCP listener, a TCP listener on an address that exists only on this
// machine (a veth pair into a network namespace of its own), an abstract
// unix listener, a sleeping canary process and a SysV shared memory segment
// (workloads/README.md, "Canaries", documents what each probe does with
// them). Everything is removed when the Canaries object goes, however the
// run ends; the network namespace and its veth pair go with the last
// descriptor even when isoscope is killed.
#ifndef ISOSCOPE_SUPERVISOR_CANARIES_H_
#define ISOSCOPE_SUPERVISOR_CANARIES_H_

#include <sys/types.h>

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace isoscope {

enum class Canary { kSecretFile, kLoopback, kAbstract, kSignal, kShm, kRemote };
inline constexpr std::array kAllCanaries = {
    Canary::kSecretFile, Canary::kLoopback, Canary::kAbstract,
    Canary::kSignal,     Canary::kShm,      Canary::kRemote};

// What touching the canary means, for a finding's detail ("canary secret
// file read").
std::string_view CanaryTouchedText(Canary canary);
// The canary a probe aims at (secret-file -> kSecretFile, ...), if any.
std::optional<Canary> CanaryTargetedBy(std::string_view probe_id);

class Canaries {
 public:
  // Plants every canary; on error nothing is left behind. The secret's
  // directory is made under `parent` (default: DefaultCanaryParent()).
  // Only the remote listener is optional (it needs root and veth): without
  // it, its variables are left out of Environment() and
  // remote_unavailable() says why.
  static Result<Canaries> Create(std::filesystem::path parent = {});

  // /run when this process may write it (root: a tmpfs no preset's path
  // rules name, so the secret is outside the policy's paths, not merely
  // unreadable to the workload's uid), else the temporary directory.
  static std::filesystem::path DefaultCanaryParent();

  Canaries(Canaries&&) noexcept;
  Canaries& operator=(Canaries&&) noexcept;
  ~Canaries();

  // ISOSCOPE_CANARY_{SECRET,TCP_PORT,ABSTRACT,PID,SHM_KEY}, with the remote
  // listener ISOSCOPE_CANARY_NET_{ADDR,PORT}, and ISOSCOPE_SUPERVISOR_PID,
  // as "KEY=VALUE". The canary pid and the shm key
  // change with Reset, so take the environment afresh for every probe.
  std::vector<std::string> Environment() const;

  // Whether each canary was touched since creation or the last Reset.
  bool SecretRead() const;
  bool LoopbackTouched();  // accepts (and closes) pending connections
  bool AbstractTouched();
  // SIGUSR1 pending in the canary process, or the process killed (only a
  // workload could have: the backends spare the supervisor's own children).
  bool CanarySignaled() const;
  bool ShmTouched() const;
  bool RemoteTouched();  // false when there is no remote listener
  bool Touched(Canary canary);

  // Re-arms every canary for the next probe: drains connections, restores
  // the secret's access time, replaces the canary process (a pending signal
  // cannot be taken back from outside) and the SysV segment (its attach
  // time cannot be reset). The pid and the key change: take Environment()
  // again.
  Status Reset();

  // For tests and diagnostics.
  const std::filesystem::path& secret_path() const;
  uint16_t tcp_port() const;
  const std::string& abstract_name() const;
  pid_t canary_pid() const;
  int shm_key() const;
  int shm_id() const;
  const std::filesystem::path& directory() const;
  // The descriptors of the secret and its directory every child inherits.
  int inherited_secret_fd() const;
  int inherited_directory_fd() const;
  // The remote listener's address ("198.19.x.y") and port, if there is one.
  std::optional<std::string> remote_address() const;
  uint16_t remote_port() const;
  const std::string& remote_unavailable() const;

 private:
  struct State;
  explicit Canaries(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_CANARIES_H_
