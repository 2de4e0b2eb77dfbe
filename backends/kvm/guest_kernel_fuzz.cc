// libFuzzer target for the guest kernel's syscall handling: random register
// states over random guest memory (see guest_kernel_fuzz_body.h). Built and
// run by scripts/fuzz.sh with -fsanitize=fuzzer,address,undefined.
#include <cstddef>
#include <cstdint>

#include "backends/kvm/guest_kernel_fuzz_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return isoscope::kvm::fuzz::RunGuestKernelFuzzInput(data, size);
}
