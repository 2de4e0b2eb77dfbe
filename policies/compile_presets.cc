// Build-time tool: parses the shipped presets with the loader, once, and
// writes them as C++ that builds the same Policy values, so an isoscope run
// on a preset does not parse YAML (about 2 ms of its start-up for
// `default`). The YAML files stay the one source; PresetTest checks that
// every compiled preset equals its parsed YAML.
// Usage: compile_presets OUTPUT.cc NAME=FILE.yaml...
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "policies/loader.h"
#include "policies/policy.h"

namespace isoscope {
namespace {

std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 ||
            static_cast<unsigned char>(c) >= 0x7f) {
          out += fmt::format("\\{:03o}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string Strings(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const std::string& value : values) out += Quoted(value) + ", ";
  return out + "}";
}

template <typename T>
std::string Numbers(const std::vector<T>& values) {
  std::string out = "{";
  for (const T value : values) out += fmt::format("{}, ", value);
  return out + "}";
}

std::string ActionCode(Action action) {
  return fmt::format("static_cast<Action>({})", static_cast<int>(action));
}

std::string Spec(const ActionSpec& spec) {
  return fmt::format("ActionSpec{{{}, {}, INT64_C({})}}",
                     ActionCode(spec.action), spec.errno_value,
                     spec.emulate_value);
}

std::string Position(const SourcePosition& position) {
  return fmt::format("SourcePosition{{{}, {}}}", position.line,
                     position.column);
}

std::string Optional(const std::optional<uint64_t>& value) {
  return value ? fmt::format("UINT64_C({})", *value)
               : std::string("std::nullopt");
}

// Statements that build `policy` into `p`; its source is the embedded text.
std::string Body(const Policy& policy) {
  std::string out;
  auto line = [&out](const std::string& statement) {
    out += "  " + statement + "\n";
  };
  line(fmt::format("p.version = {};", policy.version));
  line(fmt::format("p.name = {};", Quoted(policy.name)));
  const SyscallPolicy& syscalls = policy.syscalls;
  line(fmt::format("p.syscalls.default_action = {};",
                   Spec(syscalls.default_action)));
  line(fmt::format("p.syscalls.default_position = {};",
                   Position(syscalls.default_position)));
  line(fmt::format("p.syscalls.rules.reserve({});", syscalls.rules.size()));
  for (const Rule& rule : syscalls.rules) {
    line("{");
    line(fmt::format("  Rule& r = p.syscalls.rules.emplace_back();"));
    line(fmt::format("  r.id = {};", Quoted(rule.id)));
    line(fmt::format("  r.syscalls = {};", Numbers(rule.syscalls)));
    for (const ArgCondition& arg : rule.args) {
      line(fmt::format(
          "  r.args.push_back(ArgCondition{{{}, static_cast<CompareOp>({}), "
          "UINT64_C({}), UINT64_C({})}});",
          arg.index, static_cast<int>(arg.op), arg.value, arg.mask));
    }
    if (rule.paths) {
      line(fmt::format("  r.paths = PathGlobs{{{}, {}, {}}};",
                       Strings(rule.paths->read), Strings(rule.paths->write),
                       Strings(rule.paths->exec)));
    }
    line(fmt::format("  r.action = {};", Spec(rule.action)));
    if (rule.otherwise) {
      line(fmt::format("  r.otherwise = {};", Spec(*rule.otherwise)));
    }
    line(fmt::format("  r.position = {};", Position(rule.position)));
    line("}");
  }
  line(fmt::format("p.syscalls.abi = AbiPolicy{{{}, {}}};",
                   Spec(syscalls.abi.i386), Spec(syscalls.abi.x32)));
  const FaultPolicy& faults = policy.faults;
  line(fmt::format("p.faults.privileged_instruction = {};",
                   ActionCode(faults.privileged_instruction)));
  line(fmt::format("p.faults.cpuid = {};", ActionCode(faults.cpuid)));
  line(fmt::format("p.faults.rdtsc = {};", ActionCode(faults.rdtsc)));
  line(fmt::format("p.faults.page_fault = {};", ActionCode(faults.page_fault)));
  line(fmt::format("p.faults.invalid_instruction = {};",
                   ActionCode(faults.invalid_instruction)));
  line(fmt::format("p.faults.breakpoint = {};", ActionCode(faults.breakpoint)));
  line(fmt::format("p.faults.arithmetic = {};", ActionCode(faults.arithmetic)));
  line(fmt::format("p.faults.hide_hypervisor = {};", faults.hide_hypervisor));
  const Resources& resources = policy.resources;
  line(fmt::format(
      "p.resources = Resources{{{}, {}, {}, {}, {}, {}, {}}};",
      Optional(resources.memory_bytes), Optional(resources.processes),
      Optional(resources.cpu_time_ms), Optional(resources.wall_time_ms),
      Optional(resources.open_files), Optional(resources.file_size_bytes),
      Optional(resources.output_bytes)));
  const FilesystemView& view = policy.filesystem;
  line(fmt::format("p.filesystem = FilesystemView{{{}, {}, {}, {}}};",
                   Strings(view.readonly), Strings(view.writable),
                   Strings(view.tmpfs), Strings(view.hidden)));
  line(fmt::format("p.network = static_cast<NetworkMode>({});",
                   static_cast<int>(policy.network)));
  const Identity& identity = policy.identity;
  if (identity.hostname) {
    line(fmt::format("p.identity.hostname = {};", Quoted(*identity.hostname)));
  }
  if (identity.uid) line(fmt::format("p.identity.uid = {};", *identity.uid));
  if (identity.gid) line(fmt::format("p.identity.gid = {};", *identity.gid));
  line(fmt::format("p.identity.user_namespace = {};", identity.user_namespace));
  line(fmt::format("p.capabilities = {};", Strings(policy.capabilities)));
  for (const AcceptedHole& hole : policy.accepted_holes) {
    line(fmt::format("p.accepted_holes.push_back(AcceptedHole{{{}, {}, {}}});",
                     Numbers(hole.syscalls), Quoted(hole.reason),
                     Position(hole.position)));
  }
  return out;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: compile_presets OUTPUT.cc NAME=FILE.yaml...\n");
    return 2;
  }
  std::string out =
      "// Generated by policies/compile_presets.cc from policies/presets/"
      "*.yaml.\n// Do not edit: edit the YAML files.\n"
      "#include <cstdint>\n#include <optional>\n#include <string>\n\n"
      "#include \"policies/presets_embedded.h\"\n\n"
      "namespace isoscope::policies_internal {\n\n"
      "std::optional<Policy> CompiledPreset(std::string_view name,\n"
      "                                     std::string_view text) {\n";
  for (int i = 2; i < argc; ++i) {
    const std::string_view argument = argv[i];
    const size_t equals = argument.find('=');
    if (equals == std::string_view::npos) {
      fmt::print(stderr, "compile_presets: expected NAME=FILE, got {}\n",
                 argument);
      return 2;
    }
    const std::string name(argument.substr(0, equals));
    const std::string path(argument.substr(equals + 1));
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    if (!file) {
      fmt::print(stderr, "compile_presets: cannot read {}\n", path);
      return 1;
    }
    // As LoadPreset parses it.
    auto policy = ParsePolicy(text.str(), fmt::format("presets/{}.yaml", name));
    if (!policy) {
      fmt::print(stderr, "{}\n", policy.error().ToString());
      return 1;
    }
    policy->name = name;
    if (!policy->endpoints.empty()) {
      // Body() does not write them: a preset with them would lose them.
      fmt::print(stderr,
                 "compile_presets: {}: network.connect/bind are not compiled "
                 "for presets\n",
                 path);
      return 1;
    }
    out += fmt::format("  if (name == {}) {{\n    Policy p;\n", Quoted(name));
    out += "  p.source = std::string(text);\n";
    out += Body(*policy);
    out += "    return p;\n  }\n";
  }
  out +=
      "  return std::nullopt;\n}\n\n}  // namespace "
      "isoscope::policies_internal\n";
  std::ofstream output(argv[1], std::ios::trunc);
  output << out;
  if (!output.flush()) {
    fmt::print(stderr, "compile_presets: cannot write {}\n", argv[1]);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace isoscope

int main(int argc, char** argv) { return isoscope::Main(argc, argv); }
