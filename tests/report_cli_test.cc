// `isoscope report` end to end: a comparison recorded in a store (built in
// code: no backend runs) rendered by the binary in each format.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/temp_dir.h"
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

  // Records the fixture (runs, probe session, comparison); returns its id.
  int64_t Record() {
    auto store = Store::Open(db_);
    EXPECT_TRUE(store.has_value());
    ReportData data = report_fixture::TwoBackends();
    std::map<int64_t, int64_t> ids;
    for (RunResult& run : data.runs) {
      const int64_t old_id = run.id;
      run.id = 0;
      ids[old_id] = store->Record(run).value();
    }
    for (BackendComparison& b : data.comparison.backends) {
      for (int64_t& id : b.run_ids) id = ids[id];
    }
    data.comparison.probe_session_id =
        store->RecordProbeSession(*data.probes).value();
    return store->RecordComparison(data.comparison).value();
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

TEST_F(ReportCliTest, RendersEachFormatToStdoutTheSameEachTime) {
  const int64_t id = Record();
  const auto html = Report({std::to_string(id), "--format", "html"});
  ASSERT_EQ(html.exit_status, 0) << html.err;
  EXPECT_TRUE(html.out.starts_with("<!DOCTYPE html>"));
  EXPECT_THAT(html.out, HasSubstr("data-chart=\"spectrum\""));
  EXPECT_EQ(Report({"latest", "--format", "html"}).out, html.out);

  const auto md = Report({"latest", "--format", "md"});
  ASSERT_EQ(md.exit_status, 0) << md.err;
  EXPECT_THAT(md.out, HasSubstr("## Probe matrix"));

  const auto json = Report({std::to_string(id), "--format", "json"});
  ASSERT_EQ(json.exit_status, 0) << json.err;
  const auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded());
  EXPECT_EQ(parsed["schema_version"], 1);
  EXPECT_EQ(parsed["comparison"]["id"], id);
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
