// TransCLIP (zero-shot): the solver, adapt_transclip, and the state's writer and reader
// (include/clipzs/methods/transclip.hpp; docs/methods/transclip.md).
#include "clipzs/methods/transclip.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/methods/inmap.hpp"  // check_and_normalize_features
#include "clipzs/search/knn.hpp"
#include "clipzs/methods/labelled.hpp"
#include "clipzs/util/log.hpp"
#include "clipzs/methods/method.hpp"
#include "clipzs/util/metrics.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/store/store.hpp"
#include "methods/stored_predictions.hpp"
#include "methods/top_k.hpp"

namespace clipzs {
using nlohmann::json;

namespace {

torch::Tensor view(const Matrix& m) {
  return torch::from_blob(const_cast<float*>(m.data.data()), {m.rows, m.cols}, torch::kFloat);
}

Matrix to_matrix(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat).contiguous();
  return Matrix{c.size(0), c.size(1), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())};
}

std::vector<int64_t> argmax_of(const torch::Tensor& t) {
  torch::Tensor a = t.argmax(1).contiguous();
  return std::vector<int64_t>(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
}

// A = W + W^T of the k-NN graph (W_ij = cos(x_i, x_j) for the k nearest other images j of i), sparse.
torch::Tensor affinity(const Matrix& x, int neighbours, const std::atomic<bool>* cancel) {
  const int64_t n = x.rows;
  KnnOptions knn;
  knn.k = static_cast<int>(std::min<int64_t>(neighbours + 1, n));
  knn.cancel = cancel;
  BankView bank{x.data.data(), StoreDType::kFloat32, n, x.cols};
  const KnnResult r = exact_knn(x.data.data(), n, bank, knn);
  std::vector<int64_t> rows, cols;
  std::vector<float> values;
  for (int64_t i = 0; i < n; ++i) {
    int taken = 0;
    for (int64_t j = 0; j < r.k && taken < neighbours; ++j) {
      const int64_t id = r.ids[static_cast<size_t>(i * r.k + j)];
      // The image itself (normally first) is not its own neighbour; with exact duplicates it may sit
      // later in the list, and then the list's first `neighbours` other rows are kept.
      if (id < 0 || id == i) continue;
      rows.push_back(i);
      cols.push_back(id);
      values.push_back(r.scores[static_cast<size_t>(i * r.k + j)]);
      ++taken;
    }
  }
  torch::Tensor idx = torch::stack({torch::tensor(rows, torch::kLong), torch::tensor(cols, torch::kLong)});
  torch::Tensor w = torch::sparse_coo_tensor(idx, torch::tensor(values, torch::kFloat), {n, n});
  return (w + w.t()).coalesce();
}

}  // namespace

TransCLIPResult run_transclip(const Matrix& features, const Matrix& text_proxies, const TransCLIPOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = features.rows, d = features.cols, c = text_proxies.rows;
  if (text_proxies.cols != d)
    throw Error(ErrorKind::kInput, "features have d = " + std::to_string(d) + ", text proxies d = " + std::to_string(text_proxies.cols),
                "both must come from the same model");
  if (c < 1 || n < 2) throw Error(ErrorKind::kInput, "TransCLIP needs at least 2 images and 1 class (got " + std::to_string(n) +
                                                         " and " + std::to_string(c) + ")");
  if (o.iterations < 0 || o.z_iterations < 1 || o.neighbours < 1 || o.most_confident < 1 || !(o.temperature > 0))
    throw Error(ErrorKind::kUsage, "TransCLIP: iterations >= 0, z_iterations, neighbours, most_confident >= 1 and temperature > 0");
  const std::vector<int64_t> bad = nonfinite_rows(text_proxies.data.data(), c, d);
  if (!bad.empty()) throw Error(ErrorKind::kInput, "text proxies hold NaN or Inf values in " + describe_rows(bad));
  torch::InferenceMode guard;
  const torch::Tensor x = view(features);
  const torch::Tensor t = view(text_proxies);
  const torch::Tensor y = torch::softmax(torch::mm(x, t.t()).mul_(o.logit_scale), 1);
  const torch::Tensor prior = o.lambda == 1.0 ? y : y.pow(o.lambda);
  torch::Tensor z = y.clone();

  // Means: the `most_confident` rows of each class, weighted by their z.
  const int64_t top = std::min<int64_t>(o.most_confident, n);
  const torch::Tensor top_rows = std::get<1>(z.topk(top, 0));  // top x C
  const torch::Tensor mask = torch::zeros_like(z).scatter_(0, top_rows, 1.0);
  torch::Tensor mu = torch::mm((z * mask).t(), x);  // C x d
  mu = mu / mu.norm(2, 1, true);
  torch::Tensor var = torch::full({d}, 1.0 / static_cast<double>(d), torch::kFloat);

  const torch::Tensor a = affinity(features, o.neighbours, o.cancel);
  const double laplacian = o.temperature / (2.0 * o.neighbours);
  const torch::Tensor x_sq_sum = x.to(torch::kDouble).pow(2).sum(0);  // d: sum_i x_ij^2 (rows of z sum to 1)
  for (int it = 0; it <= o.iterations; ++it) {
    if (o.cancel && o.cancel->load()) throw Error(ErrorKind::kInterrupted, "TransCLIP stopped at iteration " + std::to_string(it));
    // -1/2 sum_j (x_ij - mu_cj)^2 / var_j, less its per-row part, which the normalisation over classes removes.
    const torch::Tensor inv = var.reciprocal();
    const torch::Tensor loglik = torch::mm(x, (mu * inv).t()) - 0.5 * (mu.pow(2) * inv).sum(1).unsqueeze(0);
    for (int k = 0; k < o.z_iterations; ++k) {
      torch::Tensor s = loglik + laplacian * torch::mm(a, z);
      s = s - std::get<0>(s.max(1, true));
      z = prior * (s / o.temperature).exp();
      z = z / z.sum(1, true);
    }
    if (o.progress) {
      Progress p;
      p.done = it + 1;
      p.total = o.iterations + 1;
      p.done_this_run = p.done;
      p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      o.progress(p);
    }
    if (it == o.iterations) break;
    const torch::Tensor zx = torch::mm(z.t(), x);  // C x d
    mu = zx / zx.norm(2, 1, true);
    // sum_ic z_ic (x_ij - mu_cj)^2 = sum_i x_ij^2 - 2 sum_c mu_cj (z^T x)_cj + sum_c (sum_i z_ic) mu_cj^2, in double.
    const torch::Tensor mu_d = mu.to(torch::kDouble);
    const torch::Tensor mass = z.to(torch::kDouble).sum(0);  // C
    const torch::Tensor total = (x_sq_sum - 2.0 * (mu_d * zx.to(torch::kDouble)).sum(0) + (mass.unsqueeze(1) * mu_d.pow(2)).sum(0)) / mass.sum();
    var = total.clamp_min(1e-12).to(torch::kFloat);
  }
  TransCLIPResult r;
  r.predictions = argmax_of(z);
  r.zero_shot_predictions = argmax_of(y);
  r.assignments = to_matrix(z);
  r.zero_shot = to_matrix(y);
  r.means = to_matrix(mu);
  r.variance = std::vector<float>(var.data_ptr<float>(), var.data_ptr<float>() + var.numel());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

namespace {

constexpr int kTransCLIPStateVersion = 1;

// Top-k of each row of a probability matrix (n x C): the classes and their probabilities.
Predictions top_of(const Matrix& probabilities, int top_k) {
  torch::InferenceMode guard;
  Predictions p = empty_predictions(probabilities.rows, std::min<int64_t>(std::max(1, top_k), probabilities.cols));
  if (p.rows > 0) copy_top_k(view(probabilities).topk(p.k, 1), 0, p, [](int64_t) { return true; });
  return p;
}

}  // namespace

MethodEntry transclip_method_entry() {
  MethodEntry e;
  e.name = "transclip";
  e.kind = MethodKind::kLabelFree;
  e.summary = "TransCLIP: transductive Gaussian mixture with a KL term to the zero-shot prediction (Zanella et al., NeurIPS 2024)";
  e.state_version = kTransCLIPStateVersion;
  e.load = [](const std::string& dir, const json& state) -> std::unique_ptr<MethodState> {
    return std::make_unique<StoredPredictionsState>(dir, state, std::vector<std::string>{"transclip", "zeroshot"});
  };
  return e;
}

TransCLIPAdaptResult adapt_transclip(const TransCLIPAdaptParams& p) {
  check_replaceable_folder(p.out, "state.json");  // now, not after the run
  const ClassEmbeddings text = load_class_embeddings(p.text);
  ImageEmbeddingsOptions io;
  io.rule = p.label_rule;
  io.labels_npy = p.labels;
  const ImageEmbeddings images = load_image_embeddings(p.images, text, io);
  TransCLIPOptions options = p.options;
  options.logit_scale = resolve_logit_scale(p.logit_scale, text.manifest, p.text);
  Matrix proxies = text.proxies;
  check_and_normalize_features(proxies, p.text);
  log_info("TransCLIP on " + std::to_string(images.features.rows) + " images, d = " + std::to_string(images.features.cols) + ", " +
           std::to_string(proxies.rows) + " classes");
  const TransCLIPResult r = run_transclip(images.features, proxies, options);

  json metrics = json::object();
  if (!images.labels.empty()) {
    metrics["acc1_transclip"] = accuracy(r.predictions, images.labels);
    metrics["acc1_zeroshot"] = accuracy(r.zero_shot_predictions, images.labels);
  }
  FolderWriter folder(p.out, "state.json");
  const std::string& temp = folder.temp();
  const int64_t n_store = images.store_rows;
  write_stored_predictions(temp, "transclip", spread_rows(top_of(r.assignments, p.top_k), images.rows, n_store));
  write_stored_predictions(temp, "zeroshot", spread_rows(top_of(r.zero_shot, p.top_k), images.rows, n_store));
  const std::vector<int64_t> predictions = spread_rows(r.predictions, images.rows, n_store);
  write_npy(temp + "/predictions.npy", "<i8", {n_store}, predictions.data(), predictions.size() * sizeof(int64_t));
  std::vector<float> z(static_cast<size_t>(n_store * r.assignments.cols), 0.0f);
  for (size_t i = 0; i < images.rows.size(); ++i)
    std::copy_n(r.assignments.row(static_cast<int64_t>(i)), r.assignments.cols, z.data() + images.rows[i] * r.assignments.cols);
  write_npy(temp + "/assignments.npy", z, {n_store, r.assignments.cols});
  write_npy(temp + "/means.npy", r.means.data, {r.means.rows, r.means.cols});
  write_npy(temp + "/variance.npy", r.variance, {static_cast<int64_t>(r.variance.size())});
  json state = p.provenance.is_object() ? p.provenance : json::object();
  state.update({{"bundle_sha256", text.bundle_sha256},
                {"classnames", text.classnames},
                {"image_store", p.images},
                {"image_store_sha256", images.embeddings_sha256},
                {"text_store", p.text},
                {"parameters",
                 {{"logit_scale", options.logit_scale}, {"logit_scale_from", p.logit_scale > 0 ? "parameter" : "bundle"},
                  {"iterations", options.iterations}, {"z_iterations", options.z_iterations}, {"neighbours", options.neighbours},
                  {"most_confident", options.most_confident}, {"lambda", options.lambda}, {"temperature", options.temperature},
                  {"top_k", p.top_k}}},
                {"n", images.features.rows},
                {"d", images.features.cols},
                {"classes", proxies.rows},
                {"metrics", metrics},
                {"seconds", r.seconds},
                {"files",
                 {{"transclip_top_{index,prob}.npy", "store rows x top_k: classes by z, and z"},
                  {"zeroshot_top_{index,prob}.npy", "store rows x top_k: the zero-shot prediction y it started from"},
                  {"predictions.npy", "int64 per store row: argmax z (-1: unreadable image)"},
                  {"assignments.npy", "store rows x C float32: z (zero rows for unreadable images)"},
                  {"means.npy", "C x d float32 class means"},
                  {"variance.npy", "d float32 shared variance"}}}});
  stamp_state(state, "transclip");
  write_file_atomic(temp + "/state.json", state.dump(1) + "\n");
  folder.commit();
  return TransCLIPAdaptResult{state};
}

}  // namespace clipzs
