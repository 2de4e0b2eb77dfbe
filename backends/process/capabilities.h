// Dropping the workload's capabilities between clone and exec, with libcap
// (the container and ptrace backends).
//
// Everything libcap allocates (the cap_t with the sets to keep) is made in
// the parent; the child only runs the calls that turn into prctl and capset,
// which are async-signal-safe.
#ifndef ISOSCOPE_BACKENDS_PROCESS_CAPABILITIES_H_
#define ISOSCOPE_BACKENDS_PROCESS_CAPABILITIES_H_

#include <sys/capability.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"

namespace isoscope {

class CapabilityDrop {
 public:
  // `keep`: capability names (any case) the workload keeps; unknown names
  // are kInvalidArgument.
  static Result<CapabilityDrop> Create(const std::vector<std::string>& keep);

  // Child, before its uid changes: drops every other capability from the
  // bounding set and sets and locks the securebits (NOROOT: uid 0 gains
  // nothing at exec; NO_SETUID_FIXUP: the change of uid keeps what is kept;
  // KEEP_CAPS off). 0 or -errno, `*step` naming the call that failed.
  int DropBoundingSet(const char** step) const;
  // Child, after its uid changed: the ambient set raised to exactly what is
  // kept (so it survives exec for a non-root uid), ambient raising locked,
  // then inheritable, permitted and effective set to what is kept.
  int Apply(const char** step) const;

  // The kept capabilities as a bit mask (1 << CAP_x).
  uint64_t kept_mask() const { return kept_mask_; }

 private:
  using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)>;
  CapabilityDrop(std::vector<cap_value_t> kept, uint64_t kept_mask,
                 cap_value_t max_bits, CapPtr staging, CapPtr final_sets)
      : kept_(std::move(kept)),
        kept_mask_(kept_mask),
        max_bits_(max_bits),
        staging_(std::move(staging)),
        final_(std::move(final_sets)) {}

  std::vector<cap_value_t> kept_;
  uint64_t kept_mask_ = 0;
  cap_value_t max_bits_ = 0;  // capabilities this kernel knows
  CapPtr staging_;  // kept + CAP_SETPCAP (to lock ambient raising last)
  CapPtr final_;    // kept in inheritable, permitted, effective
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_CAPABILITIES_H_
