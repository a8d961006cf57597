// What `infer` and `eval` share: options for the class list and the images, and getting both as
// embeddings (from stores, or embedding them into cached stores first).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clipzs/bundle.hpp"
#include "clipzs/classify.hpp"
#include "clipzs/embed.hpp"
#include "clipzs/fewshot.hpp"
#include "command.hpp"

namespace clipzs::cli {

struct ClassifyOptions {
  std::string model, classes, templates, dataset, cupl;
  std::string input, store, coop_split, split = "test", image_root, image_store;
  std::string cache_dir;
  std::string device = "cpu", dtype = "fp32";
  int threads = 0, batch_size = 32, workers = 0;
  std::string method = "zeroshot";
  std::string state;  // --method inmap|xmore|<few-shot>: the folder written by `clipzs adapt <method>`
  bool no_progress = false;
};

void add_classify_options(CLI::App* sub, ClassifyOptions& o);

struct ClassifyData {
  BundleInfo bundle;
  std::vector<std::string> classnames;
  Matrix classes;                       // C x D class proxies
  float logit_scale = 100.0f;           // softmax temperature for probabilities
  nlohmann::json method_state = nlohmann::json::object();  // state.json of an adapted method (empty for zeroshot)
  std::string text_store;
  Matrix images;                        // N x D
  std::vector<nlohmann::json> records;  // rows.jsonl of the image store
  std::vector<bool> failed;             // rows whose image could not be read
  std::string image_store;
  nlohmann::json image_manifest;
  // Methods that predict per image rather than learn a classifier (X-MoRe): their top-k per store
  // row, by variant ("xmore", "zeroshot", "captions_only"); empty for classifiers.
  std::map<std::string, Predictions> precomputed;
  // Few-shot methods (linear-probe, tip-adapter, tip-adapter-f, relation): the state predicts.
  std::shared_ptr<const FewShotState> fewshot;
};

// Methods whose --state is a few-shot state (include/clipzs/fewshot.hpp).
bool is_fewshot_method(const std::string& method);

// Loads or computes the class proxies and the image embeddings described by `o`.
ClassifyData load_classify_data(const ClassifyOptions& o);

// The top-k classes of every image under the chosen method: softmax(logit_scale x . classes) for
// classifiers, or the stored per-image predictions of `variant` (default: the method's own).
Predictions classify(const ClassifyData& d, const Matrix& classes, int top_k, const std::string& variant = "");

// The cache folder: --cache-dir, else $CLIPZS_CACHE_DIR, $XDG_CACHE_HOME/clipzs, or ~/.cache/clipzs.
std::string cache_dir(const std::string& option);

}  // namespace clipzs::cli
