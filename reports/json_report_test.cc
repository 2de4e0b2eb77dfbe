#include "reports/json_report.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "reports/report_fixture.h"
#include "tests/test_env.h"

namespace isoscope {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(JsonReport, HoldsTheComparisonProbesAndVerdict) {
  const json j = ReportJson(report_fixture::TwoBackends());
  EXPECT_EQ(j["schema_version"], 2);
  EXPECT_EQ(j["comparison"]["id"], 7);
  ASSERT_EQ(j["comparison"]["backends"].size(), 3u);
  EXPECT_EQ(j["comparison"]["backends"][1]["backend"], "fake");
  EXPECT_EQ(j["comparison"]["backends"][1]["wall_ns"]["median"], 30e6);
  EXPECT_EQ(j["comparison"]["backends"][2]["available"], false);
  EXPECT_TRUE(j["comparison"]["backends"][2]["wall_ratio"].is_null());
  EXPECT_EQ(j["probes"]["findings"].size(), 30u);
  EXPECT_EQ(
      j["verdict"]["pairs"][0]["open_in_second_blocked_in_first"][0]["probe"],
      "tracer-pid");
  EXPECT_FALSE(j["verdict"]["sentences"].empty());
}

TEST(JsonReport, HoldsTheSensitiveInstructionTable) {
  const json j = ReportJson(report_fixture::TwoBackends());
  const json& rows = j["sensitive_instructions"];
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0]["instruction"], "popf-if");
  EXPECT_EQ(rows[0]["cells"][0]["class"], "ignored");
  EXPECT_EQ(rows[0]["cells"][1]["class"], "virtual");
  EXPECT_EQ(rows[0]["tells"], json::array({"fake"}));
  EXPECT_EQ(rows[3]["instruction"], "rdtscp");
  EXPECT_EQ(rows[3]["cells"][1]["class"], "trap");
  EXPECT_EQ(rows[3]["cells"][1]["trapped"], "rdtscp:emulate");
  EXPECT_TRUE(rows[3]["cells"][1]["run_id"].is_null());
  EXPECT_TRUE(
      ReportJson(report_fixture::TwoBackends(false))["sensitive_instructions"]
          .is_null());
}

TEST(JsonReport, FailedRunsSayWhyAndHaveNoRatio) {
  const json j = ReportJson(report_fixture::WithFailures());
  const json& fake = j["comparison"]["backends"][1];
  EXPECT_EQ(fake["failed"], true);
  EXPECT_EQ(fake["failure"]["what"], "killed by the policy");
  EXPECT_EQ(fake["failure"]["rule_id"], "no-uname");
  EXPECT_EQ(fake["failure"]["run_id"], 4);
  EXPECT_EQ(fake["failure"]["failed_runs"], 3);
  EXPECT_EQ(fake["failure_text"],
            "killed by the policy (3 of 3 measured runs): syscall uname (63) "
            "killed by rule 'no-uname' (isoscope runs show 4)");
  EXPECT_TRUE(fake["wall_ratio"].is_null());
  const json& broken = j["comparison"]["backends"][3];
  EXPECT_EQ(broken["failed"], true);
  EXPECT_TRUE(broken["failure"].is_null());
  EXPECT_EQ(broken["failure_text"],
            "failed to run: starting /bin/x on backend broken: clone3: EPERM");
  const json& native = j["comparison"]["backends"][0];
  EXPECT_EQ(native["failed"], false);
  EXPECT_EQ(native["failure_text"], "");
  EXPECT_TRUE(j["verdict"]["pairs"][0]["wall_ratio"].is_null());
  EXPECT_EQ(j["verdict"]["sentences"][0],
            "fake's runs failed, so no cost is computed from them: killed by "
            "the policy (3 of 3 measured runs): syscall uname (63) killed by "
            "rule 'no-uname' (isoscope runs show 4).");
}

TEST(JsonReport, SaysWhatEachBackendStandsForAndEnforces) {
  const json j = ReportJson(report_fixture::TwoBackends());
  EXPECT_EQ(j["comparison"]["policy"]["sections_used"],
            json::array({"syscalls", "network"}));
  const json& fake = j["comparison"]["backends"][1]["traits"];
  EXPECT_EQ(fake["measures"],
            "a syscall-forwarding fake: an upper bound for the real thing");
  EXPECT_EQ(fake["enforcement"][1], json({{"section", "network"},
                                          {"enforced", false},
                                          {"how", "no network namespace"}}));
}

TEST(JsonReport, MatchesTheReviewedRendering) {
  const std::string text = RenderJsonReport(report_fixture::WithFailures());
  EXPECT_EQ(text, report_fixture::Golden("with_failures.json", text));
}

TEST(JsonReport, NoProbeSessionIsNull) {
  EXPECT_TRUE(
      ReportJson(report_fixture::TwoBackends(false))["probes"].is_null());
}

TEST(JsonReport, InvalidUtf8IsReplacedNotThrown) {
  ReportData data = report_fixture::TwoBackends();
  data.probes->findings[0].detail = "bad \xff\xfe bytes";
  const std::string text = RenderJsonReport(data);
  EXPECT_THAT(text, HasSubstr("bad \xef\xbf\xbd"));
}

class JsonSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-json-report-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
  }

  // The validator's exit status: 0 valid, 1 invalid.
  int Validate(const std::string& text) {
    const auto path = dir_->path() / "report.json";
    std::ofstream(path) << text;
    const auto result = testing::RunCommand(
        {"/usr/bin/python3",
         (testing::SourceDir() / "tests/validate_report_json.py").string(),
         (testing::SourceDir() / "reports/schema.json").string(),
         path.string()});
    last_err_ = result.err;
    return result.exit_status;
  }

  std::optional<TempDir> dir_;
  std::string last_err_;
};

TEST_F(JsonSchemaTest, RenderedReportsValidate) {
  const int first = Validate(RenderJsonReport(report_fixture::TwoBackends()));
  if (first == 3 || first == 127) {
    GTEST_SKIP() << "needs python3 and the Debian package python3-jsonschema "
                    "(scripts/install-deps.sh): "
                 << last_err_;
  }
  EXPECT_EQ(first, 0) << last_err_;
  EXPECT_EQ(Validate(RenderJsonReport(report_fixture::TwoBackends(false))), 0)
      << last_err_;
  EXPECT_EQ(Validate(RenderJsonReport(report_fixture::NativeOnly())), 0)
      << last_err_;
  EXPECT_EQ(Validate(RenderJsonReport(report_fixture::WithFailures())), 0)
      << last_err_;
}

TEST_F(JsonSchemaTest, AMissingFieldFailsValidation) {
  json j = ReportJson(report_fixture::WithFailures());
  const int valid = Validate(j.dump());
  if (valid == 3 || valid == 127) {
    GTEST_SKIP() << "needs the Debian package python3-jsonschema";
  }
  for (const json::json_pointer& field :
       {json::json_pointer("/schema_version"),
        json::json_pointer("/comparison/backends/0/wall_ns"),
        json::json_pointer("/comparison/host/virtualization"),
        json::json_pointer("/probes/findings/0/verdict"),
        json::json_pointer("/comparison/policy/sections_used"),
        json::json_pointer("/comparison/backends/1/failure/reason"),
        json::json_pointer("/comparison/backends/1/failure_text"),
        json::json_pointer("/comparison/backends/1/traits/measures"),
        json::json_pointer("/comparison/backends/1/traits/enforcement"),
        json::json_pointer("/verdict/sentences")}) {
    json broken = j;
    const std::string key = field.back();
    broken[field.parent_pointer()].erase(key);
    EXPECT_EQ(Validate(broken.dump()), 1) << field.to_string();
    EXPECT_THAT(last_err_, HasSubstr(key)) << field.to_string();
  }
  json wrong = j;
  wrong["schema_version"] = 1;
  EXPECT_EQ(Validate(wrong.dump()), 1);
}

}  // namespace
}  // namespace isoscope
