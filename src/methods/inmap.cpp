#include "clipzs/methods/inmap.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "clipzs/util/error.hpp"

namespace clipzs {
namespace {

torch::Tensor view(const Matrix& m) {
  return torch::from_blob(const_cast<float*>(m.data.data()), {m.rows, m.cols}, torch::kFloat);
}

Matrix to_matrix(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat).contiguous();
  Matrix m;
  m.rows = c.size(0);
  m.cols = c.size(1);
  m.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return m;
}

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

torch::Tensor sinkhorn_tensor(const torch::Tensor& m, double tau_t, double gamma, int iters) {
  const double rows = static_cast<double>(m.size(0));
  const double cols = static_cast<double>(m.size(1));
  torch::Tensor p = torch::softmax(m / tau_t, 1);
  p.div_(rows);
  torch::Tensor q;
  if (gamma > 0) {
    q = p.sum(0, true).pow_(gamma);
    q.div_(q.sum());
  }
  for (int it = 0; it < iters; ++it) {
    p.div_(p.sum(0, true));  // columns carry mass 1/C (or q_j)
    if (gamma > 0) p.mul_(q);
    else p.div_(cols);
    p.div_(p.sum(1, true));  // rows carry mass 1/n
    p.div_(rows);
  }
  p.mul_(rows);
  return p;
}

}  // namespace

Matrix transpose(const Matrix& m) { return to_matrix(view(m).t()); }

Matrix inmap_sinkhorn(const Matrix& scores, double tau_t, double gamma, int iters) {
  torch::InferenceMode guard;
  return to_matrix(sinkhorn_tensor(view(scores), tau_t, gamma, iters));
}

int64_t check_and_normalize_features(Matrix& features, const std::string& what) {
  int64_t changed = 0;
  for (int64_t i = 0; i < features.rows; ++i) {
    float* row = features.data.data() + i * features.cols;
    double sum = 0;
    for (int64_t j = 0; j < features.cols; ++j) {
      if (!std::isfinite(row[j]))
        throw Error(ErrorKind::kInput, what + ": row " + std::to_string(i) + " holds NaN or Inf",
                    "remove the row, or re-create the embeddings");
      sum += static_cast<double>(row[j]) * row[j];
    }
    const double norm = std::sqrt(sum);
    if (norm == 0)
      throw Error(ErrorKind::kInput, what + ": row " + std::to_string(i) + " is all zeros",
                  "leave out rows of images that could not be read");
    if (std::fabs(norm - 1.0) > 1e-3) {
      for (int64_t j = 0; j < features.cols; ++j) row[j] = static_cast<float>(row[j] / norm);
      ++changed;
    }
  }
  return changed;
}

std::vector<int64_t> argmax_rows(const Matrix& features, const Matrix& proxies) {
  torch::InferenceMode guard;
  return to_vector(torch::mm(view(features), view(proxies)).argmax(1));
}

double accuracy(const std::vector<int64_t>& predictions, const std::vector<int64_t>& labels) {
  if (predictions.empty() || predictions.size() != labels.size()) return 0;
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

InMaPResult run_inmap(const Matrix& features, const Matrix& text_proxies, const InMaPOptions& o) {
  if (features.cols != text_proxies.rows)
    throw Error(ErrorKind::kInput, "features are n x " + std::to_string(features.cols) + " but text proxies are " +
                                       std::to_string(text_proxies.rows) + " x " + std::to_string(text_proxies.cols) + " (d x C)",
                "both must come from the same model: features n x d, text proxies d x C");
  if (text_proxies.cols < 1 || features.rows < 1) throw Error(ErrorKind::kInput, "InMaP needs at least one image and one class");
  if (!(o.tau_t > 0) || !(o.tau_i > 0) || !(o.lr > 0) || o.iters_proxy < 0 || o.iters_sinkhorn < 0 || o.gamma < 0)
    throw Error(ErrorKind::kUsage, "InMaP parameters out of range (tau_t, tau_i, lr > 0; iterations, gamma >= 0)");
  torch::InferenceMode guard;
  const auto start = std::chrono::steady_clock::now();
  const torch::Tensor x = view(features);
  const torch::Tensor wt = view(text_proxies);
  const int64_t n = features.rows;
  InMaPResult result;

  torch::Tensor scores = torch::mm(x, wt);
  result.text_predictions = to_vector(scores.argmax(1));
  torch::Tensor plabel = o.use_sinkhorn ? sinkhorn_tensor(scores, o.tau_t, o.gamma, o.iters_sinkhorn)
                                        : torch::softmax(scores / o.tau_t, 1);
  scores = torch::Tensor();
  result.pseudo_labels = to_matrix(plabel);

  // Confident rows (max strictly above alpha) become one-hot.
  auto [best, best_index] = plabel.max(1);
  torch::Tensor confident = best > o.alpha;
  plabel.index_put_({confident}, 0.0);
  torch::Tensor rows = torch::nonzero(confident).squeeze(1);
  plabel.index_put_({rows, best_index.index({rows})}, 1.0);

  const torch::Tensor xt = x.t();
  const torch::Tensor base = torch::mm(xt, plabel);  // X^T Y, constant
  plabel = torch::Tensor();
  torch::Tensor w = wt.clone();
  torch::Tensor logits = torch::empty({n, text_proxies.cols}, torch::kFloat);
  torch::Tensor prob = torch::empty_like(logits);
  torch::Tensor grad = torch::empty_like(base);
  double lr = o.lr;
  double previous_norm = std::numeric_limits<double>::infinity();
  int still = 0;
  result.log.reserve(static_cast<size_t>(o.iters_proxy));
  for (int it = 0; it < o.iters_proxy; ++it) {
    if (o.cancel && o.cancel->load()) throw Error(ErrorKind::kInterrupted, "InMaP interrupted at iteration " + std::to_string(it));
    // prob = softmax(X W / tau_i); the official code divides, then takes the softmax.
    torch::mm_out(logits, x, w);
    logits.div_(o.tau_i);
    torch::softmax_out(prob, logits, 1);
    InMaPStep step;
    step.iteration = it;
    if (o.loss_every > 0 && (it % o.loss_every == 0 || it + 1 == o.iters_proxy)) {
      // Mean CE against the thresholded labels Y (rows sum to 1): (1/n) sum_i (logsumexp_i(z) - sum_j y_ij z_ij),
      // and sum_ij y_ij z_ij = <Y, X W>/tau_i = <X^T Y, W>/tau_i: no pass over Y needed.
      const double lse = logits.logsumexp(1).sum().item<double>();
      const double yz = (base * w).sum().item<double>() / o.tau_i;
      step.loss = (lse - yz) / static_cast<double>(n);
    }
    // grad = X^T prob - X^T Y
    torch::mm_out(grad, xt, prob).sub_(base);  // two roundings, as in the reference
    const double norm = grad.norm().item<double>();
    if (norm > previous_norm) lr /= 2.0;
    previous_norm = norm;
    step.grad_norm = norm;
    step.lr = lr;
    result.log.push_back(step);
    if (o.progress) {
      Progress p;
      p.done = p.done_this_run = it + 1;
      p.total = o.iters_proxy;
      p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      o.progress(p);
    }
    // Scale, then subtract (not a fused multiply-add): the reference's rounding.
    torch::Tensor before = o.fast ? w.clone() : torch::Tensor();
    w.sub_(grad.mul_(lr / (static_cast<double>(n) * o.tau_i)));
    w.div_(w.norm(2, 0, true).clamp_min(1e-12));  // F.normalize(dim=0)
    if (o.fast) {
      // Once the halvings have made lr tiny, the remaining steps no longer move W: stop after
      // `kStillSteps` steps in a row that change no entry by more than fast_tolerance.
      constexpr int kStillSteps = 20;
      still = (w - before).abs().max().item<double>() < o.fast_tolerance ? still + 1 : 0;
      if (still >= kStillSteps) {
        result.stopped_early_at = it + 1;
        if (o.progress) {  // the stage is complete: say so, at the steps it took
          Progress p;
          p.done = p.done_this_run = p.total = it + 1;
          p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          o.progress(p);
        }
        break;
      }
    }
  }
  result.vision_proxies = to_matrix(w);
  result.predictions = to_vector(torch::mm(x, w).argmax(1));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace clipzs
