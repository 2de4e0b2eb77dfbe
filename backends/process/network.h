// The policy's `network` for a workload run as a host process (container,
// ptrace): `host` keeps the host's network namespace; `none` is a new,
// empty one (only lo, down: not even 127.0.0.1 answers); `loopback` a new
// one with lo up. Nothing the workload does in a new namespace reaches a
// host interface, and abstract AF_UNIX names are per namespace too.
#ifndef ISOSCOPE_BACKENDS_PROCESS_NETWORK_H_
#define ISOSCOPE_BACKENDS_PROCESS_NETWORK_H_

#include <cstdint>

#include "policies/policy.h"

namespace isoscope {

// The CLONE_NEW* flags `mode` needs: CLONE_NEWNET unless `host`.
uint64_t NetworkNamespaceFlags(NetworkMode mode);

// Whether lo is brought up in the new namespace.
inline bool LoopbackUp(NetworkMode mode) {
  return mode == NetworkMode::kLoopback;
}

// Child side, in its new network namespace: sets lo up. 0 or -errno;
// async-signal-safe.
int BringLoopbackUp();

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_NETWORK_H_
