// An in-process classic-BPF evaluator for seccomp programs: runs a program on
// a seccomp_data as the kernel would and returns the action, so that a
// compiled filter can be checked against the policy without installing it
// (seccomp_program_test, the seccomp fuzz target in tests/fuzz).
//
// It knows the instructions seccomp filters use (libseccomp's output and
// SeccompProgram's prologue): word loads from seccomp_data, immediates, the
// scratch memory, AND/OR, TAX/TXA, the jumps and returns. Anything else is
// an error, as is a load outside seccomp_data, a misaligned load, a jump
// past the end or running off the end: the kernel's checker would have
// refused such a program.
#ifndef ISOSCOPE_BACKENDS_SECCOMP_BPF_EVALUATOR_H_
#define ISOSCOPE_BACKENDS_SECCOMP_BPF_EVALUATOR_H_

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <span>

#include "base/error.h"

namespace isoscope {

// The action (SECCOMP_RET_*, with its data) `program` returns for `data`;
// kInvalidArgument naming the instruction when the program is not one the
// evaluator (or the kernel) would run.
Result<uint32_t> EvaluateSeccompBpf(std::span<const sock_filter> program,
                                    const seccomp_data& data);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_SECCOMP_BPF_EVALUATOR_H_
