// Relation transition training cost at ImageNet few-shot size (16 shots x 1,000 classes = 16,000 cached
// features, M anchors through a real text tower), on synthetic features. Measures the one-time set-up
// and the cost of a step, and extrapolates to the full schedule (20 epochs x ceil(n / batch) steps):
// a step is the anchors' text forward/backward plus a batch of small products, the same every time.
//   relation_bench --model BUNDLE [--anchors 1000] [--classes 1000] [--shots 16] [--steps 3] [--fixed-anchors]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "clipzs/store/bundle.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/methods/relation.hpp"

using namespace clipzs;

int main(int argc, char** argv) {
  std::string model, wordnet = "/usr/share/wordnet";
  int anchors = 1000, classes = 1000, shots = 16, steps = 3, threads = 0;
  bool fixed = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(argv[++i]); };
    if (a == "--model") model = next();
    else if (a == "--anchors") anchors = std::stoi(next());
    else if (a == "--classes") classes = std::stoi(next());
    else if (a == "--shots") shots = std::stoi(next());
    else if (a == "--steps") steps = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--fixed-anchors") fixed = true;
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  if (model.empty()) { std::fprintf(stderr, "--model BUNDLE is required\n"); return 2; }
  if (threads > 0) set_torch_threads(threads);
  BundleInfo bundle = load_bundle_info(model);
  const int64_t d = bundle.embed_dim;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix text{classes, d, std::vector<float>(static_cast<size_t>(classes) * d)};
  for (auto& v : text.data) v = normal(rng);
  l2_normalize_rows(text.data.data(), text.rows, d);
  auto make = [&](int per_class) {
    FewShotSet s;
    s.features = Matrix{static_cast<int64_t>(classes) * per_class, d, {}};
    for (int c = 0; c < classes; ++c)
      for (int k = 0; k < per_class; ++k) {
        for (int64_t j = 0; j < d; ++j) s.features.data.push_back(text.row(c)[j] + 0.08f * normal(rng));
        s.labels.push_back(c);
        s.groups.push_back(static_cast<int64_t>(s.groups.size()));
      }
    l2_normalize_rows(s.features.data.data(), s.features.rows, d);
    return s;
  };
  FewShotSet train = make(shots), val = make(4);
  std::vector<std::string> words = load_anchor_words("", wordnet, anchors, {});
  RelationOptions o;
  o.learn_anchors = !fixed;
  o.epochs = 1;
  // Two runs, 1 step and 1 + `steps` steps: their difference is the per-step cost without the one-time
  // set-up (loading the text tower, the anchors' first forward, the zero-shot logits, validation).
  auto timed = [&](int64_t max_steps) {
    o.max_steps = max_steps;
    const auto t0 = std::chrono::steady_clock::now();
    train_relation(bundle, words, train, val, text, o);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double one = timed(1);
  const double more = timed(1 + steps);
  const double per_step = (more - one) / steps;
  const int64_t per_epoch = (train.features.rows + o.batch_size - 1) / o.batch_size;
  const int64_t total = per_epoch * 20;
  std::printf("{\"bundle\": \"%s\", \"n\": %lld, \"classes\": %d, \"anchors\": %zu, \"learn_anchors\": %s, \"steps_timed\": %d, "
              "\"setup_seconds\": %.2f, \"seconds_per_step\": %.3f, \"steps_full_schedule\": %lld, \"extrapolated_full_seconds\": %.0f}\n",
              bundle.name.c_str(), static_cast<long long>(train.features.rows), classes, words.size(), fixed ? "false" : "true",
              steps, one - per_step, per_step, static_cast<long long>(total), one - per_step + per_step * static_cast<double>(total));
  return 0;
}
