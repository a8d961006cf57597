// Few-shot baselines (linear probe, Tip-Adapter, Tip-Adapter-F) and the shared protocol on a small
// synthetic clustered set: features near class prototypes, text proxies = noisy prototypes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "clipzs/methods/baselines.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/methods/fewshot.hpp"

using namespace clipzs;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kClasses = 5, kDim = 24;

std::vector<float> unit(std::vector<float> v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(s));
  return v;
}

struct World {
  std::vector<std::vector<float>> prototypes;
  Matrix text;  // noisy prototypes
  explicit World(uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    text = Matrix{kClasses, kDim, {}};
    for (int64_t c = 0; c < kClasses; ++c) {
      std::vector<float> p(kDim);
      for (auto& x : p) x = n(rng);
      prototypes.push_back(unit(p));
      std::vector<float> t = prototypes.back();
      for (auto& x : t) x += 0.35f * n(rng);  // text proxies are a biased view of the classes
      t = unit(t);
      text.data.insert(text.data.end(), t.begin(), t.end());
    }
  }
  // `images` per class, `views` rows per image (its views are close to each other).
  FewShotSet sample(int images, int views, uint32_t seed, float noise = 0.25f) const {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    FewShotSet set;
    set.features = Matrix{0, kDim, {}};
    int64_t group = 0;
    for (int i = 0; i < images; ++i)
      for (int64_t c = 0; c < kClasses; ++c, ++group) {
        std::vector<float> base = prototypes[static_cast<size_t>(c)];
        for (auto& x : base) x += noise * n(rng);
        for (int v = 0; v < views; ++v) {
          std::vector<float> row = base;
          for (auto& x : row) x += 0.05f * n(rng);
          row = unit(row);
          set.features.data.insert(set.features.data.end(), row.begin(), row.end());
          set.features.rows++;
          set.labels.push_back(c);
          set.groups.push_back(group);
        }
      }
    return set;
  }
};

double accuracy_of(const FewShotState& state, const FewShotSet& set) {
  return top1_accuracy(fewshot_logits(state, set.features), set.labels);
}

std::vector<double> default_l2_grid() {
  std::vector<double> g;
  for (int k = -12; k <= 0; ++k) g.push_back(std::pow(10.0, k / 2.0));
  return g;
}

TipAdapterOptions quick_f(uint64_t seed) {
  TipAdapterOptions o;
  o.finetune = true;
  o.epochs = 12;
  o.batch_size = 16;
  o.seed = seed;
  return o;
}

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("clipzs-baselines-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" + name);
  fs::remove_all(p);
  return p;
}

}  // namespace

TEST(LinearProbe, BeatsChanceAndPicksL2FromTheGrid) {
  World w(1);
  FewShotSet train = w.sample(4, 2, 11), val = w.sample(2, 1, 12), test = w.sample(40, 1, 13);
  LinearProbeOptions o;
  o.max_iters = 300;
  FewShotState s = train_linear_probe(train, val, w.text, o);
  EXPECT_EQ(s.method, "linear-probe");
  EXPECT_GT(accuracy_of(s, test), 0.8) << "chance is " << 1.0 / kClasses;
  const double l2 = s.parameters.at("l2").get<double>();
  const auto grid = default_l2_grid();
  EXPECT_NE(std::find(grid.begin(), grid.end(), l2), grid.end()) << l2;
  EXPECT_EQ(s.info.at("l2_search").size(), grid.size());

  o.l2_grid = {1e-3, 10.0};
  FewShotState t = train_linear_probe(train, val, w.text, o);
  const double l2b = t.parameters.at("l2").get<double>();
  EXPECT_TRUE(l2b == 1e-3 || l2b == 10.0) << l2b;
  // The chosen strength is the best on validation (the first best, strongest first, on ties).
  double best = -1;
  for (const auto& e : t.info.at("l2_search")) best = std::max(best, e.at("val_accuracy").get<double>());
  for (const auto& e : t.info.at("l2_search"))
    if (e.at("l2").get<double>() == l2b) EXPECT_EQ(e.at("val_accuracy").get<double>(), best);

  // Deterministic.
  FewShotState again = train_linear_probe(train, val, w.text, o);
  EXPECT_EQ(again.arrays.at("weights").data, t.arrays.at("weights").data);
}

TEST(LinearProbe, RejectsMismatchedInputs) {
  World w(2);
  FewShotSet train = w.sample(2, 1, 1), val = w.sample(1, 1, 2);
  Matrix narrow{kClasses, kDim - 1, std::vector<float>(static_cast<size_t>(kClasses * (kDim - 1)), 0.1f)};
  EXPECT_THROW(train_linear_probe(train, val, narrow, {}), Error);
  FewShotSet bad = train;
  bad.labels[0] = kClasses;
  EXPECT_THROW(train_linear_probe(bad, val, w.text, {}), Error);
  EXPECT_THROW(train_linear_probe(train, FewShotSet{Matrix{0, kDim, {}}, {}, {}}, w.text, {}), Error);
}

TEST(TipAdapter, AlphaZeroIsZeroShotExactly) {
  World w(3);
  FewShotSet train = w.sample(4, 3, 21), val = w.sample(2, 1, 22), test = w.sample(10, 1, 23);
  FewShotState tip = train_tip_adapter(train, val, w.text, {});
  tip.parameters["alpha"] = 0.0;
  const Matrix a = fewshot_logits(tip, test.features);
  const Matrix b = fewshot_logits(make_zeroshot_state(w.text, 100.0f), test.features);
  EXPECT_EQ(a.data, b.data);
  // Keys are one per image (the mean of its 3 views), values one-hot.
  EXPECT_EQ(tip.arrays.at("keys").rows, 4 * kClasses);
  EXPECT_EQ(tip.arrays.at("values").cols, kClasses);
}

TEST(TipAdapter, CacheLogitsMatchHandComputation) {
  // 2 classes, 2 shots each, d = 3; the first image of class 0 has two views.
  const float r = static_cast<float>(1 / std::sqrt(2.0));
  FewShotSet train;
  train.features = Matrix{5, 3, {1, 0, 0,  0.8f, 0.6f, 0,  0.8f, 0, 0.6f,  0, 1, 0,  0, r, r}};
  train.labels = {0, 0, 0, 1, 1};
  train.groups = {7, 7, 8, 9, 10};  // rows 0 and 1 are views of one image
  FewShotSet val;
  val.features = Matrix{2, 3, {1, 0, 0, 0, 1, 0}};
  val.labels = {0, 1};
  val.groups = {0, 1};
  Matrix text{2, 3, {r, r, 0, 0, r, r}};
  TipAdapterOptions o;
  o.alpha_grid = {0.7};
  o.beta_grid = {2.0};
  FewShotState s = train_tip_adapter(train, val, text, o);
  ASSERT_EQ(s.parameters.at("alpha").get<double>(), 0.7);
  ASSERT_EQ(s.parameters.at("beta").get<double>(), 2.0);

  // Keys by hand: normalised mean of the views of each image, in order of first appearance.
  const double m = std::sqrt(1.8 * 1.8 + 0.6 * 0.6);
  const std::vector<std::vector<double>> keys = {{1.8 / m, 0.6 / m, 0}, {0.8, 0, 0.6}, {0, 1, 0}, {0, r, r}};
  const std::vector<int> key_label = {0, 0, 1, 1};
  const Matrix& k = s.arrays.at("keys");
  ASSERT_EQ(k.rows, 4);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(k.data[static_cast<size_t>(i * 3 + j)], keys[i][j], 1e-6);

  Matrix x{2, 3, {0.6f, 0.8f, 0, 0, 0, 1}};
  const Matrix logits = fewshot_logits(s, x);
  for (int64_t i = 0; i < 2; ++i)
    for (int c = 0; c < 2; ++c) {
      double text_dot = 0;
      for (int j = 0; j < 3; ++j) text_dot += double(x.data[i * 3 + j]) * text.data[c * 3 + j];
      double cache = 0;
      for (int n = 0; n < 4; ++n) {
        if (key_label[n] != c) continue;
        double dot = 0;
        for (int j = 0; j < 3; ++j) dot += double(x.data[i * 3 + j]) * keys[n][j];
        cache += std::exp(-2.0 * (1.0 - dot));
      }
      EXPECT_NEAR(logits.data[static_cast<size_t>(i * 2 + c)], 100.0 * text_dot + 0.7 * cache, 1e-4) << i << "," << c;
    }
}

TEST(TipAdapterF, LossFallsAndIsDeterministic) {
  World w(4);
  FewShotSet train = w.sample(8, 2, 31), val = w.sample(3, 1, 32);
  FewShotState a = train_tip_adapter(train, val, w.text, quick_f(5));
  FewShotState b = train_tip_adapter(train, val, w.text, quick_f(5));
  FewShotState c = train_tip_adapter(train, val, w.text, quick_f(6));
  const auto& log = a.info.at("train_log");
  ASSERT_EQ(log.size(), 12u);
  EXPECT_LT(log.back().at("loss").get<double>(), log.front().at("loss").get<double>());
  EXPECT_NEAR(log.back().at("lr").get<double>(), 0.0, 1e-12);  // cosine schedule reaches 0 at the end
  EXPECT_EQ(a.arrays.at("keys").data, b.arrays.at("keys").data);
  EXPECT_EQ(a.info.at("train_log"), b.info.at("train_log"));
  EXPECT_EQ(a.parameters, b.parameters);
  EXPECT_NE(a.arrays.at("keys").data, c.arrays.at("keys").data);  // another batch order
  // The keys moved away from the training-free cache.
  FewShotState cache = train_tip_adapter(train, val, w.text, {});
  EXPECT_NE(a.arrays.at("keys").data, cache.arrays.at("keys").data);
  EXPECT_EQ(a.method, "tip-adapter-f");
}

TEST(FewShotSampling, PicksKGroupsPerClassWithAllTheirViews) {
  World w(5);
  FewShotSet set = w.sample(10, 3, 41);  // 10 images per class, 3 views each
  // Class 4 keeps only 2 images: fewer than K keeps all of them.
  FewShotSet reduced;
  std::vector<int64_t> keep;
  std::map<int64_t, std::set<int64_t>> seen;
  for (int64_t i = 0; i < set.features.rows; ++i) {
    auto& groups = seen[set.labels[static_cast<size_t>(i)]];
    if (set.labels[static_cast<size_t>(i)] == 4 && !groups.count(set.groups[static_cast<size_t>(i)]) && groups.size() == 2) continue;
    groups.insert(set.groups[static_cast<size_t>(i)]);
    keep.push_back(i);
  }
  reduced = subset(set, keep);

  const std::vector<int64_t> rows = sample_few_shot(reduced, kClasses, 3, 7);
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
  std::map<int64_t, std::set<int64_t>> chosen;
  std::map<int64_t, int> rows_of_group;
  for (int64_t r : rows) {
    chosen[reduced.labels[static_cast<size_t>(r)]].insert(reduced.groups[static_cast<size_t>(r)]);
    rows_of_group[reduced.groups[static_cast<size_t>(r)]]++;
  }
  for (int64_t c = 0; c < kClasses; ++c) EXPECT_EQ(chosen[c].size(), c == 4 ? 2u : 3u) << "class " << c;
  for (const auto& [g, n] : rows_of_group) EXPECT_EQ(n, 3) << "group " << g << " lost views";

  EXPECT_EQ(sample_few_shot(reduced, kClasses, 3, 7), rows);
  EXPECT_NE(sample_few_shot(reduced, kClasses, 3, 8), rows);
  EXPECT_THROW(sample_few_shot(reduced, kClasses, 0, 7), Error);
  try {
    sample_few_shot(reduced, kClasses, 0, 7);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
  }
}

TEST(FewShotState, SaveLoadRoundTripGivesIdenticalLogits) {
  World w(6);
  FewShotSet train = w.sample(3, 2, 51), val = w.sample(2, 1, 52), test = w.sample(6, 1, 53);
  LinearProbeOptions lp;
  lp.max_iters = 100;
  TipAdapterOptions f = quick_f(1);
  f.epochs = 2;
  const std::vector<FewShotState> states = {train_linear_probe(train, val, w.text, lp), train_tip_adapter(train, val, w.text, {}),
                                            train_tip_adapter(train, val, w.text, f), make_zeroshot_state(w.text, 100.0f)};
  for (const auto& s : states) {
    const fs::path dir = temp_dir(s.method);
    save_fewshot_state(s, dir.string(), false);
    EXPECT_THROW(save_fewshot_state(s, dir.string(), false), Error);
    FewShotState loaded = load_fewshot_state(dir.string());
    EXPECT_EQ(loaded.method, s.method);
    EXPECT_EQ(fewshot_logits(loaded, test.features).data, fewshot_logits(s, test.features).data) << s.method;
    const Predictions p = fewshot_predict(loaded, test.features, 2);
    EXPECT_EQ(p.k, 2);
    fs::remove_all(dir);
  }
}
