#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "clipzs/store/bundle.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/model/model.hpp"

using namespace clipzs;

namespace {
const std::string kTinyVit = std::string(CLIPZS_SOURCE_DIR) + "/tests/fixtures/bundles/tiny-vit";

std::vector<float> random_images(int n, int size, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(n) * 3 * size * size);
  for (auto& x : v) x = normal(rng);
  return v;
}

double cosine(const float* a, const float* b, int64_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < d; ++i) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / std::sqrt(aa * bb);
}
}  // namespace

TEST(ClipModel, ImageEmbeddingsAreUnitRowsOfBundleWidth) {
  BundleInfo bundle = load_bundle_info(kTinyVit);
  ClipModel model = ClipModel::load(bundle, {});
  const int s = bundle.preprocess.size;
  auto images = random_images(3, s, 1);
  std::vector<float> out = model.encode_images(images.data(), 3);
  ASSERT_EQ(out.size(), static_cast<size_t>(3 * bundle.embed_dim));
  for (int i = 0; i < 3; ++i) {
    double norm = 0;
    for (int j = 0; j < bundle.embed_dim; ++j) norm += out[i * bundle.embed_dim + j] * out[i * bundle.embed_dim + j];
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
  // A row's embedding does not depend on the rest of its batch.
  std::vector<float> single = model.encode_images(images.data() + 2 * 3 * s * s, 1);
  EXPECT_GT(cosine(single.data(), out.data() + 2 * bundle.embed_dim, bundle.embed_dim), 0.99999);
}

TEST(ClipModel, Bf16StaysCloseToFp32) {
  BundleInfo bundle = load_bundle_info(kTinyVit);
  RuntimeOptions bf16;
  bf16.dtype = DType::kBFloat16;
  ClipModel a = ClipModel::load(bundle, {});
  ClipModel b = ClipModel::load(bundle, bf16);
  auto images = random_images(4, bundle.preprocess.size, 2);
  auto ea = a.encode_images(images.data(), 4), eb = b.encode_images(images.data(), 4);
  for (int i = 0; i < 4; ++i)
    EXPECT_GT(cosine(ea.data() + i * bundle.embed_dim, eb.data() + i * bundle.embed_dim, bundle.embed_dim), 0.99);
}

TEST(ClipModel, TextEmbeddingsPoolAtTheEndToken) {
  BundleInfo bundle = load_bundle_info(kTinyVit);
  RuntimeOptions options;
  options.load_image = false;
  ClipModel model = ClipModel::load(bundle, options);
  model.check_shapes();
  const int l = bundle.context_length;
  std::vector<int64_t> ids(static_cast<size_t>(2 * l), 0);
  ids[0] = ids[l] = bundle.sot_id;
  ids[1] = ids[l + 1] = 5;
  ids[2] = ids[l + 2] = bundle.eot_id;
  ids[l + 3] = 7;  // after the end token: CLIP's causal mask means it cannot change the pooled output
  auto out = model.encode_tokens(ids.data(), 2);
  EXPECT_GT(cosine(out.data(), out.data() + bundle.embed_dim, bundle.embed_dim), 0.99999);
}

TEST(ClipModel, CudaWithoutCudaIsUnsupported) {
  if (cuda_available()) GTEST_SKIP() << "this LibTorch has CUDA";
  BundleInfo bundle = load_bundle_info(kTinyVit);
  RuntimeOptions options;
  options.device = "cuda";
  try {
    ClipModel::load(bundle, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
}
