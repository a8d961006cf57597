// X-MoRe's caption choice and modal-confidence ensemble against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "clipzs/util/error.hpp"
#include "clipzs/methods/xmore.hpp"

namespace clipzs {
namespace {

// Two classes along the axes; s = 4. The expected numbers below were worked out by hand (softmax,
// entropy) and checked with numpy:
//   image 0 = (1, 0):     p_img = (0.98201379, 0.01798621), a = 0.87002073
//   image 1 = (0.6, 0.8): p_img = (0.31002552, 0.68997448), a = 0.10679709
//   image 2 = (0, 1):     p_img = (0.01798621, 0.98201379), no captions
//   captions of image 0: (0, 1) and (0.8, 0.6) -> p_cap = (0.35398035, 0.64601965), b = 0.06242731
//   caption of image 1: (1, 0)                 -> p_cap = (0.98201379, 0.01798621), b = 0.87002073
struct SmallCase {
  Matrix images{3, 2, {1, 0, 0.6f, 0.8f, 0, 1}};
  Matrix classes{2, 2, {1, 0, 0, 1}};
  Matrix captions{3, 2, {0, 1, 0.8f, 0.6f, 1, 0}};
  std::vector<std::vector<int64_t>> per_image{{0, 1}, {2}, {}};
};

XMoReOptions options_with(XMoReNormalize normalize, uint64_t seed = 1) {
  XMoReOptions o;
  o.logit_scale = 4.0f;
  o.normalize = normalize;
  o.seed = seed;
  return o;
}

TEST(XMoRe, NormalizedConfidence) {
  const float uniform[4] = {0.25f, 0.25f, 0.25f, 0.25f};
  const float one_hot[4] = {0, 1, 0, 0};
  const float mixed[3] = {0.5f, 0.25f, 0.25f};
  EXPECT_NEAR(normalized_confidence(uniform, 4), 0.0, 1e-7);
  EXPECT_NEAR(normalized_confidence(one_hot, 4), 1.0, 1e-12);
  // H = 0.5 ln 2 + 0.5 ln 4 = 1.5 ln 2
  EXPECT_NEAR(normalized_confidence(mixed, 3), 1.0 - 1.5 * std::log(2.0) / std::log(3.0), 1e-7);
  EXPECT_EQ(normalized_confidence(one_hot, 1), 0.0);
}

TEST(XMoRe, GlobalNormalisationMatchesHandComputedWeights) {
  SmallCase c;
  XMoReResult r = run_xmore(c.images, c.classes, c.captions, c.per_image, {}, options_with(XMoReNormalize::kGlobal));
  EXPECT_NEAR(r.image_confidence[0], 0.87002073, 1e-6);
  EXPECT_NEAR(r.image_confidence[1], 0.10679709, 1e-6);
  EXPECT_NEAR(r.caption_confidence[0], 0.06242731, 1e-6);
  EXPECT_NEAR(r.caption_confidence[1], 0.87002073, 1e-6);
  EXPECT_TRUE(std::isnan(r.caption_confidence[2]));
  // mean a = 0.48840891, mean b = 0.46622402 over the two images with captions
  EXPECT_NEAR(r.image_weight[0], 1.78133673, 1e-5);
  EXPECT_NEAR(r.image_weight[1], 0.21866327, 1e-5);
  EXPECT_NEAR(r.caption_weight[0], 0.13389981, 1e-5);
  EXPECT_NEAR(r.caption_weight[1], 1.86610019, 1e-5);
  EXPECT_EQ(r.image_weight[2], 1.0f);
  EXPECT_EQ(r.caption_weight[2], 0.0f);
  // Image 1: the image says class 1, its confident caption says class 0, and the ensemble follows the
  // caption: (0.21866 p_img + 1.86610 p_cap) / (0.21866 + 1.86610) = (0.91153138, 0.08846862).
  EXPECT_EQ(r.image_only.top_index[1 * 2], 1);
  EXPECT_EQ(r.captions_only.top_index[1 * 2], 0);
  EXPECT_EQ(r.ensemble.top_index[1 * 2], 0);
  EXPECT_NEAR(r.ensemble.top_prob[1 * 2], 0.91153138, 1e-5);
  EXPECT_NEAR(r.ensemble.top_prob[1 * 2 + 1], 0.08846862, 1e-5);
  // Image 2 has no captions: the image decides, and captions-only has no prediction.
  EXPECT_EQ(r.ensemble.top_index[2 * 2], 1);
  EXPECT_NEAR(r.ensemble.top_prob[2 * 2], 0.98201379, 1e-6);
  EXPECT_EQ(r.captions_only.top_index[2 * 2], -1);
  EXPECT_EQ(r.with_captions, 2);
  EXPECT_EQ(r.evaluated, 3);
}

TEST(XMoRe, RunningMeansDependOnOrderGlobalDoNot) {
  SmallCase c;
  std::set<std::pair<float, float>> first_weights;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    XMoReResult r = run_xmore(c.images, c.classes, c.captions, c.per_image, {}, options_with(XMoReNormalize::kRunning, seed));
    ASSERT_EQ(r.order.size(), 3u);
    // The first image with captions in the order is weighed against itself alone: 1 and 1. The
    // second sees both, so its weights are the global ones.
    std::vector<int64_t> with_captions;
    for (int64_t i : r.order)
      if (i != 2) with_captions.push_back(i);
    const int64_t first = with_captions[0], second = with_captions[1];
    EXPECT_NEAR(r.image_weight[first], 1.0, 1e-6);
    EXPECT_NEAR(r.caption_weight[first], 1.0, 1e-6);
    EXPECT_NEAR(r.image_weight[second], second == 0 ? 1.78133673 : 0.21866327, 1e-5);
    first_weights.insert({r.image_weight[0], r.caption_weight[0]});
    XMoReResult g = run_xmore(c.images, c.classes, c.captions, c.per_image, {}, options_with(XMoReNormalize::kGlobal, seed));
    EXPECT_NEAR(g.image_weight[0], 1.78133673, 1e-5);
    EXPECT_TRUE(g.order.empty());
  }
  // Over eight seeds image 0 came both first and second: its running weights changed with the order.
  EXPECT_EQ(first_weights.size(), 2u);
}

TEST(XMoRe, SkippedRowsGetNoPredictionAndStayOutOfTheMeans) {
  SmallCase c;
  XMoReResult r = run_xmore(c.images, c.classes, c.captions, c.per_image, {false, true, false},
                            options_with(XMoReNormalize::kGlobal));
  EXPECT_EQ(r.ensemble.top_index[1 * 2], -1);
  EXPECT_EQ(r.evaluated, 2);
  EXPECT_EQ(r.with_captions, 1);
  // Image 0 is now the only image with captions: it is its own mean.
  EXPECT_NEAR(r.image_weight[0], 1.0, 1e-6);
  EXPECT_NEAR(r.caption_weight[0], 1.0, 1e-6);
}

TEST(XMoRe, SeededOrderIsAPermutationAndRepeatable) {
  std::vector<int64_t> a = seeded_order(1000, 7), b = seeded_order(1000, 7), c = seeded_order(1000, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::set<int64_t> unique(a.begin(), a.end());
  EXPECT_EQ(unique.size(), 1000u);
  EXPECT_EQ(*unique.begin(), 0);
  EXPECT_EQ(*unique.rbegin(), 999);
}

TEST(XMoRe, CaptionCandidatesDropDuplicatesMissingAndUnusableRows) {
  KnnResult nn;
  nn.queries = 2;
  nn.k = 5;
  nn.ids = {4, 1, 2, 0, -1,   // query 0: row 2 repeats row 4's caption, row 0 is unusable
            3, 3, -1, -1, -1};  // query 1: the same row twice (a tie in a merged result), then nothing
  nn.scores.assign(10, 0.0f);
  std::vector<std::string> captions = {"a dog", "a cat", "a red car", "a bird", "a red car"};
  std::vector<bool> usable = {false, true, true, true, true};
  auto candidates = caption_candidates(nn, captions, usable);
  EXPECT_EQ(candidates[0], (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(candidates[1], (std::vector<int64_t>{3}));

  auto kept = candidates;
  keep_top_captions(kept, 1);
  EXPECT_EQ(kept[0], (std::vector<int64_t>{4}));
  // Re-ranking sorts by descending score, stable for ties, before the cut.
  std::vector<std::vector<int64_t>> lists = {{10, 11, 12, 13}};
  std::vector<std::vector<float>> scores = {{0.1f, 0.9f, 0.5f, 0.9f}};
  keep_top_captions(lists, 3, &scores);
  EXPECT_EQ(lists[0], (std::vector<int64_t>{11, 13, 12}));
  EXPECT_THROW(keep_top_captions(lists, 0), Error);
}

TEST(XMoRe, MismatchedWidthsAreInputErrors) {
  SmallCase c;
  Matrix wide{2, 3, std::vector<float>(6, 0.5f)};
  try {
    run_xmore(c.images, wide, c.captions, c.per_image, {}, options_with(XMoReNormalize::kGlobal));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("widths"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clipzs
