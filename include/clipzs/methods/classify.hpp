// Zero-shot classification over cached embeddings: logits = logit_scale * images @ classes^T, class
// probabilities by softmax over the classes given, top-k per row. The header has no LibTorch; the
// matrix product runs through LibTorch's BLAS in src/methods/zeroshot.cpp.
//
// Contract:
//  - images: N x D, classes: C x D, float32 row-major; rows are expected L2-normalised (stores are).
//  - Rows of `images` listed in `skip` (e.g. unreadable images) get no prediction (top_index -1).
//  - Predictions hold k = min(top_k, C) entries per row, best first; probabilities sum to 1 over all C.
//  - Failure modes: D mismatch or C == 0 throw Error(kInput) naming both shapes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clipzs/util/types.hpp"

namespace clipzs {

// Softmax(logit_scale * images @ classes^T) top-k, in chunks so memory stays O(chunk x C).
Predictions predict_top_k(const Matrix& images, const Matrix& classes, float logit_scale, int top_k,
                          const std::vector<bool>& skip = {});

// Keeps the rows of `m` listed in `keep`, in that order.
Matrix select_rows(const Matrix& m, const std::vector<int64_t>& keep);

}  // namespace clipzs
