// TransCLIP against the official solver's outputs (../shared/reference/transclip, made by
// MaxZanella/transduction-for-vlms's TransCLIP_solver on the InMaP reference cases).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "clipzs/util/error.hpp"
#include "clipzs/methods/inmap.hpp"
#include "clipzs/methods/method.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/methods/transclip.hpp"

using namespace clipzs;
namespace fs = std::filesystem;

namespace {
const fs::path kShared = fs::path(CLIPZS_SHARED_DIR) / "reference";

Matrix load_matrix(const fs::path& path) {
  NpyArray a = read_npy(path.string());
  return Matrix{a.shape.at(0), a.shape.size() > 1 ? a.shape[1] : 1, a.to_float()};
}

class TransCLIPReference : public ::testing::TestWithParam<std::string> {};
}  // namespace

TEST_P(TransCLIPReference, MatchesOfficialSolver) {
  const fs::path inputs = kShared / "inmap" / GetParam();
  const fs::path dir = kShared / "transclip" / GetParam();
  if (!fs::exists(dir) || !fs::exists(inputs)) GTEST_SKIP() << dir << " is absent (../shared/reference is not part of the repository)";
  const nlohmann::json e = nlohmann::json::parse(std::ifstream(dir / "expected.json"));
  Matrix x = load_matrix(inputs / "features.npy");
  const Matrix t = transpose(load_matrix(inputs / "text_proxies.npy"));  // d x C on disk
  const std::vector<int64_t> labels = read_npy((inputs / "labels.npy").string()).to_int64();
  const std::vector<int64_t> expected = read_npy((dir / "predictions.npy").string()).to_int64();
  const Matrix z_ref = load_matrix(dir / "z.npy");
  check_and_normalize_features(x, "features");

  TransCLIPOptions o;  // the official zero-shot settings are the defaults
  o.logit_scale = e["settings"]["logit_scale"].get<float>();
  ASSERT_EQ(o.iterations, e["settings"]["max_iter"].get<int>());
  ASSERT_EQ(o.neighbours, e["settings"]["n_neighbors"].get<int>());
  ASSERT_EQ(o.most_confident, e["settings"]["n_most_confident"].get<int>());
  const TransCLIPResult r = run_transclip(x, t, o);

  ASSERT_EQ(r.assignments.rows, z_ref.rows);
  ASSERT_EQ(r.assignments.cols, z_ref.cols);
  EXPECT_EQ(r.assignments.cols, e["classes"].get<int64_t>());
  int64_t agree = 0;
  for (size_t i = 0; i < expected.size(); ++i) agree += r.predictions[i] == expected[i];
  const double agreement = double(agree) / double(expected.size());
  EXPECT_GE(agreement, 0.999) << agree << " of " << expected.size();
  EXPECT_NEAR(accuracy(r.predictions, labels), e["acc_transclip"].get<double>(), 0.0005);
  EXPECT_NEAR(accuracy(r.zero_shot_predictions, labels), e["acc_zero_shot"].get<double>(), 1e-6);  // stored as float32
  double worst = 0;
  for (size_t i = 0; i < z_ref.data.size(); ++i) worst = std::max(worst, std::fabs(double(r.assignments.data[i]) - z_ref.data[i]));
  EXPECT_LE(worst, 1e-3);
  for (int64_t i = 0; i < r.assignments.rows; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < r.assignments.cols; ++c) sum += r.assignments.row(i)[c];
    ASSERT_NEAR(sum, 1.0, 1e-5) << "row " << i;
  }
  std::cout << GetParam() << ": agreement " << agreement << ", max |z - z_official| " << worst << ", accuracy "
            << accuracy(r.predictions, labels) << " (official " << e["acc_transclip"].get<double>() << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Cases, TransCLIPReference, ::testing::Values("case_a", "case_b"));

TEST(TransCLIP, DuplicateImagesAreNotTheirOwnNeighbours) {
  // Four copies of two points: every image's nearest "other" image is a copy of itself. The run must
  // work and give each copy the same assignment.
  Matrix x{8, 2, {1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1}};
  Matrix t{2, 2, {0.8f, 0.6f, 0.6f, 0.8f}};
  TransCLIPOptions o;
  o.most_confident = 2;
  const TransCLIPResult r = run_transclip(x, t, o);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(r.predictions[i], r.predictions[0]);
  for (int i = 5; i < 8; ++i) EXPECT_EQ(r.predictions[i], r.predictions[4]);
  EXPECT_NE(r.predictions[0], r.predictions[4]);
}

TEST(TransCLIP, IsRegisteredAsALabelFreeMethod) {
  EXPECT_EQ(find_method("transclip").kind, MethodKind::kLabelFree);
  EXPECT_TRUE(find_method("transclip").load);
  EXPECT_LT(method_rank("transclip"), method_rank("linear-probe"));
}

TEST(TransCLIP, RefusesMismatchedWidths) {
  Matrix x{4, 3, std::vector<float>(12, 0.5f)};
  Matrix t{2, 2, {1, 0, 0, 1}};
  EXPECT_THROW(run_transclip(x, t, {}), Error);
}
