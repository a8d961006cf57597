// Few-shot baselines over cached embeddings (fewshot.hpp for the protocol and the state):
//  - zero-shot: the class text proxies alone (a state of method "zeroshot", for side-by-side tables);
//  - linear probe: multinomial logistic regression on the features (CLIP paper's protocol: L-BFGS,
//    L2 strength searched on the validation set);
//  - Tip-Adapter (Zhang et al., ECCV 2022): a training-free cache of the shots (keys: mean of each
//    image's augmented views, values: one-hot labels), logits = s x T^T + alpha exp(-beta (1 - x K^T)) L,
//    alpha and beta searched on the validation set;
//  - Tip-Adapter-F: the cache keys fine-tuned (AdamW, cosine schedule), then alpha/beta searched again.
// Shapes: features n x d, classes (text proxies) C x d, float32, rows L2-normalised.
// Failure modes: Error(kInput) for shape/label mismatches naming both sides; Error(kUsage) for bad options.
#pragma once

#include <cstdint>
#include <vector>

#include "clipzs/methods/fewshot.hpp"
#include "clipzs/util/progress.hpp"

namespace clipzs {

FewShotState make_zeroshot_state(const Matrix& classes, float logit_scale);

struct LinearProbeOptions {
  std::vector<double> l2_grid;  // empty: a default log-spaced grid
  int max_iters = 1000;
  uint64_t seed = 1;
  ProgressCallback progress;  // after every L2 strength fitted (units: grid points)
};
FewShotState train_linear_probe(const FewShotSet& train, const FewShotSet& val, const Matrix& classes,
                                const LinearProbeOptions& options);

struct TipAdapterOptions {
  bool finetune = false;   // Tip-Adapter-F
  float logit_scale = 100.0f;
  int epochs = 20;
  int batch_size = 256;
  double lr = 1e-3;
  double eps = 1e-4;
  double weight_decay = 1e-2;  // torch.optim.AdamW's default, which the reference keeps
  double init_alpha = 1.0;     // alpha, beta while the keys are fine-tuned (the reference's init_*)
  double init_beta = 1.0;
  std::vector<double> alpha_grid;  // empty: the reference's search range
  std::vector<double> beta_grid;
  uint64_t seed = 1;
  ProgressCallback progress;  // Tip-Adapter-F: after every optimiser step (units: steps over all epochs)
};
FewShotState train_tip_adapter(const FewShotSet& train, const FewShotSet& val, const Matrix& classes,
                               const TipAdapterOptions& options);

}  // namespace clipzs
