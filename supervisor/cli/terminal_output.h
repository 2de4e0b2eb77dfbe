// What isoscope asks of the terminal it writes to: whether it is one, how
// wide it is, and a progress line for long commands. isoscope never writes
// colour or other escape sequences (so NO_COLOR holds trivially): a
// progress line is redrawn with '\r' alone, and only on a terminal.
#ifndef ISOSCOPE_SUPERVISOR_CLI_TERMINAL_OUTPUT_H_
#define ISOSCOPE_SUPERVISOR_CLI_TERMINAL_OUTPUT_H_

#include <cstddef>
#include <optional>
#include <string>

namespace isoscope::cli {

bool IsTerminal(int fd);

// The width to fit text written to `fd`: $COLUMNS when it is a positive
// number (the user's word, also for a pipe), else the terminal's width when
// `fd` is a terminal that reports one; nullopt otherwise (a pipe or file:
// nothing to fit).
std::optional<size_t> OutputColumns(int fd);

// One line on stderr rewritten in place ("compare: native 3/5") while a long
// command runs, cut to the terminal's width so it never wraps; cleared when
// done. Disabled, writing nothing at all, when stderr is not a terminal.
class ProgressLine {
 public:
  ProgressLine();
  // For tests: writes to `fd`, enabled or not as said.
  ProgressLine(int fd, bool enabled);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine();

  void Show(const std::string& text);
  void Clear();

 private:
  void Write(const std::string& bytes);

  int fd_;
  bool enabled_;
  size_t shown_ = 0;  // columns of the line on screen
};

}  // namespace isoscope::cli

#endif  // ISOSCOPE_SUPERVISOR_CLI_TERMINAL_OUTPUT_H_
