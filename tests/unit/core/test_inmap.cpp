// InMaP against the official implementation's outputs (../shared/reference/inmap, made by idstcv/InMaP
// main.py's sinkhorn() and image_opt() on torch 1.13 CPU).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "clipzs/util/error.hpp"
#include "clipzs/methods/inmap.hpp"
#include "clipzs/store/npy.hpp"

using namespace clipzs;
namespace fs = std::filesystem;

namespace {
const fs::path kReference = fs::path(CLIPZS_SHARED_DIR) / "reference" / "inmap";

Matrix load_matrix(const fs::path& path) {
  NpyArray a = read_npy(path.string());
  return Matrix{a.shape.at(0), a.shape.size() > 1 ? a.shape[1] : 1, a.to_float()};
}

double max_abs_diff(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  double m = 0;
  for (size_t i = 0; i < a.data.size() && i < b.data.size(); ++i) m = std::max(m, std::fabs(double(a.data[i]) - b.data[i]));
  return m;
}

class InMaPReference : public ::testing::TestWithParam<std::string> {};
}  // namespace

TEST_P(InMaPReference, MatchesOfficialImplementation) {
  const fs::path dir = kReference / GetParam();
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent (../shared/reference is not part of the repository)";
  nlohmann::json e = nlohmann::json::parse(std::ifstream(dir / "expected.json"));
  Matrix x = load_matrix(dir / "features.npy");
  Matrix wt = load_matrix(dir / "text_proxies.npy");
  std::vector<int64_t> labels = read_npy((dir / "labels.npy").string()).to_int64();
  std::vector<int64_t> expected_predictions = read_npy((dir / "predictions.npy").string()).to_int64();
  InMaPOptions o;
  o.tau_t = e["tau_t"];
  o.tau_i = e["tau_i"];
  o.alpha = e["alpha"];
  o.gamma = e["gamma"];
  o.lr = e["lr"];
  o.iters_proxy = e["iters_proxy"];
  o.iters_sinkhorn = e["iters_sinkhorn"];

  InMaPResult r = run_inmap(x, wt, o);
  const double sinkhorn_diff = max_abs_diff(r.pseudo_labels, load_matrix(dir / "sinkhorn_labels.npy"));
  const double proxy_diff = max_abs_diff(r.vision_proxies, load_matrix(dir / "vision_proxies.npy"));
  int64_t same = 0;
  for (size_t i = 0; i < labels.size(); ++i) same += r.predictions[i] == expected_predictions[i];
  const double acc_text = accuracy(r.text_predictions, labels), acc = accuracy(r.predictions, labels);
  InMaPOptions ablation = o;
  ablation.use_sinkhorn = false;
  InMaPResult a = run_inmap(x, wt, ablation);
  const double acc_no_sinkhorn = accuracy(a.predictions, labels);
  const double proxy_diff_no_sinkhorn = max_abs_diff(a.vision_proxies, load_matrix(dir / "vision_proxies_no_sinkhorn.npy"));
  std::printf("[ inmap %s ] acc text %.4f (ref %.4f), no-sinkhorn %.4f (ref %.4f), sinkhorn %.4f (ref %.4f); "
              "predictions identical %lld/%zu; max|diff| sinkhorn labels %.2e, proxies %.2e, proxies no-sinkhorn %.2e\n",
              GetParam().c_str(), acc_text, e["acc_text_proxy"].get<double>(), acc_no_sinkhorn,
              e["acc_vision_proxy_no_sinkhorn"].get<double>(), acc, e["acc_vision_proxy"].get<double>(),
              static_cast<long long>(same), labels.size(), sinkhorn_diff, proxy_diff, proxy_diff_no_sinkhorn);
  EXPECT_NEAR(acc_text, e["acc_text_proxy"].get<double>(), 0.0005);
  EXPECT_NEAR(acc_no_sinkhorn, e["acc_vision_proxy_no_sinkhorn"].get<double>(), 0.0005);
  EXPECT_NEAR(acc, e["acc_vision_proxy"].get<double>(), 0.0005);
  EXPECT_GE(static_cast<double>(same), 0.999 * static_cast<double>(labels.size()));
  EXPECT_LE(sinkhorn_diff, 1e-5);
  EXPECT_LE(proxy_diff, 1e-2);
  EXPECT_LE(proxy_diff_no_sinkhorn, 1e-2);

  InMaPOptions fast = o;
  fast.fast = true;
  const double acc_fast = accuracy(run_inmap(x, wt, fast).predictions, labels);
  std::printf("[ inmap %s ] fast mode acc %.4f (exact %.4f)\n", GetParam().c_str(), acc_fast, acc);
  EXPECT_NEAR(acc_fast, acc, 0.002);
}

INSTANTIATE_TEST_SUITE_P(Cases, InMaPReference, ::testing::Values("case_a", "case_b"));

TEST(InMaP, ShapeMismatchAndNonFiniteRowsAreInputErrors) {
  Matrix x{2, 3, {1, 0, 0, 0, 1, 0}};
  Matrix wt{4, 2, std::vector<float>(8, 0.5f)};
  EXPECT_THROW(run_inmap(x, wt, {}), Error);
  Matrix bad{2, 2, {1, 0, NAN, 1}};
  try {
    check_and_normalize_features(bad, "features.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
  }
  Matrix unnormalised{1, 2, {3, 4}};
  EXPECT_EQ(check_and_normalize_features(unnormalised, "x"), 1);
  EXPECT_FLOAT_EQ(unnormalised.data[0], 0.6f);
}

TEST(InMaP, LossFallsAndProxiesStayUnitColumns) {
  // Two well-separated clusters whose text proxies are rotated away from them.
  Matrix x{4, 2, {1, 0.1f, 1, -0.1f, -0.1f, 1, 0.1f, 1}};
  check_and_normalize_features(x, "x");
  Matrix wt{2, 2, {0.8f, 0.6f, 0.6f, 0.8f}};
  InMaPOptions o;
  o.iters_proxy = 50;
  o.loss_every = 1;
  InMaPResult r = run_inmap(x, wt, o);
  EXPECT_LT(r.log.back().loss, r.log.front().loss);
  for (int c = 0; c < 2; ++c) {
    double norm = 0;
    for (int d = 0; d < 2; ++d) norm += r.vision_proxies.data[d * 2 + c] * r.vision_proxies.data[d * 2 + c];
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
  EXPECT_EQ(r.predictions, (std::vector<int64_t>{0, 0, 1, 1}));
}
