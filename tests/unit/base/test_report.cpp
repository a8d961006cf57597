// The evaluation report: files, charts and the figures in the page and the Markdown summary, from
// results JSON built here (the CLI test checks the same on results of real `clipzs eval` runs).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <regex>

#include "../test_support.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/report/report.hpp"

using namespace clipzs;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A results file as `clipzs eval --out` writes it: `c` classes of `n` images, class i right on
// n - (i % 4) images and wrong on the rest, all predicted as class (i + 1) % c.
json make_result(const std::string& method, int64_t c, int64_t n, int64_t shots = 0, int64_t seed = 0, double acc1 = -1) {
  json per_class = json::array(), confusion = json::array();
  int64_t right = 0;
  for (int64_t i = 0; i < c; ++i) {
    const int64_t ok = n - (i % 4);
    right += ok;
    per_class.push_back({{"class", "class " + std::to_string(i)}, {"count", n}, {"recall", static_cast<double>(ok) / n}});
    std::vector<int64_t> row(static_cast<size_t>(c), 0);
    row[static_cast<size_t>(i)] = ok;
    row[static_cast<size_t>((i + 1) % c)] += n - ok;
    confusion.push_back(row);
  }
  const double a = acc1 >= 0 ? acc1 : static_cast<double>(right) / static_cast<double>(c * n);
  json r = {{"dataset", "toy"},
            {"model", "tiny"},
            {"task", shots > 0 ? "fewshot_classification" : "zeroshot_classification"},
            {"metrics", {{"acc1", a}, {"acc5", 1.0}, {"mean_per_class_recall", a}}},
            {"counts", {{"rows", c * n}, {"evaluated", c * n}, {"unreadable", 0}, {"classes", c}}},
            {"per_class", per_class},
            {"confusion_matrix", confusion},
            {"compare", json::object()},
            {"context", {{"method", method}, {"created", "2026-11-23T00:00:00Z"}}}};
  if (shots > 0) r["context"]["fewshot"] = {{"shots", shots}, {"seed", seed}};
  return r;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

TEST(Report, WritesPageSummaryAndDecodableChartsWithTheFigures) {
  const fs::path dir = test_support::fresh_temp_dir("report_small");
  std::vector<json> results{make_result("zeroshot", 5, 8)};
  std::vector<std::string> sources{"zs.json"};
  // Tip-Adapter at K = 1 and 2, two seeds each: means 0.50 / 0.70, sample std 0.1 / 0.
  for (auto [k, seed, acc] : std::vector<std::tuple<int, int, double>>{{1, 1, 0.4}, {1, 2, 0.6}, {2, 1, 0.7}, {2, 2, 0.7}}) {
    results.push_back(make_result("tip-adapter", 5, 8, k, seed, acc));
    sources.push_back("tip_" + std::to_string(k) + "_" + std::to_string(seed) + ".json");
  }
  const ReportFiles files = write_eval_report(results, sources, 0, (dir / "r").string());
  EXPECT_EQ(files.charts.size(), 4u);  // per-class, confusion, methods, few-shot curve
  for (const auto& chart : files.charts) {
    const std::string png = read_file(chart);
    const PngSize size = png_size(png);
    EXPECT_GT(size.width, 400) << chart;
    EXPECT_GT(size.height, 200) << chart;
    const cv::Mat image = cv::imread(chart, cv::IMREAD_COLOR);
    ASSERT_FALSE(image.empty()) << chart;
    EXPECT_EQ(image.cols, size.width);
    double lo = 0, hi = 0;
    cv::minMaxLoc(image.reshape(1), &lo, &hi);
    EXPECT_LT(lo, 100) << chart << " has no ink";  // something is drawn on the white page
  }
  const std::string html = read_file(files.html);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "src=\"data:image/png;base64,"), 4u);
  EXPECT_EQ(count(html, "<table"), count(html, "</table>"));
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // self-contained
  EXPECT_EQ(html.find("<script"), std::string::npos);
  const std::string md = read_file(files.markdown);
  // zero-shot: (8+7+6+5+8)/40 = 85 %.
  EXPECT_NE(md.find("| top-1 accuracy | 85.00 % |"), std::string::npos) << md;
  EXPECT_NE(md.find("| toy | tip-adapter K=2 | 70.00 \u00b1 0.00 | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| tip-adapter | 50.00 \u00b1 14.14 | 70.00 \u00b1 0.00 |"), std::string::npos) << md;
  // The largest confusion: class 3 (5 of 8 right) predicted as class 4, 3 images, 37.5 %.
  EXPECT_NE(md.find("| 1 | class 3 | class 4 | 3 | 37.50 |"), std::string::npos) << md;
  fs::remove_all(dir);
}

TEST(Report, ComparesAblationsAndKeepsEachModelsZeroShotLine) {
  const fs::path dir = test_support::fresh_temp_dir("report_models");
  json xmore = make_result("xmore", 4, 5, 0, 0, 0.8);
  xmore["compare"] = {{"xmore", {{"acc1", 0.8}}}, {"zeroshot", {{"acc1", 0.7}}}, {"captions_only", {{"acc1", 0.6}}}};
  json other = make_result("zeroshot", 4, 5, 0, 0, 0.1);
  other["model"] = "other";
  const std::vector<json> results{make_result("zeroshot", 4, 5, 0, 0, 0.7), other, xmore,
                                  make_result("tip-adapter", 4, 5, 1, 1, 0.75), make_result("tip-adapter", 4, 5, 2, 1, 0.85)};
  const ReportFiles files = write_eval_report(results, {"a", "b", "c", "d", "e"}, 2, (dir / "r").string());
  const std::string md = read_file(files.markdown);
  // Two models on one dataset: bars are named by model; X-MoRe's ablations are bars of their own.
  for (const char* row : {"| toy | tiny: zeroshot | 70.00 | 1 |", "| toy | other: zeroshot | 10.00 | 1 |",
                          "| toy | tiny: xmore | 80.00 | 1 |", "| toy | tiny: xmore: image only (zero-shot) | 70.00 | 1 |",
                          "| toy | tiny: xmore: captions only | 60.00 | 1 |", "| toy | tiny: tip-adapter K=2 | 85.00 | 1 |"})
    EXPECT_NE(md.find(row), std::string::npos) << row << "\n" << md;
  // The curve's zero-shot line is the few-shot model's own (70 %), not a mean over models.
  EXPECT_NE(md.find("zero-shot: 70.00 %"), std::string::npos) << md;
  // Zero-shot first, then X-MoRe, then few-shot, whatever the order of the files.
  EXPECT_LT(md.find("tiny: zeroshot"), md.find("tiny: xmore |"));
  EXPECT_LT(md.find("tiny: xmore |"), md.find("tiny: tip-adapter K=2"));
  fs::remove_all(dir);
}

TEST(Report, ListsMethodsInTheGivenOrderWhateverTheOrderOfTheFiles) {
  const fs::path dir = test_support::fresh_temp_dir("report_order");
  const std::vector<json> results{make_result("tip-adapter", 4, 5, 2, 1, 0.85), make_result("transclip", 4, 5, 0, 0, 0.8),
                                  make_result("mystery", 4, 5, 0, 0, 0.6), make_result("zeroshot", 4, 5, 0, 0, 0.7)};
  ReportOptions options;  // the default order: zero-shot, label-free, few-shot; unknown methods last
  const ReportFiles files = write_eval_report(results, {"a", "b", "c", "d"}, 3, (dir / "r").string(), options);
  const std::string md = read_file(files.markdown);
  const size_t zs = md.find("| toy | zeroshot |"), tc = md.find("| toy | transclip |"), tip = md.find("| toy | tip-adapter K=2 |"),
               other = md.find("| toy | mystery |");
  ASSERT_NE(zs, std::string::npos) << md;
  ASSERT_NE(tc, std::string::npos) << md;
  ASSERT_NE(tip, std::string::npos) << md;
  ASSERT_NE(other, std::string::npos) << md;
  EXPECT_LT(zs, tc) << md;
  EXPECT_LT(tc, tip) << md;
  EXPECT_LT(tip, other) << md;
  fs::remove_all(dir);
}

TEST(Report, ManyClassesDrawWorstAndBestAndTheConfusedClassesOnly) {
  const fs::path dir = test_support::fresh_temp_dir("report_big");
  const ReportFiles files = write_eval_report({make_result("zeroshot", 300, 4)}, {"big.json"}, 0, (dir / "r").string());
  std::vector<std::string> names;
  for (const auto& c : files.charts) names.push_back(fs::path(c).filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"per_class_recall.png", "recall_sorted.png", "confusion.png"}));
  const std::string html = read_file(files.html);
  EXPECT_NE(html.find("Confusion matrix of the 20 classes in the top confusions (of 300)"), std::string::npos);
  // Bars: 20 worst + 20 best, within a readable height.
  const PngSize bars = png_size(read_file((dir / "r" / "charts" / "per_class_recall.png").string()));
  EXPECT_LT(bars.height, 2400);
  fs::remove_all(dir);
}

TEST(Report, RefusesResultsWithoutWhatItDrawsNamingTheFile) {
  const fs::path dir = test_support::fresh_temp_dir("report_bad");
  json r = make_result("zeroshot", 3, 4);
  r.erase("per_class");
  try {
    write_eval_report({r}, {"old.json"}, 0, (dir / "r").string());
    ADD_FAILURE() << "a result without per_class was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("old.json"), std::string::npos) << e.what();
  }
  json bad = make_result("zeroshot", 3, 4);
  bad["confusion_matrix"][1] = json::array({1, 2});
  EXPECT_THROW(write_eval_report({bad}, {"bad.json"}, 0, (dir / "r").string()), Error);
  EXPECT_FALSE(fs::exists(dir / "r")) << "a failed report left a folder behind";
  // An existing report is replaced as a whole (a chart of the earlier one goes with it).
  write_eval_report({make_result("zeroshot", 3, 4)}, {"a.json"}, 0, (dir / "r").string());
  write_file_atomic((dir / "r" / "charts" / "old.png").string(), "x");
  write_eval_report({make_result("zeroshot", 3, 4)}, {"a.json"}, 0, (dir / "r").string());
  EXPECT_FALSE(fs::exists(dir / "r" / "charts" / "old.png"));
  EXPECT_TRUE(fs::exists(dir / "r" / "report.html"));
  fs::remove_all(dir);
}

TEST(Report, OnlyReplacesAFolderThatHoldsNothingButAReport) {
  const fs::path dir = test_support::fresh_temp_dir("report_folder");
  const std::string r = (dir / "r").string();
  auto refused = [](const std::string& folder, const std::vector<std::string>& keep, const std::string& needle) {
    try {
      check_report_folder(folder, keep);
      ADD_FAILURE() << "'" << folder << "' was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  EXPECT_NO_THROW(check_report_folder(r));  // new
  fs::create_directories(r);
  EXPECT_NO_THROW(check_report_folder(r));  // empty
  write_eval_report({make_result("zeroshot", 3, 4)}, {"a.json"}, 0, r);
  EXPECT_NO_THROW(check_report_folder(r + "/"));  // an earlier report
  write_file_atomic(r + "/notes.txt", "mine");
  refused(r, {}, "notes.txt");
  EXPECT_THROW(write_eval_report({make_result("zeroshot", 3, 4)}, {"a.json"}, 0, r), Error);
  EXPECT_TRUE(fs::exists(r + "/notes.txt")) << "a refused report removed a file";
  fs::remove(r + "/notes.txt");
  fs::create_directories(r + "/charts/sub");
  refused(r, {}, "sub");
  fs::remove_all(r + "/charts/sub");
  refused(r, {r + "/results.json"}, "results.json");       // the results file would go inside
  refused(r, {(dir / "x" / ".." / "r" / "in.json").string()}, "in.json");  // however it is spelled
  EXPECT_NO_THROW(check_report_folder(r, {(dir / "rr" / "a.json").string()}));  // a sibling with a longer name
  refused(fs::current_path().string(), {}, "working folder");
  refused("/", {}, "working folder");
  refused("", {}, "no report folder given");
  fs::create_directories(dir / "target");
  fs::create_directory_symlink(dir / "target", dir / "link");
  refused((dir / "link").string(), {}, "symbolic link");
  refused((dir / "link").string() + "/", {}, "symbolic link");
  write_file_atomic((dir / "file").string(), "x");
  refused((dir / "file").string(), {}, "not a folder");
  fs::remove_all(dir);
}
