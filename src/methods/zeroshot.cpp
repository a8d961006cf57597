#include <torch/torch.h>

#include "clipzs/methods/classify.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/methods/fewshot.hpp"
#include "methods/fewshot_methods.hpp"
#include "methods/proxy_classifier.hpp"
#include "methods/top_k.hpp"

namespace clipzs {

Matrix select_rows(const Matrix& m, const std::vector<int64_t>& keep) {
  Matrix out;
  out.rows = static_cast<int64_t>(keep.size());
  out.cols = m.cols;
  out.data.resize(static_cast<size_t>(out.rows * out.cols));
  for (size_t i = 0; i < keep.size(); ++i)
    std::copy_n(m.row(keep[i]), m.cols, out.data.data() + static_cast<int64_t>(i) * m.cols);
  return out;
}

Predictions predict_top_k(const Matrix& images, const Matrix& classes, float logit_scale, int top_k,
                          const std::vector<bool>& skip) {
  if (classes.rows == 0) throw Error(ErrorKind::kInput, "the class list is empty", "give at least one class");
  if (images.cols != classes.cols)
    throw Error(ErrorKind::kInput, "image embeddings have " + std::to_string(images.cols) + " dimensions, class embeddings " +
                                       std::to_string(classes.cols),
                "embed images and classes with the same model bundle");
  torch::InferenceMode guard;
  Predictions out = empty_predictions(images.rows, std::min<int64_t>(std::max(1, top_k), classes.rows));
  if (images.rows == 0) return out;
  torch::Tensor w = torch::from_blob(const_cast<float*>(classes.data.data()), {classes.rows, classes.cols}, torch::kFloat).t();
  const int64_t chunk = 8192;  // bounds the logits buffer to chunk x C floats
  for (int64_t begin = 0; begin < images.rows; begin += chunk) {
    const int64_t n = std::min(chunk, images.rows - begin);
    torch::Tensor x = torch::from_blob(const_cast<float*>(images.row(begin)), {n, images.cols}, torch::kFloat);
    torch::Tensor logits = torch::mm(x, w).mul_(logit_scale);
    auto top = logits.topk(out.k, 1);
    // Only the top-k probabilities are kept: exp(logit - logsumexp) avoids writing a full softmax.
    copy_top_k({(std::get<0>(top) - logits.logsumexp(1, true)).exp_(), std::get<1>(top)}, begin, out, rows_not_in(skip));
  }
  return out;
}

Predictions ProxyClassifierState::predict(const ImageEmbeddings& images, int top_k, const std::string& variant) const {
  if (!variant.empty() && variant != method())
    throw Error(ErrorKind::kInternal, "the " + method() + " state has no variant '" + variant + "'");
  return predict_top_k(images.features, proxies_, scale_, top_k);
}

std::unique_ptr<MethodState> make_zeroshot_method(Matrix classes, std::vector<std::string> classnames, float logit_scale) {
  return std::make_unique<ProxyClassifierState>("zeroshot", nlohmann::json::object(), std::move(classnames), std::move(classes),
                                                logit_scale);
}

MethodEntry zeroshot_method_entry() {
  MethodEntry e;
  e.name = "zeroshot";
  e.kind = MethodKind::kZeroShot;
  e.summary = "zero-shot CLIP: softmax(logit_scale x . t_c) over the class prompts' embeddings (Radford et al. 2021)";
  e.fewshot_logits = zeroshot_logits;  // the zero-shot reference of the few-shot methods' validation
  return e;
}

}  // namespace clipzs
