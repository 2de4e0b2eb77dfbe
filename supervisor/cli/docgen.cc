// isoscope_docgen OUTDIR PAGE...: writes the man pages (OUTDIR/man1/PAGE.1)
// and the bash completion (OUTDIR/isoscope.bash) from isoscope's command line
// definition, at build time. PAGE... are the pages the build expects: a
// definition that yields others fails the build, naming the list to update.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backends/builtin_backends.h"
#include "base/io.h"
#include "policies/loader.h"
#include "supervisor/cli/cli_definition.h"
#include "supervisor/cli/cli_docs.h"
#include "supervisor/cli/version.h"

namespace {

bool WriteFile(const std::filesystem::path& path, const std::string& text) {
  if (auto written = isoscope::WriteFileReplacing(path.string(), text);
      !written) {
    fmt::print(stderr, "isoscope_docgen: {}\n", written.error().ToString());
    return false;
  }
  return true;
}

int Generate(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: isoscope_docgen OUTDIR PAGE...\n");
    return 2;
  }
  const std::filesystem::path out_dir = argv[1];
  const std::vector<std::string> expected(argv + 2, argv + argc);

  isoscope::BackendRegistry registry;
  isoscope::RegisterBuiltinBackends(registry);
  CLI::App app;
  isoscope::cli::CliValues values;
  isoscope::cli::DefineCli(app, registry, values);

  const auto pages = isoscope::cli::ManPages(app, isoscope::cli::ThisBuild());
  std::vector<std::string> names;
  for (const auto& page : pages) names.push_back(page.name);
  if (names != expected) {
    fmt::print(stderr,
               "isoscope_docgen: the command line defines the pages {}, the "
               "build expects {}: update ISOSCOPE_MAN_PAGES in "
               "supervisor/cli/CMakeLists.txt\n",
               fmt::join(names, " "), fmt::join(expected, " "));
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir / "man1", ec);
  if (ec) {
    fmt::print(stderr, "isoscope_docgen: creating {}: {}\n",
               (out_dir / "man1").string(), ec.message());
    return 1;
  }
  for (const auto& page : pages) {
    if (!WriteFile(out_dir / "man1" / (page.name + ".1"), page.roff)) return 1;
  }
  const std::string completion = isoscope::cli::BashCompletion(
      app, registry.Names(), isoscope::PresetNames());
  return WriteFile(out_dir / "isoscope.bash", completion) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Generate(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "isoscope_docgen: {}\n", e.what());
    return 1;
  }
}
