// X-MoRe (Eom, Ho, Oh, Yun; arXiv 2308.15273): zero-shot classification helped, without training, by
// the captions of the nearest images in an external image-text bank. Follows the authors' released
// ensemble (ensemble_with_entropy.py) with its defects fixed (docs/methods/xmore.md).
//
// Shapes (float32, row-major Matrix; rows L2-normalised):
//   images    n x d   the test images
//   classes   C x d   class text proxies T
//   captions  M x d   caption embeddings; captions_per_image[i] lists rows of it (at most K each)
// Per test image i (s = logit scale):
//   p_img = softmax(s x_i T^T);  p_cap = (1/K_i) sum_k softmax(s c_k T^T)
//   a_i = 1 - H(p_img) / ln C;   b_i = 1 - H(p_cap) / ln C   (entropy of the averaged caption distribution)
//   score = (a_i / mean a) p_img + (b_i / mean b) p_cap, prediction argmax score
// The means run over the images processed so far (this one included) in a seeded order
// (Normalize::kRunning, the reference behaviour: order-dependent), or over all images that have
// captions (Normalize::kGlobal: order-free). Images without captions are predicted from p_img alone and
// do not enter the means (the reference skips them); skipped rows (unreadable images) get -1.
// Failure modes: dimension mismatch or caption ids out of range -> Error(kInput / kInternal).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clipzs/methods/classify.hpp"
#include "clipzs/search/knn.hpp"

#include <atomic>

#include <nlohmann/json.hpp>

#include "clipzs/store/dataset.hpp"
#include "clipzs/util/progress.hpp"

namespace clipzs {

enum class XMoReNormalize { kRunning, kGlobal };
XMoReNormalize parse_xmore_normalize(const std::string& name);  // "running" | "global"
const char* xmore_normalize_name(XMoReNormalize n) noexcept;

struct XMoReOptions {
  float logit_scale = 100.0f;
  XMoReNormalize normalize = XMoReNormalize::kRunning;
  uint64_t seed = 1;  // order of the running means
  int top_k = 5;      // predictions kept per row
};

struct XMoReResult {
  Predictions ensemble;       // X-MoRe; top_prob is the score divided by the two weights' sum
  Predictions image_only;     // zero-shot CLIP
  Predictions captions_only;  // p_cap alone (-1 for images without captions)
  std::vector<float> image_confidence;    // a_i (NaN for skipped rows)
  std::vector<float> caption_confidence;  // b_i (NaN without captions)
  std::vector<float> image_weight;        // a_i / mean a as used (1 without captions)
  std::vector<float> caption_weight;      // b_i / mean b as used (0 without captions)
  std::vector<int64_t> order;             // the processing order (rows), for kRunning
  int64_t with_captions = 0;              // rows that had at least one caption
  int64_t evaluated = 0;                  // rows not skipped
};

XMoReResult run_xmore(const Matrix& images, const Matrix& classes, const Matrix& captions,
                      const std::vector<std::vector<int64_t>>& captions_per_image, const std::vector<bool>& skip,
                      const XMoReOptions& options);

// 1 - H(p) / ln C for a probability vector of C entries (0 * log 0 = 0); 0 when C == 1.
double normalized_confidence(const float* probs, int64_t num_classes);

// A seeded permutation of 0..n-1 (Fisher-Yates over mt19937_64, the same on every platform).
std::vector<int64_t> seeded_order(int64_t n, uint64_t seed);

// Caption choice, step 1: per query, its neighbours' bank rows in kNN order, without -1 ids, rows that
// are not `usable`, and rows whose caption string was already taken (exact duplicates; first stays).
std::vector<std::vector<int64_t>> caption_candidates(const KnnResult& neighbours, const std::vector<std::string>& captions,
                                                     const std::vector<bool>& usable);
// Step 2: when `rerank_scores` is given (one score per candidate, same layout), candidates are stably
// sorted by descending score; then each list is cut to k.
void keep_top_captions(std::vector<std::vector<int64_t>>& candidates, int k,
                       const std::vector<std::vector<float>>* rerank_scores = nullptr);

// ---- adapt_xmore: stores and a bank to a state folder ---------------------------------------------
// State (state_version 1): state.json {method, state_version, parameters, classnames, bundle_sha256,
// image_store_sha256, bank, coverage, metrics, ...}; {xmore,zeroshot,captions_only}_top_{index,prob}.npy
// (store rows x 5), predictions.npy (int64 per store row, -1: unreadable image), confidences.npy
// (rows x 4: a, b, a / mean a, b / mean b), captions.npy (rows x k bank rows, -1: fewer),
// predictions.jsonl. Read back by the registry entry "xmore": predictions for that image store only.
struct XMoReAdaptParams {
  std::string images, text, bank, out;  // image store, class store, retrieval bank, state folder
  std::string labels;                   // optional int64 .npy, one label per store row (default: rows.jsonl)
  LabelRule label_rule = LabelRule::kAuto;
  std::string search = "exact";         // "exact" (every bank row) or "index" (a FAISS index of the bank)
  std::string index;                    // index file for "index" (default: the bank's only .faiss file)
  std::string rerank_model;             // optional second bundle that orders the caption candidates
  std::string device = "cpu";           // retrieval and re-ranking
  int k = 16, neighbours = 128, nprobe = 32;
  float logit_scale = 0.0f;             // 0: the bundle's own (from the class store's manifest)
  std::string logit_scale_from = "logit_scale";  // how state.json names an explicit logit_scale's source
  XMoReNormalize normalize = XMoReNormalize::kRunning;
  uint64_t seed = 1;
  const std::atomic<bool>* cancel = nullptr;
  ProgressCallback progress;            // stages "k-NN search", "rerank images", "rerank captions"
  nlohmann::json provenance = nlohmann::json::object();  // merged into state.json
};

struct XMoReAdaptResult {
  nlohmann::json state;  // state.json as written
  int64_t evaluated = 0, with_captions = 0;
};

XMoReAdaptResult adapt_xmore(const XMoReAdaptParams& params);

}  // namespace clipzs
