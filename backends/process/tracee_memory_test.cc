#include "backends/process/tracee_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "backends/process/tracee_test_child.h"
#include "base/unique_fd.h"

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

// The checked copy goes to a read-only shared mapping: the workload's own
// handles on its memory cannot change it, the writer can.
TEST(SharedMappingWriterTest, WritesWhatTheProcessCannot) {
  static const char kCopy[] = "/checked/copy";
  auto child = TraceeTestChild::Start(
      [] {
        void* at = ::mmap(nullptr, 2 * kPage, PROT_READ,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        TraceeTestChild::Report report{};
        report[0] = at == MAP_FAILED ? 0 : static_cast<int64_t>(Address(at));
        return report;
      },
      [] { return 0; });
  ASSERT_TRUE(child.ok());
  const uint64_t begin = static_cast<uint64_t>(child.report()[0]);
  ASSERT_NE(begin, 0u);
  const uint64_t end = begin + 2 * kPage;

  // Neither the process's memory file (FOLL_FORCE) nor process_vm_writev
  // writes a read-only shared page.
  const char junk[4] = "xyz";
  {
    UniqueFd memory(::open(fmt::format("/proc/{}/mem", child.pid()).c_str(),
                           O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(memory);
    EXPECT_EQ(::pwrite(memory.get(), junk, sizeof(junk),
                       static_cast<off_t>(begin + kPage)),
              -1);
    EXPECT_EQ(errno, EIO);
  }
  iovec local{const_cast<char*>(junk), sizeof(junk)};
  // An address in the child, never dereferenced here.
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  iovec remote{reinterpret_cast<void*>(begin + kPage), sizeof(junk)};
  EXPECT_EQ(::process_vm_writev(child.pid(), &local, 1, &remote, 1, 0), -1);
  EXPECT_EQ(errno, EFAULT);

  auto writer = SharedMappingWriter::Open(child.pid(), begin, end);
  ASSERT_TRUE(writer.has_value()) << writer.error().ToString();
  EXPECT_EQ(writer->pid(), child.pid());
  auto written = writer->Write(
      begin + kPage + 8,
      std::span(reinterpret_cast<const uint8_t*>(kCopy), sizeof(kCopy)));
  ASSERT_TRUE(written.has_value()) << written.error().ToString();
  // The process's mapping shows it at once.
  auto text = ReadTraceeString(child.pid(), begin + kPage + 8, 64);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text, "/checked/copy");

  // Outside the mapping: isoscope's own mistake, refused before writing.
  const uint8_t two[2] = {1, 2};
  for (uint64_t address : {begin - 1, end, end - 1}) {
    written = writer->Write(
        address, address == end - 1 ? std::span(two) : std::span(two, 1));
    ASSERT_FALSE(written.has_value()) << address;
    EXPECT_EQ(written.error().code(), ErrorCode::kInternal);
  }
  // Nothing to write is not an error.
  EXPECT_TRUE(writer->Write(begin, {}).has_value());
  EXPECT_EQ(child.Finish(), 0);
}

// Only a mapping spanning exactly the range is opened.
TEST(SharedMappingWriterTest, OpenNeedsAMappingOfExactlyThatRange) {
  void* at =
      ::mmap(nullptr, 2 * kPage, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(at, MAP_FAILED);
  const uint64_t begin = Address(at);
  EXPECT_TRUE(SharedMappingWriter::Open(::getpid(), begin, begin + 2 * kPage)
                  .has_value());
  auto part = SharedMappingWriter::Open(::getpid(), begin, begin + kPage);
  ASSERT_FALSE(part.has_value());
  EXPECT_EQ(part.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(part.error().sys_errno(), ENOENT);
  ::munmap(at, 2 * kPage);
  auto gone = SharedMappingWriter::Open(std::numeric_limits<pid_t>::max(),
                                        begin, begin + 2 * kPage);
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().sys_errno(), ENOENT);
}

// A forked child inherits the mapping of the same object: what isoscope
// checks before using a region it did not map in that process.
TEST(SharedMappingWriterTest, AForkedChildMapsTheSameObject) {
  void* at =
      ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(at, MAP_FAILED);
  void* other =
      ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(other, MAP_FAILED);
  auto child = TraceeTestChild::Start();
  ASSERT_TRUE(child.ok());
  auto own =
      SharedMappingWriter::Open(::getpid(), Address(at), Address(at) + kPage);
  auto inherited =
      SharedMappingWriter::Open(child.pid(), Address(at), Address(at) + kPage);
  auto unrelated = SharedMappingWriter::Open(child.pid(), Address(other),
                                             Address(other) + kPage);
  ASSERT_TRUE(own.has_value()) << own.error().ToString();
  ASSERT_TRUE(inherited.has_value()) << inherited.error().ToString();
  ASSERT_TRUE(unrelated.has_value()) << unrelated.error().ToString();
  EXPECT_EQ(own->object(), inherited->object());
  EXPECT_NE(own->object(), unrelated->object());
  EXPECT_EQ(child.Finish(), 0);
  ::munmap(at, kPage);
  ::munmap(other, kPage);
}

}  // namespace
}  // namespace isoscope
