#include "supervisor/cli/terminal_output.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string_view>

#include "reports/text.h"

namespace isoscope::cli {

bool IsTerminal(int fd) { return ::isatty(fd) == 1; }

std::optional<size_t> OutputColumns(int fd) {
  if (const char* env = std::getenv("COLUMNS"); env != nullptr) {
    const std::string_view text(env);
    size_t columns = 0;
    auto [ptr, ec] =
        std::from_chars(text.data(), text.data() + text.size(), columns);
    if (ec == std::errc() && ptr == text.data() + text.size() && columns > 0) {
      return columns;
    }
  }
  if (!IsTerminal(fd)) return std::nullopt;
  struct winsize size = {};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) {
    return std::nullopt;
  }
  return size.ws_col;
}

ProgressLine::ProgressLine()
    : ProgressLine(STDERR_FILENO, IsTerminal(STDERR_FILENO)) {}

ProgressLine::ProgressLine(int fd, bool enabled) : fd_(fd), enabled_(enabled) {}

ProgressLine::~ProgressLine() { Clear(); }

void ProgressLine::Show(const std::string& text) {
  if (!enabled_) return;
  // One column short of the width: a line that fills the last column wraps
  // on some terminals, and '\r' then returns to the wrong line.
  const size_t width = OutputColumns(fd_).value_or(80);
  const std::string line =
      report_text::Truncate(report_text::Line(text), width > 1 ? width - 1 : 1);
  const size_t columns = report_text::Columns(line);
  // Pads over a longer previous line: "\033[K" would be an escape sequence.
  std::string bytes = "\r" + line;
  if (columns < shown_) bytes.append(shown_ - columns, ' ');
  Write(bytes);
  shown_ = columns;
}

void ProgressLine::Clear() {
  if (!enabled_ || shown_ == 0) return;
  Write("\r" + std::string(shown_, ' ') + "\r");
  shown_ = 0;
}

void ProgressLine::Write(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    // Progress is best effort: a stderr that fails is not worth a failure.
    if (n <= 0) {
      enabled_ = false;
      return;
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace isoscope::cli
