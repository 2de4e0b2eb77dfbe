// `isoscope report` end to end: a comparison recorded in a store (built in
// code: no backend runs) rendered by the binary in each format.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
#include "reports/json_report.h"
#include "reports/report.h"
#include "reports/report_fixture.h"
#include "supervisor/store.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

using ::testing::HasSubstr;

class ReportCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-report-cli-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    db_ = (dir_->path() / "runs.db").string();
  }

  // Records `data` (runs, probe session, comparison) and renumbers it as
  // the store did; returns the comparison's id.
  int64_t Record(ReportData& data) {
    auto store = Store::Open(db_);
    EXPECT_TRUE(store.has_value());
    std::map<int64_t, int64_t> ids;
    for (RunResult& run : data.runs) {
      const int64_t old_id = run.id;
      run.id = 0;
      run.id = store->Record(run).value();
      ids[old_id] = run.id;
    }
    for (BackendComparison& b : data.comparison.backends) {
      for (int64_t& id : b.run_ids) id = ids[id];
      if (b.failure.has_value()) b.failure->run_id = ids[b.failure->run_id];
    }
    data.probes->id = store->RecordProbeSession(*data.probes).value();
    data.comparison.probe_session_id = data.probes->id;
    data.comparison.id = store->RecordComparison(data.comparison).value();
    return data.comparison.id;
  }
  int64_t Record() {
    ReportData data = report_fixture::TwoBackends();
    return Record(data);
  }

  CommandResult Report(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {IsoscopeBinary().string(), "--db", db_,
                                     "report"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  std::optional<TempDir> dir_;
  std::string db_;
};

// The binary, in another process, time zone and locale, renders from the
// store exactly what this process renders from the data that went in (whose
// renderings are held to reports/testdata); `latest` is the same comparison.
TEST_F(ReportCliTest, RendersEachFormatToStdoutAsTheDataDoes) {
  ReportData data = report_fixture::WithFailures();
  const int64_t id = Record(data);
  const std::vector<std::string> elsewhere = {"TZ=Pacific/Chatham",
                                              "LC_ALL=C.UTF-8"};
  for (const auto& [name, format] : {std::pair{"html", ReportFormat::kHtml},
                                     std::pair{"md", ReportFormat::kMarkdown},
                                     std::pair{"json", ReportFormat::kJson}}) {
    const auto expected = RenderReport(data, format);
    ASSERT_TRUE(expected.has_value()) << expected.error().ToString();
    const auto rendered =
        RunCommand({IsoscopeBinary().string(), "--db", db_, "report",
                    std::to_string(id), "--format", name},
                   elsewhere);
    ASSERT_EQ(rendered.exit_status, 0) << rendered.err;
    EXPECT_EQ(rendered.out, *expected) << name;
    EXPECT_EQ(Report({"latest", "--format", name}).out, *expected) << name;
  }
  const auto json = Report({std::to_string(id), "--format", "json"});
  const auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded());
  EXPECT_EQ(parsed["schema_version"], kReportSchemaVersion);
  EXPECT_EQ(parsed["comparison"]["id"], id);
  EXPECT_EQ(parsed["comparison"]["backends"][1]["failure"]["rule_id"],
            "no-uname");
}

TEST_F(ReportCliTest, WritesAFileTakingTheFormatFromItsExtension) {
  Record();
  const auto path = dir_->path() / "report.md";
  const auto r = Report({"latest", "-o", path.string()});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(text.str().starts_with("# isoscope comparison #"));
}

TEST_F(ReportCliTest, UnknownIdBadIdAndBadFormat) {
  Record();
  const auto unknown = Report({"999", "--format", "json"});
  EXPECT_EQ(unknown.exit_status, 127) << unknown.err;  // kNotFound
  EXPECT_THAT(unknown.err, HasSubstr("999"));
  EXPECT_EQ(Report({"abc"}).exit_status, 64);
  const auto pdf = Report({"latest", "--format", "pdf"});
  EXPECT_EQ(pdf.exit_status, 64);
  EXPECT_THAT(pdf.err, HasSubstr("pdf"));
}

TEST_F(ReportCliTest, LatestWithoutComparisonsIsNotFound) {
  EXPECT_EQ(Report({"latest"}).exit_status, 127);
}

}  // namespace
}  // namespace isoscope::testing
