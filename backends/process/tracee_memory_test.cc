#include "backends/process/tracee_memory.h"

#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "backends/process/tracee_test_child.h"

namespace isoscope {
namespace {

using testing::TraceeTestChild;

const uint64_t kPage = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));

uint64_t Address(const void* pointer) {
  return reinterpret_cast<uint64_t>(pointer);
}

// An anonymous private mapping of `pages` pages, unmapped on destruction.
class Mapping {
 public:
  explicit Mapping(uint64_t pages, int prot = PROT_READ | PROT_WRITE)
      : size_(pages * kPage) {
    void* at = ::mmap(nullptr, size_, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at != MAP_FAILED) data_ = static_cast<char*>(at);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  char* data() const { return data_; }
  char* page(uint64_t index) const { return data_ + index * kPage; }

 private:
  uint64_t size_;
  char* data_ = nullptr;
};

// The child's copy of a buffer the parent filled differently: reading it
// proves the bytes come from the child.
char shared_buffer[64] = "written by the parent";

TEST(ReadTraceeStringTest, ReadsTheChildsString) {
  auto child = TraceeTestChild::Start([] {
    std::strcpy(shared_buffer, "written by the child");
    return TraceeTestChild::Report{};
  });
  ASSERT_TRUE(child.ok());
  auto text = ReadTraceeString(child.pid(), Address(shared_buffer), 64);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text, "written by the child");
  // A bound that leaves exactly room for the NUL is enough.
  text = ReadTraceeString(child.pid(), Address(shared_buffer), 21);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text, "written by the child");
}

TEST(ReadTraceeStringTest, EmptyString) {
  static char empty[8] = "";
  auto child = TraceeTestChild::Start();
  ASSERT_TRUE(child.ok());
  auto text = ReadTraceeString(child.pid(), Address(empty), 8);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text, "");
}

TEST(ReadTraceeStringTest, StringEndingJustBeforeAnUnmappedPage) {
  Mapping mapping(2);
  ASSERT_NE(mapping.data(), nullptr);
  char* at = mapping.page(1) - 4;
  std::memcpy(at, "end", 4);  // the NUL is the page's last byte
  char* second = mapping.page(1);
  auto child = TraceeTestChild::Start([second] {
    if (::munmap(second, kPage) != 0) ::_exit(3);
    return TraceeTestChild::Report{};
  });
  ASSERT_TRUE(child.ok());
  auto text = ReadTraceeString(child.pid(), Address(at), 4096);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text, "end");
}

TEST(ReadTraceeStringTest, StringRunningIntoAnUnmappedPageIsEfault) {
  Mapping mapping(2);
  ASSERT_NE(mapping.data(), nullptr);
  char* at = mapping.page(1) - 4;
  std::string_view("abcd").copy(at, 4);  // no NUL before the hole
  char* second = mapping.page(1);
  auto child = TraceeTestChild::Start([second] {
    if (::munmap(second, kPage) != 0) ::_exit(3);
    return TraceeTestChild::Report{};
  });
  ASSERT_TRUE(child.ok());
  auto text = ReadTraceeString(child.pid(), Address(at), 4096);
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(text.error().sys_errno(), EFAULT);
  // The bound ends at the hole: no byte of it is read, so the answer is
  // "too long", as the kernel's would be.
  text = ReadTraceeString(child.pid(), Address(at), 4);
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().sys_errno(), ENAMETOOLONG);
  // The hole itself.
  text = ReadTraceeString(child.pid(), Address(second), 16);
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(text.error().sys_errno(), EFAULT);
}

TEST(ReadTraceeStringTest, StringOverSeveralPages) {
  Mapping mapping(3);
  ASSERT_NE(mapping.data(), nullptr);
  const std::string expected(2 * kPage + 100, 'b');
  std::memcpy(mapping.data() + 50, expected.c_str(), expected.size() + 1);
  auto child = TraceeTestChild::Start();
  ASSERT_TRUE(child.ok());
  auto text =
      ReadTraceeString(child.pid(), Address(mapping.data() + 50), 3 * kPage);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text, expected);
}

TEST(ReadTraceeStringTest, NoNulWithinTheBoundIsEnametoolong) {
  static char text50[51];
  std::memset(text50, 'a', 50);  // 50 characters, then the NUL
  static char text49[51];
  std::memset(text49, 'a', 49);
  auto child = TraceeTestChild::Start();
  ASSERT_TRUE(child.ok());
  auto read = ReadTraceeString(child.pid(), Address(text49), 50);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(read->size(), 49u);
  read = ReadTraceeString(child.pid(), Address(text50), 50);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(read.error().sys_errno(), ENAMETOOLONG);
  read = ReadTraceeString(child.pid(), Address(text50), 0);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().sys_errno(), ENAMETOOLONG);
}

TEST(ReadTraceeStringTest, NullAndKernelAddressesAreEfault) {
  auto child = TraceeTestChild::Start();
  ASSERT_TRUE(child.ok());
  for (uint64_t address :
       {uint64_t{0}, uint64_t{1}, std::numeric_limits<uint64_t>::max(),
        std::numeric_limits<uint64_t>::max() - 15, uint64_t{1} << 63,
        uint64_t{0x0000800000000000}}) {
    auto text = ReadTraceeString(child.pid(), address, 4096);
    ASSERT_FALSE(text.has_value()) << std::hex << address;
    EXPECT_EQ(text.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(text.error().sys_errno(), EFAULT) << std::hex << address;
  }
}

TEST(ReadTraceeStringTest, GoneProcessIsIsoscopesError) {
  pid_t gone;
  {
    auto child = TraceeTestChild::Start();
    ASSERT_TRUE(child.ok());
    gone = child.pid();
    ASSERT_EQ(child.Finish(), 0);
  }
  auto text = ReadTraceeString(gone, Address(shared_buffer), 64);
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(text.error().sys_errno(), ESRCH);
}

TEST(ReadTraceeBytesTest, AcrossPagesAndIntoAHole) {
  Mapping mapping(3);
  ASSERT_NE(mapping.data(), nullptr);
  char* third = mapping.page(2);
  char* start = mapping.page(1) - 100;
  auto child = TraceeTestChild::Start([start, third] {
    for (int i = 0; i < 200; ++i) start[i] = static_cast<char>(i);
    if (::munmap(third, kPage) != 0) ::_exit(3);
    return TraceeTestChild::Report{};
  });
  ASSERT_TRUE(child.ok());
  auto bytes = ReadTraceeBytes(child.pid(), Address(start), 200);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  ASSERT_EQ(bytes->size(), 200u);
  for (size_t i = 0; i < 200; ++i) EXPECT_EQ((*bytes)[i], i) << i;

  // All or nothing: the last byte is in the hole.
  bytes = ReadTraceeBytes(child.pid(), Address(third - 10), 11);
  ASSERT_FALSE(bytes.has_value());
  EXPECT_EQ(bytes.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bytes.error().sys_errno(), EFAULT);
  bytes = ReadTraceeBytes(child.pid(), Address(third - 10), 10);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  EXPECT_EQ(bytes->size(), 10u);
}

TEST(ReadTraceeBytesTest, EmptyWrappingAndNull) {
  auto child = TraceeTestChild::Start();
  ASSERT_TRUE(child.ok());
  auto bytes = ReadTraceeBytes(child.pid(), 0, 0);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  EXPECT_TRUE(bytes->empty());
  bytes = ReadTraceeBytes(child.pid(), std::numeric_limits<uint64_t>::max() - 5,
                          10);
  ASSERT_FALSE(bytes.has_value());
  EXPECT_EQ(bytes.error().sys_errno(), EFAULT);
  bytes = ReadTraceeBytes(child.pid(), 0, 8);
  ASSERT_FALSE(bytes.has_value());
  EXPECT_EQ(bytes.error().sys_errno(), EFAULT);
}

// The checked copy goes to a PROT_READ private page, which only a
// debugger-style write can change.
TEST(TraceeMemoryWriterTest, WritesThroughAReadOnlyPrivatePage) {
  Mapping mapping(1);
  ASSERT_NE(mapping.data(), nullptr);
  ASSERT_EQ(::mprotect(mapping.data(), kPage, PROT_READ), 0);
  const char* page = mapping.data();
  static const char kCopy[] = "/checked/copy";
  auto child = TraceeTestChild::Start({}, [page] {
    // The first 8 bytes stay zero, then the copy with its NUL, then zeros.
    for (int i = 0; i < 8; ++i) {
      if (page[i] != 0) return 1;
    }
    if (std::memcmp(page + 8, kCopy, sizeof(kCopy)) != 0) return 2;
    for (uint64_t i = 8 + sizeof(kCopy); i < kPage; ++i) {
      if (page[i] != 0) return 3;
    }
    return 0;
  });
  ASSERT_TRUE(child.ok());

  // What the writer is for: process_vm_writev honours the protection.
  const char junk[4] = "xyz";
  iovec local{const_cast<char*>(junk), sizeof(junk)};
  iovec remote{const_cast<char*>(page), sizeof(junk)};
  EXPECT_EQ(::process_vm_writev(child.pid(), &local, 1, &remote, 1, 0), -1);
  EXPECT_EQ(errno, EFAULT);

  auto writer = TraceeMemoryWriter::Open(child.pid());
  ASSERT_TRUE(writer.has_value()) << writer.error().ToString();
  EXPECT_EQ(writer->pid(), child.pid());
  auto written = writer->Write(
      Address(page + 8),
      std::span(reinterpret_cast<const uint8_t*>(kCopy), sizeof(kCopy)));
  ASSERT_TRUE(written.has_value()) << written.error().ToString();
  // Readable back, and only the child's copy of the page changed.
  auto text = ReadTraceeString(child.pid(), Address(page + 8), 64);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text, "/checked/copy");
  EXPECT_EQ(page[8], 0);
  EXPECT_EQ(child.Finish(), 0);
}

TEST(TraceeMemoryWriterTest, UnmappedAndUnreachableAddressesFail) {
  auto child = TraceeTestChild::Start();
  ASSERT_TRUE(child.ok());
  auto writer = TraceeMemoryWriter::Open(child.pid());
  ASSERT_TRUE(writer.has_value()) << writer.error().ToString();
  const uint8_t byte = 1;
  // Page 0 is never mapped.
  auto written = writer->Write(16, std::span(&byte, 1));
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(written.error().sys_errno(), EIO);
  written = writer->Write(uint64_t{1} << 63, std::span(&byte, 1));
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code(), ErrorCode::kSystem);
  // Nothing to write is not an error.
  EXPECT_TRUE(writer->Write(16, {}).has_value());
}

TEST(TraceeMemoryWriterTest, OpenFailsForAMissingProcess) {
  auto writer = TraceeMemoryWriter::Open(std::numeric_limits<pid_t>::max());
  ASSERT_FALSE(writer.has_value());
  EXPECT_EQ(writer.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(writer.error().sys_errno(), ENOENT);
}

// The first mapping's start address in /proc/<pid>/maps.
uint64_t FirstMapping(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  if (!std::getline(maps, line)) return 0;
  return std::stoull(line.substr(0, line.find('-')), nullptr, 16);
}

TEST(TraceeMemoryWriterTest, AWriterOpenedBeforeExecMustBeReopened) {
  if (::access("/bin/sleep", X_OK) != 0) GTEST_SKIP() << "no /bin/sleep";
  auto child = TraceeTestChild::Start({}, [] {
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    return 127;
  });
  ASSERT_TRUE(child.ok());
  auto old_writer = TraceeMemoryWriter::Open(child.pid());
  ASSERT_TRUE(old_writer.has_value()) << old_writer.error().ToString();
  child.Go();
  child.WaitForExecOrExit();

  const uint64_t address = FirstMapping(child.pid());
  ASSERT_NE(address, 0u);
  auto original = ReadTraceeBytes(child.pid(), address, 1);
  ASSERT_TRUE(original.has_value()) << original.error().ToString();
  // The old fd's address space died with the exec.
  auto written = old_writer->Write(address, *original);
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(written.error().sys_errno(), EIO);

  auto writer = TraceeMemoryWriter::Open(child.pid());
  ASSERT_TRUE(writer.has_value()) << writer.error().ToString();
  written = writer->Write(address, *original);
  EXPECT_TRUE(written.has_value()) << written.error().ToString();
}

}  // namespace
}  // namespace isoscope
