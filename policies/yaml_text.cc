#include "policies/yaml_text.h"

#include <nlohmann/json.hpp>

namespace isoscope {

std::string YamlCommentText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte == 0x7f ? '?' : c;
  }
  return out;
}

std::string YamlQuoted(std::string_view text) {
  return nlohmann::json(std::string(text)).dump(-1, ' ', /*ensure_ascii=*/true);
}

}  // namespace isoscope
