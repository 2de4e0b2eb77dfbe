#include "tests/fuzz/fuzz_targets.h"

#include <array>

#include "tests/fuzz/guest_kernel_body.h"

namespace isoscope::fuzz {

std::string GuestKernelInput(std::span<const uint8_t> input) {
  kvm::fuzz::RunGuestKernelFuzzInput(input.data(), input.size());
  return "";
}

std::span<const FuzzTarget> FuzzTargets() {
  static constexpr std::array kTargets = {
      FuzzTarget{"policy_loader",
                 "ParsePolicy on arbitrary text: errors are policy errors "
                 "naming the file; a valid policy parses the same twice and "
                 "compiles",
                 PolicyLoaderInput},
      FuzzTarget{"decide",
                 "Decide on generated policies and the presets: "
                 "deterministic, and the same as the compiled plan wherever "
                 "the plan decides statically",
                 DecideInput},
      FuzzTarget{"seccomp_compiler",
                 "BuildSeccompProgram on generated policies and routings, "
                 "evaluated in process on random (arch, nr, args): the "
                 "routing contract's action or a report",
                 SeccompCompilerInput},
      FuzzTarget{"syscall_paths",
                 "DecodeSyscallPaths on hostile pointers, strings and dirfds "
                 "(the fuzzer is its own tracee): documented errnos, or "
                 "absolute normalised paths and copies the kernel takes",
                 SyscallPathsInput},
      FuzzTarget{"fault_decoder",
                 "DecodeInstruction and ClassifyFault on arbitrary bytes at "
                 "a faulting RIP",
                 FaultDecoderInput},
      FuzzTarget{"elf_loader",
                 "ParseElf, LoadElf and BuildInitialStack on malformed ELF "
                 "files",
                 ElfLoaderInput},
      FuzzTarget{"store_json",
                 "the store's JSON decoding (runs, comparisons, host facts) "
                 "on arbitrary text; decoded values round-trip",
                 StoreJsonInput},
      FuzzTarget{"guest_kernel",
                 "the KVM guest kernel's Decode and Perform on random "
                 "register states over random guest memory",
                 GuestKernelInput},
  };
  return kTargets;
}

const FuzzTarget* FindFuzzTarget(std::string_view name) {
  for (const FuzzTarget& target : FuzzTargets()) {
    if (target.name == name) return &target;
  }
  return nullptr;
}

}  // namespace isoscope::fuzz
