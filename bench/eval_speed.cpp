// Zero-shot evaluation over stored embeddings at ImageNet size: N x D images, C classes (synthetic,
// unit rows), top-5 predictions and CLIP_benchmark's metrics. Prints one JSON line.
//   eval_speed [N=50000] [D=768] [C=1000] [THREADS=0]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "clipzs/methods/classify.hpp"
#include "clipzs/util/metrics.hpp"
#include "clipzs/model/model.hpp"

namespace {
clipzs::Matrix random_unit_rows(int64_t rows, int64_t cols, unsigned seed) {
  clipzs::Matrix m{rows, cols, std::vector<float>(static_cast<size_t>(rows * cols))};
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (auto& v : m.data) v = normal(rng);
  clipzs::l2_normalize_rows(m.data.data(), rows, cols);
  return m;
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 50000;
  const int64_t d = argc > 2 ? std::atoll(argv[2]) : 768;
  const int64_t c = argc > 3 ? std::atoll(argv[3]) : 1000;
  const int threads = argc > 4 ? std::atoi(argv[4]) : 0;
  clipzs::set_torch_threads(threads);
  clipzs::Matrix images = random_unit_rows(n, d, 1), classes = random_unit_rows(c, d, 2);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % c;
  const auto start = std::chrono::steady_clock::now();
  clipzs::Predictions p = clipzs::predict_top_k(images, classes, 100.0f, 5);
  clipzs::ClassificationMetrics m = clipzs::compute_metrics(labels, p, c);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"what\": \"clipzs zero-shot eval\", \"n\": %lld, \"d\": %lld, \"classes\": %lld, \"seconds\": %.3f, "
              "\"acc1\": %.5f, \"acc5\": %.5f}\n",
              static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(c), seconds, m.acc1, m.acc5);
  return 0;
}
