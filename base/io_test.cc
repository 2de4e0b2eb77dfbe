#include "base/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/unique_fd.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  auto text = ReadFileUpTo(path.string(), 1 << 20);
  EXPECT_TRUE(text.has_value()) << text.error().ToString();
  return text.value_or("");
}

// The names in `dir`, so a test sees a temporary file left behind.
std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class WriteFileReplacingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-io-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
  }
  fs::path Path(const std::string& name) const { return dir_->path() / name; }

  std::optional<TempDir> dir_;
};

TEST_F(WriteFileReplacingTest, MakesANewFileAndReplacesAnOldOneWhole) {
  const fs::path out = Path("out.json");
  ASSERT_TRUE(WriteFileReplacing(out.string(), "first, longer text\n"));
  EXPECT_EQ(Read(out), "first, longer text\n");
  struct stat before {};
  ASSERT_EQ(::stat(out.c_str(), &before), 0);
  ASSERT_TRUE(WriteFileReplacing(out.string(), "second\n"));
  EXPECT_EQ(Read(out), "second\n");
  struct stat after {};
  ASSERT_EQ(::stat(out.c_str(), &after), 0);
  // Renamed over, not rewritten in place: a reader of the old file kept it.
  EXPECT_NE(before.st_ino, after.st_ino);
  // The umask applies, as to a shell redirection.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(after.st_mode & 0777, 0666 & ~mask);
  EXPECT_EQ(Names(dir_->path()), std::vector<std::string>{"out.json"});
}

// A file the user keeps beside the target under the name a simpler writer
// would use for its temporary copy is left alone.
TEST_F(WriteFileReplacingTest, LeavesAFileNamedLikeATemporaryCopyAlone) {
  const fs::path out = Path("report.html");
  ASSERT_TRUE(WriteFileReplacing(Path("report.html.tmp").string(), "mine\n"));
  ASSERT_TRUE(WriteFileReplacing(out.string(), "report\n"));
  EXPECT_EQ(Read(Path("report.html.tmp")), "mine\n");
  EXPECT_EQ(Read(out), "report\n");
}

// A link to a device (as /dev/stdout is) or a FIFO is written into, never
// replaced by a file: a rename would have put a file where /dev/stdout was.
// A link to a regular file is written through, as a shell redirection
// writes it, and stays a link.
TEST_F(WriteFileReplacingTest, WritesIntoWhatIsNotARegularFile) {
  const fs::path link = Path("stdout");
  fs::create_symlink("/dev/null", link);
  ASSERT_TRUE(WriteFileReplacing(link.string(), "into the device\n"));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), fs::path("/dev/null"));

  const fs::path target = Path("results.json");
  ASSERT_TRUE(WriteFileReplacing(target.string(), "old, longer contents\n"));
  const fs::path latest = Path("latest.json");
  fs::create_symlink(target, latest);
  ASSERT_TRUE(WriteFileReplacing(latest.string(), "new\n"));
  EXPECT_TRUE(fs::is_symlink(latest));
  EXPECT_EQ(Read(target), "new\n");

  const fs::path fifo = Path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader);
  ASSERT_TRUE(WriteFileReplacing(fifo.string(), "through the pipe"));
  char buffer[64] = {};
  ASSERT_EQ(::read(reader.get(), buffer, sizeof buffer), 16);
  EXPECT_EQ(std::string(buffer, 16), "through the pipe");
  EXPECT_EQ(fs::status(fifo).type(), fs::file_type::fifo);
}

TEST_F(WriteFileReplacingTest, AFailureNamesThePathAndLeavesNothing) {
  const fs::path missing = Path("no-such-dir") / "out.json";
  auto written = WriteFileReplacing(missing.string(), "x");
  ASSERT_FALSE(written.has_value());
  EXPECT_NE(written.error().ToString().find(missing.string()),
            std::string::npos)
      << written.error().ToString();
  EXPECT_EQ(written.error().sys_errno(), ENOENT);
  // A directory in the way: refused, and nothing made beside it.
  const fs::path dir = Path("a-dir");
  fs::create_directory(dir);
  written = WriteFileReplacing(dir.string(), "x");
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(Names(dir_->path()), std::vector<std::string>{"a-dir"});
}

}  // namespace
}  // namespace isoscope
