// `isoscope runs list|show`: the results store, read back.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "reports/terminal.h"
#include "supervisor/cli/commands.h"
#include "supervisor/cli/since.h"
#include "supervisor/cli/terminal_output.h"
#include "supervisor/run_result_json.h"

namespace isoscope::cli {

int RunsListCommand(const Context& context, const RunsListOptions& options) {
  RunFilter filter;
  filter.backend = options.backend;
  if (!options.outcome.empty()) {
    filter.outcome = OutcomeFromName(options.outcome);
    if (!filter.outcome) {
      return ReportError(Error(
          ErrorCode::kInvalidArgument,
          fmt::format("--outcome '{}': unknown outcome", options.outcome)));
    }
  }
  if (!options.since.empty()) {
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count();
    auto since = ParseSince(options.since, now_ms);
    if (!since) return ReportError(since.error());
    filter.since_unix_ms = *since;
  }
  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());
  auto runs = store->List(options.limit, filter);
  if (!runs) return ReportError(runs.error());
  if (options.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const RunSummary& run : *runs) {
      list.push_back({{"id", run.id},
                      {"started_at_unix_ms", run.started_at_unix_ms},
                      {"backend", run.backend},
                      {"command", run.command},
                      {"policy", run.policy_name},
                      {"outcome", OutcomeName(run.outcome)},
                      {"exit_status", run.exit_status},
                      {"wall_ns", run.wall_ns}});
    }
    // Commands are the workload's bytes: invalid UTF-8 is replaced, not
    // fatal.
    fmt::print("{}\n", list.dump(2, ' ', false,
                                 nlohmann::json::error_handler_t::replace));
    return 0;
  }
  const std::optional<size_t> width =
      options.wide ? std::nullopt : OutputColumns(STDOUT_FILENO);
  fmt::print("{}", RenderRunList(*runs, width));
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
