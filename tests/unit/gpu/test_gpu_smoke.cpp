// GPU smoke test: both encoders of the tiny fixture bundles on the first CUDA device against the CPU.
// Compiled in every build; where no device is visible (a CPU LibTorch, or a CUDA LibTorch on a machine
// without a GPU) each case is skipped with the reason, and CTest counts it as skipped, never passed.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "clipzs/store/bundle.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/model/model.hpp"

using namespace clipzs;

namespace {

const std::string kBundles = std::string(CLIPZS_SOURCE_DIR) + "/tests/fixtures/bundles/";

std::string why_no_gpu() {
  const TorchRuntimeInfo info = torch_runtime_info();
  if (!info.cuda_compiled) return "no CUDA device: " + info.summary();
  if (info.cuda_devices == 0) return "no CUDA device: " + info.summary() + " (" + info.no_device_reason + ")";
  return "";
}

double worst_cosine(const std::vector<float>& a, const std::vector<float>& b, int64_t d) {
  double worst = 1.0;
  for (size_t r = 0; r * d < a.size(); ++r) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double x = a[r * d + j], y = b[r * d + j];
      ab += x * y, aa += x * x, bb += y * y;
    }
    worst = std::min(worst, ab / std::sqrt(aa * bb));
  }
  return worst;
}

struct Inputs {
  std::vector<float> images;
  std::vector<int64_t> tokens;
  int n = 6;
};

Inputs make_inputs(const BundleInfo& b) {
  Inputs in;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  in.images.resize(static_cast<size_t>(in.n) * 3 * b.preprocess.size * b.preprocess.size);
  for (auto& x : in.images) x = normal(rng);
  in.tokens.assign(static_cast<size_t>(in.n) * b.context_length, 0);
  std::uniform_int_distribution<int64_t> word(1, b.sot_id - 1);
  for (int r = 0; r < in.n; ++r) {
    int64_t* row = in.tokens.data() + static_cast<size_t>(r) * b.context_length;
    row[0] = b.sot_id;
    const int len = 2 + r;
    for (int j = 1; j <= len; ++j) row[j] = word(rng);
    row[len + 1] = b.eot_id;
  }
  return in;
}

void compare(const std::string& name, DType dtype, double min_cosine) {
  const BundleInfo bundle = load_bundle_info(kBundles + name);
  const Inputs in = make_inputs(bundle);
  RuntimeOptions cpu;
  ClipModel ref = ClipModel::load(bundle, cpu);
  RuntimeOptions gpu;
  gpu.device = "cuda";
  gpu.dtype = dtype;
  ClipModel dev = ClipModel::load(bundle, gpu);
  const double img = worst_cosine(ref.encode_images(in.images.data(), in.n), dev.encode_images(in.images.data(), in.n),
                                  bundle.embed_dim);
  const double txt = worst_cosine(ref.encode_tokens(in.tokens.data(), in.n), dev.encode_tokens(in.tokens.data(), in.n),
                                  bundle.embed_dim);
  std::printf("%s %s: worst cosine GPU vs CPU fp32: image %.7f, text %.7f\n", name.c_str(), dtype_name(dtype), img, txt);
  EXPECT_GE(img, min_cosine) << name << " image tower, " << dtype_name(dtype);
  EXPECT_GE(txt, min_cosine) << name << " text tower, " << dtype_name(dtype);
}

}  // namespace

TEST(GpuSmoke, Fp32MatchesCpu) {
  const std::string why = why_no_gpu();
  if (!why.empty()) GTEST_SKIP() << why;
  compare("tiny-vit", DType::kFloat32, 0.9999);
  compare("tiny-rn", DType::kFloat32, 0.9999);
}

TEST(GpuSmoke, Fp16MatchesCpu) {
  const std::string why = why_no_gpu();
  if (!why.empty()) GTEST_SKIP() << why;
  compare("tiny-vit", DType::kFloat16, 0.999);
  compare("tiny-rn", DType::kFloat16, 0.999);
}

TEST(GpuSmoke, MissingDeviceIndexIsAUsageError) {
  const std::string why = why_no_gpu();
  if (!why.empty()) GTEST_SKIP() << why;
  const BundleInfo bundle = load_bundle_info(kBundles + "tiny-vit");
  RuntimeOptions gpu;
  gpu.device = "cuda:" + std::to_string(torch_runtime_info().cuda_devices);
  EXPECT_THROW(ClipModel::load(bundle, gpu), Error);
}
