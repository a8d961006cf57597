#include "clipzs/methods/xmore.hpp"

#include "clipzs/methods/method.hpp"
#include "methods/stored_predictions.hpp"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_set>

#include "clipzs/util/error.hpp"
#include "methods/top_k.hpp"

namespace clipzs {

XMoReNormalize parse_xmore_normalize(const std::string& name) {
  if (name == "running") return XMoReNormalize::kRunning;
  if (name == "global") return XMoReNormalize::kGlobal;
  throw Error(ErrorKind::kUsage, "unknown " + param("normalize") + " '" + name + "'", "use running (the reference) or global");
}

const char* xmore_normalize_name(XMoReNormalize n) noexcept { return n == XMoReNormalize::kRunning ? "running" : "global"; }

double normalized_confidence(const float* probs, int64_t num_classes) {
  if (num_classes <= 1) return 0.0;
  double entropy = 0;
  for (int64_t c = 0; c < num_classes; ++c)
    if (probs[c] > 0) entropy -= double(probs[c]) * std::log(double(probs[c]));
  return 1.0 - entropy / std::log(double(num_classes));
}

std::vector<int64_t> seeded_order(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    // rng() % (i + 1) is slightly biased for huge n, but it is fully specified, unlike the standard
    // distributions, so a seed means the same order everywhere.
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

std::vector<std::vector<int64_t>> caption_candidates(const KnnResult& neighbours, const std::vector<std::string>& captions,
                                                     const std::vector<bool>& usable) {
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(neighbours.queries));
  for (int64_t q = 0; q < neighbours.queries; ++q) {
    std::unordered_set<std::string_view> seen;
    auto& list = out[static_cast<size_t>(q)];
    for (int64_t j = 0; j < neighbours.k; ++j) {
      const int64_t id = neighbours.ids[static_cast<size_t>(q * neighbours.k + j)];
      if (id < 0 || id >= static_cast<int64_t>(captions.size())) continue;
      if (!usable.empty() && !usable[static_cast<size_t>(id)]) continue;
      if (!seen.insert(captions[static_cast<size_t>(id)]).second) continue;
      list.push_back(id);
    }
  }
  return out;
}

void keep_top_captions(std::vector<std::vector<int64_t>>& candidates, int k, const std::vector<std::vector<float>>* rerank_scores) {
  if (k < 1) throw Error(ErrorKind::kUsage, param("k") + " must be at least 1");
  if (rerank_scores && rerank_scores->size() != candidates.size())
    throw Error(ErrorKind::kInternal, "rerank scores do not match the candidates");
  for (size_t q = 0; q < candidates.size(); ++q) {
    auto& list = candidates[q];
    if (rerank_scores) {
      const auto& scores = (*rerank_scores)[q];
      if (scores.size() != list.size()) throw Error(ErrorKind::kInternal, "rerank scores do not match the candidates");
      std::vector<size_t> idx(list.size());
      std::iota(idx.begin(), idx.end(), 0);
      std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
      std::vector<int64_t> sorted;
      sorted.reserve(list.size());
      for (size_t i : idx) sorted.push_back(list[i]);
      list = std::move(sorted);
    }
    if (static_cast<int64_t>(list.size()) > k) list.resize(static_cast<size_t>(k));
  }
}

XMoReResult run_xmore(const Matrix& images, const Matrix& classes, const Matrix& captions,
                      const std::vector<std::vector<int64_t>>& captions_per_image, const std::vector<bool>& skip,
                      const XMoReOptions& options) {
  const int64_t n = images.rows;
  const int64_t num_classes = classes.rows;
  if (num_classes == 0) throw Error(ErrorKind::kInput, "the class list is empty");
  if (images.cols != classes.cols || (captions.rows > 0 && captions.cols != classes.cols))
    throw Error(ErrorKind::kInput,
                "embedding widths differ: images " + std::to_string(images.cols) + ", classes " + std::to_string(classes.cols) +
                    ", captions " + std::to_string(captions.cols),
                "images, classes and the bank must come from the same model bundle");
  if (static_cast<int64_t>(captions_per_image.size()) != n)
    throw Error(ErrorKind::kInternal, "captions_per_image has " + std::to_string(captions_per_image.size()) + " rows for " +
                                          std::to_string(n) + " images");
  torch::InferenceMode guard;
  const int64_t k = std::min<int64_t>(std::max(1, options.top_k), num_classes);
  XMoReResult r;
  r.ensemble = empty_predictions(n, k);
  r.image_only = empty_predictions(n, k);
  r.captions_only = empty_predictions(n, k);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  r.image_confidence.assign(static_cast<size_t>(n), nan);
  r.caption_confidence.assign(static_cast<size_t>(n), nan);
  r.image_weight.assign(static_cast<size_t>(n), 1.0f);
  r.caption_weight.assign(static_cast<size_t>(n), 0.0f);
  if (n == 0) return r;

  torch::Tensor t = torch::from_blob(const_cast<float*>(classes.data.data()), {num_classes, classes.cols}, torch::kFloat).t();
  torch::Tensor cap = captions.rows > 0
                          ? torch::from_blob(const_cast<float*>(captions.data.data()), {captions.rows, captions.cols}, torch::kFloat)
                          : torch::Tensor();
  // Both distributions of every row are kept (2 x n x C floats: 400 MB for ImageNet's 50,000 x 1,000)
  // because the running means make the weights of a row depend on rows processed before it.
  torch::Tensor p_img = torch::empty({n, num_classes}, torch::kFloat);
  torch::Tensor p_cap = torch::zeros({n, num_classes}, torch::kFloat);
  std::vector<bool> has_captions(static_cast<size_t>(n), false);
  const int64_t chunk = 1024;
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t rows = std::min(chunk, n - begin);
    torch::Tensor x = torch::from_blob(const_cast<float*>(images.row(begin)), {rows, images.cols}, torch::kFloat);
    p_img.narrow(0, begin, rows).copy_(torch::softmax(torch::mm(x, t).mul_(options.logit_scale), 1));
    // Every caption of the chunk's images in one product; then the mean per image.
    std::vector<int64_t> ids, owner;
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t row = begin + i;
      if (!skip.empty() && skip[static_cast<size_t>(row)]) continue;
      for (int64_t id : captions_per_image[static_cast<size_t>(row)]) {
        if (id < 0 || id >= captions.rows) throw Error(ErrorKind::kInternal, "caption id out of range");
        ids.push_back(id);
        owner.push_back(i);
      }
    }
    if (ids.empty()) continue;
    torch::Tensor id_t = torch::from_blob(ids.data(), {static_cast<int64_t>(ids.size())}, torch::kLong);
    torch::Tensor owner_t = torch::from_blob(owner.data(), {static_cast<int64_t>(owner.size())}, torch::kLong);
    torch::Tensor probs = torch::softmax(torch::mm(cap.index_select(0, id_t), t).mul_(options.logit_scale), 1);
    torch::Tensor sums = torch::zeros({rows, num_classes}, torch::kFloat).index_add_(0, owner_t, probs);
    torch::Tensor counts = torch::zeros({rows}, torch::kFloat).index_add_(0, owner_t, torch::ones({static_cast<int64_t>(owner.size())}));
    p_cap.narrow(0, begin, rows).copy_(sums / counts.clamp_min(1).unsqueeze(1));
    const float* cnt = counts.data_ptr<float>();
    for (int64_t i = 0; i < rows; ++i) has_captions[static_cast<size_t>(begin + i)] = cnt[i] > 0;
  }
  p_img = p_img.contiguous();
  p_cap = p_cap.contiguous();
  const float* pi = p_img.data_ptr<float>();
  const float* pc = p_cap.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    if (!skip.empty() && skip[static_cast<size_t>(i)]) continue;
    ++r.evaluated;
    r.image_confidence[static_cast<size_t>(i)] = static_cast<float>(normalized_confidence(pi + i * num_classes, num_classes));
    if (has_captions[static_cast<size_t>(i)]) {
      ++r.with_captions;
      r.caption_confidence[static_cast<size_t>(i)] = static_cast<float>(normalized_confidence(pc + i * num_classes, num_classes));
    }
  }

  // Weights: a / mean a and b / mean b, the means over the images that have captions.
  std::vector<int64_t> rows_in_order;
  if (options.normalize == XMoReNormalize::kRunning) {
    r.order = seeded_order(n, options.seed);
    for (int64_t i : r.order)
      if (skip.empty() || !skip[static_cast<size_t>(i)]) rows_in_order.push_back(i);
  }
  double sum_a = 0, sum_b = 0;
  int64_t count = 0;
  if (options.normalize == XMoReNormalize::kGlobal) {
    for (int64_t i = 0; i < n; ++i)
      if (has_captions[static_cast<size_t>(i)] && (skip.empty() || !skip[static_cast<size_t>(i)])) {
        sum_a += r.image_confidence[static_cast<size_t>(i)];
        sum_b += r.caption_confidence[static_cast<size_t>(i)];
        ++count;
      }
    for (int64_t i = 0; i < n; ++i)
      if (skip.empty() || !skip[static_cast<size_t>(i)]) rows_in_order.push_back(i);
  }
  const double tiny = 1e-12;  // the reference's L1 normalisation divides by max(sum, 1e-12)
  for (int64_t i : rows_in_order) {
    if (!has_captions[static_cast<size_t>(i)]) continue;
    const double a = r.image_confidence[static_cast<size_t>(i)];
    const double b = r.caption_confidence[static_cast<size_t>(i)];
    if (options.normalize == XMoReNormalize::kRunning) {
      sum_a += a;
      sum_b += b;
      ++count;
    }
    double wa = a / std::max(sum_a / count, tiny);
    double wb = b / std::max(sum_b / count, tiny);
    if (wa + wb <= 0) wa = wb = 1;  // both uniform: an even mix rather than an all-zero score
    r.image_weight[static_cast<size_t>(i)] = static_cast<float>(wa);
    r.caption_weight[static_cast<size_t>(i)] = static_cast<float>(wb);
  }

  // Convex mixes (weights divided by their sum: same argmax, scores that sum to 1).
  std::vector<float> mix_img(static_cast<size_t>(n)), mix_cap(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float wa = r.image_weight[static_cast<size_t>(i)], wb = r.caption_weight[static_cast<size_t>(i)];
    mix_img[static_cast<size_t>(i)] = wa / (wa + wb);
    mix_cap[static_cast<size_t>(i)] = wb / (wa + wb);
  }
  torch::Tensor mi = torch::from_blob(mix_img.data(), {n, 1}, torch::kFloat);
  torch::Tensor mc = torch::from_blob(mix_cap.data(), {n, 1}, torch::kFloat);
  torch::Tensor ensemble = p_img * mi + p_cap * mc;
  const auto evaluated = rows_not_in(skip);
  copy_top_k(p_img.topk(k, 1), 0, r.image_only, evaluated);
  copy_top_k(p_cap.topk(k, 1), 0, r.captions_only,
             [&](int64_t i) { return evaluated(i) && has_captions[static_cast<size_t>(i)]; });
  copy_top_k(ensemble.topk(k, 1), 0, r.ensemble, evaluated);
  return r;
}

MethodEntry xmore_method_entry() {
  MethodEntry e;
  e.name = "xmore";
  e.kind = MethodKind::kLabelFree;
  e.summary = "X-MoRe: captions of the nearest bank images, ensembled by confidence (Eom et al. 2023)";
  e.state_version = 1;
  e.load = [](const std::string& dir, const nlohmann::json& state) -> std::unique_ptr<MethodState> {
    return std::make_unique<StoredPredictionsState>(dir, state, std::vector<std::string>{"xmore", "zeroshot", "captions_only"});
  };
  return e;
}

}  // namespace clipzs
