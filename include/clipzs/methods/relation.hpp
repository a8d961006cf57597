// Few-shot relation transition with open-vocabulary anchors (after Yan et al., "Mining Open Semantics
// from CLIP: A Relation Transition Perspective for Few-Shot Learning", arXiv 2406.11252). No official
// code exists and the paper body leaves the module unspecified; every choice below is documented in
// docs/methods/relation.md.
//
// Anchors: M words (WordNet nouns by default) in the prompt "a photo of a {}."; the token embeddings of
// each anchor word are learnable and pass through the frozen text encoder (the bundle's
// encode_token_embeddings entry point), so anchor features F_anc (M x d) follow the learned vectors.
// Module, for an L2-normalised image feature x (T: C x d class text proxies):
//   R   = softmax over anchors (T F_anc^T / tau_r)                     C x M   anchor -> class relation
//   A_h = softmax over anchors ((x W_q)_h (F_anc W_k)_h^T / tau_a)     per head h (d split into H heads)
//   o   = mean_h A_h R^T                                               1 x C   image -> class relation
//   logits = s x T^T + gamma (M o - 1)
// W_q, W_k start at the identity and gamma is learned (log-parameterised); with identity projections and
// the anchors' own word embeddings the module is training-free (zero-shot use: --training-free picks
// gamma on the validation set). Training: AdamW, cosine schedule, cross-entropy on cached features of
// the shots (and their augmented views); the epoch with the best validation accuracy is kept.
// Failure modes: Error(kModel) when the bundle's text encoder lacks the token-embedding entry points;
// Error(kInput) for shape mismatches or an anchor list that leaves fewer than 2 anchors.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "clipzs/store/bundle.hpp"
#include "clipzs/methods/fewshot.hpp"
#include "clipzs/util/progress.hpp"

namespace clipzs {

// Anchor words: `file` (one per line, '#' comments) or, when empty, WordNet's nouns (index.noun under
// `wordnet_dir`), single lower-case words of 3+ letters ordered by how often their senses are tagged in
// WordNet's concordance (most common first); either way without the target class names or their words,
// cut to `count`. Error(kInput) naming the file when it is missing (hint: apt install wordnet-base).
std::vector<std::string> load_anchor_words(const std::string& file, const std::string& wordnet_dir, int count,
                                           const std::vector<std::string>& classnames);

struct RelationOptions {
  std::string prompt = "a photo of a {}.";
  int heads = 4;
  double tau_r = 0.01;       // anchor -> class relation temperature
  double tau_a = 0.01;       // image -> anchor attention temperature
  double gamma_init = 1.0;
  float logit_scale = 100.0f;
  int epochs = 20;
  int batch_size = 256;
  double lr = 1e-3;          // projections and gamma
  double anchor_lr = 1e-3;   // anchor token embeddings
  double weight_decay = 0.01;
  bool training_free = false;  // identity projections, word anchors, gamma picked on val
  bool learn_anchors = true;   // false: anchor features stay those of the words (no text-encoder backward)
  uint64_t seed = 1;
  int64_t max_steps = 0;       // stop after this many optimiser steps (0: every step of every epoch)
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(int epoch, double loss, double val_acc)> on_epoch;
  ProgressCallback progress;  // after every optimiser step (units: steps over all epochs)
};

// Trains the module on `train` (rows: shots and their views), picks the epoch by `val`, and returns a
// state of method "relation" (arrays: text_proxies, anchor_features, w_q, w_k; parameters: tau_r,
// tau_a, heads, gamma, logit_scale, anchors) plus per-epoch history in state.info["history"].
FewShotState train_relation(const BundleInfo& bundle, const std::vector<std::string>& anchors, const FewShotSet& train,
                            const FewShotSet& val, const Matrix& classes, const RelationOptions& options);

}  // namespace clipzs
