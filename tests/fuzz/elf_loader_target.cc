// The KVM backend's ELF loader on arbitrary files: ParseElf, then (when it
// accepts the file) LoadElf into guest memory and BuildInitialStack. What is
// accepted must be what the loader promises (elf_loader.h): segments inside
// the file, sorted and disjoint, the entry in an executable segment, and a
// load that stays within the bounds it was given.
#include <elf.h>

#include <cstdint>
#include <span>
#include <string>

#include <fmt/format.h>

#include "backends/kvm/elf_loader.h"
#include "backends/kvm/guest_layout.h"
#include "backends/kvm/guest_memory.h"
#include "tests/fuzz/fuzz_targets.h"

namespace isoscope::fuzz {

std::string ElfLoaderInput(std::span<const uint8_t> input) {
  using kvm::ElfImage;
  using kvm::ElfSegment;
  using kvm::GuestMemory;
  constexpr uint64_t kMemory = kvm::kMinGuestMemory;
  auto image = kvm::ParseElf(input);
  if (!image) {
    const ErrorCode code = image.error().code();
    if (code != ErrorCode::kNotExecutable && code != ErrorCode::kUnavailable) {
      return fmt::format("ParseElf failed with code {}: {}",
                         ErrorCodeName(code), image.error().message());
    }
    return "";
  }
  bool entry_in_code = false;
  for (size_t i = 0; i < image->loads.size(); ++i) {
    const ElfSegment& load = image->loads[i];
    if (load.memsz == 0 || load.filesz > load.memsz ||
        load.offset > input.size() ||
        load.filesz > input.size() - load.offset ||
        load.vaddr > UINT64_MAX - load.memsz) {
      return fmt::format(
          "segment {} [{:#x}+{:#x}] file [{:#x}+{:#x}] of a "
          "{}-byte file accepted",
          i, load.vaddr, load.memsz, load.offset, load.filesz, input.size());
    }
    if (i > 0) {
      const ElfSegment& before = image->loads[i - 1];
      if (before.vaddr + before.memsz > load.vaddr) {
        return fmt::format("segments {} and {} overlap or are unsorted", i - 1,
                           i);
      }
    }
    if ((load.flags & PF_X) != 0 && image->entry >= load.vaddr &&
        image->entry - load.vaddr < load.memsz) {
      entry_in_code = true;
    }
  }
  if (!entry_in_code) {
    return fmt::format("entry {:#x} outside every executable segment",
                       image->entry);
  }
  static GuestMemory* const kGuest = [] {
    auto memory = GuestMemory::Create(kMemory);
    return memory ? new GuestMemory(std::move(*memory)) : nullptr;
  }();
  if (kGuest == nullptr) return "GuestMemory::Create failed";
  const kvm::StackRegion stack = kvm::StackRegionFor(kMemory);
  auto loaded = kvm::LoadElf(*image, input, *kGuest, kvm::kWorkloadBase,
                             stack.guard_bottom);
  if (!loaded) return "";
  if (loaded->entry < kvm::kWorkloadBase ||
      loaded->entry >= stack.guard_bottom ||
      loaded->image_end > stack.guard_bottom ||
      loaded->image_end % kvm::kPageSize != 0) {
    return fmt::format(
        "loaded at entry {:#x}, image end {:#x}, outside "
        "[{:#x}, {:#x})",
        loaded->entry, loaded->image_end, kvm::kWorkloadBase,
        stack.guard_bottom);
  }
  kvm::StackInputs inputs;
  inputs.argv = {"/fuzz/program", "argument"};
  inputs.env = {"PATH=/bin", "A="};
  inputs.execfn = "/fuzz/program";
  auto rsp = kvm::BuildInitialStack(*kGuest, stack, *loaded, inputs);
  if (!rsp) return "BuildInitialStack failed: " + rsp.error().message();
  if (*rsp % 16 != 0 || *rsp < stack.bottom || *rsp >= stack.top) {
    return fmt::format("initial rsp {:#x} outside the stack [{:#x}, {:#x})",
                       *rsp, stack.bottom, stack.top);
  }
  return "";
}

}  // namespace isoscope::fuzz
