// Few-shot baselines: zero-shot state, linear probe (L-BFGS), Tip-Adapter and Tip-Adapter-F.
#include "clipzs/methods/baselines.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "clipzs/util/error.hpp"
#include "clipzs/methods/xmore.hpp"  // seeded_order
#include "methods/fewshot_methods.hpp"

namespace clipzs {
using nlohmann::json;

namespace {

// An owning float tensor copy of a Matrix (training needs tensors outside InferenceMode).
torch::Tensor tensor_of(const Matrix& m) {
  return torch::from_blob(const_cast<float*>(m.data.data()), {m.rows, m.cols}, torch::kFloat).clone();
}

torch::Tensor labels_tensor(const std::vector<int64_t>& labels) {
  return torch::from_blob(const_cast<int64_t*>(labels.data()), {static_cast<int64_t>(labels.size())}, torch::kLong).clone();
}

Matrix matrix_of(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat).contiguous();
  return Matrix{c.size(0), c.size(1), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())};
}

int64_t correct_count(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(1).eq(labels).sum().item<int64_t>();
}

void check_set(const char* what, const char* name, const FewShotSet& set, const Matrix& classes) {
  if (set.features.rows == 0)
    throw Error(ErrorKind::kInput, std::string(what) + ": the " + name + " set is empty", "give at least one labelled image per class");
  if (set.features.cols != classes.cols)
    throw Error(ErrorKind::kInput, std::string(what) + ": " + name + " features have d = " + std::to_string(set.features.cols) +
                                       ", class proxies d = " + std::to_string(classes.cols),
                "use embeddings of the same model bundle");
  if (static_cast<int64_t>(set.labels.size()) != set.features.rows)
    throw Error(ErrorKind::kInput, std::string(what) + ": " + std::to_string(set.labels.size()) + " " + name + " labels for " +
                                       std::to_string(set.features.rows) + " feature rows");
  for (size_t i = 0; i < set.labels.size(); ++i)
    if (set.labels[i] < 0 || set.labels[i] >= classes.rows)
      throw Error(ErrorKind::kInput, std::string(what) + ": " + name + " row " + std::to_string(i) + " has label " +
                                         std::to_string(set.labels[i]) + ", outside [0, " + std::to_string(classes.rows) + ")");
}

void check_inputs(const char* what, const FewShotSet& train, const FewShotSet& val, const Matrix& classes) {
  if (classes.rows == 0) throw Error(ErrorKind::kInput, std::string(what) + ": the class list is empty");
  check_set(what, "train", train, classes);
  check_set(what, "validation", val, classes);
}

double parameter(const FewShotState& state, const char* name) {
  if (!state.parameters.contains(name) || !state.parameters[name].is_number())
    throw Error(ErrorKind::kInput, "the " + state.method + " state has no numeric parameter '" + name + "'", "make the state again");
  return state.parameters[name].get<double>();
}

// The reference's search lists: `steps` values from 0.1 in steps of (max - 0.1) / steps (max itself excluded).
std::vector<double> reference_grid(double max, int steps) {
  std::vector<double> grid;
  for (int i = 0; i < steps; ++i) grid.push_back(i * (max - 0.1) / steps + 0.1);
  return grid;
}

// exp(-beta (1 - x K^T)) L: the cache term of Tip-Adapter (affinity given as x K^T).
torch::Tensor cache_term(const torch::Tensor& affinity, const torch::Tensor& values, double beta) {
  return affinity.mul(beta).sub_(beta).exp_().mm(values);
}

struct Search {
  double alpha = 0, beta = 0, accuracy = -1;
};

// Grid search of (alpha, beta) on the validation set; beta outer, alpha inner, first best kept (as the
// reference). Validation rows go in chunks so the affinity buffer stays chunk x (number of keys).
Search search_alpha_beta(const torch::Tensor& text_logits, const torch::Tensor& features, const torch::Tensor& keys,
                         const torch::Tensor& values, const torch::Tensor& labels, const std::vector<double>& alphas,
                         const std::vector<double>& betas) {
  std::vector<int64_t> correct(betas.size() * alphas.size(), 0);
  const int64_t rows = features.size(0), chunk = 4096;
  for (int64_t begin = 0; begin < rows; begin += chunk) {
    const int64_t n = std::min(chunk, rows - begin);
    const torch::Tensor affinity = features.narrow(0, begin, n).mm(keys.t());
    const torch::Tensor text = text_logits.narrow(0, begin, n), y = labels.narrow(0, begin, n);
    for (size_t b = 0; b < betas.size(); ++b) {
      const torch::Tensor cache = cache_term(affinity, values, betas[b]);
      for (size_t a = 0; a < alphas.size(); ++a) correct[b * alphas.size() + a] += correct_count(text + cache * alphas[a], y);
    }
  }
  Search best;
  int64_t best_correct = -1;
  for (size_t b = 0; b < betas.size(); ++b)
    for (size_t a = 0; a < alphas.size(); ++a)
      if (correct[b * alphas.size() + a] > best_correct) {
        best_correct = correct[b * alphas.size() + a];
        best = {alphas[a], betas[b], static_cast<double>(best_correct) / static_cast<double>(rows)};
      }
  return best;
}

}  // namespace

FewShotState make_zeroshot_state(const Matrix& classes, float logit_scale) {
  if (classes.rows == 0) throw Error(ErrorKind::kInput, "zero-shot: the class list is empty");
  FewShotState state;
  state.method = "zeroshot";
  state.parameters = {{"logit_scale", logit_scale}};
  state.arrays["text_proxies"] = classes;
  return state;
}

FewShotState train_linear_probe(const FewShotSet& train, const FewShotSet& val, const Matrix& classes,
                                const LinearProbeOptions& options) {
  check_inputs("linear probe", train, val, classes);
  if (options.max_iters < 1) throw Error(ErrorKind::kUsage, "linear probe: " + param("max_iters") + " must be at least 1");
  std::vector<double> grid = options.l2_grid;
  if (grid.empty())  // 1e-6 .. 1 in half decades
    for (int k = -12; k <= 0; ++k) grid.push_back(std::pow(10.0, k / 2.0));
  for (double l2 : grid)
    if (!(l2 >= 0) || !std::isfinite(l2)) throw Error(ErrorKind::kUsage, "linear probe: L2 strengths must be finite and >= 0");
  // Strong to weak: each fit starts from the previous optimum, and on equal validation accuracy the
  // stronger regularisation (visited first) is kept.
  std::sort(grid.begin(), grid.end(), std::greater<double>());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());

  const int64_t c = classes.rows, d = classes.cols;
  const torch::Tensor x = tensor_of(train.features), y = labels_tensor(train.labels);
  const torch::Tensor xv = tensor_of(val.features), yv = labels_tensor(val.labels);
  torch::Tensor w = torch::zeros({c, d}, torch::kFloat).requires_grad_(true);
  torch::Tensor b = torch::zeros({c}, torch::kFloat).requires_grad_(true);

  json search = json::array();
  torch::Tensor best_w, best_b;
  double best_l2 = grid.front(), best_acc = -1, best_loss = 0;
  const auto search_start = std::chrono::steady_clock::now();
  for (double l2 : grid) {
    torch::optim::LBFGS optimizer({w, b}, torch::optim::LBFGSOptions(1.0)
                                              .max_iter(options.max_iters)
                                              .history_size(20)
                                              .tolerance_grad(1e-6)
                                              .tolerance_change(1e-9)
                                              .line_search_fn("strong_wolfe"));
    auto closure = [&] {
      optimizer.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(torch::addmm(b, x, w.t()), y) + 0.5 * l2 * w.pow(2).sum();
      loss.backward();
      return loss;
    };
    optimizer.step(closure);
    torch::NoGradGuard no_grad;
    const double loss = (torch::nn::functional::cross_entropy(torch::addmm(b, x, w.t()), y) + 0.5 * l2 * w.pow(2).sum()).item<double>();
    const double acc = static_cast<double>(correct_count(torch::addmm(b, xv, w.t()), yv)) / static_cast<double>(val.labels.size());
    search.push_back({{"l2", l2}, {"val_accuracy", acc}, {"train_objective", loss}});
    if (options.progress) {
      Progress p;
      p.done = p.done_this_run = static_cast<int64_t>(search.size());
      p.total = static_cast<int64_t>(grid.size());
      p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - search_start).count();
      options.progress(p);
    }
    if (acc > best_acc) {
      best_acc = acc;
      best_l2 = l2;
      best_loss = loss;
      best_w = w.detach().clone();
      best_b = b.detach().clone();
    }
  }

  FewShotState state;
  state.method = "linear-probe";
  state.parameters = {{"l2", best_l2}, {"max_iters", options.max_iters}, {"seed", options.seed}};
  state.arrays["weights"] = matrix_of(best_w);
  state.arrays["bias"] = matrix_of(best_b.unsqueeze(0));
  state.info["l2_search"] = search;
  state.info["val_accuracy_at_selection"] = best_acc;
  state.info["train_objective"] = best_loss;
  return state;
}

FewShotState train_tip_adapter(const FewShotSet& train, const FewShotSet& val, const Matrix& classes,
                               const TipAdapterOptions& o) {
  const char* what = o.finetune ? "Tip-Adapter-F" : "Tip-Adapter";
  check_inputs(what, train, val, classes);
  if (o.finetune && (o.epochs < 1 || o.batch_size < 1 || !(o.lr > 0) || !(o.eps > 0)))
    throw Error(ErrorKind::kUsage, std::string(what) + ": " + param("epochs") + ", " + param("batch_size") + ", " + param("lr") + " and " + param("eps") + " must be positive");
  const std::vector<double> alphas = o.alpha_grid.empty() ? reference_grid(3.0, 20) : o.alpha_grid;
  const std::vector<double> betas = o.beta_grid.empty() ? reference_grid(7.0, 200) : o.beta_grid;

  // Cache: one key per training image (the mean of its views), one-hot values.
  const FewShotSet cache = mean_per_group(train);
  const int64_t c = classes.rows;
  torch::Tensor keys = tensor_of(cache.features);
  const torch::Tensor values =
      torch::one_hot(labels_tensor(cache.labels), c).to(torch::kFloat);
  const torch::Tensor text = tensor_of(classes);
  const float scale = o.logit_scale;

  json log = json::array();
  if (o.finetune) {
    // Only the keys learn (the reference's adapter is a bias-free Linear initialised to K^T); every
    // augmented view is a training sample, with alpha and beta fixed at their initial values.
    const torch::Tensor x = tensor_of(train.features), y = labels_tensor(train.labels);
    const torch::Tensor text_logits = x.mm(text.t()).mul_(scale);
    keys.requires_grad_(true);
    torch::optim::AdamW optimizer({keys}, torch::optim::AdamWOptions(o.lr).eps(o.eps).weight_decay(o.weight_decay));
    const int64_t n = x.size(0);
    const int64_t iters = (n + o.batch_size - 1) / o.batch_size;
    const int64_t total = static_cast<int64_t>(o.epochs) * iters;
    int64_t step = 0;
    const auto train_start = std::chrono::steady_clock::now();
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
      // One stream per (seed, epoch): the batch order is reproducible and independent of other epochs.
      const std::vector<int64_t> order = seeded_order(n, o.seed * 7919ULL + static_cast<uint64_t>(epoch));
      const torch::Tensor perm = labels_tensor(order);
      double loss_sum = 0;
      int64_t correct = 0;
      for (int64_t it = 0; it < iters; ++it) {
        const int64_t begin = it * o.batch_size, size = std::min<int64_t>(o.batch_size, n - begin);
        const torch::Tensor rows = perm.narrow(0, begin, size);
        const torch::Tensor xb = x.index_select(0, rows), yb = y.index_select(0, rows);
        torch::Tensor logits = text_logits.index_select(0, rows) + cache_term(xb.mm(keys.t()), values, o.init_beta) * o.init_alpha;
        torch::Tensor loss = torch::nn::functional::cross_entropy(logits, yb);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        ++step;  // CosineAnnealingLR stepped per iteration, T_max = epochs x iterations, eta_min = 0
        static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[0].options())
            .lr(0.5 * o.lr * (1.0 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(total))));
        loss_sum += loss.item<double>() * static_cast<double>(size);
        correct += correct_count(logits.detach(), yb);
        if (o.progress) {
          Progress p;
          p.done = p.done_this_run = step;
          p.total = total;
          p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
          o.progress(p);
        }
      }
      log.push_back({{"epoch", epoch + 1},
                     {"loss", loss_sum / static_cast<double>(n)},
                     {"train_accuracy", static_cast<double>(correct) / static_cast<double>(n)},
                     {"lr", static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[0].options()).lr()}});
    }
    keys = keys.detach();
  }

  // alpha and beta on the validation set, with the final keys (no epoch selection: the test set is
  // never looked at).
  torch::NoGradGuard no_grad;
  const torch::Tensor xv = tensor_of(val.features), yv = labels_tensor(val.labels);
  const torch::Tensor text_val = xv.mm(text.t()).mul_(scale);
  const Search best = search_alpha_beta(text_val, xv, keys, values, yv, alphas, betas);

  FewShotState state;
  state.method = o.finetune ? "tip-adapter-f" : "tip-adapter";
  state.parameters = {{"alpha", best.alpha}, {"beta", best.beta}, {"logit_scale", scale}};
  json search = {{"alpha_grid", {{"min", *std::min_element(alphas.begin(), alphas.end())},
                                 {"max", *std::max_element(alphas.begin(), alphas.end())}, {"count", alphas.size()}}},
                 {"beta_grid", {{"min", *std::min_element(betas.begin(), betas.end())},
                                {"max", *std::max_element(betas.begin(), betas.end())}, {"count", betas.size()}}},
                 {"val_accuracy", best.accuracy},
                 {"val_accuracy_zeroshot", static_cast<double>(correct_count(text_val, yv)) / static_cast<double>(yv.size(0))}};
  if (o.finetune) {
    state.parameters.update({{"epochs", o.epochs}, {"batch_size", o.batch_size}, {"lr", o.lr}, {"eps", o.eps},
                             {"weight_decay", o.weight_decay}, {"init_alpha", o.init_alpha}, {"init_beta", o.init_beta},
                             {"seed", o.seed}});
    state.info["train_log"] = log;
  }
  state.info["alpha_beta_search"] = search;
  state.arrays["text_proxies"] = classes;
  state.arrays["keys"] = matrix_of(keys);
  state.arrays["values"] = matrix_of(values);
  return state;
}

Matrix linear_probe_logits(const FewShotState& state, const Matrix& images) {
  const Matrix& w = state_array(state, "weights");
  const Matrix& b = state_array(state, "bias");
  if (b.rows != 1 || b.cols != w.rows)
    throw Error(ErrorKind::kInput, "the linear-probe state's bias is " + std::to_string(b.rows) + " x " + std::to_string(b.cols) +
                                       " for " + std::to_string(w.rows) + " classes", "make the state again");
  Matrix logits = scaled_products(images, w, 1.0f);
  for (int64_t i = 0; i < logits.rows; ++i)
    for (int64_t j = 0; j < logits.cols; ++j) logits.data[static_cast<size_t>(i * logits.cols + j)] += b.data[static_cast<size_t>(j)];
  return logits;
}

Matrix tip_adapter_logits(const FewShotState& state, const Matrix& images) {
  const Matrix& text = state_array(state, "text_proxies");
  const Matrix& keys = state_array(state, "keys");
  const Matrix& values = state_array(state, "values");
  const double alpha = parameter(state, "alpha"), beta = parameter(state, "beta");
  const float scale = static_cast<float>(state.parameters.value("logit_scale", 100.0));
  if (keys.cols != text.cols || values.rows != keys.rows || values.cols != text.rows)
    throw Error(ErrorKind::kInput, "the " + state.method + " state's arrays do not fit together (keys " + std::to_string(keys.rows) +
                                       " x " + std::to_string(keys.cols) + ", values " + std::to_string(values.rows) + " x " +
                                       std::to_string(values.cols) + ", text proxies " + std::to_string(text.rows) + " x " +
                                       std::to_string(text.cols) + ")", "make the state again");
  // The text term exactly as zero-shot computes it, so alpha = 0 reproduces zero-shot bit for bit.
  Matrix logits = scaled_products(images, text, scale);
  if (alpha == 0 || images.rows == 0) return logits;
  torch::InferenceMode guard;
  const torch::Tensor k = torch::from_blob(const_cast<float*>(keys.data.data()), {keys.rows, keys.cols}, torch::kFloat).t();
  const torch::Tensor v = torch::from_blob(const_cast<float*>(values.data.data()), {values.rows, values.cols}, torch::kFloat);
  const int64_t chunk = 4096;  // bounds the affinity buffer to chunk x (number of keys) floats
  for (int64_t begin = 0; begin < images.rows; begin += chunk) {
    const int64_t n = std::min(chunk, images.rows - begin);
    const torch::Tensor x = torch::from_blob(const_cast<float*>(images.row(begin)), {n, images.cols}, torch::kFloat);
    torch::Tensor out = torch::from_blob(logits.data.data() + begin * logits.cols, {n, logits.cols}, torch::kFloat);
    out.add_(cache_term(x.mm(k), v, beta), alpha);
  }
  return logits;
}

MethodEntry linear_probe_method_entry() {
  return make_fewshot_entry("linear-probe", "linear probe: multinomial logistic regression on the K shots (Radford et al. 2021)",
                            linear_probe_logits);
}

MethodEntry tip_adapter_method_entry() {
  return make_fewshot_entry("tip-adapter", "Tip-Adapter: a training-free key-value cache of the shots (Zhang et al., ECCV 2022)",
                            tip_adapter_logits);
}

MethodEntry tip_adapter_f_method_entry() {
  return make_fewshot_entry("tip-adapter-f", "Tip-Adapter-F: the cache keys fine-tuned on the shots (Zhang et al., ECCV 2022)",
                            tip_adapter_logits);
}

}  // namespace clipzs
