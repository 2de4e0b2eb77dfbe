// Reports from the store: what `isoscope report` and `compare --report`
// render, re-rendered byte for byte from a store round trip.
#include "reports/report.h"

#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "reports/report_fixture.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;

class ReportStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-report-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    auto store = Store::Open(dir_->path() / "runs.db");
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_.emplace(std::move(*store));
  }

  // Records the fixture's runs, probe session and comparison, rewriting
  // their ids to the store's.
  int64_t Record(ReportData data) {
    std::map<int64_t, int64_t> ids;
    for (RunResult& run : data.runs) {
      const int64_t old_id = run.id;
      run.id = 0;
      auto id = store_->Record(run);
      EXPECT_TRUE(id.has_value()) << id.error().ToString();
      ids[old_id] = *id;
    }
    for (BackendComparison& b : data.comparison.backends) {
      for (int64_t& id : b.run_ids) id = ids[id];
      if (b.failure.has_value()) b.failure->run_id = ids[b.failure->run_id];
    }
    if (data.probes.has_value()) {
      auto id = store_->RecordProbeSession(*data.probes);
      EXPECT_TRUE(id.has_value()) << id.error().ToString();
      data.comparison.probe_session_id = *id;
    }
    auto id = store_->RecordComparison(data.comparison);
    EXPECT_TRUE(id.has_value()) << id.error().ToString();
    return *id;
  }

  std::optional<TempDir> dir_;
  std::optional<Store> store_;
};

// What the store gives back renders as the data that went in did: every
// field a report shows survives the round trip. (The renderings of that
// data are held to the reviewed ones in reports/testdata.)
TEST_F(ReportStoreTest, ReRenderingFromTheStoreGivesTheSameBytes) {
  for (ReportData original :
       {report_fixture::TwoBackends(), report_fixture::WithFailures()}) {
    const int64_t id = Record(original);
    auto loaded = LoadReportData(*store_, id);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
    EXPECT_EQ(loaded->runs.size(), 6u);
    ASSERT_TRUE(loaded->probes.has_value());
    // The store numbers the comparison and its runs and probe session.
    original.comparison.id = id;
    original.comparison.probe_session_id = loaded->probes->id;
    original.probes->id = loaded->probes->id;
    std::map<int64_t, int64_t> ids;
    for (size_t i = 0; i < original.runs.size(); ++i) {
      ids[original.runs[i].id] = loaded->runs[i].id;
      original.runs[i].id = loaded->runs[i].id;
    }
    for (BackendComparison& b : original.comparison.backends) {
      for (int64_t& run_id : b.run_ids) run_id = ids[run_id];
      if (b.failure.has_value()) b.failure->run_id = ids[b.failure->run_id];
    }
    for (ReportFormat format :
         {ReportFormat::kHtml, ReportFormat::kMarkdown, ReportFormat::kJson}) {
      auto expected = RenderReport(original, format);
      auto actual = RenderReport(*loaded, format);
      ASSERT_TRUE(expected.has_value() && actual.has_value());
      EXPECT_EQ(*actual, *expected);
      EXPECT_THAT(*actual, HasSubstr("tracer-pid"));
    }
  }
}

TEST_F(ReportStoreTest, RenderReportFileTakesTheFormatFromTheExtension) {
  const int64_t id = Record(report_fixture::TwoBackends());
  const auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  for (const auto& [name, start] :
       std::vector<std::pair<std::string, std::string>>{
           {"r.html", "<!DOCTYPE html>"},
           {"r.md", "# isoscope comparison"},
           {"r.json", "{"},
           {"r.txt", "<!DOCTYPE html>"}}) {
    const auto path = dir_->path() / name;
    auto status = RenderReportFile(*store_, id, path.string());
    ASSERT_TRUE(status.has_value()) << status.error().ToString();
    EXPECT_TRUE(read(path).starts_with(start)) << name;
    EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  }
  auto bad = RenderReportFile(*store_, id,
                              (dir_->path() / "no/such/dir/r.html").string());
  EXPECT_FALSE(bad.has_value());
}

TEST_F(ReportStoreTest, UnknownComparisonIsNotFound) {
  auto data = LoadReportData(*store_, 4242);
  ASSERT_FALSE(data.has_value());
  EXPECT_EQ(data.error().code(), ErrorCode::kNotFound);
}

TEST(ReportFormat, ParsesNamesAndExtensions) {
  EXPECT_EQ(ParseReportFormat("md").value(), ReportFormat::kMarkdown);
  EXPECT_EQ(ParseReportFormat("json").value(), ReportFormat::kJson);
  EXPECT_EQ(ParseReportFormat("html").value(), ReportFormat::kHtml);
  ASSERT_FALSE(ParseReportFormat("pdf").has_value());
  EXPECT_EQ(ParseReportFormat("pdf").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReportFormatForPath("a/b.MD"), ReportFormat::kHtml);
  EXPECT_EQ(ReportFormatForPath("a/b.md"), ReportFormat::kMarkdown);
  EXPECT_EQ(ReportFormatForPath("b.json"), ReportFormat::kJson);
}

}  // namespace
}  // namespace isoscope
