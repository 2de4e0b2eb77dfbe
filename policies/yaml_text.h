// Writing policy YAML as text (`policy import`, `learn`): scalars that
// cannot be read back as something else, and comments that cannot end.
#ifndef ISOSCOPE_POLICIES_YAML_TEXT_H_
#define ISOSCOPE_POLICIES_YAML_TEXT_H_

#include <string>
#include <string_view>

namespace isoscope {

// Outside text (a name, a path, a command) inside a YAML comment: one line,
// whatever it holds (control bytes become '?'), so it cannot end the comment
// and add keys.
std::string YamlCommentText(std::string_view text);

// Any text as a YAML double-quoted scalar (JSON's escapes are YAML's).
// Bytes that are not UTF-8 cannot be written: each becomes U+FFFD, so a
// caller that needs the exact text back checks IsUtf8 first.
std::string YamlQuoted(std::string_view text);

// Whether `text` is well-formed UTF-8 (what a YAML scalar can hold).
bool IsUtf8(std::string_view text);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_YAML_TEXT_H_
