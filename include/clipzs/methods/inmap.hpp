// InMaP (Qian, Xu, Hu, NeurIPS 2023): vision proxies learned from unlabeled target images, following the
// official implementation (idstcv/InMaP main.py) step by step and in its order of operations.
//
// Shapes (float32, row-major Matrix):
//   features X      n x d, rows L2-normalised (callers normalise; see check_features)
//   text proxies Wt d x C, columns L2-normalised (the prompt-ensemble classifier, transposed)
//   labels / probabilities  n x C
//   vision proxies W        d x C, columns L2-normalised
// Algorithm: S = X Wt; pseudo labels Y = sinkhorn(S) (or softmax(S / tau_t) for the ablation); rows of Y
// whose max is > alpha become one-hot; W starts at Wt and takes `iters_proxy` full-batch gradient steps
// on the mean cross-entropy of softmax(X W / tau_i) against Y, lr halved for good whenever the gradient's
// Frobenius norm grows, columns renormalised after each step. Prediction: argmax_c (X W).
// No randomness: the same inputs and thread count give the same result.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/methods/classify.hpp"
#include "clipzs/store/dataset.hpp"
#include "clipzs/util/progress.hpp"

namespace clipzs {

struct InMaPOptions {
  double tau_t = 0.01;     // temperature of the text-proxy pseudo labels
  double tau_i = 0.04;     // temperature of the vision-proxy softmax
  double alpha = 0.6;      // rows with max pseudo-probability > alpha become one-hot
  double gamma = 0.0;      // Sinkhorn class prior: 0 uniform, > 0 (predicted mass)^gamma
  double lr = 10.0;        // initial step
  int iters_proxy = 2000;  // gradient steps
  int iters_sinkhorn = 20;
  bool use_sinkhorn = true;
  // Fast mode: the same arithmetic, stopped once W has stopped moving (no entry changed by more than
  // fast_tolerance for 20 steps in a row). The official schedule halves lr at every uptick of the
  // gradient norm, so near convergence lr collapses and the remaining steps are no-ops; fast mode skips
  // them. (bf16 matrix products were tried first: their rounding noise makes the norm tick up at random,
  // halving lr far too early.) Measured against exact mode in docs/methods/inmap.md.
  bool fast = false;
  double fast_tolerance = 1e-6;
  int loss_every = 10;     // compute the loss every k-th step (it costs a log over n x C); 0: never
  const std::atomic<bool>* cancel = nullptr;
  ProgressCallback progress;  // after every step (units: steps of iters_proxy)
};

struct InMaPStep {
  int iteration = 0;
  double grad_norm = 0;
  double lr = 0;     // step used at this iteration (after any halving)
  double loss = -1;  // mean cross-entropy before the step; -1 when not computed
};

struct InMaPResult {
  Matrix vision_proxies;           // d x C
  Matrix pseudo_labels;            // n x C, before the one-hot thresholding (Sinkhorn or softmax output)
  std::vector<int64_t> predictions;       // argmax X W, n
  std::vector<int64_t> text_predictions;  // argmax X Wt, n
  std::vector<InMaPStep> log;
  int stopped_early_at = 0;  // fast mode: steps actually taken when it stopped early; 0 otherwise
  double seconds = 0;
};

// Softmax(scores / tau_t) refined by `iters` Sinkhorn iterations (official `sinkhorn()`).
Matrix inmap_sinkhorn(const Matrix& scores, double tau_t, double gamma, int iters);

// The whole method. Throws Error(kInput) on shape mismatch or non-finite values (naming the row),
// Error(kInterrupted) when `cancel` is set.
InMaPResult run_inmap(const Matrix& features, const Matrix& text_proxies, const InMaPOptions& options);

// Validates features: throws Error(kInput) naming the first row with NaN/Inf; L2-normalises rows whose
// norm is off by more than 1e-3 and returns how many were normalised (callers warn).
int64_t check_and_normalize_features(Matrix& features, const std::string& what);

Matrix transpose(const Matrix& m);
std::vector<int64_t> argmax_rows(const Matrix& features, const Matrix& proxies_dxc);
double accuracy(const std::vector<int64_t>& predictions, const std::vector<int64_t>& labels);

// ---- adapt_inmap: the whole method from stores (or .npy files) to a state folder ------------------
// State (state_version 1): state.json {method, state_version, parameters, classnames, bundle_sha256, n, d,
// classes, metrics, ...}, vision_proxies.npy (d x C float32, unit columns: the classifier),
// text_proxies.npy (d x C), predictions.npy (int64 per input row, -1 for unreadable images),
// vision_proxies_no_sinkhorn.npy (with the ablation), log.jsonl (per step). Read back by the registry
// entry "inmap" (method.hpp): softmax(x . w_c / tau_i).
struct InMaPAdaptParams {
  std::string images, text;            // image store + class store, or
  std::string features, text_proxies;  // n x d and d x C float32 .npy files
  std::string labels;                  // optional int64 .npy of labels (stores: labels from rows.jsonl)
  LabelRule label_rule = LabelRule::kAuto;
  std::string out;                     // state folder (replaced only if it already holds a state)
  InMaPOptions options;
  bool ablation = true;                // also run without Sinkhorn, as the official script reports
  nlohmann::json provenance = nlohmann::json::object();  // merged into state.json (e.g. the command line)
};

struct InMaPAdaptResult {
  nlohmann::json state;    // state.json as written
  nlohmann::json metrics;  // accuracies when labels were known
  int64_t n = 0, classes = 0;
  double seconds = 0;
};

// Error(kUsage) when neither or both of a pair of sources are given; Error(kInput) for stores of other
// bundles, widths or NaN values; Error(kOutput) when `out` cannot be replaced.
InMaPAdaptResult adapt_inmap(const InMaPAdaptParams& params);

}  // namespace clipzs
