#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "clipzs/store/dataset.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/util/metrics.hpp"

using namespace clipzs;
namespace fs = std::filesystem;

TEST(Metrics, HandWorkedExample) {
  // 3 classes, 4 rows; top-k lists given best first.
  Predictions p;
  p.rows = 4;
  p.k = 2;
  p.top_index = {0, 1,   // label 0: top1 right
                 2, 1,   // label 1: top1 wrong, top2 right
                 2, 0,   // label 2: right
                 1, 2};  // label 2: wrong, in top 2
  p.top_prob.assign(8, 0.5f);
  ClassificationMetrics m = compute_metrics({0, 1, 2, 2}, p, 3);
  EXPECT_EQ(m.evaluated, 4);
  EXPECT_DOUBLE_EQ(m.acc1, 0.5);
  EXPECT_DOUBLE_EQ(m.acc5, 1.0);                    // k=2 < 5: every label is within the list
  EXPECT_DOUBLE_EQ(m.mean_per_class_recall, (1.0 + 0.0 + 0.5) / 3);
  EXPECT_EQ(m.confusion[1 * 3 + 2], 1);             // true 1 predicted 2
  EXPECT_EQ(m.confusion[2 * 3 + 1], 1);
}

TEST(Metrics, UnknownLabelsAndSkippedRowsAreNotEvaluated) {
  Predictions p;
  p.rows = 3;
  p.k = 1;
  p.top_index = {0, -1, 1};
  p.top_prob = {1, 0, 1};
  ClassificationMetrics m = compute_metrics({0, 0, -1}, p, 2);
  EXPECT_EQ(m.evaluated, 1);
  EXPECT_DOUBLE_EQ(m.acc1, 1.0);
  EXPECT_DOUBLE_EQ(m.mean_per_class_recall, 1.0);  // class 1 has no rows: left out of the mean
}

TEST(Labels, NamesMatchAfterUnderscoreAndCase) {
  auto r = resolve_labels({"Ankle_boot", "t-shirt"}, {"a", "b"}, {"t-shirt", "ankle boot"}, LabelRule::kAuto);
  EXPECT_EQ(r.rule, LabelRule::kName);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 0}));
}

TEST(Labels, IntegersAreIndices) {
  auto r = resolve_labels({"2", "0"}, {}, {"a", "b", "c"}, LabelRule::kAuto);
  EXPECT_EQ(r.rule, LabelRule::kIndex);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2, 0}));
}

TEST(Labels, SynsetFoldersFollowSortedOrder) {
  auto r = resolve_labels({"n02", "n01", "n02"}, {}, {"tench", "goldfish"}, LabelRule::kAuto);
  EXPECT_EQ(r.rule, LabelRule::kSorted);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_FALSE(r.warnings.empty());
}

TEST(Labels, UnknownLabelNamesTheRow) {
  try {
    resolve_labels({"cat", "zebra", "dog"}, {"p0", "p1", "p2"}, {"cat", "dog"}, LabelRule::kAuto);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("row 1 (p1)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("zebra"), std::string::npos);
  }
}

TEST(Labels, CountMismatchUnderSortedRule) {
  EXPECT_THROW(resolve_labels({"x", "y", "z"}, {}, {"a", "b"}, LabelRule::kSorted), Error);
}

TEST(Labels, MissingLabelAndEmptyClassList) {
  EXPECT_THROW(resolve_labels({"a", ""}, {"p0", "p1"}, {"a"}, LabelRule::kAuto), Error);
  EXPECT_THROW(resolve_labels({"a"}, {}, {}, LabelRule::kAuto), Error);
  auto r = resolve_labels({"a", ""}, {}, {"a"}, LabelRule::kAuto, true);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{0, -1}));
}

TEST(Labels, DuplicateClassNamesWarnAndKeepBoth) {
  EXPECT_EQ(duplicate_classnames({"missile", "a", "missile"}), (std::vector<std::string>{"missile"}));
  auto r = resolve_labels({"missile"}, {}, {"a", "missile", "missile"}, LabelRule::kName);
  EXPECT_EQ(r.ids[0], 1);
  EXPECT_FALSE(r.warnings.empty());
}

TEST(CoopSplit, ReadsPathsLabelsAndClassNames) {
  fs::path dir = fs::temp_directory_path() / ("clipzs_coop_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "split.json") << R"({"train": [["a/1.jpg", 1, "dog"]], "test": [["b/2.jpg", 0, "cat"], ["a/3.jpg", 1, "dog"]]})";
  auto items = list_coop_split((dir / "split.json").string(), "test", "/data/images");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].path, "/data/images/b/2.jpg");
  EXPECT_EQ(items[1].label, "1");
  EXPECT_EQ(coop_classnames((dir / "split.json").string()), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_THROW(list_coop_split((dir / "split.json").string(), "val", "/x"), Error);
}
