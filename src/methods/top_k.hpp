// Private to src/methods: filling Predictions from LibTorch top-k results.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <tuple>

#include "clipzs/methods/classify.hpp"

namespace clipzs {

// rows x k predictions with every entry at -1 / 0 (no prediction).
inline Predictions empty_predictions(int64_t rows, int64_t k) {
  Predictions p;
  p.rows = rows;
  p.k = k;
  p.top_index.assign(static_cast<size_t>(rows * k), -1);
  p.top_prob.assign(static_cast<size_t>(rows * k), 0.0f);
  return p;
}

// Copies `top` (values and indices, n x p.k, as from Tensor::topk) into rows [first_row, first_row + n)
// of `p`, except the rows for which `keep` says false, which stay without a prediction.
inline void copy_top_k(const std::tuple<torch::Tensor, torch::Tensor>& top, int64_t first_row, Predictions& p,
                       const std::function<bool(int64_t row)>& keep) {
  const torch::Tensor values = std::get<0>(top).to(torch::kFloat).contiguous();
  const torch::Tensor indices = std::get<1>(top).contiguous();
  const float* v = values.data_ptr<float>();
  const int64_t* ix = indices.data_ptr<int64_t>();
  for (int64_t i = 0; i < values.size(0); ++i) {
    const int64_t row = first_row + i;
    if (!keep(row)) continue;
    std::copy_n(v + i * p.k, p.k, p.top_prob.data() + row * p.k);
    std::copy_n(ix + i * p.k, p.k, p.top_index.data() + row * p.k);
  }
}

// keep() for copy_top_k: every row not marked in `skip` (an empty `skip` keeps all).
inline std::function<bool(int64_t)> rows_not_in(const std::vector<bool>& skip) {
  return [&skip](int64_t row) { return skip.empty() || !skip[static_cast<size_t>(row)]; };
}

}  // namespace clipzs
