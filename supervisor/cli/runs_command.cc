// `isoscope runs list|show`: the results store, read back.
#include <charconv>

#include <fmt/format.h>

#include "reports/terminal.h"
#include "supervisor/cli/commands.h"
#include "supervisor/run_result_json.h"

namespace isoscope::cli {

int RunsListCommand(const Context& context, int limit) {
  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());
  auto runs = store->List(limit);
  if (!runs) return ReportError(runs.error());
  fmt::print("{}", RenderRunList(*runs));
  return 0;
}

int RunsShowCommand(const Context& context, const std::string& id_text,
                    bool json) {
  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());
  int64_t id = 0;
  if (id_text == "latest") {
    auto latest = store->LatestId();
    if (!latest) return ReportError(latest.error());
    id = *latest;
  } else {
    auto [ptr, ec] =
        std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc() || ptr != id_text.data() + id_text.size() ||
        id <= 0) {
      return ReportError(Error(
          ErrorCode::kInvalidArgument,
          fmt::format("run id '{}': expected a number or 'latest'", id_text)));
    }
  }
  auto run = store->Get(id);
  if (!run) return ReportError(run.error());
  if (json) {
    fmt::print("{}\n", ToJson(*run).dump(2));
  } else {
    fmt::print("{}", RenderRunDetail(*run));
  }
  return 0;
}

}  // namespace isoscope::cli
