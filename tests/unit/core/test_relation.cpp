// Relation transition: anchors learned through the frozen text encoder of a real (tiny) bundle.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <filesystem>
#include <random>

#include "clipzs/store/bundle.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/methods/relation.hpp"

namespace clipzs {
namespace {

const std::string kBundle = std::string(CLIPZS_SOURCE_DIR) + "/tests/fixtures/bundles/tiny-vit";

Matrix random_unit_rows(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix m{rows, cols, std::vector<float>(static_cast<size_t>(rows * cols))};
  for (auto& v : m.data) v = normal(rng);
  l2_normalize_rows(m.data.data(), rows, cols);
  return m;
}

// Features near their class's text proxy, with noise, so text alone is an imperfect classifier.
FewShotSet noisy_set(const Matrix& classes, int per_class, float noise, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, noise);
  FewShotSet set;
  const int64_t d = classes.cols;
  set.features = Matrix{classes.rows * per_class, d, {}};
  for (int64_t c = 0; c < classes.rows; ++c)
    for (int i = 0; i < per_class; ++i) {
      for (int64_t j = 0; j < d; ++j) set.features.data.push_back(classes.row(c)[j] + normal(rng));
      set.labels.push_back(c);
      set.groups.push_back(static_cast<int64_t>(set.groups.size()));
    }
  l2_normalize_rows(set.features.data.data(), set.features.rows, d);
  return set;
}

struct Fixture {
  BundleInfo bundle = load_bundle_info(kBundle);
  std::mt19937 rng{7};
  Matrix classes = random_unit_rows(3, 32, rng);
  FewShotSet train = noisy_set(classes, 8, 0.35f, rng);
  FewShotSet val = noisy_set(classes, 4, 0.35f, rng);
  std::vector<std::string> anchors = {"apple", "river", "house", "chair", "cloud", "stone", "music", "paper"};
};

RelationOptions quick(int epochs) {
  RelationOptions o;
  o.epochs = epochs;
  o.batch_size = 8;
  o.heads = 2;
  o.lr = 1e-2;
  o.anchor_lr = 1e-2;
  return o;
}

TEST(Relation, AnchorWordsSkipClassNamesAndRespectTheCount) {
  const std::string list = std::filesystem::temp_directory_path() / "clipzs_anchor_words.txt";
  {
    std::ofstream out(list);
    out << "# comment\napple\nAnkle\nriver\n\nboot\napple\nstone\n";
  }
  std::vector<std::string> words = load_anchor_words(list, "", 10, {"ankle boot", "Shirt"});
  EXPECT_EQ(words, (std::vector<std::string>{"apple", "river", "stone"}));
  EXPECT_EQ(load_anchor_words(list, "", 2, {}).size(), 2u);
  EXPECT_THROW(load_anchor_words(list + ".missing", "", 10, {}), Error);
  if (std::filesystem::exists("/usr/share/wordnet/index.noun")) {
    std::vector<std::string> nouns = load_anchor_words("", "/usr/share/wordnet", 50, {"person", "dress"});
    ASSERT_EQ(nouns.size(), 50u);
    EXPECT_EQ(std::count(nouns.begin(), nouns.end(), "person"), 0);
    for (const auto& w : nouns) EXPECT_TRUE(w.size() >= 3 && std::all_of(w.begin(), w.end(), ::islower)) << w;
  }
}

TEST(Relation, GradientsReachTheAnchorVectors) {
  Fixture f;
  RelationOptions frozen = quick(1);
  frozen.training_free = true;
  FewShotState words = train_relation(f.bundle, f.anchors, f.train, f.val, f.classes, frozen);
  RelationOptions o = quick(2);
  o.lr = 0.0;  // only the anchor tokens move: any change of the anchor features came through the encoder
  FewShotState learned = train_relation(f.bundle, f.anchors, f.train, f.val, f.classes, o);
  ASSERT_TRUE(learned.arrays.count("anchor_tokens"));
  double moved = 0;
  const Matrix& a0 = words.arrays.at("anchor_features");
  const Matrix& a1 = learned.arrays.at("anchor_features");
  ASSERT_EQ(a0.data.size(), a1.data.size());
  for (size_t i = 0; i < a0.data.size(); ++i) moved = std::max(moved, double(std::abs(a0.data[i] - a1.data[i])));
  EXPECT_GT(moved, 1e-4);
  EXPECT_EQ(learned.arrays.at("w_q").data, words.arrays.at("w_q").data);  // lr 0 kept the projections
}

TEST(Relation, LossFallsAndTheSameSeedGivesTheSameState) {
  Fixture f;
  RelationOptions o = quick(6);
  FewShotState a = train_relation(f.bundle, f.anchors, f.train, f.val, f.classes, o);
  FewShotState b = train_relation(f.bundle, f.anchors, f.train, f.val, f.classes, o);
  const auto& h = a.info["history"];
  ASSERT_EQ(h.size(), 6u);
  EXPECT_LT(h.back()["loss"].get<double>(), h.front()["loss"].get<double>());
  for (const auto& [name, m] : a.arrays) EXPECT_EQ(m.data, b.arrays.at(name).data) << name;
  EXPECT_EQ(a.parameters["gamma"], b.parameters["gamma"]);
}

TEST(Relation, TrainingFreeWithGammaZeroIsZeroShot) {
  Fixture f;
  RelationOptions o = quick(1);
  o.training_free = true;
  FewShotState s = train_relation(f.bundle, f.anchors, f.train, f.val, f.classes, o);
  s.parameters["gamma"] = 0.0;
  Matrix logits = fewshot_logits(s, f.val.features);
  for (int64_t i = 0; i < f.val.features.rows; ++i)
    for (int64_t c = 0; c < f.classes.rows; ++c) {
      double dot = 0;
      for (int64_t j = 0; j < 32; ++j) dot += double(f.val.features.row(i)[j]) * f.classes.row(c)[j];
      EXPECT_NEAR(logits.row(i)[c], 100.0 * dot, 1e-3);
    }
}

TEST(Relation, StateRoundTripGivesTheSameLogits) {
  Fixture f;
  FewShotState s = train_relation(f.bundle, f.anchors, f.train, f.val, f.classes, quick(2));
  const std::string dir = std::filesystem::temp_directory_path() / "clipzs_relation_state";
  save_fewshot_state(s, dir, true);
  FewShotState back = load_fewshot_state(dir);
  EXPECT_EQ(back.method, "relation");
  EXPECT_EQ(fewshot_logits(s, f.val.features).data, fewshot_logits(back, f.val.features).data);
  EXPECT_THROW(save_fewshot_state(s, dir, false), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace clipzs
