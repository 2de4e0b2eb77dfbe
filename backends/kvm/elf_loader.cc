#include "backends/kvm/elf_loader.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/unique_fd.h"

namespace isoscope::kvm {
namespace {

// The file is read with memcpy into host structures, which is only right on
// a little-endian host reading an ELFDATA2LSB file.
static_assert(std::endian::native == std::endian::little);

constexpr uint64_t kMaxAddress = std::numeric_limits<uint64_t>::max();

tl::unexpected<Error> NotExecutable(std::string message) {
  return Fail(ErrorCode::kNotExecutable, std::move(message));
}

constexpr uint64_t PageFloor(uint64_t value) {
  return value & ~(kPageSize - 1);
}
// Callers make sure `value` <= kMaxAddress - (kPageSize - 1).
constexpr uint64_t PageCeil(uint64_t value) {
  return PageFloor(value + kPageSize - 1);
}

// Whether start + size, rounded up to a page, does not wrap.
constexpr bool EndFits(uint64_t start, uint64_t size) {
  return start <= kMaxAddress - (kPageSize - 1) &&
         size <= kMaxAddress - (kPageSize - 1) - start;
}

// Whether [offset, offset + length) lies inside a buffer of `size` bytes,
// without computing offset + length (which may wrap).
constexpr bool RangeInside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

// The interpreter path of a PT_INTERP header, read from the file at most
// kMaxQuotedInterpreter bytes, with anything unprintable shown as '?': it is
// quoted in an error message and the file is untrusted.
std::string QuoteInterpreter(const Elf64_Phdr& interp,
                             std::span<const uint8_t> file) {
  if (interp.p_offset >= file.size()) return "(outside the file)";
  const uint64_t available = file.size() - interp.p_offset;
  const uint64_t length = std::min<uint64_t>(
      {interp.p_filesz, available, uint64_t{kMaxQuotedInterpreter}});
  std::string path;
  for (uint64_t i = 0; i < length; ++i) {
    const uint8_t byte = file[interp.p_offset + i];
    if (byte == 0) break;
    path.push_back(byte >= 0x20 && byte < 0x7f ? static_cast<char>(byte) : '?');
  }
  if (path.empty()) return "(empty)";
  return path;
}

Status CheckHeader(const Elf64_Ehdr& header, uint64_t file_size) {
  if (header.e_ident[EI_CLASS] != ELFCLASS64) {
    return NotExecutable(fmt::format(
        "not a 64-bit ELF file (EI_CLASS {}); the kvm backend runs x86-64 "
        "executables",
        header.e_ident[EI_CLASS]));
  }
  if (header.e_ident[EI_DATA] != ELFDATA2LSB) {
    return NotExecutable(fmt::format(
        "not a little-endian ELF file (EI_DATA {})", header.e_ident[EI_DATA]));
  }
  if (header.e_ident[EI_VERSION] != EV_CURRENT ||
      header.e_version != EV_CURRENT) {
    return NotExecutable(
        fmt::format("unknown ELF version (EI_VERSION {}, e_version {})",
                    header.e_ident[EI_VERSION], header.e_version));
  }
  if (header.e_machine != EM_X86_64) {
    return NotExecutable(
        fmt::format("built for another machine (e_machine {}), not x86-64",
                    header.e_machine));
  }
  if (header.e_type != ET_EXEC && header.e_type != ET_DYN) {
    return NotExecutable(
        fmt::format("not an executable (ELF type {}{})", header.e_type,
                    header.e_type == ET_REL    ? ": a relocatable object"
                    : header.e_type == ET_CORE ? ": a core dump"
                                               : ""));
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr)) {
    return NotExecutable(
        fmt::format("program header entries are {} bytes, not {}",
                    header.e_phentsize, sizeof(Elf64_Phdr)));
  }
  if (header.e_phnum == 0) {
    return NotExecutable("has no program headers");
  }
  if (header.e_phnum > kMaxProgramHeaders) {
    return NotExecutable(fmt::format("has {} program headers, more than {}",
                                     header.e_phnum, kMaxProgramHeaders));
  }
  const uint64_t table_size = uint64_t{header.e_phnum} * sizeof(Elf64_Phdr);
  if (!RangeInside(header.e_phoff, table_size, file_size)) {
    return NotExecutable(fmt::format(
        "program headers at offset {:#x} ({} bytes) extend past the end of "
        "the {}-byte file",
        header.e_phoff, table_size, file_size));
  }
  return {};
}

Result<ElfSegment> CheckLoadSegment(size_t index, const Elf64_Phdr& phdr,
                                    uint64_t file_size) {
  if (phdr.p_filesz > phdr.p_memsz) {
    return NotExecutable(fmt::format(
        "segment {}: file size {:#x} is larger than its memory size {:#x}",
        index, phdr.p_filesz, phdr.p_memsz));
  }
  if (!RangeInside(phdr.p_offset, phdr.p_filesz, file_size)) {
    return NotExecutable(fmt::format(
        "segment {}: bytes at offset {:#x} ({:#x} bytes) extend past the end "
        "of the {}-byte file",
        index, phdr.p_offset, phdr.p_filesz, file_size));
  }
  if (!EndFits(phdr.p_vaddr, phdr.p_memsz)) {
    return NotExecutable(fmt::format(
        "segment {}: address {:#x} + size {:#x} wraps around the address "
        "space",
        index, phdr.p_vaddr, phdr.p_memsz));
  }
  if (phdr.p_align >= kPageSize &&
      phdr.p_vaddr % kPageSize != phdr.p_offset % kPageSize) {
    return NotExecutable(fmt::format(
        "segment {}: address {:#x} and file offset {:#x} are not congruent "
        "modulo the page size",
        index, phdr.p_vaddr, phdr.p_offset));
  }
  return ElfSegment{.vaddr = phdr.p_vaddr,
                    .memsz = phdr.p_memsz,
                    .offset = phdr.p_offset,
                    .filesz = phdr.p_filesz,
                    .flags = phdr.p_flags};
}

bool SegmentContains(const ElfSegment& segment, uint64_t address,
                     uint64_t length) {
  return address >= segment.vaddr &&
         RangeInside(address - segment.vaddr, length, segment.memsz);
}

// The unbiased address of the program header table (AT_PHDR): PT_PHDR's
// when there is one, else where the PT_LOAD that holds e_phoff puts it (as
// Linux computes it). The table must lie inside a loaded segment: static
// libcs read it through AT_PHDR (TLS set-up, static-PIE self-relocation).
Result<uint64_t> FindProgramHeaders(const ElfImage& image, uint64_t phoff) {
  const uint64_t table_size = image.phdrs.size() * sizeof(Elf64_Phdr);
  for (const Elf64_Phdr& phdr : image.phdrs) {
    if (phdr.p_type != PT_PHDR) continue;
    for (const ElfSegment& segment : image.loads) {
      if (SegmentContains(segment, phdr.p_vaddr, table_size)) {
        return phdr.p_vaddr;
      }
    }
    return NotExecutable(fmt::format(
        "PT_PHDR at {:#x} ({} bytes) is not inside a loadable segment",
        phdr.p_vaddr, table_size));
  }
  for (const ElfSegment& segment : image.loads) {
    if (phoff >= segment.offset &&
        RangeInside(phoff - segment.offset, table_size, segment.filesz)) {
      return segment.vaddr + (phoff - segment.offset);
    }
  }
  return NotExecutable(fmt::format(
      "the program headers (file offset {:#x}) are not inside a loadable "
      "segment, so the program could not find them (AT_PHDR)",
      phoff));
}

// The permissions of a segment (PF_R/PF_W/PF_X) are not enforced: the
// workload runs in guest ring 0 on one identity map of all guest RAM, where
// the page tables' R/W and NX bits would not stop it (ring 0 may clear CR0.WP
// or rewrite the page tables themselves). Isolation is the VM boundary, not
// page protection inside the guest.
Status CopySegment(const ElfSegment& segment, uint64_t placed,
                   std::span<const uint8_t> file, GuestMemory& memory) {
  if (segment.filesz == 0) return {};
  if (!memory.Write(placed, file.data() + segment.offset, segment.filesz)) {
    return Fail(ErrorCode::kInternal,
                fmt::format("copying segment to {:#x} failed", placed));
  }
  return {};
}

Status ZeroRange(uint64_t start, uint64_t end, GuestMemory& memory) {
  // Discard gives whole pages back to the host: a large bss stays lazily
  // backed instead of being touched by a memset.
  if (memory.Discard(start, end - start)) return {};
  if (memory.Fill(start, 0, end - start)) return {};
  return Fail(
      ErrorCode::kInternal,
      fmt::format("zeroing guest memory [{:#x}, {:#x}) failed", start, end));
}

tl::unexpected<Error> ArgumentsTooLong(std::string message) {
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("argument list too long: {}", message), E2BIG);
}

}  // namespace

Result<std::vector<uint8_t>> ReadExecutable(const std::string& path,
                                            uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return Fail(ErrorCode::kNotFound, fmt::format("{}: no such file", path),
                  error);
    }
    if (error == EACCES) {
      return Fail(ErrorCode::kNotExecutable,
                  fmt::format("{}: permission denied", path), error);
    }
    return FailErrno(fmt::format("opening {}", path), error);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return FailErrno(fmt::format("fstat of {}", path), errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return NotExecutable(fmt::format("{}: not a regular file", path));
  }
  if ((st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
    return Fail(ErrorCode::kNotExecutable,
                fmt::format("{}: not executable (no execute permission)", path),
                EACCES);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return NotExecutable(fmt::format(
        "{}: {} bytes, larger than the {} bytes an executable may have", path,
        size, max_bytes));
  }
  // Read to the end (the file may change under us); one byte more than the
  // limit tells that it grew past it.
  std::vector<uint8_t> bytes(size + 1);
  uint64_t used = 0;
  for (;;) {
    if (used == bytes.size()) {
      if (used > max_bytes) {
        return NotExecutable(
            fmt::format("{}: larger than the {} bytes an executable may have",
                        path, max_bytes));
      }
      bytes.resize(std::min<uint64_t>(max_bytes, used * 2) + 1);
    }
    const ssize_t got = ::read(fd.get(), bytes.data() + used,
                               bytes.size() - static_cast<size_t>(used));
    if (got < 0) {
      if (errno == EINTR) continue;
      return FailErrno(fmt::format("reading {}", path), errno);
    }
    if (got == 0) break;
    used += static_cast<uint64_t>(got);
  }
  bytes.resize(used);
  return bytes;
}

Result<ElfImage> ParseElf(std::span<const uint8_t> file) {
  const uint64_t file_size = file.size();
  if (file_size >= 2 && file[0] == '#' && file[1] == '!') {
    return NotExecutable(
        "is a script (#!); the kvm backend runs static ELF executables only");
  }
  if (file_size < SELFMAG || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0) {
    return NotExecutable("not an ELF executable (no ELF magic)");
  }
  if (file_size < sizeof(Elf64_Ehdr)) {
    return NotExecutable(fmt::format(
        "truncated: {} bytes, shorter than an ELF header", file_size));
  }
  Elf64_Ehdr header;
  std::memcpy(&header, file.data(), sizeof(header));
  if (Status status = CheckHeader(header, file_size); !status) {
    return tl::unexpected(std::move(status).error());
  }

  ElfImage image;
  image.type = header.e_type;
  image.entry = header.e_entry;
  image.phdrs.resize(header.e_phnum);
  std::memcpy(image.phdrs.data(), file.data() + header.e_phoff,
              image.phdrs.size() * sizeof(Elf64_Phdr));

  // Refused before anything else is checked, so that a dynamically linked
  // program gets this message rather than a complaint about its layout.
  for (const Elf64_Phdr& phdr : image.phdrs) {
    if (phdr.p_type != PT_INTERP) continue;
    return Fail(
        ErrorCode::kUnavailable,
        fmt::format("is dynamically linked (its interpreter is {}); the kvm "
                    "backend runs static executables only (static or "
                    "static-pie): link it with -static (or -static-pie)",
                    QuoteInterpreter(phdr, file)));
  }

  for (size_t i = 0; i < image.phdrs.size(); ++i) {
    if (image.phdrs[i].p_type != PT_LOAD) continue;
    Result<ElfSegment> segment = CheckLoadSegment(i, image.phdrs[i], file_size);
    if (!segment) return tl::unexpected(std::move(segment).error());
    // An empty PT_LOAD occupies nothing (Linux skips it too).
    if (segment->memsz == 0) continue;
    image.loads.push_back(*segment);
  }
  if (image.loads.empty()) {
    return NotExecutable("has no loadable segment (PT_LOAD)");
  }
  std::sort(image.loads.begin(), image.loads.end(),
            [](const ElfSegment& a, const ElfSegment& b) {
              return a.vaddr < b.vaddr;
            });
  // Sorted by start, two intervals overlap only if neighbours do. Sharing a
  // page is allowed (Linux allows it); sharing a byte is not.
  for (size_t i = 1; i < image.loads.size(); ++i) {
    const ElfSegment& previous = image.loads[i - 1];
    const ElfSegment& current = image.loads[i];
    if (previous.vaddr + previous.memsz > current.vaddr) {
      return NotExecutable(fmt::format(
          "loadable segments overlap: [{:#x}, {:#x}) and [{:#x}, {:#x})",
          previous.vaddr, previous.vaddr + previous.memsz, current.vaddr,
          current.vaddr + current.memsz));
    }
  }
  const bool entry_ok = std::any_of(
      image.loads.begin(), image.loads.end(), [&](const ElfSegment& segment) {
        return (segment.flags & PF_X) != 0 &&
               SegmentContains(segment, image.entry, 1);
      });
  if (!entry_ok) {
    return NotExecutable(fmt::format(
        "entry point {:#x} is not inside an executable segment", image.entry));
  }
  Result<uint64_t> phdr_vaddr = FindProgramHeaders(image, header.e_phoff);
  if (!phdr_vaddr) return tl::unexpected(std::move(phdr_vaddr).error());
  image.phdr_vaddr = *phdr_vaddr;
  return image;
}

Result<LoadedProgram> LoadElf(const ElfImage& image,
                              std::span<const uint8_t> file,
                              GuestMemory& memory, uint64_t low,
                              uint64_t high) {
  if (low > high || high > memory.size() || low % kPageSize != 0 ||
      high % kPageSize != 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("bad program area [{:#x}, {:#x}) for {:#x} bytes "
                            "of guest memory",
                            low, high, memory.size()));
  }
  if (image.loads.empty() ||
      image.phdrs.size() > std::numeric_limits<uint16_t>::max() ||
      (image.type != ET_EXEC && image.type != ET_DYN)) {
    return Fail(ErrorCode::kInternal, "ELF image was not made by ParseElf");
  }

  // ET_EXEC runs where it was linked. ET_DYN moves so that its lowest page
  // lands at kPieLoadBase; an address v is placed at
  // kPieLoadBase + (v - lowest page), computed without wrapping.
  const uint64_t lowest_page = PageFloor(image.loads.front().vaddr);
  auto place = [&](uint64_t vaddr) -> std::optional<uint64_t> {
    if (image.type == ET_EXEC) return vaddr;
    if (vaddr < lowest_page) return std::nullopt;
    const uint64_t delta = vaddr - lowest_page;
    if (delta > kMaxAddress - kPieLoadBase) return std::nullopt;
    return kPieLoadBase + delta;
  };

  struct Placement {
    uint64_t start;  // biased vaddr
    uint64_t page_start;
    uint64_t page_end;
  };
  std::vector<Placement> placements;
  placements.reserve(image.loads.size());
  uint64_t image_end = 0;
  for (const ElfSegment& segment : image.loads) {
    if (!RangeInside(segment.offset, segment.filesz, file.size()) ||
        segment.filesz > segment.memsz) {
      return Fail(ErrorCode::kInternal,
                  "ELF image does not match the file it is loaded from");
    }
    const std::optional<uint64_t> start = place(segment.vaddr);
    if (!start || !EndFits(*start, segment.memsz)) {
      return NotExecutable(fmt::format(
          "segment at {:#x} wraps around the address space once placed",
          segment.vaddr));
    }
    const uint64_t end = *start + segment.memsz;
    const Placement placement{*start, PageFloor(*start), PageCeil(end)};
    if (placement.page_start < low || placement.page_end > high) {
      return NotExecutable(fmt::format(
          "segment [{:#x}, {:#x}) does not fit in the guest's program area "
          "[{:#x}, {:#x}){}",
          *start, end, low, high,
          placement.page_end > high && placement.page_start >= low
              ? " (is the guest memory large enough?)"
              : ""));
    }
    image_end = std::max(image_end, placement.page_end);
    placements.push_back(placement);
  }
  const std::optional<uint64_t> entry = place(image.entry);
  const std::optional<uint64_t> phdr_address = place(image.phdr_vaddr);
  if (!entry || !phdr_address) {
    return Fail(ErrorCode::kInternal, "ELF image was not made by ParseElf");
  }

  // All zeroing first, then all copying: two segments may share a page, and
  // zeroing one's page remainder must not wipe the other's bytes.
  for (const Placement& placement : placements) {
    if (Status status =
            ZeroRange(placement.page_start, placement.page_end, memory);
        !status) {
      return tl::unexpected(std::move(status).error());
    }
  }
  for (size_t i = 0; i < image.loads.size(); ++i) {
    if (Status status =
            CopySegment(image.loads[i], placements[i].start, file, memory);
        !status) {
      return tl::unexpected(std::move(status).error());
    }
  }

  LoadedProgram program;
  program.entry = *entry;
  program.load_bias = image.type == ET_EXEC ? 0 : kPieLoadBase - lowest_page;
  program.phdr_address = *phdr_address;
  program.phent = sizeof(Elf64_Phdr);
  program.phnum = static_cast<uint16_t>(image.phdrs.size());
  program.image_end = image_end;
  return program;
}

Result<uint64_t> BuildInitialStack(GuestMemory& memory,
                                   const StackRegion& stack,
                                   const LoadedProgram& program,
                                   const StackInputs& inputs) {
  if (stack.bottom >= stack.top || stack.top > memory.size() ||
      stack.top % 16 != 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("bad stack region [{:#x}, {:#x}) for {:#x} bytes "
                            "of guest memory",
                            stack.bottom, stack.top, memory.size()));
  }
  // Like Linux, the strings and pointers may take at most a quarter of the
  // stack, so that the program keeps room to run.
  const uint64_t limit = (stack.top - stack.bottom) / 4;
  constexpr std::string_view kPlatform = "x86_64";

  // Sizes, each checked against the limit as it grows (so no sum wraps).
  uint64_t strings_size = 8;  // the zero word at the very top
  auto add_string = [&](const std::string& value, std::string_view what,
                        size_t index) -> Status {
    if (value.find('\0') != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}[{}] contains a NUL byte", what, index),
                  EINVAL);
    }
    if (value.size() >= limit || strings_size > limit - value.size() - 1) {
      return ArgumentsTooLong(fmt::format(
          "{}[{}] ({} bytes) does not fit: arguments and environment may "
          "take at most {} bytes (a quarter of the {}-byte stack)",
          what, index, value.size(), limit, stack.top - stack.bottom));
    }
    strings_size += value.size() + 1;
    return {};
  };
  for (size_t i = 0; i < inputs.argv.size(); ++i) {
    if (Status s = add_string(inputs.argv[i], "argv", i); !s) {
      return tl::unexpected(std::move(s).error());
    }
  }
  for (size_t i = 0; i < inputs.env.size(); ++i) {
    if (Status s = add_string(inputs.env[i], "env", i); !s) {
      return tl::unexpected(std::move(s).error());
    }
  }
  if (Status s = add_string(inputs.execfn, "execfn", 0); !s) {
    return tl::unexpected(std::move(s).error());
  }

  // Below the strings, as Linux lays it out: align down to 16, the platform
  // string, the 16 random bytes, then (rounded down to 16 bytes) argc, the
  // argv and envp arrays with their NULLs, and the auxiliary vector.
  const uint64_t strings_start = stack.top - strings_size;
  const uint64_t platform_address =
      (strings_start & ~uint64_t{15}) - (kPlatform.size() + 1);
  const uint64_t random_address = platform_address - inputs.random.size();
  const uint64_t argv_address_base = strings_start;

  const std::pair<uint64_t, uint64_t> auxv[] = {
      {AT_HWCAP, 0},
      {AT_PAGESZ, kPageSize},
      {AT_CLKTCK, 100},
      {AT_PHDR, program.phdr_address},
      {AT_PHENT, program.phent},
      {AT_PHNUM, program.phnum},
      {AT_BASE, 0},  // no interpreter
      {AT_FLAGS, 0},
      {AT_ENTRY, program.entry},
      {AT_UID, inputs.uid},
      {AT_EUID, inputs.uid},
      {AT_GID, inputs.gid},
      {AT_EGID, inputs.gid},
      {AT_SECURE, 0},
      {AT_RANDOM, random_address},
      {AT_EXECFN, 0},  // filled in below
      {AT_PLATFORM, platform_address},
      {AT_NULL, 0},
  };
  constexpr uint64_t kAuxvWords = 2 * std::size(auxv);
  const uint64_t pointer_budget = (limit - std::min(limit, strings_size)) / 8;
  const uint64_t argc = inputs.argv.size();
  const uint64_t envc = inputs.env.size();
  if (argc > pointer_budget || envc > pointer_budget - argc ||
      pointer_budget - argc - envc < 3 + kAuxvWords + 8) {
    return ArgumentsTooLong(fmt::format(
        "{} arguments and {} environment variables do not fit in {} bytes (a "
        "quarter of the {}-byte stack)",
        argc, envc, limit, stack.top - stack.bottom));
  }
  const uint64_t words = 1 + (argc + 1) + (envc + 1) + kAuxvWords;
  const uint64_t rsp = (random_address - words * 8) & ~uint64_t{15};
  if (stack.top - rsp > limit) {
    return ArgumentsTooLong(fmt::format(
        "the initial stack needs {} bytes, more than {} (a quarter of the "
        "{}-byte stack)",
        stack.top - rsp, limit, stack.top - stack.bottom));
  }

  // Assembled in one host buffer (zeroed: the padding and the top word), then
  // copied into the guest with one write.
  std::vector<uint8_t> image(stack.top - rsp, 0);
  auto at = [&](uint64_t address) { return image.data() + (address - rsp); };
  auto put_word = [&](uint64_t address, uint64_t value) {
    std::memcpy(at(address), &value, sizeof(value));
  };

  uint64_t cursor = argv_address_base;
  uint64_t slot = rsp;
  put_word(slot, argc);
  slot += 8;
  auto put_strings = [&](const std::vector<std::string>& strings) {
    for (const std::string& value : strings) {
      std::memcpy(at(cursor), value.data(), value.size());
      put_word(slot, cursor);
      slot += 8;
      cursor += value.size() + 1;
    }
    put_word(slot, 0);
    slot += 8;
  };
  put_strings(inputs.argv);
  put_strings(inputs.env);
  const uint64_t execfn_address = cursor;
  std::memcpy(at(cursor), inputs.execfn.data(), inputs.execfn.size());
  for (const auto& [key, value] : auxv) {
    put_word(slot, key);
    put_word(slot + 8, key == AT_EXECFN ? execfn_address : value);
    slot += 16;
  }
  std::memcpy(at(platform_address), kPlatform.data(), kPlatform.size());
  std::memcpy(at(random_address), inputs.random.data(), inputs.random.size());

  if (!memory.Write(rsp, image.data(), image.size())) {
    return Fail(ErrorCode::kInternal,
                fmt::format("writing the initial stack at {:#x} failed", rsp));
  }
  return rsp;
}

}  // namespace isoscope::kvm
