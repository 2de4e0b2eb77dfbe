#include "backends/kvm/elf_loader.h"

#include <elf.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kvm/guest_layout.h"
#include "backends/kvm/guest_memory.h"

namespace isoscope::kvm {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMemorySize = 32ULL << 20;
constexpr StackRegion kStack = StackRegionFor(kMemorySize);
constexpr uint64_t kLow = kWorkloadBase;
constexpr uint64_t kHigh = kStack.guard_bottom;

std::string HelloPath() {
  return std::string(ISOSCOPE_TEST_BUILD_DIR) + "/workloads/bench/hello";
}

std::vector<uint8_t> ReadHello() {
  Result<std::vector<uint8_t>> bytes = ReadExecutable(HelloPath(), 64ULL << 20);
  EXPECT_TRUE(bytes.has_value()) << (bytes ? "" : bytes.error().ToString())
                                 << " (the workloads are built with the test)";
  return bytes ? *bytes : std::vector<uint8_t>{};
}

GuestMemory NewMemory() {
  Result<GuestMemory> memory = GuestMemory::Create(kMemorySize);
  EXPECT_TRUE(memory.has_value());
  return std::move(*memory);
}

Elf64_Ehdr HeaderOf(const std::vector<uint8_t>& file) {
  Elf64_Ehdr header;
  std::memcpy(&header, file.data(), sizeof(header));
  return header;
}
void SetHeader(std::vector<uint8_t>& file, const Elf64_Ehdr& header) {
  std::memcpy(file.data(), &header, sizeof(header));
}
Elf64_Phdr PhdrOf(const std::vector<uint8_t>& file, size_t index) {
  Elf64_Phdr phdr;
  std::memcpy(&phdr,
              file.data() + HeaderOf(file).e_phoff + index * sizeof(Elf64_Phdr),
              sizeof(phdr));
  return phdr;
}
void SetPhdr(std::vector<uint8_t>& file, size_t index, const Elf64_Phdr& phdr) {
  std::memcpy(file.data() + HeaderOf(file).e_phoff + index * sizeof(Elf64_Phdr),
              &phdr, sizeof(phdr));
}
// Index of the n-th PT_LOAD (in file order).
size_t LoadIndex(const std::vector<uint8_t>& file, int n) {
  const Elf64_Ehdr header = HeaderOf(file);
  for (size_t i = 0; i < header.e_phnum; ++i) {
    if (PhdrOf(file, i).p_type == PT_LOAD && n-- == 0) return i;
  }
  ADD_FAILURE() << "no such PT_LOAD";
  return 0;
}

// Parses and loads `file` into fresh memory; the error of whichever failed.
Result<LoadedProgram> ParseAndLoad(const std::vector<uint8_t>& file,
                                   GuestMemory& memory) {
  Result<ElfImage> image = ParseElf(file);
  if (!image) return tl::unexpected(image.error());
  return LoadElf(*image, file, memory, kLow, kHigh);
}

// A temporary directory removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "elf_loader_test.XXXXXX")
            .string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& content,
               mode_t mode) {
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

// --- ReadExecutable -------------------------------------------------------

TEST(ReadExecutableTest, ReadsTheWholeFile) {
  std::vector<uint8_t> bytes = ReadHello();
  ASSERT_FALSE(bytes.empty());
  struct stat st {};
  ASSERT_EQ(stat(HelloPath().c_str(), &st), 0);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(st.st_size));
  EXPECT_EQ(std::memcmp(bytes.data(), ELFMAG, SELFMAG), 0);
}

TEST(ReadExecutableTest, RefusesWhatIsNotAnExecutableFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());

  auto missing = ReadExecutable(dir.path() + "/missing", 1 << 20);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr(dir.path() + "/missing"));

  auto directory = ReadExecutable(dir.path(), 1 << 20);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code(), ErrorCode::kNotExecutable);
  EXPECT_THAT(directory.error().message(), HasSubstr("not a regular file"));

  const std::string plain = dir.path() + "/plain";
  WriteFile(plain, "data", 0644);
  auto no_exec = ReadExecutable(plain, 1 << 20);
  ASSERT_FALSE(no_exec);
  EXPECT_EQ(no_exec.error().code(), ErrorCode::kNotExecutable);
  EXPECT_THAT(no_exec.error().message(), HasSubstr("not executable"));

  const std::string big = dir.path() + "/big";
  WriteFile(big, std::string(5000, 'x'), 0755);
  auto too_big = ReadExecutable(big, 4999);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code(), ErrorCode::kNotExecutable);
  EXPECT_THAT(too_big.error().message(), HasSubstr("larger than the 4999"));
  auto exact = ReadExecutable(big, 5000);
  ASSERT_TRUE(exact) << exact.error().ToString();
  EXPECT_EQ(exact->size(), 5000u);
}

// --- Loading real executables ---------------------------------------------

// Checks that every PT_LOAD of `file` is in `memory` at its address plus
// `bias`: the file bytes, then zeros up to the segment's page end (the
// memory was filled with garbage before loading), and that the program
// headers are at phdr_address.
void ExpectLoaded(const std::vector<uint8_t>& file, const GuestMemory& memory,
                  const LoadedProgram& program, uint64_t bias) {
  const Elf64_Ehdr header = HeaderOf(file);
  uint64_t highest_end = 0;
  for (size_t i = 0; i < header.e_phnum; ++i) {
    const Elf64_Phdr phdr = PhdrOf(file, i);
    if (phdr.p_type != PT_LOAD) continue;
    const uint64_t start = phdr.p_vaddr + bias;
    std::vector<uint8_t> loaded(phdr.p_filesz);
    ASSERT_TRUE(memory.Read(start, loaded.data(), loaded.size()));
    EXPECT_TRUE(
        std::equal(loaded.begin(), loaded.end(), file.begin() + phdr.p_offset))
        << "segment " << i;
    const uint64_t page_end =
        (start + phdr.p_memsz + kPageSize - 1) & ~(kPageSize - 1);
    std::vector<uint8_t> rest(page_end - start - phdr.p_filesz, 0xFF);
    ASSERT_TRUE(memory.Read(start + phdr.p_filesz, rest.data(), rest.size()));
    EXPECT_TRUE(
        std::all_of(rest.begin(), rest.end(), [](uint8_t b) { return b == 0; }))
        << "bss and page remainder of segment " << i << " not zeroed";
    highest_end = std::max(highest_end, page_end);
  }
  EXPECT_EQ(program.image_end, highest_end);
  EXPECT_EQ(program.phent, sizeof(Elf64_Phdr));
  EXPECT_EQ(program.phnum, header.e_phnum);
  std::vector<uint8_t> phdrs(header.e_phnum * sizeof(Elf64_Phdr));
  ASSERT_TRUE(memory.Read(program.phdr_address, phdrs.data(), phdrs.size()));
  EXPECT_EQ(
      std::memcmp(phdrs.data(), file.data() + header.e_phoff, phdrs.size()), 0);
}

TEST(LoadElfTest, LoadsTheHelloWorkload) {
  const std::vector<uint8_t> file = ReadHello();
  ASSERT_FALSE(file.empty());
  GuestMemory memory = NewMemory();
  // Garbage where the program goes: the loader must zero bss itself.
  ASSERT_TRUE(memory.Fill(kLow, 0xAA, kHigh - kLow));

  Result<ElfImage> image = ParseElf(file);
  ASSERT_TRUE(image) << image.error().ToString();
  EXPECT_EQ(image->type, ET_EXEC);
  EXPECT_EQ(image->phdrs.size(), HeaderOf(file).e_phnum);
  Result<LoadedProgram> program = LoadElf(*image, file, memory, kLow, kHigh);
  ASSERT_TRUE(program) << program.error().ToString();

  const Elf64_Ehdr header = HeaderOf(file);
  EXPECT_EQ(program->entry, header.e_entry);
  EXPECT_EQ(program->load_bias, 0u);
  // hello is linked at 0x400000 with its headers in the first segment.
  EXPECT_EQ(program->phdr_address, 0x400000 + header.e_phoff);
  // It has a bss (a PT_LOAD with p_memsz > p_filesz): the check is real.
  bool has_bss = false;
  for (size_t i = 0; i < header.e_phnum; ++i) {
    const Elf64_Phdr phdr = PhdrOf(file, i);
    has_bss |= phdr.p_type == PT_LOAD && phdr.p_memsz > phdr.p_filesz;
  }
  EXPECT_TRUE(has_bss);
  ExpectLoaded(file, memory, *program, 0);
  EXPECT_EQ(program->image_end % kPageSize, 0u);
  // Below the image's first page: untouched.
  EXPECT_EQ(memory.ReadValue<uint8_t>(0x3FFFFF), uint8_t{0xAA});
}

// hello turned into a static-PIE as the linker lays one out: ET_DYN with
// its segments (and entry) at link address 0.
std::vector<uint8_t> HelloAsPie() {
  std::vector<uint8_t> file = ReadHello();
  if (file.empty()) return file;
  Elf64_Ehdr header = HeaderOf(file);
  header.e_type = ET_DYN;
  header.e_entry -= 0x400000;
  SetHeader(file, header);
  for (size_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr phdr = PhdrOf(file, i);
    if (phdr.p_type != PT_LOAD) continue;
    phdr.p_vaddr -= 0x400000;
    phdr.p_paddr -= 0x400000;
    SetPhdr(file, i, phdr);
  }
  return file;
}

TEST(LoadElfTest, PlacesAStaticPieAtThePieBase) {
  const std::vector<uint8_t> file = HelloAsPie();
  ASSERT_FALSE(file.empty());
  GuestMemory memory = NewMemory();
  ASSERT_TRUE(memory.Fill(kLow, 0xAA, kHigh - kLow));
  Result<LoadedProgram> program = ParseAndLoad(file, memory);
  ASSERT_TRUE(program) << program.error().ToString();
  EXPECT_EQ(program->load_bias, kPieLoadBase);
  EXPECT_EQ(program->entry, kPieLoadBase + HeaderOf(file).e_entry);
  EXPECT_EQ(program->phdr_address, kPieLoadBase + HeaderOf(file).e_phoff);
  ExpectLoaded(file, memory, *program, kPieLoadBase);
}

TEST(LoadElfTest, PieWithNonzeroFirstAddressStartsAtThePieBase) {
  std::vector<uint8_t> file = HelloAsPie();
  ASSERT_FALSE(file.empty());
  // Linked at 0x10000 instead of 0: the lowest page still lands at the base.
  Elf64_Ehdr header = HeaderOf(file);
  header.e_entry += 0x10000;
  SetHeader(file, header);
  for (size_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr phdr = PhdrOf(file, i);
    if (phdr.p_type != PT_LOAD) continue;
    phdr.p_vaddr += 0x10000;
    SetPhdr(file, i, phdr);
  }
  GuestMemory memory = NewMemory();
  Result<LoadedProgram> program = ParseAndLoad(file, memory);
  ASSERT_TRUE(program) << program.error().ToString();
  EXPECT_EQ(program->load_bias, kPieLoadBase - 0x10000);
  EXPECT_EQ(program->entry, header.e_entry + kPieLoadBase - 0x10000);
  ExpectLoaded(file, memory, *program, kPieLoadBase - 0x10000);
}

TEST(LoadElfTest, LoadsAStaticPieBuiltByGcc) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // Relocated data (a pointer), rodata and bss: a real static-PIE layout
  // with PT_DYNAMIC but no PT_INTERP.
  WriteFile(dir.path() + "/pie.c",
            "static const char message[] = \"pie\";\n"
            "const char *pointer = message;\n"
            "char zeros[8192];\n"
            "void _start(void) { zeros[0] = *pointer; for (;;) {} }\n",
            0644);
  const std::string command = fmt::format(
      "gcc -static-pie -nostdlib -fPIE -O1 -o {0}/pie {0}/pie.c "
      ">/dev/null 2>&1",
      dir.path());
  if (std::system(command.c_str()) != 0) {
    GTEST_SKIP() << "gcc -static-pie -nostdlib is not available here";
  }
  Result<std::vector<uint8_t>> file =
      ReadExecutable(dir.path() + "/pie", 1 << 20);
  ASSERT_TRUE(file) << file.error().ToString();
  Result<ElfImage> image = ParseElf(*file);
  ASSERT_TRUE(image) << image.error().ToString();
  EXPECT_EQ(image->type, ET_DYN);
  EXPECT_TRUE(
      std::any_of(image->phdrs.begin(), image->phdrs.end(),
                  [](const Elf64_Phdr& p) { return p.p_type == PT_DYNAMIC; }));
  GuestMemory memory = NewMemory();
  ASSERT_TRUE(memory.Fill(kLow, 0xAA, kHigh - kLow));
  Result<LoadedProgram> program = LoadElf(*image, *file, memory, kLow, kHigh);
  ASSERT_TRUE(program) << program.error().ToString();
  EXPECT_EQ(program->load_bias,
            kPieLoadBase - (image->loads[0].vaddr & ~(kPageSize - 1)));
  EXPECT_EQ(program->entry, HeaderOf(*file).e_entry + program->load_bias);
  ExpectLoaded(*file, memory, *program, program->load_bias);
}

TEST(LoadElfTest, SegmentsSharingAPageKeepEachOthersBytes) {
  // A hand-made layout: the data segment starts in the text segment's last
  // page (as -N/-n linking produces): zeroing one's page remainder must not
  // wipe the other's bytes.
  std::vector<uint8_t> file = ReadHello();
  ASSERT_FALSE(file.empty());
  const size_t text = LoadIndex(file, 1);  // [0x401000, 0x4019e0)
  const size_t rodata = LoadIndex(file, 2);
  Elf64_Phdr phdr = PhdrOf(file, rodata);
  phdr.p_vaddr = 0x401000 + 0xA00;  // same page as text's end
  phdr.p_offset = 0x2000;
  phdr.p_align = 16;
  phdr.p_memsz = phdr.p_filesz + 0x100;  // a bss tail as well
  SetPhdr(file, rodata, phdr);
  GuestMemory memory = NewMemory();
  ASSERT_TRUE(memory.Fill(kLow, 0xAA, kHigh - kLow));
  Result<LoadedProgram> program = ParseAndLoad(file, memory);
  ASSERT_TRUE(program) << program.error().ToString();
  const Elf64_Phdr text_phdr = PhdrOf(file, text);
  std::vector<uint8_t> text_bytes(text_phdr.p_filesz);
  ASSERT_TRUE(memory.Read(0x401000, text_bytes.data(), text_bytes.size()));
  EXPECT_EQ(std::memcmp(text_bytes.data(), file.data() + text_phdr.p_offset,
                        text_bytes.size()),
            0);
  std::vector<uint8_t> ro_bytes(phdr.p_filesz);
  ASSERT_TRUE(memory.Read(phdr.p_vaddr, ro_bytes.data(), ro_bytes.size()));
  EXPECT_EQ(std::memcmp(ro_bytes.data(), file.data() + 0x2000, ro_bytes.size()),
            0);
  // The gap between them reads as zero.
  EXPECT_EQ(memory.ReadValue<uint8_t>(0x401000 + text_phdr.p_filesz),
            uint8_t{0});
}

// --- Hostile executables ----------------------------------------------------

struct Hostile {
  const char* name;
  std::function<void(std::vector<uint8_t>&)> mutate;
  const char* message;  // expected in the error
  ErrorCode code = ErrorCode::kNotExecutable;
};

TEST(LoadElfTest, RefusesHostileExecutables) {
  const std::vector<uint8_t> hello = ReadHello();
  ASSERT_FALSE(hello.empty());
  auto header = [](auto change) {
    return [change](std::vector<uint8_t>& file) {
      Elf64_Ehdr h = HeaderOf(file);
      change(h);
      SetHeader(file, h);
    };
  };
  auto load = [](int n, auto change) {
    return [n, change](std::vector<uint8_t>& file) {
      const size_t index = LoadIndex(file, n);
      Elf64_Phdr p = PhdrOf(file, index);
      change(p);
      SetPhdr(file, index, p);
    };
  };
  const std::vector<Hostile> cases = {
      {"empty", [](auto& f) { f.clear(); }, "no ELF magic"},
      {"script", [](auto& f) { std::memcpy(f.data(), "#!/bin/sh\n", 10); },
       "script"},
      {"truncated header", [](auto& f) { f.resize(40); }, "truncated"},
      {"truncated program headers", [](auto& f) { f.resize(200); },
       "program headers"},
      {"truncated segment", [](auto& f) { f.resize(0x1500); }, "past the end"},
      {"bad magic", [](auto& f) { f[1] = 'X'; }, "no ELF magic"},
      {"32-bit", [](auto& f) { f[EI_CLASS] = ELFCLASS32; }, "64-bit"},
      {"big-endian", [](auto& f) { f[EI_DATA] = ELFDATA2MSB; },
       "little-endian"},
      {"bad version", header([](Elf64_Ehdr& h) { h.e_version = 2; }),
       "version"},
      {"other machine", header([](Elf64_Ehdr& h) { h.e_machine = EM_AARCH64; }),
       "x86-64"},
      {"relocatable", header([](Elf64_Ehdr& h) { h.e_type = ET_REL; }),
       "not an executable"},
      {"core", header([](Elf64_Ehdr& h) { h.e_type = ET_CORE; }),
       "not an executable"},
      {"phentsize", header([](Elf64_Ehdr& h) { h.e_phentsize = 32; }),
       "program header entries"},
      {"no phdrs", header([](Elf64_Ehdr& h) { h.e_phnum = 0; }),
       "no program headers"},
      {"phnum huge", header([](Elf64_Ehdr& h) { h.e_phnum = 0xFFFF; }),
       "more than 128"},
      {"phoff beyond file", header([](Elf64_Ehdr& h) { h.e_phoff = 1 << 20; }),
       "program headers"},
      {"phoff wrapping",
       header([](Elf64_Ehdr& h) { h.e_phoff = ~uint64_t{0} - 16; }),
       "program headers"},
      {"offset+filesz wrapping",
       load(1,
            [](Elf64_Phdr& p) {
              p.p_offset = ~uint64_t{0} - 0xFFF;
              p.p_filesz = 0x2000;
              p.p_memsz = 0x2000;
            }),
       "past the end"},
      {"filesz > memsz",
       load(1, [](Elf64_Phdr& p) { p.p_memsz = p.p_filesz - 1; }),
       "larger than its memory size"},
      {"vaddr/offset incongruent",
       load(1, [](Elf64_Phdr& p) { p.p_vaddr += 1; }), "congruent"},
      {"vaddr below low", load(0, [](Elf64_Phdr& p) { p.p_vaddr = 0x1000; }),
       "does not fit"},
      {"vaddr above high",
       load(3, [](Elf64_Phdr& p) { p.p_vaddr += 0x7000000; }), "large enough"},
      {"segment straddling high",
       load(3,
            [](Elf64_Phdr& p) {
              p.p_vaddr = kHigh - 0x1000 + (p.p_vaddr % kPageSize);
              p.p_memsz = 0x2000;
            }),
       "does not fit"},
      {"vaddr wrapping",
       load(3,
            [](Elf64_Phdr& p) {
              p.p_vaddr = ~uint64_t{0} - 0xFFF + (p.p_vaddr % kPageSize);
            }),
       "wraps"},
      {"memsz wrapping",
       load(3, [](Elf64_Phdr& p) { p.p_memsz = ~uint64_t{0} - 0x100; }),
       "wraps"},
      {"overlapping segments",
       load(2, [](Elf64_Phdr& p) { p.p_memsz = 0x1300; }), "overlap"},
      {"identical segments",
       load(2,
            [](Elf64_Phdr& p) {
              p.p_vaddr = 0x401000;
              p.p_offset = 0x1000;
            }),
       "overlap"},
      {"entry outside segments",
       header([](Elf64_Ehdr& h) { h.e_entry = 0x500000; }), "entry point"},
      {"entry in data", header([](Elf64_Ehdr& h) { h.e_entry = 0x402000; }),
       "entry point"},
      {"phdrs not loaded", load(0, [](Elf64_Phdr& p) { p.p_type = PT_NULL; }),
       "AT_PHDR"},
      {"PT_PHDR outside",
       [](auto& f) {
         Elf64_Phdr p = PhdrOf(f, 4);
         p.p_type = PT_PHDR;
         p.p_vaddr = 0x900000;
         SetPhdr(f, 4, p);
       },
       "PT_PHDR"},
      {"no PT_LOAD",
       [](auto& f) {
         for (size_t i = 0; i < HeaderOf(f).e_phnum; ++i) {
           Elf64_Phdr p = PhdrOf(f, i);
           if (p.p_type == PT_LOAD) p.p_type = PT_NULL;
           SetPhdr(f, i, p);
         }
       },
       "no loadable segment"},
      {"interpreter",
       [](auto& f) {
         const std::string interp = "/lib/ld-fake.so.2";
         Elf64_Phdr p = PhdrOf(f, 4);  // GNU_STACK becomes PT_INTERP
         p.p_type = PT_INTERP;
         p.p_offset = f.size();
         p.p_filesz = interp.size() + 1;
         f.insert(f.end(), interp.c_str(), interp.c_str() + interp.size() + 1);
         SetPhdr(f, 4, p);
       },
       "dynamically linked (its interpreter is /lib/ld-fake.so.2)",
       ErrorCode::kUnavailable},
      {"interpreter outside the file",
       [](auto& f) {
         Elf64_Phdr p = PhdrOf(f, 4);
         p.p_type = PT_INTERP;
         p.p_offset = ~uint64_t{0} - 4;
         p.p_filesz = 100;
         SetPhdr(f, 4, p);
       },
       "-static", ErrorCode::kUnavailable},
  };
  for (const Hostile& test : cases) {
    SCOPED_TRACE(test.name);
    std::vector<uint8_t> file = hello;
    test.mutate(file);
    GuestMemory memory = NewMemory();
    Result<LoadedProgram> program = ParseAndLoad(file, memory);
    ASSERT_FALSE(program) << "loaded at entry " << program->entry;
    EXPECT_THAT(program.error().message(), HasSubstr(test.message));
    EXPECT_EQ(program.error().code(), test.code) << program.error().ToString();
  }
}

TEST(LoadElfTest, QuotesAHostileInterpreterBounded) {
  std::vector<uint8_t> file = ReadHello();
  ASSERT_FALSE(file.empty());
  Elf64_Phdr p = PhdrOf(file, 4);
  p.p_type = PT_INTERP;
  p.p_offset = file.size();
  p.p_filesz = 10000;
  std::string interp = "\x1b[31m";  // a terminal escape
  interp += std::string(5000, 'A');
  file.insert(file.end(), interp.begin(), interp.end());
  SetPhdr(file, 4, p);
  Result<ElfImage> image = ParseElf(file);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code(), ErrorCode::kUnavailable);
  const std::string& message = image.error().message();
  EXPECT_EQ(message.find('\x1b'), std::string::npos);
  EXPECT_THAT(message, HasSubstr("?[31mAAA"));
  EXPECT_LT(message.size(), kMaxQuotedInterpreter + 200);
}

TEST(LoadElfTest, RefusesTheDynamicBinTrue) {
  Result<std::vector<uint8_t>> file = ReadExecutable("/bin/true", 64 << 20);
  if (!file) GTEST_SKIP() << "/bin/true: " << file.error().ToString();
  Result<ElfImage> image = ParseElf(*file);
  ASSERT_FALSE(image) << "/bin/true is dynamically linked on Debian";
  EXPECT_EQ(image.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(image.error().message(), HasSubstr("dynamically linked"));
  EXPECT_THAT(image.error().message(), HasSubstr("ld-linux-x86-64.so.2"));
  EXPECT_THAT(image.error().message(), HasSubstr("static-pie"));
  EXPECT_THAT(image.error().message(), HasSubstr("-static"));
}

TEST(LoadElfTest, RefusesABadProgramArea) {
  const std::vector<uint8_t> file = ReadHello();
  ASSERT_FALSE(file.empty());
  Result<ElfImage> image = ParseElf(file);
  ASSERT_TRUE(image);
  GuestMemory memory = NewMemory();
  EXPECT_FALSE(LoadElf(*image, file, memory, kLow, kMemorySize + kPageSize));
  EXPECT_FALSE(LoadElf(*image, file, memory, kHigh, kLow));
  // The file is re-checked against the image.
  EXPECT_FALSE(
      LoadElf(*image, std::span(file).first(0x1800), memory, kLow, kHigh));
}

// --- The initial stack
// --------------------------------------------------------

struct StackView {
  uint64_t argc = 0;
  std::vector<std::string> argv, env;
  std::vector<std::pair<uint64_t, uint64_t>> auxv;
};

// Reads the stack as a program's _start would, checking each pointer.
StackView ReadStack(const GuestMemory& memory, uint64_t rsp) {
  StackView view;
  view.argc = memory.ReadValue<uint64_t>(rsp).value_or(~0ULL);
  uint64_t slot = rsp + 8;
  auto read_strings = [&](std::vector<std::string>& out, uint64_t limit) {
    for (uint64_t i = 0; i <= limit; ++i, slot += 8) {
      const uint64_t pointer = memory.ReadValue<uint64_t>(slot).value_or(1);
      if (pointer == 0) {
        slot += 8;
        return;
      }
      EXPECT_GE(pointer, rsp);
      EXPECT_LT(pointer, kStack.top);
      auto value = memory.ReadString(pointer, 1 << 20);
      EXPECT_TRUE(value);
      out.push_back(value.value_or("<fault>"));
    }
    ADD_FAILURE() << "array not NULL-terminated";
  };
  read_strings(view.argv, view.argc);
  read_strings(view.env, 100000);
  for (int i = 0; i < 64; ++i, slot += 16) {
    const uint64_t key = memory.ReadValue<uint64_t>(slot).value_or(~0ULL);
    const uint64_t value = memory.ReadValue<uint64_t>(slot + 8).value_or(0);
    view.auxv.emplace_back(key, value);
    if (key == AT_NULL) break;
  }
  return view;
}

TEST(BuildInitialStackTest, LaysOutArgvEnvAndAuxvLikeLinux) {
  const std::vector<uint8_t> file = ReadHello();
  ASSERT_FALSE(file.empty());
  GuestMemory memory = NewMemory();
  Result<LoadedProgram> program = ParseAndLoad(file, memory);
  ASSERT_TRUE(program);

  StackInputs inputs;
  inputs.argv = {"hello", "42", ""};
  inputs.env = {"PATH=/usr/bin", "EMPTY=", "LANG=C.UTF-8"};
  inputs.execfn = "/opt/workloads/hello";
  inputs.uid = 1000;
  inputs.gid = 1001;
  for (size_t i = 0; i < inputs.random.size(); ++i) {
    inputs.random[i] = static_cast<uint8_t>(0xA0 + i);
  }
  Result<uint64_t> rsp = BuildInitialStack(memory, kStack, *program, inputs);
  ASSERT_TRUE(rsp) << rsp.error().ToString();
  EXPECT_EQ(*rsp % 16, 0u);
  EXPECT_GE(*rsp, kStack.bottom);
  EXPECT_LT(*rsp, kStack.top - 256);

  const StackView view = ReadStack(memory, *rsp);
  EXPECT_EQ(view.argc, 3u);
  EXPECT_EQ(view.argv, inputs.argv);
  EXPECT_EQ(view.env, inputs.env);

  const std::vector<uint64_t> expected_keys = {
      AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR,   AT_PHENT,    AT_PHNUM,
      AT_BASE,  AT_FLAGS,  AT_ENTRY,  AT_UID,    AT_EUID,     AT_GID,
      AT_EGID,  AT_SECURE, AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_NULL};
  std::vector<uint64_t> keys;
  std::map<uint64_t, uint64_t> aux;
  for (const auto& [key, value] : view.auxv) {
    keys.push_back(key);
    aux[key] = value;
  }
  EXPECT_EQ(keys, expected_keys);  // no AT_SYSINFO_EHDR: no vDSO
  EXPECT_EQ(aux[AT_HWCAP], 0u);
  EXPECT_EQ(aux[AT_PAGESZ], 4096u);
  EXPECT_EQ(aux[AT_CLKTCK], 100u);
  EXPECT_EQ(aux[AT_PHDR], program->phdr_address);
  EXPECT_EQ(aux[AT_PHENT], sizeof(Elf64_Phdr));
  EXPECT_EQ(aux[AT_PHNUM], HeaderOf(file).e_phnum);
  EXPECT_EQ(aux[AT_BASE], 0u);
  EXPECT_EQ(aux[AT_FLAGS], 0u);
  EXPECT_EQ(aux[AT_ENTRY], program->entry);
  EXPECT_EQ(aux[AT_UID], 1000u);
  EXPECT_EQ(aux[AT_EUID], 1000u);
  EXPECT_EQ(aux[AT_GID], 1001u);
  EXPECT_EQ(aux[AT_EGID], 1001u);
  EXPECT_EQ(aux[AT_SECURE], 0u);

  std::array<uint8_t, 16> random{};
  ASSERT_TRUE(memory.Read(aux[AT_RANDOM], random.data(), random.size()));
  EXPECT_EQ(random, inputs.random);
  EXPECT_EQ(memory.ReadString(aux[AT_PLATFORM], 64).value_or(""), "x86_64");
  EXPECT_EQ(memory.ReadString(aux[AT_EXECFN], 64).value_or(""), inputs.execfn);
  // Linux's order: execfn last, right below a zero word at the very top.
  EXPECT_EQ(aux[AT_EXECFN] + inputs.execfn.size() + 1, kStack.top - 8);
  EXPECT_EQ(memory.ReadValue<uint64_t>(kStack.top - 8), 0u);
  // The random bytes and platform string lie between the auxv and strings.
  EXPECT_GT(aux[AT_RANDOM], *rsp + 8 * (1 + 4 + 4 + 2 * expected_keys.size()));
  EXPECT_LT(aux[AT_RANDOM] + 16, aux[AT_EXECFN]);
}

TEST(BuildInitialStackTest, HandlesEmptyArgvAndEnv) {
  GuestMemory memory = NewMemory();
  LoadedProgram program{.entry = 0x401000,
                        .phdr_address = 0x400040,
                        .phnum = 5,
                        .image_end = 0x404000};
  Result<uint64_t> rsp =
      BuildInitialStack(memory, kStack, program, StackInputs{});
  ASSERT_TRUE(rsp) << rsp.error().ToString();
  EXPECT_EQ(*rsp % 16, 0u);
  const StackView view = ReadStack(memory, *rsp);
  EXPECT_EQ(view.argc, 0u);
  EXPECT_TRUE(view.argv.empty());
  EXPECT_TRUE(view.env.empty());
  ASSERT_FALSE(view.auxv.empty());
  EXPECT_EQ(view.auxv.back().first, uint64_t{AT_NULL});
}

TEST(BuildInitialStackTest, AlignsRspForEveryArgumentCount) {
  GuestMemory memory = NewMemory();
  LoadedProgram program{.entry = 0x401000,
                        .phdr_address = 0x400040,
                        .phnum = 5,
                        .image_end = 0x404000};
  for (int argc = 0; argc < 6; ++argc) {
    for (int length = 0; length < 17; ++length) {
      StackInputs inputs;
      inputs.argv.assign(argc, std::string(length, 'a'));
      inputs.env.assign(length % 3, "X=1");
      Result<uint64_t> rsp = BuildInitialStack(memory, kStack, program, inputs);
      ASSERT_TRUE(rsp);
      EXPECT_EQ(*rsp % 16, 0u) << argc << " " << length;
      EXPECT_EQ(ReadStack(memory, *rsp).argv, inputs.argv);
    }
  }
}

TEST(BuildInitialStackTest, RefusesArgumentsThatDoNotFit) {
  GuestMemory memory = NewMemory();
  LoadedProgram program{.entry = 0x401000,
                        .phdr_address = 0x400040,
                        .phnum = 5,
                        .image_end = 0x404000};
  const uint64_t stack_size = kStack.top - kStack.bottom;

  StackInputs one_huge;
  one_huge.argv = {"prog", std::string(stack_size / 4, 'x')};
  Result<uint64_t> rsp = BuildInitialStack(memory, kStack, program, one_huge);
  ASSERT_FALSE(rsp);
  EXPECT_EQ(rsp.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(rsp.error().sys_errno(), E2BIG);
  EXPECT_THAT(rsp.error().message(), HasSubstr("argument list too long"));

  StackInputs many;  // small strings, but too many pointers
  many.env.assign(stack_size / 4 / 8, "");
  rsp = BuildInitialStack(memory, kStack, program, many);
  ASSERT_FALSE(rsp);
  EXPECT_EQ(rsp.error().sys_errno(), E2BIG);

  StackInputs big_env;  // many medium strings that add up
  big_env.env.assign(stack_size / 4 / 1000 + 1, std::string(1000, 'e'));
  rsp = BuildInitialStack(memory, kStack, program, big_env);
  ASSERT_FALSE(rsp);
  EXPECT_EQ(rsp.error().sys_errno(), E2BIG);

  StackInputs nul;
  nul.argv = {"prog", std::string("a\0b", 3)};
  rsp = BuildInitialStack(memory, kStack, program, nul);
  ASSERT_FALSE(rsp);
  EXPECT_EQ(rsp.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(rsp.error().message(), HasSubstr("argv[1] contains a NUL"));

  // Nothing was written by the refused attempts.
  EXPECT_EQ(memory.ReadValue<uint64_t>(kStack.top - 8), 0u);
  EXPECT_EQ(memory.ReadValue<uint64_t>(kStack.top - 64), 0u);

  // Just under the limit still fits.
  StackInputs fits;
  fits.argv = {"prog", std::string(stack_size / 4 - 4096, 'x')};
  rsp = BuildInitialStack(memory, kStack, program, fits);
  ASSERT_TRUE(rsp) << rsp.error().ToString();
  EXPECT_EQ(ReadStack(memory, *rsp).argv, fits.argv);
}

TEST(BuildInitialStackTest, RefusesABadStackRegion) {
  GuestMemory memory = NewMemory();
  LoadedProgram program{};
  EXPECT_FALSE(BuildInitialStack(
      memory, StackRegion{0, kMemorySize, kMemorySize + 4096}, program, {}));
  EXPECT_FALSE(
      BuildInitialStack(memory, StackRegion{0, 0x10000, 0x10000}, program, {}));
  EXPECT_FALSE(
      BuildInitialStack(memory, StackRegion{0, 0x10000, 0x20008}, program, {}));
}

// --- Fuzz-style robustness ------------------------------------------------

TEST(LoadElfTest, RandomMutationsNeverCrash) {
  const std::vector<uint8_t> hello = ReadHello();
  ASSERT_FALSE(hello.empty());
  GuestMemory memory = NewMemory();
  std::mt19937_64 random(20240607);
  const uint64_t header_area =
      HeaderOf(hello).e_phoff + HeaderOf(hello).e_phnum * sizeof(Elf64_Phdr);
  // Values that sit on the edges of the checks.
  const uint64_t interesting[] = {0,
                                  1,
                                  0xFFF,
                                  0x1000,
                                  kPieLoadBase,
                                  kLow,
                                  kHigh,
                                  kHigh - 1,
                                  kMemorySize,
                                  hello.size(),
                                  hello.size() - 1,
                                  0x7FFFFFFFFFFFFFFF,
                                  ~uint64_t{0},
                                  ~uint64_t{0} - 0xFFF,
                                  PT_INTERP,
                                  PT_PHDR,
                                  PT_LOAD};
  int loaded = 0, refused = 0;
  std::vector<uint8_t> file;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    file = hello;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (random() % 5) {
        case 0:  // flip a bit in the headers
          file[random() % header_area] ^= uint8_t(1u << (random() % 8));
          break;
        case 1:  // a random byte in the headers
          file[random() % header_area] = static_cast<uint8_t>(random());
          break;
        case 2: {  // an edge value into an aligned field of the headers
          const uint64_t value = interesting[random() % std::size(interesting)];
          const size_t at = (random() % (header_area / 8)) * 8;
          std::memcpy(file.data() + at, &value,
                      std::min<size_t>(8, file.size() - at));
          break;
        }
        case 3:  // a random 16-bit field (counts, types, sizes)
        {
          const uint16_t value = static_cast<uint16_t>(random());
          const size_t at = (random() % (header_area / 2)) * 2;
          std::memcpy(file.data() + at, &value, 2);
          break;
        }
        case 4:  // truncate
          if (random() % 8 == 0) file.resize(random() % file.size());
          break;
      }
    }
    Result<ElfImage> image = ParseElf(file);
    if (!image) {
      ++refused;
      EXPECT_FALSE(image.error().message().empty());
      continue;
    }
    Result<LoadedProgram> program = LoadElf(*image, file, memory, kLow, kHigh);
    if (!program) {
      ++refused;
      continue;
    }
    ++loaded;
    // What was accepted really is inside the program area.
    ASSERT_GE(program->entry, kLow);
    ASSERT_LT(program->entry, kHigh);
    ASSERT_LE(program->image_end, kHigh);
    Result<uint64_t> rsp =
        BuildInitialStack(memory, kStack, *program, StackInputs{.argv = {"x"}});
    ASSERT_TRUE(rsp);
  }
  // Both paths were exercised.
  EXPECT_GT(loaded, 100);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace isoscope::kvm
