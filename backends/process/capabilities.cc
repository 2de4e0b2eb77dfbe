#include "backends/process/capabilities.h"

#include <linux/securebits.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace isoscope {
namespace {

int cap_free_void(void* object) { return ::cap_free(object); }

// Sets `value` in the inheritable, permitted and effective sets of `caps`.
bool Raise(cap_t caps, cap_value_t value) {
  for (cap_flag_t flag : {CAP_INHERITABLE, CAP_PERMITTED, CAP_EFFECTIVE}) {
    if (::cap_set_flag(caps, flag, 1, &value, CAP_SET) != 0) return false;
  }
  return true;
}

constexpr unsigned kLockedBits =
    SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;

int Failed(const char** step, const char* what) {
  *step = what;
  return -(errno != 0 ? errno : EPERM);
}

}  // namespace

Result<CapabilityDrop> CapabilityDrop::Create(
    const std::vector<std::string>& keep) {
  std::vector<cap_value_t> kept;
  uint64_t mask = 0;
  for (const std::string& name : keep) {
    cap_value_t value = 0;
    if (::cap_from_name(name.c_str(), &value) != 0 || value < 0 ||
        value >= 64) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("unknown capability '{}'", name));
    }
    if (std::find(kept.begin(), kept.end(), value) == kept.end()) {
      kept.push_back(value);
      mask |= uint64_t{1} << value;
    }
  }
  CapPtr staging(::cap_init(), cap_free_void);
  CapPtr final_sets(::cap_init(), cap_free_void);
  if (!staging || !final_sets) return FailErrno("cap_init", errno);
  for (cap_value_t value : kept) {
    if (!Raise(staging.get(), value) || !Raise(final_sets.get(), value)) {
      return FailErrno("cap_set_flag", errno);
    }
  }
  cap_value_t setpcap = CAP_SETPCAP;
  if (::cap_set_flag(staging.get(), CAP_PERMITTED, 1, &setpcap, CAP_SET) != 0 ||
      ::cap_set_flag(staging.get(), CAP_EFFECTIVE, 1, &setpcap, CAP_SET) != 0) {
    return FailErrno("cap_set_flag", errno);
  }
  return CapabilityDrop(std::move(kept), mask, ::cap_max_bits(),
                        std::move(staging), std::move(final_sets));
}

int CapabilityDrop::DropBoundingSet(const char** step) const {
  for (cap_value_t value = 0; value < max_bits_; ++value) {
    if (std::find(kept_.begin(), kept_.end(), value) != kept_.end()) continue;
    errno = 0;
    if (::cap_drop_bound(value) != 0) {
      return Failed(step, "dropping a capability from the bounding set");
    }
  }
  errno = 0;
  if (::cap_set_secbits(kLockedBits) != 0) {
    return Failed(step, "locking the securebits");
  }
  return 0;
}

int CapabilityDrop::Apply(const char** step) const {
  // The kept capabilities must be inheritable before they can be ambient;
  // CAP_SETPCAP stays until ambient raising is locked.
  errno = 0;
  if (::cap_set_proc(staging_.get()) != 0) {
    return Failed(step, "capset (kept + CAP_SETPCAP)");
  }
  errno = 0;
  if (::cap_reset_ambient() != 0) {
    return Failed(step, "clearing the ambient set");
  }
  for (cap_value_t value : kept_) {
    errno = 0;
    if (::cap_set_ambient(value, CAP_SET) != 0) {
      return Failed(step, "raising a kept capability to the ambient set");
    }
  }
  errno = 0;
  if (::cap_set_secbits(kLockedBits | SECBIT_NO_CAP_AMBIENT_RAISE |
                        SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) != 0) {
    return Failed(step, "locking ambient raising");
  }
  errno = 0;
  if (::cap_set_proc(final_.get()) != 0) {
    return Failed(step, "capset (kept only)");
  }
  return 0;
}

}  // namespace isoscope
