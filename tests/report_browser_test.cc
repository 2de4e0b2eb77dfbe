// The HTML report in a real browser: Debian's chromium renders it headless
// without console errors, takes a screenshot, and its DOM holds every chart
// with data for each backend. Skips (naming the package) without chromium.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/io.h"
#include "base/temp_dir.h"
#include "reports/report.h"
#include "reports/report_fixture.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;

constexpr auto kTimeout = std::chrono::seconds(90);

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::filesystem::path FindChromium() {
  for (const char* candidate :
       {"/usr/bin/chromium", "/usr/lib/chromium/chromium"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return {};
}

struct BrowserRun {
  int exit_status = -1;  // 128 + signal when killed
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs chromium in its own process group with stdout and stderr in files;
// on timeout, and in any case afterwards, the whole group is killed so no
// renderer or zygote outlives the test.
BrowserRun RunBrowser(const std::vector<std::string>& argv,
                      const std::filesystem::path& dir) {
  BrowserRun run;
  const auto out_path = dir / "browser.out";
  const auto err_path = dir / "browser.err";
  std::vector<char*> args;
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return run;
  if (pid == 0) {
    ::setpgid(0, 0);
    const int out =
        ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err =
        ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int null = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || null < 0) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here, so the group exists at once
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      run.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Helpers chromium left in its group (it normally reaps them itself).
  ::kill(-pid, SIGKILL);
  run.exit_status = WIFEXITED(status)     ? WEXITSTATUS(status)
                    : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                          : -1;
  run.out = ReadFile(out_path);
  run.err = ReadFile(err_path);
  return run;
}

class ReportBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = FindChromium();
    if (chromium_.empty()) {
      GTEST_SKIP() << "needs the Debian package chromium "
                      "(scripts/install-deps.sh installs it)";
    }
    auto dir = TempDir::Create("isoscope-report-browser-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    html_ = dir_->path() / "report.html";
    auto text =
        RenderReport(report_fixture::TwoBackends(), ReportFormat::kHtml);
    ASSERT_TRUE(text.has_value());
    ASSERT_TRUE(WriteFileReplacing(html_.string(), *text).has_value());
  }

  // `page` defaults to the report; `window` is chromium's window size.
  BrowserRun Chromium(const std::string& action, const std::string& profile,
                      const std::filesystem::path& page = {},
                      const std::string& window = "1280,2400",
                      const std::vector<std::string>& extra = {}) {
    const auto profile_dir = dir_->path() / profile;
    std::filesystem::create_directory(profile_dir);
    std::vector<std::string> argv = {chromium_.string(),
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-quic",
                                     "--no-first-run",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--user-data-dir=" + profile_dir.string(),
                                     "--enable-logging=stderr",
                                     "--v=0",
                                     action,
                                     "--window-size=" + window};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("file://" + (page.empty() ? html_ : page).string());
    return RunBrowser(argv, dir_->path());
  }

  static void ExpectNoConsoleErrors(const std::string& err) {
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_THAT(line, ::testing::Not(HasSubstr("Uncaught"))) << line;
      if (line.find("CONSOLE(") != std::string::npos) {
        std::string lower = line;
        for (char& c : lower) c = static_cast<char>(std::tolower(c));
        EXPECT_THAT(lower, ::testing::Not(HasSubstr("error"))) << line;
      }
    }
  }

  std::filesystem::path chromium_;
  std::optional<TempDir> dir_;
  std::filesystem::path html_;
};

TEST_F(ReportBrowserTest, RendersAScreenshotWithoutConsoleErrors) {
  const auto png = dir_->path() / "report.png";
  const BrowserRun run = Chromium("--screenshot=" + png.string(), "shot");
  ASSERT_FALSE(run.timed_out) << "chromium did not finish in time\n" << run.err;
  EXPECT_EQ(run.exit_status, 0) << run.err;
  ASSERT_TRUE(std::filesystem::exists(png)) << run.err;
  EXPECT_GT(std::filesystem::file_size(png), 20u * 1024);
  EXPECT_TRUE(ReadFile(png).starts_with("\x89PNG\r\n\x1a\n"));
  ExpectNoConsoleErrors(run.err);
  // Keep one for a person to look at when asked to.
  if (const char* keep = std::getenv("ISOSCOPE_KEEP_SCREENSHOT")) {
    std::filesystem::copy_file(
        png, keep, std::filesystem::copy_options::overwrite_existing);
  }
}

TEST_F(ReportBrowserTest, DomHasEveryChartWithDataForEachBackend) {
  const BrowserRun run = Chromium("--dump-dom", "dom");
  ASSERT_FALSE(run.timed_out) << "chromium did not finish in time\n" << run.err;
  EXPECT_EQ(run.exit_status, 0) << run.err;
  ExpectNoConsoleErrors(run.err);
  const std::string& dom = run.out;
  for (const std::string id :
       {"overhead", "startup", "spectrum", "probes", "faults", "surface"}) {
    // The parsed chart (the browser's serialisation, not our text).
    const size_t at = dom.find("data-chart=\"" + id + "\"");
    ASSERT_NE(at, std::string::npos) << "chart " << id;
    const size_t start = dom.rfind("<svg", at);
    const size_t end = dom.find("</svg>", at);
    ASSERT_TRUE(start != std::string::npos && end != std::string::npos);
    const std::string svg = dom.substr(start, end - start);
    for (const char* backend : {"native", "fake"}) {
      EXPECT_THAT(svg,
                  HasSubstr(std::string("data-backend=\"") + backend + "\""))
          << id << " has no data for " << backend;
    }
  }
}

// The report read at the page's full width (1000 px) and on a phone (390
// px): neither scrolls sideways, nor does the summary table, which becomes
// one card per backend on the phone. The report has no script, so a test
// page frames it at both widths and measures it; its screenshot shows both.
constexpr std::string_view kLayoutPage = R"html(<!DOCTYPE html>
<html><body style="margin:0;white-space:nowrap">
<iframe id="wide" src="report.html" style="width:1000px;height:2400px;border:0;vertical-align:top"></iframe>
<iframe id="phone" src="report.html" style="width:390px;height:2400px;border:0;vertical-align:top;margin-left:16px"></iframe>
<pre id="metrics"></pre>
<script>
window.addEventListener('load', () => {
  const out = [];
  for (const id of ['wide', 'phone']) {
    const d = document.getElementById(id).contentDocument;
    const t = d.querySelector('#summary table');
    out.push(`${id}: page ${d.documentElement.scrollWidth} of ` +
             `${d.documentElement.clientWidth}, summary ${t.scrollWidth} of ` +
             `${t.clientWidth}, header ${getComputedStyle(t.tHead).display}`);
  }
  document.getElementById('metrics').textContent = out.join(';');
});
</script></body></html>
)html";

TEST_F(ReportBrowserTest, ReadsAtFullWidthAndOnAPhone) {
  const auto page = dir_->path() / "layout.html";
  std::ofstream(page) << kLayoutPage;
  const std::vector<std::string> flags = {"--allow-file-access-from-files",
                                          "--virtual-time-budget=3000"};
  const BrowserRun run =
      Chromium("--dump-dom", "layout", page, "1420,2400", flags);
  ASSERT_FALSE(run.timed_out) << "chromium did not finish in time\n" << run.err;
  EXPECT_EQ(run.exit_status, 0) << run.err;
  ExpectNoConsoleErrors(run.err);
  const size_t at = run.out.find("<pre id=\"metrics\">");
  ASSERT_NE(at, std::string::npos) << run.out;
  const std::string metrics =
      run.out.substr(at, run.out.find("</pre>", at) - at);
  // "wide: page 985 of 985, summary 937 of 937, header table-header-group"
  const auto parse = [&](const std::string& id) {
    std::array<int, 4> v{};
    char header[64] = {};
    const size_t from = metrics.find(id + ": ");
    EXPECT_NE(from, std::string::npos) << metrics;
    if (from == std::string::npos) return std::make_pair(v, std::string());
    const int n =
        std::sscanf(metrics.c_str() + from + id.size(),
                    ": page %d of %d, summary %d of %d, header %63[^;]", &v[0],
                    &v[1], &v[2], &v[3], header);
    EXPECT_EQ(n, 5) << metrics;
    return std::make_pair(v, std::string(header));
  };
  for (const std::string id : {"wide", "phone"}) {
    const auto [v, header] = parse(id);
    EXPECT_LE(v[0], v[1]) << id << " scrolls sideways: " << metrics;
    EXPECT_LE(v[2], v[3]) << id << "'s summary scrolls sideways: " << metrics;
    EXPECT_GT(v[1], 0) << metrics;
    // Cards on the phone: no header row; a table at full width.
    EXPECT_EQ(header, id == "phone" ? "none" : "table-header-group") << metrics;
  }
  const auto png = dir_->path() / "layout.png";
  const BrowserRun shot = Chromium("--screenshot=" + png.string(), "layout",
                                   page, "1420,2400", flags);
  EXPECT_EQ(shot.exit_status, 0) << shot.err;
  EXPECT_GT(std::filesystem::file_size(png), 20u * 1024);
  if (const char* keep = std::getenv("ISOSCOPE_KEEP_LAYOUT_SCREENSHOT")) {
    std::filesystem::copy_file(
        png, keep, std::filesystem::copy_options::overwrite_existing);
  }
}

}  // namespace
}  // namespace isoscope
