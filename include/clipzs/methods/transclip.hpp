// TransCLIP, zero-shot (Zanella, Gerin, Ben Ayed, NeurIPS 2024, arXiv 2406.01837): transductive
// refinement of zero-shot predictions over the whole unlabeled test set. A Gaussian mixture (one unit
// mean per class, one shared diagonal variance) is fitted by EM-like updates whose assignment step adds
// a KL term to the zero-shot prediction and a Laplacian term over the images' k-NN graph.
//
// Shapes (float32, row-major Matrix): features X n x d (unit rows); text proxies T C x d (unit rows);
// assignments z n x C (rows sum to 1). The class count is C, the text proxies' (the official code takes
// it from the test labels). Algorithm, as the official TransCLIP_solver runs it in zero-shot:
//   y = softmax(s X T^T)  (s = logit scale, 100 for OpenAI's CLIP);  z = y
//   mu_c = normalise(sum over the 8 rows with the largest z_ic of z_ic x_i);  sigma^2 = 1/d (per dimension)
//   W: each image's `neighbours` nearest other images (cosine), weights = cosine; A = W + W^T
//   repeat iterations + 1 times:
//     l_ic = -1/2 sum_j (x_ij - mu_cj)^2 / sigma^2_j
//     5 times: a = l + (50 / (2 neighbours)) A z;  z_i = normalise(y_i^lambda exp((a_i - max a_i) / 50))
//     (after the last z-update, stop)
//     mu_c = normalise(sum_i z_ic x_i);  sigma^2_j = sum_ic z_ic (x_ij - mu_cj)^2 / sum_ic z_ic
// Prediction: argmax_c z_ic. Differences from the official code, each on purpose: the k-NN graph comes
// from the project's exact k-NN (no dense n x n affinity: 10 GB at ImageNet's 50,000 images), and the
// likelihood and variance use matrix products instead of an n x C x d temporary.
// Failure modes: shape mismatch or non-finite values -> Error(kInput); cancel -> Error(kInterrupted).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/methods/classify.hpp"
#include "clipzs/store/dataset.hpp"
#include "clipzs/util/progress.hpp"

namespace clipzs {

struct TransCLIPOptions {
  float logit_scale = 100.0f;  // s of the zero-shot prediction y
  int iterations = 10;         // outer (mu, sigma) iterations; z is updated iterations + 1 times
  int z_iterations = 5;        // z-updates per outer iteration
  int neighbours = 3;          // k of the affinity graph
  int most_confident = 8;      // rows per class that initialise its mean
  double lambda = 1.0;         // exponent of y in the z-update (the KL term's weight)
  double temperature = 50.0;   // the official code's fixed 50, in both places it appears: z = y^lambda exp(a / 50)
                               // with a = l + (50 / (2 neighbours)) A z
  const std::atomic<bool>* cancel = nullptr;
  ProgressCallback progress;   // after each outer iteration (units: iterations + 1)
};

struct TransCLIPResult {
  Matrix assignments;       // z, n x C
  Matrix zero_shot;         // y, n x C
  Matrix means;             // mu, C x d
  std::vector<float> variance;  // sigma^2, d
  std::vector<int64_t> predictions;            // argmax z
  std::vector<int64_t> zero_shot_predictions;  // argmax y
  double seconds = 0;
};

TransCLIPResult run_transclip(const Matrix& features, const Matrix& text_proxies, const TransCLIPOptions& options);

// ---- adapt_transclip: stores to a state folder -----------------------------------------------------
// State (state_version 1): state.json {method, state_version, parameters, classnames, bundle_sha256,
// image_store_sha256, metrics, ...}; transclip_top_{index,prob}.npy and zeroshot_top_{index,prob}.npy
// (store rows x top_k: classes and their z, resp. y), predictions.npy (int64 per store row, -1:
// unreadable), assignments.npy (store rows x C float32 z; zero rows for unreadable images), means.npy
// (C x d), variance.npy (d). Read back by the registry entry "transclip": predictions for that store only.
struct TransCLIPAdaptParams {
  std::string images, text, out;  // image store (the whole unlabeled test set), class store, state folder
  std::string labels;             // optional int64 .npy, one label per store row (default: rows.jsonl)
  LabelRule label_rule = LabelRule::kAuto;
  float logit_scale = 0.0f;       // 0: the bundle's own (from the class store's manifest)
  int top_k = 5;                  // classes kept per row in *_top_*.npy
  TransCLIPOptions options;       // options.logit_scale is set from logit_scale
  nlohmann::json provenance = nlohmann::json::object();  // merged into state.json
};

struct TransCLIPAdaptResult {
  nlohmann::json state;  // state.json as written
};

TransCLIPAdaptResult adapt_transclip(const TransCLIPAdaptParams& params);

}  // namespace clipzs
