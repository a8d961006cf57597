#include "clipzs/methods/relation.hpp"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "clipzs/util/error.hpp"
#include "clipzs/text/tokenizer.hpp"
#include "methods/fewshot_methods.hpp"
#include "model/torch_modules.hpp"
#include "util/strings.hpp"

namespace clipzs {
using nlohmann::json;

namespace {

// Target class names and each of their words, lower-cased, '_' read as a space.
std::set<std::string> excluded_words(const std::vector<std::string>& classnames) {
  std::set<std::string> out;
  for (std::string name : classnames) {
    name = detail::ascii_lower(name);
    std::replace(name.begin(), name.end(), '_', ' ');
    out.insert(name);
    std::istringstream words(name);
    for (std::string w; words >> w;) out.insert(w);
  }
  return out;
}

torch::Tensor to_tensor(const Matrix& m) {
  return torch::from_blob(const_cast<float*>(m.data.data()), {m.rows, m.cols}, torch::kFloat).clone();
}

Matrix to_matrix(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat).contiguous();
  return Matrix{c.size(0), c.size(1), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())};
}

// The relation branch, shared by training and prediction: image features x (B x d), anchor features
// a (M x d), text proxies t (C x d) -> B x C added to the zero-shot logits.
torch::Tensor relation_branch(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& t, const torch::Tensor& w_q,
                              const torch::Tensor& w_k, int64_t heads, double tau_r, double tau_a, const torch::Tensor& gamma) {
  const int64_t m = a.size(0), d = a.size(1), b = x.size(0);
  torch::Tensor r = torch::softmax(torch::mm(t, a.t()) / tau_r, 1);  // C x M
  const int64_t hd = d / heads;
  torch::Tensor q = torch::mm(x, w_q).view({b, heads, hd}).transpose(0, 1);  // H x B x hd
  torch::Tensor k = torch::mm(a, w_k).view({m, heads, hd}).transpose(0, 1);  // H x M x hd
  // Per-head cosine (heads are slices of the projected features) over tau_a: with identity
  // projections and one head this is the image-anchor cosine of CLIP's joint space.
  q = torch::nn::functional::normalize(q, torch::nn::functional::NormalizeFuncOptions().dim(2));
  k = torch::nn::functional::normalize(k, torch::nn::functional::NormalizeFuncOptions().dim(2));
  torch::Tensor attention = torch::softmax(torch::bmm(q, k.transpose(1, 2)) / tau_a, 2);  // H x B x M
  torch::Tensor o = torch::matmul(attention, r.t()).mean(0);                               // B x C
  return gamma * (o * static_cast<double>(m) - 1.0);
}

struct AnchorPrompts {
  torch::Tensor base;       // M x L x W token embeddings of the prompts (frozen)
  torch::Tensor positions;  // P: flat indices (m * L + position) of the anchor-word tokens
  torch::Tensor eot;        // M
  torch::Tensor init;       // P x W: the anchor words' own token embeddings
  std::vector<std::string> kept;
};

AnchorPrompts build_prompts(const BundleInfo& bundle, const ClipTokenizer& tokenizer, const torch::Tensor& token_weight,
                            const std::vector<std::string>& anchors, const std::string& prompt) {
  const size_t slot = prompt.find("{}");
  if (slot == std::string::npos) throw Error(ErrorKind::kUsage, "the anchor prompt '" + prompt + "' has no {}");
  const std::vector<int64_t> prefix = tokenizer.encode_ids(prompt.substr(0, slot));
  const std::vector<int64_t> suffix = tokenizer.encode_ids(prompt.substr(slot + 2));
  std::vector<std::vector<int64_t>> rows;
  std::vector<std::pair<int64_t, int64_t>> spans;  // anchor tokens [begin, end) per row
  AnchorPrompts out;
  for (const auto& word : anchors) {
    std::vector<int64_t> ids = {bundle.sot_id};
    ids.insert(ids.end(), prefix.begin(), prefix.end());
    const int64_t begin = static_cast<int64_t>(ids.size());
    const std::vector<int64_t> word_ids = tokenizer.encode_ids(word);
    ids.insert(ids.end(), word_ids.begin(), word_ids.end());
    const int64_t end = static_cast<int64_t>(ids.size());
    ids.insert(ids.end(), suffix.begin(), suffix.end());
    ids.push_back(bundle.eot_id);
    if (word_ids.empty() || static_cast<int>(ids.size()) > bundle.context_length) continue;
    rows.push_back(std::move(ids));
    spans.push_back({begin, end});
    out.kept.push_back(word);
  }
  if (out.kept.size() < 2) throw Error(ErrorKind::kInput, "fewer than 2 usable anchors", "give more anchor words");
  int64_t length = 0;
  for (const auto& r : rows) length = std::max<int64_t>(length, static_cast<int64_t>(r.size()));
  const int64_t m = static_cast<int64_t>(rows.size());
  // Positions after a prompt's eot cannot influence its pooled output (causal mask), so prompts are
  // padded only to the longest one rather than to the full context.
  std::vector<int64_t> ids(static_cast<size_t>(m * length), 0), eot, positions;
  for (int64_t i = 0; i < m; ++i) {
    std::copy(rows[i].begin(), rows[i].end(), ids.begin() + i * length);
    eot.push_back(static_cast<int64_t>(rows[i].size()) - 1);
    for (int64_t p = spans[i].first; p < spans[i].second; ++p) positions.push_back(i * length + p);
  }
  torch::Tensor id_t = torch::tensor(ids, torch::kLong).view({m, length});
  out.base = token_weight.index_select(0, id_t.view(-1)).view({m, length, token_weight.size(1)}).detach().clone();
  out.positions = torch::tensor(positions, torch::kLong);
  out.eot = torch::tensor(eot, torch::kLong);
  out.init = out.base.view({m * length, -1}).index_select(0, out.positions).clone();
  return out;
}

// Anchor features (M x d, normalised) from the prompts with `anchor_tokens` in the anchor slots.
torch::Tensor anchor_features(torch::jit::Module& text, const AnchorPrompts& p, const torch::Tensor& anchor_tokens) {
  const int64_t m = p.base.size(0), length = p.base.size(1), width = p.base.size(2);
  torch::Tensor flat = p.base.view({m * length, width}).index_put({p.positions}, anchor_tokens);
  torch::Tensor features = text.get_method("encode_token_embeddings")({flat.view({m, length, width}), p.eot}).toTensor();
  return torch::nn::functional::normalize(features.to(torch::kFloat), torch::nn::functional::NormalizeFuncOptions().dim(1));
}

}  // namespace

std::vector<std::string> load_anchor_words(const std::string& file, const std::string& wordnet_dir, int count,
                                           const std::vector<std::string>& classnames) {
  if (count < 2) throw Error(ErrorKind::kUsage, param("anchors_count") + " must be at least 2");
  const std::set<std::string> excluded = excluded_words(classnames);
  std::vector<std::string> words;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw Error(ErrorKind::kInput, "cannot read the anchor list '" + file + "'");
    std::set<std::string> seen;
    for (std::string line; std::getline(in, line);) {
      const std::string w = detail::trim_space(line);
      if (w.empty() || w[0] == '#') continue;
      if (!excluded.count(detail::ascii_lower(w)) && seen.insert(w).second) words.push_back(w);
    }
  } else {
    const std::string index = wordnet_dir + "/index.noun";
    std::ifstream in(index);
    if (!in)
      throw Error(ErrorKind::kInput, "cannot read WordNet's noun index '" + index + "'",
                  "install Debian's wordnet-base, or pass " + param("anchors") + " FILE with one word per line");
    struct Noun {
      std::string word;
      long tagged;
    };
    std::vector<Noun> nouns;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == ' ') continue;  // the licence header lines start with spaces
      std::istringstream f(line);
      std::string lemma, pos;
      long synsets = 0, pointers = 0;
      f >> lemma >> pos >> synsets >> pointers;
      if (!f || lemma.size() < 3 || !std::all_of(lemma.begin(), lemma.end(), [](char c) { return c >= 'a' && c <= 'z'; })) continue;
      std::string skip;
      for (long i = 0; i < pointers; ++i) f >> skip;
      long senses = 0, tagged = 0;
      f >> senses >> tagged;
      if (!f || excluded.count(lemma)) continue;
      nouns.push_back({lemma, tagged});
    }
    std::stable_sort(nouns.begin(), nouns.end(), [](const Noun& a, const Noun& b) {
      return a.tagged != b.tagged ? a.tagged > b.tagged : a.word < b.word;
    });
    for (const auto& n : nouns) words.push_back(n.word);
  }
  if (static_cast<int>(words.size()) > count) words.resize(static_cast<size_t>(count));
  if (words.size() < 2) throw Error(ErrorKind::kInput, "fewer than 2 anchor words remain after removing the class names");
  return words;
}

FewShotState train_relation(const BundleInfo& bundle, const std::vector<std::string>& anchors, const FewShotSet& train,
                            const FewShotSet& val, const Matrix& classes, const RelationOptions& o) {
  if (train.features.cols != classes.cols || (val.features.rows > 0 && val.features.cols != classes.cols))
    throw Error(ErrorKind::kInput, "feature widths differ: train " + std::to_string(train.features.cols) + ", classes " +
                                       std::to_string(classes.cols), "use stores of one model bundle");
  const int64_t d = classes.cols;
  if (train.features.rows == 0) throw Error(ErrorKind::kInput, "no training rows", "check the train store and " + param("shots"));
  if (!o.training_free && (o.epochs < 1 || o.batch_size < 1))
    throw Error(ErrorKind::kUsage, param("epochs") + " and " + param("batch_size") + " must be at least 1");
  if (o.heads < 1 || d % o.heads != 0)
    throw Error(ErrorKind::kUsage, param("heads") + " must divide the embedding width " + std::to_string(d));
  if (!(o.tau_r > 0) || !(o.tau_a > 0)) throw Error(ErrorKind::kUsage, param("tau_r") + " and " + param("tau_a") + " must be positive");
  torch::manual_seed(o.seed);
  // The frozen text encoder, on the CPU in fp32 (the cached features are fp32): the anchors' gradients
  // flow through it to their token embeddings.
  torch::jit::Module text = model_detail::load_text_module(bundle, model_detail::placement_for(RuntimeOptions{}), {});
  for (auto p : text.parameters()) p.set_requires_grad(false);
  if (!text.find_method("encode_token_embeddings") || !text.find_method("token_embedding_weight"))
    throw Error(ErrorKind::kModel, bundle.path_of(bundle.text_file) + " lacks encode_token_embeddings/token_embedding_weight",
                "export the bundle with scripts/export_clip.py (docs/bundle-format.md)");
  const torch::Tensor token_weight = text.get_method("token_embedding_weight")({}).toTensor().to(torch::kFloat).detach();
  ClipTokenizer tokenizer = load_bundle_tokenizer(bundle);
  AnchorPrompts prompts = build_prompts(bundle, tokenizer, token_weight, anchors, o.prompt);
  const int64_t m = static_cast<int64_t>(prompts.kept.size());

  const torch::Tensor t = to_tensor(classes);
  const torch::Tensor x_train = to_tensor(train.features);
  const torch::Tensor y_train = torch::tensor(train.labels, torch::kLong);
  const torch::Tensor x_val = to_tensor(val.features);
  const torch::Tensor zs_train = torch::mm(x_train, t.t()) * o.logit_scale;
  const torch::Tensor zs_val = torch::mm(x_val, t.t()) * o.logit_scale;

  torch::Tensor anchor_tokens = prompts.init.clone().set_requires_grad(o.learn_anchors && !o.training_free);
  torch::Tensor w_q = torch::eye(d).set_requires_grad(!o.training_free);
  torch::Tensor w_k = torch::eye(d).set_requires_grad(!o.training_free);
  torch::Tensor log_gamma = torch::full({}, std::log(o.gamma_init)).set_requires_grad(!o.training_free);

  auto val_accuracy = [&](const torch::Tensor& a, const torch::Tensor& gamma) {
    if (x_val.size(0) == 0) return 0.0;
    torch::NoGradGuard no_grad;
    torch::Tensor logits = zs_val + relation_branch(x_val, a, t, w_q, w_k, o.heads, o.tau_r, o.tau_a, gamma);
    return logits.argmax(1).eq(torch::tensor(val.labels, torch::kLong)).to(torch::kDouble).mean().item<double>();
  };

  json history = json::array();
  torch::Tensor best_anchor, best_wq, best_wk, best_gamma;
  double best_val = -1;
  torch::Tensor fixed_anchor_features;
  {
    torch::NoGradGuard no_grad;
    fixed_anchor_features = anchor_features(text, prompts, prompts.init).detach();
  }
  if (o.training_free) {
    // Only gamma is chosen, on the validation set, over a log grid (0 = plain zero-shot).
    for (double g : {0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0}) {
      const double acc = val_accuracy(fixed_anchor_features, torch::full({}, g));
      history.push_back({{"gamma", g}, {"val_acc", acc}});
      if (acc > best_val) {
        best_val = acc;
        best_gamma = torch::full({}, g);
      }
    }
    best_anchor = fixed_anchor_features;
    best_wq = w_q.detach();
    best_wk = w_k.detach();
  } else {
    std::vector<torch::Tensor> params = {w_q, w_k, log_gamma};
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(params, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay)));
    if (o.learn_anchors)
      groups.emplace_back(std::vector<torch::Tensor>{anchor_tokens},
                          std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o.anchor_lr).weight_decay(0.0)));
    torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(o.lr));
    const int64_t n = x_train.size(0);
    const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(o.batch_size, n));
    const int64_t steps_per_epoch = (n + batch - 1) / batch;
    const int64_t total_steps = steps_per_epoch * o.epochs;
    std::vector<double> base_lr;
    for (auto& g : optimizer.param_groups()) base_lr.push_back(static_cast<torch::optim::AdamWOptions&>(g.options()).lr());
    int64_t step = 0;
    const auto train_start = std::chrono::steady_clock::now();
    torch::Generator gen = at::detail::createCPUGenerator(o.seed);
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
      if (o.cancel && o.cancel->load()) throw Error(ErrorKind::kInterrupted, "interrupted while training", "run it again");
      torch::Tensor order = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong));
      double loss_sum = 0;
      int64_t seen = 0;
      for (int64_t s = 0; s < steps_per_epoch && (o.max_steps <= 0 || step < o.max_steps); ++s, ++step) {
        // Cosine schedule over all steps (as Tip-Adapter-F).
        const double factor = 0.5 * (1 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(total_steps)));
        for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
          static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[g].options()).lr(base_lr[g] * factor);
        torch::Tensor idx = order.narrow(0, s * batch, std::min(batch, n - s * batch));
        torch::Tensor a = o.learn_anchors ? anchor_features(text, prompts, anchor_tokens) : fixed_anchor_features;
        torch::Tensor logits = zs_train.index_select(0, idx) +
                               relation_branch(x_train.index_select(0, idx), a, t, w_q, w_k, o.heads, o.tau_r, o.tau_a, log_gamma.exp());
        torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y_train.index_select(0, idx));
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        loss_sum += loss.item<double>() * static_cast<double>(idx.size(0));
        seen += idx.size(0);
        if (o.progress) {
          Progress p;
          p.done = p.done_this_run = step + 1;
          p.total = o.max_steps > 0 ? std::min<int64_t>(o.max_steps, total_steps) : total_steps;
          p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
          o.progress(p);
        }
      }
      torch::Tensor a_now;
      {
        torch::NoGradGuard no_grad;
        a_now = o.learn_anchors ? anchor_features(text, prompts, anchor_tokens).detach() : fixed_anchor_features;
      }
      const double acc = val_accuracy(a_now, log_gamma.exp().detach());
      const double mean_loss = seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0;
      history.push_back({{"epoch", epoch + 1}, {"loss", mean_loss}, {"val_acc", acc}, {"gamma", log_gamma.exp().item<double>()}});
      if (o.on_epoch) o.on_epoch(epoch + 1, mean_loss, acc);
      // Strictly better only: ties keep the earlier, less trained epoch.
      const bool stop = o.max_steps > 0 && step >= o.max_steps;
      if (acc > best_val) {
        best_val = acc;
        best_anchor = a_now.clone();
        best_wq = w_q.detach().clone();
        best_wk = w_k.detach().clone();
        best_gamma = log_gamma.exp().detach().clone();
      }
      if (stop) break;
    }
  }

  FewShotState state;
  state.method = "relation";
  state.arrays["text_proxies"] = classes;
  state.arrays["anchor_features"] = to_matrix(best_anchor);
  state.arrays["w_q"] = to_matrix(best_wq);
  state.arrays["w_k"] = to_matrix(best_wk);
  if (!o.training_free && o.learn_anchors) state.arrays["anchor_tokens"] = to_matrix(anchor_tokens.detach());
  state.parameters = {{"tau_r", o.tau_r}, {"tau_a", o.tau_a}, {"heads", o.heads}, {"gamma", best_gamma.item<double>()},
                      {"logit_scale", o.logit_scale}, {"prompt", o.prompt}, {"anchors", prompts.kept},
                      {"training_free", o.training_free}, {"learn_anchors", o.learn_anchors}, {"epochs", o.epochs},
                      {"batch_size", o.batch_size}, {"lr", o.lr}, {"anchor_lr", o.anchor_lr},
                      {"weight_decay", o.weight_decay}, {"seed", o.seed}};
  state.info["history"] = history;
  state.info["val_acc"] = best_val;
  state.info["anchor_count"] = m;
  return state;
}

Matrix relation_logits(const FewShotState& state, const Matrix& images) {
  torch::InferenceMode guard;
  const json& p = state.parameters;
  const torch::Tensor x = to_tensor(images);
  const torch::Tensor t = to_tensor(state_array(state, "text_proxies"));
  const torch::Tensor a = to_tensor(state_array(state, "anchor_features"));
  const int64_t d = t.size(1);
  if (x.size(1) != d || a.size(1) != d)
    throw Error(ErrorKind::kInput, "the relation state has d = " + std::to_string(d) + ", the images d = " +
                                       std::to_string(x.size(1)));
  const int64_t heads = p.value("heads", 1);
  const Matrix& w_q = state_array(state, "w_q");
  const Matrix& w_k = state_array(state, "w_k");
  if (heads < 1 || d % heads != 0 || w_q.rows != d || w_q.cols != d || w_k.rows != d || w_k.cols != d ||
      !(p.value("tau_r", 0.01) > 0) || !(p.value("tau_a", 0.01) > 0))
    throw Error(ErrorKind::kInput, "the relation state is damaged: heads, temperatures or w_q/w_k do not fit d = " + std::to_string(d),
                "make the state again with `" + call("adapt") + " relation`");
  torch::Tensor logits = torch::mm(x, t.t()) * p.value("logit_scale", 100.0) +
                         relation_branch(x, a, t, to_tensor(w_q), to_tensor(w_k), heads, p.value("tau_r", 0.01), p.value("tau_a", 0.01),
                                         torch::full({}, p.value("gamma", 1.0)));
  return to_matrix(logits);
}

MethodEntry relation_method_entry() {
  return make_fewshot_entry("relation", "relation transition: few-shot through open-vocabulary anchors (after Yan et al. 2024)",
                            relation_logits);
}

}  // namespace clipzs
