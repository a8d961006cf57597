#include <torch/torch.h>

#include "clipzs/classify.hpp"
#include "clipzs/error.hpp"

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
  Predictions out;
  out.rows = images.rows;
  out.k = std::min<int64_t>(std::max(1, top_k), classes.rows);
  out.top_index.assign(static_cast<size_t>(out.rows * out.k), -1);
  out.top_prob.assign(static_cast<size_t>(out.rows * out.k), 0.0f);
  if (images.rows == 0) return out;
  torch::Tensor w = torch::from_blob(const_cast<float*>(classes.data.data()), {classes.rows, classes.cols}, torch::kFloat).t();
  const int64_t chunk = 8192;  // bounds the logits buffer to chunk x C floats
  for (int64_t begin = 0; begin < images.rows; begin += chunk) {
    const int64_t n = std::min(chunk, images.rows - begin);
    torch::Tensor x = torch::from_blob(const_cast<float*>(images.row(begin)), {n, images.cols}, torch::kFloat);
    torch::Tensor logits = torch::mm(x, w).mul_(logit_scale);
    auto top = logits.topk(out.k, 1);
    // Only the top-k probabilities are kept: exp(logit - logsumexp) avoids writing a full softmax.
    torch::Tensor values = (std::get<0>(top) - logits.logsumexp(1, true)).exp_().contiguous();
    torch::Tensor indices = std::get<1>(top).contiguous();
    const float* v = values.data_ptr<float>();
    const int64_t* ix = indices.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      if (!skip.empty() && skip[static_cast<size_t>(begin + i)]) continue;
      std::copy_n(v + i * out.k, out.k, out.top_prob.data() + (begin + i) * out.k);
      std::copy_n(ix + i * out.k, out.k, out.top_index.data() + (begin + i) * out.k);
    }
  }
  return out;
}

}  // namespace clipzs
