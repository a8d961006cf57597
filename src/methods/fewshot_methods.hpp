// Private to src/methods: the per-method pieces behind fewshot.hpp's dispatch.
#pragma once

#include <string>

#include "clipzs/methods/fewshot.hpp"
#include "clipzs/methods/method.hpp"

namespace clipzs {

// The array `name` of a state; Error(kInput) naming the method when it is missing.
const Matrix& state_array(const FewShotState& state, const std::string& name);
// scale * a b^T (a: n x d, b: m x d) through LibTorch's BLAS.
Matrix scaled_products(const Matrix& a, const Matrix& b, float scale);

// Logits of each method from its state (n x C).
Matrix zeroshot_logits(const FewShotState& state, const Matrix& images);      // baselines: text proxies only
Matrix linear_probe_logits(const FewShotState& state, const Matrix& images);  // src/methods/baselines.cpp
Matrix tip_adapter_logits(const FewShotState& state, const Matrix& images);   // src/methods/baselines.cpp
Matrix relation_logits(const FewShotState& state, const Matrix& images);      // src/methods/relation.cpp

// The registry entry of a few-shot method: its state is a FewShotState folder, its logits `logits`.
MethodEntry make_fewshot_entry(const std::string& name, const std::string& summary,
                               Matrix (*logits)(const FewShotState& state, const Matrix& images));

}  // namespace clipzs
